"""FX conversion and overseas-participant eligibility."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ReaderClient
from api.problems import problem_responses
from api.schemas import patterns
from api.schemas.common import Currency, Day
from api.schemas.fx import ConvertPublic, EligibilityPublic, EligibilityRequest

router = APIRouter(prefix="/v1", tags=["fx"])


@router.get(
    "/fx/convert", response_model=ConvertPublic, responses=problem_responses(401, 404, 409, 422)
)
def convert(
    request: Request,
    _client: ReaderClient,
    amount: Annotated[
        str,
        Query(
            pattern=patterns.AMOUNT,
            examples=["1000000.00"],
            description="a decimal string from 0 to 1,000,000,000,000,000, at most 6 decimals",
        ),
    ],
    from_currency: Annotated[Currency, Query(alias="from")],
    to_currency: Annotated[Currency, Query(alias="to")],
    on: Day,
    max_age_days: Annotated[int, Query(ge=0, le=30)] = 10,
) -> ConvertPublic:
    """Convert an amount at the fixing of a date (or the last one before it, and why)."""
    from carbonfin.fx import RateStore
    from carbonfin.fx import convert as fx_convert

    store = RateStore(request.app.state.data.fixings())
    c = fx_convert(
        Decimal(amount), from_currency, to_currency, on=on, store=store, max_age_days=max_age_days
    )
    q = c.quote
    return ConvertPublic(
        amount=str(c.amount),
        from_currency=str(c.currency),
        to_currency=str(c.to_currency),
        converted=str(c.converted),
        rate=str(q.rate),
        fixing_date=q.fixing_date,
        route=list(q.route),
        notes=[q.reason],
    )


@router.post(
    "/eligibility/participants",
    response_model=EligibilityPublic,
    responses=problem_responses(401, 422),
)
def participant_eligibility(body: EligibilityRequest, _client: ReaderClient) -> EligibilityPublic:
    """Decide an overseas participant's eligibility rule by rule."""
    from carbonfin.fx import evaluate

    on = body.on or dt.date.today()
    d = evaluate(body.participant.as_mapping(), on, market_open=True if body.assume_open else None)
    return EligibilityPublic(
        eligible=d.decision.value != "ineligible",
        rules=[
            {"rule": r.rule, "outcome": r.outcome.value, "reason": r.reason, "source": r.source}
            for r in d.rules
        ],
        notes=[f"decision {d.decision.value} on {d.decided_on} (rules {d.rules_version})"],
    )
