"""Firms, their carbon records, score cards and batch scoring."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy import select

from api.deps import MarketReaderClient, PageLimit, ReaderClient, SessionDep
from api.problems import ApiProblemError, problem_responses
from api.schemas import patterns
from api.schemas.common import USCC, Day, Page, Provenance
from api.schemas.firms import (
    BatchScoreRequest,
    BatchScoreResponse,
    ComplianceRecord,
    FactorPublic,
    FirmPublic,
    FirmRecords,
    FirmYearRecord,
    ScorePublic,
)
from api.scoring import score_many, score_one
from carbonfin.scoring.methodology import DEFAULT_VERSION
from carbonfin.scoring.score import Score
from carbonfin.store.models import Compliance, Facility, FacilityEmission, Firm, FirmYear

router = APIRouter(prefix="/v1/firms", tags=["firms"])
UsccPath = Annotated[USCC, Path(description="GB 32100-2015 unified social credit code")]


def _firm(row: Firm) -> FirmPublic:
    return FirmPublic(
        uscc=row.uscc,
        name=row.name,
        name_zh=row.name_zh,
        sector=row.sector,
        industry_code=row.industry_code,
        district=row.district,
        listed=row.listed,
        discloses_emissions=row.discloses_emissions,
    )


@router.get("", response_model=Page[FirmPublic], responses=problem_responses(401, 422))
def list_firms(
    session: SessionDep,
    _client: ReaderClient,
    limit: PageLimit,
    sector: str | None = None,
    cursor: Annotated[str | None, Query(pattern=patterns.FIRM_CURSOR)] = None,
) -> Page[FirmPublic]:
    """Firms of the carbon account (public registry data), ordered by USCC."""
    stmt = select(Firm).order_by(Firm.uscc).limit(limit + 1)
    if sector:
        stmt = stmt.where(Firm.sector == sector)
    if cursor:
        stmt = stmt.where(Firm.uscc > cursor)
    return Page[FirmPublic].of(list(session.scalars(stmt)), limit, _firm, lambda r: r.uscc)


@router.get("/{uscc}", response_model=FirmRecords, responses=problem_responses(401, 404, 422))
def firm_records(
    uscc: UsccPath, session: SessionDep, _client: ReaderClient, request: Request
) -> FirmRecords:
    """A firm with its yearly carbon records and compliance history."""
    firm = session.get(Firm, uscc)
    if firm is None:
        raise ApiProblemError(404, f"no firm {uscc}")
    emissions: dict[int, list[Any]] = {}
    stmt = (
        select(FacilityEmission)
        .join(Facility, Facility.facility_id == FacilityEmission.facility_id)
        .where(Facility.uscc == uscc)
    )
    for e in session.scalars(stmt):
        emissions.setdefault(e.year, []).append(e)
    years = []
    for fy in session.scalars(
        select(FirmYear).where(FirmYear.uscc == uscc).order_by(FirmYear.year)
    ):
        rows = emissions.get(fy.year, [])
        s1 = [r.scope1_tco2e for r in rows]
        s2 = [r.scope2_tco2e for r in rows]
        years.append(
            FirmYearRecord(
                year=fy.year,
                scope1_tco2e=None if not s1 or any(v is None for v in s1) else float(sum(s1)),
                scope2_tco2e=None if not s2 or any(v is None for v in s2) else float(sum(s2)),
                output_qty=None if fy.output_qty is None else float(fy.output_qty),
                output_unit=fy.output_unit,
                revenue_cny=None if fy.revenue_cny is None else f"{fy.revenue_cny:.2f}",
                disclosed=fy.disclosed,
            )
        )
    compliance = [
        ComplianceRecord(
            year=c.year,
            instrument=c.instrument,
            allocated_t=c.allocated_t,
            verified_emissions_tco2e=c.verified_emissions_tco2e,
            surrendered_t=c.surrendered_t,
            ccer_used_t=c.ccer_used_t,
            shortfall_t=c.shortfall_t,
            surrender_date=c.surrender_date,
        )
        for c in session.scalars(
            select(Compliance).where(Compliance.uscc == uscc).order_by(Compliance.year)
        )
    ]
    return FirmRecords(
        firm=_firm(firm),
        years=years,
        compliance=compliance,
        provenance=Provenance(source=request.app.state.data.source),
    )


def _public(request: Request, card: Score, as_of: dt.date | None) -> ScorePublic:
    return ScorePublic(
        uscc=card.uscc,
        year=card.year,
        sector=card.sector,
        score=card.score,
        colour_grade=card.colour_grade.value,
        efficiency_grade=card.efficiency_grade,
        confidence=card.confidence,
        loan_adjustment_bp=card.loan_adjustment_bp,
        methodology_version=card.methodology_version,
        input_hash=card.input_hash,
        factors=[
            FactorPublic(
                name=f.name,
                points=f.points,
                max_points=f.max_points,
                contribution=f.contribution,
                status=f.status,
                value=f.value,
                source=f.source,
            )
            for f in card.factors
        ],
        reasons=list(card.reasons),
        provenance=Provenance(
            source=request.app.state.data.source,
            as_of=card.as_of or as_of,
            notes=[
                f"methodology {card.methodology_version}",
                f"scored on {card.as_of}",
                f"industry benchmark: {card.benchmark_basis}",
                f"input hash {card.input_hash}",
            ],
        ),
    )


#: Serialises a score card's answer as FastAPI serialises a ``response_model`` (by alias).
_SCORE_JSON = TypeAdapter(ScorePublic)


def _score_answer(
    request: Request, uscc: str, year: int | None, as_of: dt.date | None
) -> tuple[Score, bytes]:
    """A score card and the JSON body of its answer."""
    card = score_one(request.app.state.data, uscc, year, as_of)
    return card, _SCORE_JSON.dump_json(_public(request, card, as_of), by_alias=True)


@router.get("/{uscc}/score", response_model=ScorePublic, responses=problem_responses(401, 404, 422))
async def firm_score(
    uscc: UsccPath,
    request: Request,
    _client: MarketReaderClient,
    year: Annotated[int | None, Query(ge=2013, le=2100)] = None,
    as_of: Day | None = None,
) -> Response:
    """A firm's carbon-performance score card for a year (default: its latest)."""
    data = request.app.state.data
    when = as_of or dt.date.today()
    # The card and its JSON are kept once per data version, firm, year and scoring date: a
    # repeated call neither rebuilds the pydantic model nor has FastAPI validate it again. The
    # market version was read with the key, in the same transaction (``MarketReaderClient``):
    # a cached answer is looked up here on the event loop; building one (scoring, reads) runs
    # in a worker thread. The body is the bytes FastAPI's ``response_model`` serialisation
    # gives (``tests/api/test_caches.py``).
    key = f"score-answer:{DEFAULT_VERSION}:{when}:{as_of}:{uscc}:{year}"
    answer = data.cached_at(request.state.market_version, key)
    if answer is None:
        answer = await anyio.to_thread.run_sync(
            lambda: data.memo(key, lambda: _score_answer(request, uscc, year, as_of))
        )
    card, body = answer
    request.state.audit_versions = {"methodology": card.methodology_version}
    request.state.audit_entity_id = f"{card.uscc}/{card.year}"
    return Response(content=body, media_type="application/json")


@router.post("/scores", response_model=BatchScoreResponse, responses=problem_responses(401, 422))
def batch_score(
    body: BatchScoreRequest, request: Request, _client: ReaderClient
) -> BatchScoreResponse:
    """Score up to 500 firms at once (one vectorised pass); firms that cannot be scored are
    listed with the reason."""
    usccs = list(dict.fromkeys(body.usccs))
    cards, errors = score_many(request.app.state.data, usccs, body.year, body.as_of)
    if cards:
        request.state.audit_versions = {"methodology": cards[0].methodology_version}
    scores = [_public(request, c, body.as_of) for c in cards]
    return BatchScoreResponse(scores=scores, errors=errors)
