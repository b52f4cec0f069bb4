"""FX forwards by covered interest parity.

Up to one year, on money-market conventions (simple interest; each currency's own day count):

``F = S · (1 + r_quote · τ_quote) / (1 + r_base · τ_base)``

for a pair BASE/QUOTE quoted as units of QUOTE per 1 BASE (e.g. USD/CNY = CNY per USD).
Beyond a year, deposits give way to curves: each rate is read as an annually compounded zero
rate on the currency's day count and discounted in QuantLib, ``F = S · DF_base / DF_quote``.
Forward points are ``(F − S)`` in pips (1e-4, or 1e-2 for JPY-quoted pairs).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from carbonfin.errors import InvalidInputError
from carbonfin.fx.calendars import Pair
from carbonfin.instruments import Currency

__all__ = ["DAY_COUNTS", "ForwardQuote", "forward_points", "forward_rate", "year_fraction"]

#: Money-market day count per currency (market practice, e.g. ISDA/ACI conventions):
#: JPY deposits (TONA) and GBP, HKD, CNY, SGD, AUD, CAD use ACT/365F; USD, EUR, CHF ACT/360.
DAY_COUNTS: dict[Currency, str] = {
    Currency.USD: "ACT/360",
    Currency.EUR: "ACT/360",
    Currency.CHF: "ACT/360",
    Currency.KWD: "ACT/360",
    Currency.CNY: "ACT/365F",
    Currency.CNH: "ACT/365F",
    Currency.HKD: "ACT/365F",
    Currency.GBP: "ACT/365F",
    Currency.JPY: "ACT/365F",
    Currency.SGD: "ACT/365F",
    Currency.AUD: "ACT/365F",
    Currency.CAD: "ACT/365F",
}


def year_fraction(start: dt.date, end: dt.date, day_count: str) -> float:
    days = (end - start).days
    if day_count == "ACT/360":
        return days / 360.0
    if day_count == "ACT/365F":
        return days / 365.0
    raise InvalidInputError(f"unknown day count {day_count!r}")


@dataclass(frozen=True, slots=True)
class ForwardQuote:
    """A forward rate with the inputs and conventions that produced it."""

    pair: Pair
    spot: float
    forward: float
    points: float
    start: dt.date
    end: dt.date
    method: str
    base_day_count: str
    quote_day_count: str


def forward_rate(
    pair: str | Pair,
    spot: float,
    base_rate: float,
    quote_rate: float,
    start: dt.date,
    end: dt.date,
) -> ForwardQuote:
    """Covered-interest-parity forward of ``pair`` from ``start`` (spot date) to ``end``.

    ``spot`` is units of QUOTE per 1 BASE; ``base_rate`` and ``quote_rate`` are decimals (simple
    money-market rates up to one year; annually compounded beyond). E.g.
    ``forward_rate("USD/CNY", 7.10, 0.04, 0.015, start, end)``.
    """
    p = Pair.parse(pair)
    if not (isinstance(spot, int | float) and math.isfinite(spot) and spot > 0):
        raise InvalidInputError(f"`spot` must be finite and > 0; got {spot!r}")
    for name, r in (("base_rate", base_rate), ("quote_rate", quote_rate)):
        if not (isinstance(r, int | float) and math.isfinite(r) and r > -1):
            raise InvalidInputError(f"`{name}` must be a finite decimal > -1; got {r!r}")
    if end <= start:
        raise InvalidInputError(f"`end` ({end}) must be after `start` ({start})")
    dc_b, dc_q = DAY_COUNTS[p.base], DAY_COUNTS[p.quote]
    if (end - start).days <= 366:
        tb, tq = year_fraction(start, end, dc_b), year_fraction(start, end, dc_q)
        fwd = spot * (1 + quote_rate * tq) / (1 + base_rate * tb)
        method = "money market (simple interest)"
    else:
        from carbonfin.fx import _ql_adapter

        df_b = _ql_adapter.discount(base_rate, dc_b, start, end)
        df_q = _ql_adapter.discount(quote_rate, dc_q, start, end)
        fwd = spot * df_b / df_q
        method = "QuantLib discount curves (annual compounding)"
    return ForwardQuote(
        p, float(spot), fwd, forward_points(p, spot, fwd), start, end, method, dc_b, dc_q
    )


def forward_points(pair: str | Pair, spot: float, forward: float) -> float:
    """Forward minus spot in pips: 1e-4 of the quote currency, 1e-2 where it is JPY."""
    p = Pair.parse(pair)
    pip = 0.01 if p.quote == Currency.JPY else 0.0001
    return (forward - spot) / pip
