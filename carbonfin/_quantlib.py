"""The adapter to QuantLib: the one place in the core that imports it.

Dates cross the boundary here (``datetime.date`` <-> ``ql.Date``), calendars are looked up by
name, and QuantLib's global evaluation date is only ever changed inside
:func:`evaluation_date`, which restores it on exit (as QuantLib's own tests do in tearDown).
Domain adapters (e.g. ``pricing``/``fx``) build on these helpers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import QuantLib as ql  # noqa: N813

from carbonfin.errors import InvalidInputError

__all__ = [
    "CALENDAR_DATA_LAST_YEAR",
    "advance",
    "business_days",
    "calendar",
    "evaluation_date",
    "from_ql_date",
    "is_business_day",
    "ql",
    "to_ql_date",
]

# QuantLib ships China's holiday schedule only up to this year (from 2027 on it knows only
# 1 January); dates after it are refused by the China calendars rather than guessed.
CALENDAR_DATA_LAST_YEAR = {"China.SSE": 2026, "China.IB": 2026}

_CALENDARS: dict[str, Any] = {
    "China.SSE": lambda: ql.China(ql.China.SSE),
    "China.IB": lambda: ql.China(ql.China.IB),
    "UnitedStates.FederalReserve": lambda: ql.UnitedStates(ql.UnitedStates.FederalReserve),
    "UnitedStates.Settlement": lambda: ql.UnitedStates(ql.UnitedStates.Settlement),
    "TARGET": lambda: ql.TARGET(),
    "HongKong": lambda: ql.HongKong(),
    "Japan": lambda: ql.Japan(),
    "UnitedKingdom": lambda: ql.UnitedKingdom(),
    "Singapore": lambda: ql.Singapore(),
    "Switzerland": lambda: ql.Switzerland(),
    "Australia": lambda: ql.Australia(),
    "Canada": lambda: ql.Canada(),
    "WeekendsOnly": lambda: ql.WeekendsOnly(),
}


def to_ql_date(date: dt.date) -> Any:
    """Convert a ``datetime.date`` to a ``ql.Date``."""
    if not isinstance(date, dt.date):
        raise InvalidInputError(f"expected a datetime.date; got {date!r}")
    return ql.Date(date.day, date.month, date.year)


def from_ql_date(date: Any) -> dt.date:
    """Convert a ``ql.Date`` to a ``datetime.date``."""
    return dt.date(date.year(), date.month(), date.dayOfMonth())


@cache
def calendar(name: str) -> Any:
    """Return the QuantLib calendar called ``name`` (e.g. ``"China.SSE"``, ``"China.IB"``)."""
    try:
        factory = _CALENDARS[name]
    except KeyError:
        known = ", ".join(sorted(_CALENDARS))
        raise InvalidInputError(f"unknown calendar {name!r}; known calendars: {known}") from None
    return factory()


def _check_range(name: str, *dates: dt.date) -> None:
    last = CALENDAR_DATA_LAST_YEAR.get(name)
    if last is None:
        return
    for date in dates:
        if date.year > last:
            raise InvalidInputError(
                f"date {date.isoformat()} is beyond the holiday data of calendar {name} "
                f"(QuantLib knows its holidays up to {last}-12-31)"
            )


def is_business_day(date: dt.date, calendar_name: str = "China.SSE") -> bool:
    """Whether ``date`` is a business day of the named calendar."""
    _check_range(calendar_name, date)
    return bool(calendar(calendar_name).isBusinessDay(to_ql_date(date)))


def business_days(start: dt.date, end: dt.date, calendar_name: str = "China.SSE") -> list[dt.date]:
    """Business days of the named calendar in ``[start, end]`` (both inclusive), in order."""
    if end < start:
        raise InvalidInputError(
            f"`end` ({end.isoformat()}) is before `start` ({start.isoformat()})"
        )
    _check_range(calendar_name, start, end)
    cal = calendar(calendar_name)
    ql_dates = cal.businessDayList(to_ql_date(start), to_ql_date(end))
    return [from_ql_date(d) for d in ql_dates]


def advance(date: dt.date, days: int, calendar_name: str = "China.SSE") -> dt.date:
    """Move ``date`` by ``days`` business days of the named calendar (negative goes back)."""
    result = from_ql_date(
        calendar(calendar_name).advance(to_ql_date(date), ql.Period(days, ql.Days))
    )
    _check_range(calendar_name, date, result)
    return result


@contextmanager
def evaluation_date(date: dt.date) -> Iterator[Any]:
    """Set QuantLib's global evaluation date to ``date`` for the block, then restore it."""
    settings = ql.Settings.instance()
    previous = settings.evaluationDate
    settings.evaluationDate = to_ql_date(date)
    try:
        yield settings.evaluationDate
    finally:
        settings.evaluationDate = previous
