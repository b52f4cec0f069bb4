"""A book's exposure and its history for a bank (its own book) or the regulator (every bank's,
or one bank's): aggregated by the database over stored valuations
(:mod:`carbonfin.lending.exposure`). Read-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ReaderClient, SessionDep, bank_scope
from api.problems import problem_responses
from api.schemas.collateral import ExposureRow, ExposureTotal
from api.schemas.common import Day, Provenance
from api.schemas.exposure import (
    ExposureHistoryPublic,
    ExposureSummaryPublic,
    HistoryPointPublic,
)
from carbonfin.lending import exposure

router = APIRouter(prefix="/v1/exposure", tags=["exposure"])
_ERRORS = problem_responses(401, 403, 404, 422)
BankQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="the regulator: one bank's book; a bank key may give only its own id",
    ),
]


def history_public(result: exposure.ExposureHistory, bank: str | None) -> ExposureHistoryPublic:
    """The history as its public schema (shared with the regulator's route)."""
    return ExposureHistoryPublic(
        start=result.start,
        end=result.end,
        bank_id=bank,
        points=[HistoryPointPublic.model_validate(p, from_attributes=True) for p in result.points],
        provenance=Provenance(source=result.source, as_of=result.end, notes=list(result.notes)),
    )


@router.get("/history", response_model=ExposureHistoryPublic, responses=_ERRORS)
def exposure_history(
    session: SessionDep, who: ReaderClient, start: Day, end: Day, bank_id: BankQuery = None
) -> ExposureHistoryPublic:
    """The exposure totals and margin-call count of the book on each stored valuation date
    from ``start`` to ``end`` (``carbonfin book snapshot``; the sample seed stores a weekly
    year). Each point says when it was computed and whether data changed since (``stale``)."""
    bank = bank_scope(session, who, bank_id)
    return history_public(exposure.history(session, start, end, bank), bank)


@router.get("/summary", response_model=ExposureSummaryPublic, responses=_ERRORS)
def exposure_summary(
    request: Request, session: SessionDep, who: ReaderClient, as_of: Day, bank_id: BankQuery = None
) -> ExposureSummaryPublic:
    """The book on ``as_of`` grouped by bank, instrument, vintage and industry, with the total,
    states and margin-call count (the loans' outstanding allocated to their pledges as in
    docs/api.md); valued and stored first when missing or older than the data."""
    bank = bank_scope(session, who, bank_id)
    exposure.refresh(request.app.state.sessions, as_of, request.app.state.data)
    result = exposure.summary(session, as_of, bank)
    return ExposureSummaryPublic(
        as_of=as_of,
        bank_id=bank,
        groups={
            by: [ExposureRow.model_validate(r.as_dict()) for r in rows]
            for by, rows in result.groups.items()
        },
        total=ExposureTotal.model_validate(result.total.as_dict()),
        states=dict(result.states),
        margin_calls=result.margin_calls,
        provenance=Provenance(
            source=result.source.data_source, as_of=as_of, notes=result.source.describe()
        ),
    )
