"""Prices, marks, forward curves and option pricing (public market data: every role reads)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import ReaderClient
from api.problems import problem_responses
from api.schemas.common import Day, InstrumentCode, Provenance
from api.schemas.market import (
    MarkPublic,
    OptionPublic,
    OptionRequest,
    PriceHistoryPublic,
    QuotePublic,
)

router = APIRouter(prefix="/v1", tags=["market"])
InstrumentPath = Annotated[InstrumentCode, Path(description="SHEA, CEA or CCER", examples=["SHEA"])]


def history_of(request: Request, instrument: str):  # type: ignore[no-untyped-def]
    from carbonfin.pricing import PriceHistory

    return PriceHistory.from_frame(request.app.state.data.prices(instrument), instrument)


@router.get(
    "/prices/{instrument}",
    response_model=PriceHistoryPublic,
    responses=problem_responses(401, 404, 422),
)
def prices(
    instrument: InstrumentPath,
    request: Request,
    _client: ReaderClient,
    start: Annotated[
        Day | None, Query(description="the first date shown; not after `end` (else 422)")
    ] = None,
    end: Annotated[
        Day | None, Query(description="the last date shown; not before `start` (else 422)")
    ] = None,
) -> PriceHistoryPublic:
    """Validated daily quotes with their data-quality flags."""
    from carbonfin.errors import InvalidInputError, MissingDataError

    if start and end and start > end:
        raise InvalidInputError(f"`start` {start} is after `end` {end}")
    h = history_of(request, instrument)
    q, flags = h.quotes, h.flags
    dates = [d.date() if hasattr(d, "date") else d for d in q.index]
    keep = [
        i
        for i, d in enumerate(dates)
        if (start is None or d >= start) and (end is None or d <= end)
    ]
    if not keep:
        raise MissingDataError(
            f"no {instrument} quotes between {start or 'the start'} and {end or 'the end'}"
        )
    names = list(flags.columns)
    fl = flags.to_numpy()
    close = q["close"].to_numpy()
    vwap = q["vwap"].to_numpy() if "vwap" in q else close * float("nan")
    vol = q["volume_t"].to_numpy()
    items = [
        QuotePublic(
            date=dates[i],
            close_cny_per_t=None if close[i] != close[i] else float(close[i]),
            vwap_cny_per_t=None if vwap[i] != vwap[i] else float(vwap[i]),
            volume_t=int(vol[i]) if vol[i] == vol[i] else 0,
            flags=[n for n, on in zip(names, fl[i], strict=True) if on],
        )
        for i in keep
    ]
    return PriceHistoryPublic(
        instrument=instrument,
        first=items[0].date,
        last=items[-1].date,
        quotes=items,
        provenance=Provenance(source=request.app.state.data.source, as_of=items[-1].date),
    )


@router.get(
    "/prices/{instrument}/mark",
    response_model=MarkPublic,
    responses=problem_responses(401, 404, 409, 422),
)
def mark(
    instrument: InstrumentPath,
    request: Request,
    _client: ReaderClient,
    as_of: Day,
    method: Literal["close", "vwap"] = "close",
    window_days: Annotated[int, Query(ge=1, le=250)] = 5,
    max_age_days: Annotated[int | None, Query(ge=0, le=250)] = None,
) -> MarkPublic:
    """The valuation price on a date, with how it was obtained and how old it is."""
    m = history_of(request, instrument).mark(
        as_of, method=method, window_days=window_days, max_age_days=max_age_days
    )
    notes = [f"last trade used {m.last_date}, {m.age_days} business day(s) before {as_of}"]
    notes += [f"flag on a quote used: {f}" for f in getattr(m, "flags_used", ())]
    return MarkPublic(
        instrument=instrument,
        price_cny_per_t=m.price_cny_per_t,
        method=m.method,
        as_of=as_of,
        quote_date=m.last_date,
        notes=notes,
        provenance=Provenance(source=request.app.state.data.source, as_of=as_of),
    )


class ForwardPoint(BaseModel):
    tenor_years: float
    forward_cny_per_t: float


class ForwardCurvePublic(BaseModel):
    instrument: str
    spot_cny_per_t: float
    spot_date: dt.date
    rate: float
    net_carry: float
    points: list[ForwardPoint]
    provenance: Provenance


@router.get(
    "/prices/{instrument}/forward-curve",
    response_model=ForwardCurvePublic,
    responses=problem_responses(401, 404, 409, 422),
)
def forward_curve(
    instrument: InstrumentPath,
    request: Request,
    _client: ReaderClient,
    as_of: Day,
    rate: Annotated[float, Query(ge=-0.5, le=1, description="flat rate, decimal")] = 0.018,
    net_carry: Annotated[float, Query(ge=-1, le=1, description="c - y, decimal per year")] = 0.0,
    tenors: Annotated[
        list[Annotated[float, Field(gt=0, le=30)]],
        Query(min_length=1, max_length=40, description="years, each in (0, 30]"),
    ] = [0.25, 0.5, 1.0, 2.0],  # noqa: B006
) -> ForwardCurvePublic:
    """Cost-of-carry forward prices from the mark on ``as_of`` (flat curve at ``rate``)."""
    from carbonfin.errors import InvalidInputError
    from carbonfin.pricing import ForwardCurve, flat_curve

    if any(not (0 < t <= 30) for t in tenors):
        raise InvalidInputError("every tenor must be in (0, 30] years")
    m = history_of(request, instrument).mark(as_of)
    curve = ForwardCurve(m.price_cny_per_t, flat_curve(as_of, rate), net_carry)
    values = curve.forward(np.asarray(tenors, dtype=float))
    return ForwardCurvePublic(
        instrument=instrument,
        spot_cny_per_t=m.price_cny_per_t,
        spot_date=m.last_date,
        rate=rate,
        net_carry=net_carry,
        points=[
            ForwardPoint(tenor_years=t, forward_cny_per_t=float(v))
            for t, v in zip(tenors, values, strict=True)
        ],
        provenance=Provenance(source=request.app.state.data.source, as_of=as_of),
    )


@router.post("/options/black76", response_model=OptionPublic, responses=problem_responses(401, 422))
def price_option(body: OptionRequest, _client: ReaderClient) -> OptionPublic:
    """A European option on an allowance forward (Black-76) with its greeks."""
    from carbonfin.pricing import black76_greeks

    g = black76_greeks(body.forward, body.strike, body.expiry_years, body.vol, body.rate, body.call)
    return OptionPublic(
        price_cny_per_t=float(g.price),
        delta=float(g.delta),
        gamma=float(g.gamma),
        vega=float(g.vega),
        theta=float(g.theta),
    )
