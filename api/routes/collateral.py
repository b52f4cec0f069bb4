"""Collateral: ad-hoc haircuts (pledges, valuations and margin calls join with the registry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.convert import haircut_public, stress_runs_public
from api.deps import ReaderClient, SessionDep, own_institution
from api.problems import problem_responses
from api.schemas.collateral import HaircutPublic, HaircutRequest, StressRunsPublic
from api.schemas.common import Day

router = APIRouter(prefix="/v1", tags=["collateral"])


@router.post(
    "/haircuts", response_model=HaircutPublic, responses=problem_responses(401, 404, 409, 422)
)
def ad_hoc_haircut(body: HaircutRequest, request: Request, _client: ReaderClient) -> HaircutPublic:
    """The haircut of a prospective pledge, with every component, its inputs and its source.

    Uses only quotes on or before ``as_of``; the market-risk model is fitted once per
    instrument, date and settings and reused across requests.
    """
    from carbonfin.collateral import DEFAULT_MODEL, haircut

    data = request.app.state.data
    profile = data.risk_profile(
        body.instrument,
        body.as_of,
        model=body.model or DEFAULT_MODEL,
        measure=body.measure,
        confidence=body.confidence,
        holding_days=body.holding_days,
        remargin_days=body.remargin_days,
        anti_procyclicality=body.anti_procyclicality,
    )
    b = haircut(
        data.history(body.instrument),
        as_of=body.as_of,
        quantity_t=float(body.quantity_t),
        loan_currency=body.loan_currency,
        liquidation=body.liquidation,
        pledgor_covered=body.pledgor_covered,
        book_share=body.book_share,
        other_position_t=body.other_position_t,
        profile=profile,
    )
    request.state.audit_versions = {"haircut_model": b.model, "policy": b.policy_version}
    return haircut_public(b, data.source)  # type: ignore[no-any-return]


@router.get(
    "/stress-runs", response_model=StressRunsPublic, responses=problem_responses(401, 403, 422)
)
def stress_runs(
    session: SessionDep,
    client: ReaderClient,
    scenario: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    as_of: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="most stored runs read")] = 100,
) -> StressRunsPublic:
    """Stored stress results of the asking bank only: its row of each stored run that covered
    its book (the whole book, or its own), never another bank's row, the whole book's totals or
    the moves of a whole-book run; the regulator gets every bank's rows (as
    ``GET /v1/regulator/stress-runs``)."""
    from carbonfin.store.stress import stress_results_by_bank

    rows = stress_results_by_bank(
        session=session, scenario=scenario, as_of=as_of, bank_id=own_institution(client),
        limit=limit,
    )  # fmt: skip
    return stress_runs_public(rows, scenario, as_of)  # type: ignore[no-any-return]
