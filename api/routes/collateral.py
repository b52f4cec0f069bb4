"""Collateral: ad-hoc haircuts (pledges, valuations and margin calls join with the registry)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.convert import haircut_public
from api.deps import ReaderClient
from api.problems import problem_responses
from api.schemas.collateral import HaircutPublic, HaircutRequest

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
