"""FX's adapter to QuantLib: flat discount curves on a currency's day count."""

from __future__ import annotations

import datetime as dt

from carbonfin._quantlib import evaluation_date, ql, to_ql_date
from carbonfin.errors import InvalidInputError


def discount(rate: float, day_count: str, start: dt.date, end: dt.date) -> float:
    """Discount factor from ``start`` to ``end`` of a flat, annually compounded zero rate."""
    counters = {"ACT/360": ql.Actual360(), "ACT/365F": ql.Actual365Fixed()}
    if day_count not in counters:
        raise InvalidInputError(f"unknown day count {day_count!r}")
    with evaluation_date(start):
        curve = ql.FlatForward(
            to_ql_date(start), rate, counters[day_count], ql.Compounded, ql.Annual
        )
        return float(curve.discount(to_ql_date(end)))
