"""Day counts and compounding: the one :func:`year_fraction` used by the whole engine.

Part of :mod:`carbonfin.conventions` (import from there): curves and FX forwards call
:func:`year_fraction`; the QuantLib adapter maps :class:`DayCount` to QuantLib's day counters in
one table.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import enum
import re

from carbonfin.errors import InvalidInputError

__all__ = ["Compounding", "DayCount", "year_fraction"]


_DAY_COUNT_ALIASES = {
    "ACT/360": "ACT/360",
    "A360": "ACT/360",
    "ACTUAL/360": "ACT/360",
    "ACT/365F": "ACT/365F",
    "ACT/365": "ACT/365F",
    "ACT/365FIXED": "ACT/365F",
    "ACTUAL/365(FIXED)": "ACT/365F",
    "A365F": "ACT/365F",
    "ACT/ACTISDA": "ACT/ACT ISDA",
    "ACT/ACT": "ACT/ACT ISDA",
    "ACTUAL/ACTUAL(ISDA)": "ACT/ACT ISDA",
    "30/360": "30/360",
    "30/360BONDBASIS": "30/360",
    "30U/360": "30/360",
}


class DayCount(enum.StrEnum):
    """Day-count conventions (ISDA 2006 Definitions, section 4.16).

    ``ACT_360``
        actual days / 360 (4.16(e)): USD, EUR, CHF and CNY money markets.
    ``ACT_365F``
        actual days / 365 (4.16(d)): GBP, JPY, HKD, CNH money markets; the engine's time axis.
    ``ACT_ACT_ISDA``
        days in each calendar year / that year's length, summed (4.16(b)).
    ``THIRTY_360``
        30/360 "Bond Basis" (4.16(f)): ``(360·ΔY + 30·ΔM + (D2 − D1)) / 360`` with D1 = 31 → 30,
        and D2 = 31 → 30 when D1 is 30 or 31.
    """

    ACT_360 = "ACT/360"
    ACT_365F = "ACT/365F"
    ACT_ACT_ISDA = "ACT/ACT ISDA"
    THIRTY_360 = "30/360"

    @classmethod
    def _missing_(cls, value: object) -> DayCount:
        if isinstance(value, str):
            key = re.sub(r"\s+", "", value.upper())
            if key in _DAY_COUNT_ALIASES:
                return cls(_DAY_COUNT_ALIASES[key])
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(f"unknown day count {value!r}; known: {known}")

    @classmethod
    def parse(cls, value: DayCount | str) -> DayCount:
        """Parse a day-count name (``"ACT/360"``, ``"act/365"``, ``"30/360"`` …)."""
        return value if isinstance(value, DayCount) else cls(value)


def _check_date(value: object, name: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInputError(f"`{name}` must be a datetime.date; got {value!r}")
    return value


def _act_act_isda(start: dt.date, end: dt.date) -> float:
    if start.year == end.year:
        return (end - start).days / (366.0 if _calendar.isleap(start.year) else 365.0)
    first = (dt.date(start.year + 1, 1, 1) - start).days
    last = (end - dt.date(end.year, 1, 1)).days
    return (
        first / (366.0 if _calendar.isleap(start.year) else 365.0)
        + (end.year - start.year - 1)
        + last / (366.0 if _calendar.isleap(end.year) else 365.0)
    )


def _thirty_360(start: dt.date, end: dt.date) -> float:
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and d1 == 30:
        d2 = 30
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return days / 360.0


def year_fraction(start: dt.date, end: dt.date, day_count: DayCount | str) -> float:
    """The year fraction from ``start`` to ``end`` under ``day_count`` (negative if reversed).

    The one implementation in the engine; checked against QuantLib's day counters in the tests.
    """
    a, b = _check_date(start, "start"), _check_date(end, "end")
    dc = DayCount.parse(day_count)
    if b < a:
        return -year_fraction(b, a, dc)
    if dc is DayCount.ACT_360:
        return (b - a).days / 360.0
    if dc is DayCount.ACT_365F:
        return (b - a).days / 365.0
    if dc is DayCount.ACT_ACT_ISDA:
        return _act_act_isda(a, b)
    return _thirty_360(a, b)


class Compounding(enum.StrEnum):
    """How a rate accrues over a year fraction ``τ``: growth ``1 + rτ``, ``(1 + r)^τ``,
    ``exp(rτ)``."""

    SIMPLE = "simple"
    ANNUAL = "annual"
    CONTINUOUS = "continuous"

    @classmethod
    def _missing_(cls, value: object) -> Compounding:
        if isinstance(value, str) and value.strip().lower() in {m.value for m in cls}:
            return cls(value.strip().lower())
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(f"unknown compounding {value!r}; known: {known}")
