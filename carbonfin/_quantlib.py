"""The adapter to QuantLib: the one place in the core that imports it.

Dates cross the boundary here (``datetime.date`` <-> ``ql.Date``), calendars are looked up by
name, and QuantLib's global evaluation date is only ever changed inside
:func:`evaluation_date`, which restores it on exit (as QuantLib's own tests do in tearDown) and
holds a re-entrant lock for the whole block, so two threads never value with each other's date.
Domain adapters (e.g. ``pricing``/``fx``) build on these helpers.

China calendars are *not* QuantLib's: ``China.SSE``, ``China.SEEE``, ``China.CEA`` and
``China.IB`` come from :mod:`carbonfin.calendars` (the State Council notices as data, with a
provisional projection beyond the last published year). :func:`calendar` hands QuantLib a
``BespokeCalendar`` built from them; QuantLib's own ``ql.China`` calendars
(:func:`quantlib_calendar`) are kept only as a cross-check in the tests.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import QuantLib as ql  # noqa: N813

from carbonfin import calendars as _china
from carbonfin.conventions import DayCount
from carbonfin.errors import DataIntegrityError, InvalidInputError

__all__ = [
    "CALENDAR_DATA_LAST_YEAR",
    "EVALUATION_DATE_LOCK",
    "advance",
    "business_days",
    "calendar",
    "day_counter",
    "evaluation_date",
    "from_ql_date",
    "is_business_day",
    "ql",
    "quantlib_calendar",
    "to_ql_date",
]

#: Last year of *published* (non-provisional) holiday data per China calendar. Later years are
#: answered too, provisionally (with a ``ProvisionalCalendarWarning``); see carbonfin.calendars.
CALENDAR_DATA_LAST_YEAR: dict[str, int] = {
    name: _china.last_published_year() for name in _china.CALENDAR_NAMES
}

#: Serialises every use of QuantLib's global evaluation date (re-entrant: nested blocks in one
#: thread are fine). Held for the whole ``with evaluation_date(...)`` block.
EVALUATION_DATE_LOCK = threading.RLock()

#: QuantLib's own China calendars, for the cross-check tests only.
_QL_CHINA: dict[str, Any] = {
    "China.SSE": lambda: ql.China(ql.China.SSE),
    "China.IB": lambda: ql.China(ql.China.IB),
}

_CALENDARS: dict[str, Any] = {
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


#: The one map from the engine's day counts to QuantLib's (checked complete at import).
_DAY_COUNTERS: dict[DayCount, Any] = {
    DayCount.ACT_360: lambda: ql.Actual360(),
    DayCount.ACT_365F: lambda: ql.Actual365Fixed(),
    DayCount.ACT_ACT_ISDA: lambda: ql.ActualActual(ql.ActualActual.ISDA),
    DayCount.THIRTY_360: lambda: ql.Thirty360(ql.Thirty360.BondBasis),
}
if set(_DAY_COUNTERS) != set(DayCount):  # pragma: no cover - a half-added day count
    _missing = sorted(set(DayCount) - set(_DAY_COUNTERS))
    raise DataIntegrityError(f"carbonfin._quantlib: no QuantLib day counter for {_missing}")


def day_counter(day_count: DayCount | str) -> Any:
    """QuantLib's day counter for one of the engine's :class:`~carbonfin.conventions.DayCount`."""
    return _DAY_COUNTERS[DayCount.parse(day_count)]()


def to_ql_date(date: dt.date) -> Any:
    """Convert a ``datetime.date`` to a ``ql.Date``."""
    if not isinstance(date, dt.date):
        raise InvalidInputError(f"expected a datetime.date; got {date!r}")
    return ql.Date(date.day, date.month, date.year)


def from_ql_date(date: Any) -> dt.date:
    """Convert a ``ql.Date`` to a ``datetime.date``."""
    return dt.date(date.year(), date.month(), date.dayOfMonth())


def _bespoke_china(name: str) -> Any:
    """A QuantLib calendar holding exactly the business days of ``carbonfin.calendars``."""
    china = _china.get_calendar(name)
    cal = ql.BespokeCalendar(f"carbonfin {name}")
    cal.addWeekend(ql.Saturday)
    cal.addWeekend(ql.Sunday)
    lo = dt.date(_china.FIRST_YEAR, 1, 1)
    hi = dt.date(_china.LAST_PROJECTED_YEAR, 12, 31)
    for day in china.closed_weekdays(lo, hi):
        cal.addHoliday(to_ql_date(day))
    for year in range(_china.FIRST_YEAR, _china.LAST_PROJECTED_YEAR + 1):
        if name == "China.IB":
            for day in _china.china_schedule(year).working_dates:
                cal.removeHoliday(to_ql_date(day))  # an official working weekend: open
    return cal


@cache
def calendar(name: str) -> Any:
    """Return the QuantLib calendar called ``name`` (e.g. ``"China.SSE"``, ``"TARGET"``).

    China calendars are ``BespokeCalendar`` copies of :mod:`carbonfin.calendars` (the source of
    truth); the others are QuantLib's rule-based calendars.
    """
    if name in _china.CALENDAR_RULES:
        return _bespoke_china(name)
    try:
        factory = _CALENDARS[name]
    except KeyError:
        known = ", ".join(sorted([*_CALENDARS, *_china.CALENDAR_NAMES]))
        raise InvalidInputError(f"unknown calendar {name!r}; known calendars: {known}") from None
    return factory()


@cache
def quantlib_calendar(name: str) -> Any:
    """QuantLib's own calendar ``name`` (``ql.China`` for the China names), for cross-checks."""
    if name in _QL_CHINA:
        return _QL_CHINA[name]()
    return calendar(name)


def is_business_day(date: dt.date, calendar_name: str = "China.SSE") -> bool:
    """Whether ``date`` is a business day of the named calendar."""
    if calendar_name in _china.CALENDAR_RULES:
        return _china.get_calendar(calendar_name).is_business_day(date)
    return bool(calendar(calendar_name).isBusinessDay(to_ql_date(date)))


def business_days(start: dt.date, end: dt.date, calendar_name: str = "China.SSE") -> list[dt.date]:
    """Business days of the named calendar in ``[start, end]`` (both inclusive), in order."""
    if end < start:
        raise InvalidInputError(
            f"`end` ({end.isoformat()}) is before `start` ({start.isoformat()})"
        )
    if calendar_name in _china.CALENDAR_RULES:
        return _china.get_calendar(calendar_name).business_days(start, end)
    cal = calendar(calendar_name)
    ql_dates = cal.businessDayList(to_ql_date(start), to_ql_date(end))
    return [from_ql_date(d) for d in ql_dates]


def advance(date: dt.date, days: int, calendar_name: str = "China.SSE") -> dt.date:
    """Move ``date`` by ``days`` business days of the named calendar (negative goes back)."""
    if calendar_name in _china.CALENDAR_RULES:
        return _china.get_calendar(calendar_name).advance(date, days)
    return from_ql_date(calendar(calendar_name).advance(to_ql_date(date), ql.Period(days, ql.Days)))


@contextmanager
def evaluation_date(date: dt.date) -> Iterator[Any]:
    """Set QuantLib's global evaluation date to ``date`` for the block, then restore it.

    The block holds :data:`EVALUATION_DATE_LOCK` (re-entrant), so concurrent threads take turns
    instead of valuing with each other's date (QuantLib's ``Settings`` is one global object).
    """
    with EVALUATION_DATE_LOCK:
        settings = ql.Settings.instance()
        previous = settings.evaluationDate
        settings.evaluationDate = to_ql_date(date)
        try:
            yield settings.evaluationDate
        finally:
            settings.evaluationDate = previous
