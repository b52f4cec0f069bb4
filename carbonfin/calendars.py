"""China business-day calendars from the State Council's holiday notices.

The source of truth is data: ``carbonfin/rules/calendars/china/<year>.toml`` holds, for every year
the engine covers (2013 onwards), the holidays and the adjusted working days (weekend days that are
official working days, 调休上班) of the State Council's annual notice
(国务院办公厅关于<year>年部分节假日安排的通知), with the notice's title, number, date and address,
and any later amending notice (2015, 2019, 2020). The exchange calendars are derived from it by
rule (:data:`CALENDAR_RULES`):

``China.SSE``, ``China.SEEE``, ``China.CEA``
    Monday to Friday, less the official holidays (and any exchange closure on file for that
    calendar, e.g. the Shanghai Stock Exchange's 2024-02-09). Official weekend working days are
    *not* trading days: exchanges trade Monday to Friday only.
``China.IB``
    The interbank market (CIBM/CFETS): Monday to Friday less the official holidays, *plus* the
    official weekend working days, on which the interbank market is open.

Beyond the last published year (:func:`last_published_year`) the calendars are a **provisional
projection** through :data:`LAST_PROJECTED_YEAR`: the statutory days of 全国年节及纪念日放假办法 as
revised by 国务院令第795号 (2024-11-10, in force 2025-01-01), their lunar dates taken from the
``holidays`` library, extended by the State Council's stated 调休 principles (see
:func:`carbonfin._china_projection.project_year`). Every answer that depends on a provisional year
emits :class:`~carbonfin.errors.ProvisionalCalendarWarning`; :meth:`ChinaCalendar.is_provisional`
says so for a date. Nothing fails merely because a date is after the last published year.

The calendars are vectorised: each one is a :class:`numpy.busdaycalendar` over
[2013-01-01, 2099-12-31] and every operation has an array form.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from carbonfin._china_projection import project_year
from carbonfin._china_schedule import (
    FIRST_YEAR,
    ExchangeClosure,
    Holiday,
    Notice,
    YearSchedule,
    load_published,
)
from carbonfin.errors import InvalidInputError, ProvisionalCalendarWarning

__all__ = [
    "CALENDAR_NAMES",
    "CALENDAR_RULES",
    "FIRST_YEAR",
    "LAST_PROJECTED_YEAR",
    "ChinaCalendar",
    "ExchangeClosure",
    "Holiday",
    "HorizonGap",
    "Notice",
    "YearSchedule",
    "calendar_horizon_gap",
    "china_schedule",
    "get_calendar",
    "is_provisional",
    "last_published_year",
]

#: Last year of the provisional projection (the lunar tables of the ``holidays`` library and this
#: engine's horizon); dates after it are refused.
LAST_PROJECTED_YEAR = 2099

CalendarName = Literal["China.SSE", "China.SEEE", "China.CEA", "China.IB"]
Convention = Literal[
    "following", "modified_following", "preceding", "modified_preceding", "unadjusted"
]

#: The calendars and how each is derived from the State Council schedule (with its source).
CALENDAR_RULES: dict[str, str] = {
    "China.SSE": (
        "Shanghai Stock Exchange: Monday-Friday less the State Council holidays and the SSE's own "
        "closures on file; official weekend working days closed (上海证券交易所交易规则 3.1.3: "
        "trading days are Monday to Friday; the SSE's annual 休市安排 notices follow the State "
        "Council schedule)"
    ),
    "China.SEEE": (
        "Shanghai Environment and Energy Exchange (SHEA): Monday-Friday less the State Council "
        "holidays; official weekend working days closed (assumed to follow the State Council "
        "schedule like the other Shanghai exchanges; no SEEE closure notice on file that departs "
        "from it)"
    ),
    "China.CEA": (
        "National carbon market (CEA, traded through SEEE): Monday-Friday less the State Council "
        "holidays; official weekend working days closed (碳排放权交易管理规则(试行), 2021: trading "
        "on working days; assumed to follow the State Council schedule)"
    ),
    "China.IB": (
        "China interbank market (CIBM, CFETS): Monday-Friday less the State Council holidays, plus "
        "the official weekend working days, on which CFETS trades and settles"
    ),
}
CALENDAR_NAMES: tuple[str, ...] = tuple(CALENDAR_RULES)

_Roll = Literal["following", "modifiedfollowing", "preceding", "modifiedpreceding"]
_CONVENTIONS: dict[str, _Roll] = {
    "following": "following",
    "modified_following": "modifiedfollowing",
    "preceding": "preceding",
    "modified_preceding": "modifiedpreceding",
}

_LOCK = threading.Lock()


@cache
def _published() -> dict[int, YearSchedule]:
    return load_published()


def last_published_year() -> int:
    """The last year whose State Council notice is on file (later years are provisional)."""
    return max(_published())


@cache
def china_schedule(year: int) -> YearSchedule:
    """The State Council schedule of ``year``: published data, or the provisional projection."""
    if not isinstance(year, int) or isinstance(year, bool):
        raise InvalidInputError(f"`year` must be an integer; got {year!r}")
    if year < FIRST_YEAR or year > LAST_PROJECTED_YEAR:
        raise InvalidInputError(
            f"`year` must be in [{FIRST_YEAR}, {LAST_PROJECTED_YEAR}] (the China calendar data "
            f"starts with the {FIRST_YEAR} notice; the projection ends in {LAST_PROJECTED_YEAR}); "
            f"got {year}"
        )
    published = _published()
    if year in published:
        return published[year]
    return project_year(year, last_published=max(published))


def is_provisional(date: dt.date) -> bool:
    """Whether ``date`` lies in a year whose State Council notice is not yet on file."""
    return _to_date(date, "date").year > last_published_year()


@dataclass(frozen=True, slots=True)
class HorizonGap:
    """The published calendar data ends too soon after ``today`` (see
    :func:`calendar_horizon_gap`)."""

    today: dt.date
    last_published_year: int
    days_left: int
    min_days: int

    @property
    def message(self) -> str:
        nxt = self.last_published_year + 1
        return (
            f"China calendars: the State Council holiday notice for {nxt} is not on file; "
            f"{self.today.isoformat()} is {self.days_left} day(s) before {nxt}-01-01 "
            f"(limit {self.min_days}). Add carbonfin/rules/calendars/china/{nxt}.toml from "
            f"国务院办公厅关于{nxt}年部分节假日安排的通知 once published; until then dates in "
            f"{nxt} are a provisional projection."
        )

    def __str__(self) -> str:
        return self.message


def calendar_horizon_gap(
    today: dt.date, min_days: int = 60, *, last_published: int | None = None
) -> HorizonGap | None:
    """A :class:`HorizonGap` if the published data ends within ``min_days`` of ``today``.

    Clock-free: ``today`` is an argument (the core never reads the clock). ``last_published``
    defaults to :func:`last_published_year`. Returns ``None`` when at least ``min_days`` days of
    published data remain after ``today``.
    """
    today = _to_date(today, "today")
    if not isinstance(min_days, int) or isinstance(min_days, bool) or min_days < 0:
        raise InvalidInputError(f"`min_days` must be an integer >= 0; got {min_days!r}")
    last = last_published_year() if last_published is None else int(last_published)
    days_left = (dt.date(last + 1, 1, 1) - today).days
    if days_left >= min_days:
        return None
    return HorizonGap(today, last, days_left, min_days)


# --- conversions ------------------------------------------------------------------------------


def _to_date(value: object, arg: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        if isinstance(value, np.datetime64):
            return dt.date.fromisoformat(str(value.astype("datetime64[D]")))
        raise InvalidInputError(f"`{arg}` must be a datetime.date; got {value!r}")
    return value


def _to_days(values: object, arg: str) -> NDArray[np.datetime64]:
    """Array-like of dates (``datetime.date`` or ``datetime64``) -> ``datetime64[D]`` array."""
    try:
        arr = np.asarray(values)
        if arr.dtype == object:
            flat = [_to_date(v, arg) for v in arr.ravel()]
            out = np.array(flat, dtype="datetime64[D]").reshape(arr.shape)
        else:
            out = arr.astype("datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"`{arg}` must be dates; got {values!r} ({exc})") from None
    if np.isnat(out).any():
        raise InvalidInputError(f"`{arg}` holds a missing date (NaT)")
    return out


def _as_date(day: Any) -> dt.date:
    return dt.date.fromisoformat(str(np.datetime64(day, "D")))


class ChinaCalendar:
    """A China business-day calendar (see the module notes and :data:`CALENDAR_RULES`).

    Obtain one with :func:`get_calendar`. Dates from 2013-01-01 to 2099-12-31 are answered;
    answers that depend on a year after :func:`last_published_year` emit
    :class:`~carbonfin.errors.ProvisionalCalendarWarning`.
    """

    __slots__ = ("_bdc", "_closed", "_open_weekends", "_provisional_from", "name", "rule")

    def __init__(self, name: str) -> None:
        if name not in CALENDAR_RULES:
            known = ", ".join(CALENDAR_NAMES)
            raise InvalidInputError(f"unknown China calendar {name!r}; known: {known}")
        self.name = name
        self.rule = CALENDAR_RULES[name]
        closed: list[dt.date] = []
        open_weekends: list[dt.date] = []
        for year in range(FIRST_YEAR, LAST_PROJECTED_YEAR + 1):
            sched = china_schedule(year)
            closed.extend(d for d in sched.holiday_dates if d.weekday() < 5)
            closed.extend(c.date for c in sched.exchange_closures if name in c.calendars)
            if name == "China.IB":
                open_weekends.extend(sched.working_dates)
        lo, hi = _LOWER, _UPPER
        closed_arr = np.unique(np.array([d for d in closed if lo <= d <= hi], "datetime64[D]"))
        weekend_open = np.unique(np.array(open_weekends, dtype="datetime64[D]"))
        # A seven-day week mask with every closed day listed: weekends (less the official working
        # weekends where they are business days) and weekday holidays.
        days = np.arange(np.datetime64(lo), np.datetime64(hi) + 1, dtype="datetime64[D]")
        weekday = (days.astype("int64") - 4) % 7  # 1970-01-01 was a Thursday (3); Monday = 0
        weekend = days[(weekday >= 5) & ~np.isin(days, weekend_open)]
        all_closed = np.union1d(weekend, closed_arr)
        self._closed = closed_arr
        self._open_weekends = weekend_open
        self._bdc = np.busdaycalendar(weekmask="1111111", holidays=all_closed)
        self._provisional_from = np.datetime64(f"{last_published_year() + 1}-01-01", "D")

    def __repr__(self) -> str:
        return (
            f"ChinaCalendar({self.name!r}, published to {last_published_year()}, "
            f"provisional to {LAST_PROJECTED_YEAR})"
        )

    # --- provisional bookkeeping -----------------------------------------------------------

    def _check(self, days: NDArray[np.datetime64], arg: str) -> None:
        if days.size == 0:
            return
        lo, hi = days.min(), days.max()
        if lo < np.datetime64(_LOWER) or hi > np.datetime64(_UPPER):
            bad = lo if lo < np.datetime64(_LOWER) else hi
            raise InvalidInputError(
                f"`{arg}` {bad} is outside the China calendar data "
                f"({_LOWER.isoformat()} to {_UPPER.isoformat()}) of {self.name}"
            )

    def _warn(self, *arrays: NDArray[np.datetime64]) -> bool:
        latest = max((a.max() for a in arrays if a.size), default=None)
        if latest is None or latest < self._provisional_from:
            return False
        first = int(str(self._provisional_from)[:4])
        last = int(str(latest)[:4])
        years = str(first) if first == last else f"{first}-{last}"
        warnings.warn(
            f"{self.name}: {years} is not yet covered by a published State Council holiday notice "
            f"(last published: {first - 1}); business days there are a provisional projection "
            f"(statutory holidays and the 2024 调休 principles), without the weekend working days "
            f"the notice will add",
            ProvisionalCalendarWarning,
            stacklevel=3,
        )
        return True

    def is_provisional(self, date: dt.date) -> bool:
        """Whether ``date`` lies in a provisional (not yet published) year."""
        day = np.datetime64(_to_date(date, "date"), "D")
        return bool(day >= self._provisional_from)

    def is_provisional_array(self, dates: object) -> NDArray[np.bool_]:
        """Element-wise :meth:`is_provisional`."""
        return _to_days(dates, "dates") >= self._provisional_from

    # --- queries ----------------------------------------------------------------------------

    def is_business_day(self, date: dt.date) -> bool:
        """Whether ``date`` is a business day."""
        return bool(self.is_business_day_array(np.datetime64(_to_date(date, "date"), "D")))

    def is_business_day_array(self, dates: object) -> NDArray[np.bool_]:
        """Element-wise :meth:`is_business_day` (any array-like of dates)."""
        days = _to_days(dates, "dates")
        self._check(days, "dates")
        self._warn(days)
        return np.is_busday(days, busdaycal=self._bdc)

    def advance(self, date: dt.date, days: int) -> dt.date:
        """Move ``date`` by ``days`` business days (negative goes back), as QuantLib's
        ``Calendar.advance``: ``days == 0`` adjusts to the following business day; a non-business
        ``date`` counts from itself (Saturday + 1 is the next business day)."""
        out = self.advance_array(np.datetime64(_to_date(date, "date"), "D"), days)
        return _as_date(out[()])

    def advance_array(self, dates: object, days: object) -> NDArray[np.datetime64]:
        """Element-wise :meth:`advance` (``dates`` and ``days`` broadcast)."""
        d = _to_days(dates, "dates")
        try:
            n = np.asarray(days)
            if n.dtype.kind not in "iu":
                raise TypeError
        except TypeError:
            raise InvalidInputError(f"`days` must be integers; got {days!r}") from None
        self._check(d, "dates")
        d, n = np.broadcast_arrays(d, n)
        out = np.empty(d.shape, dtype="datetime64[D]")
        fwd = n > 0
        back = n < 0
        zero = ~(fwd | back)
        try:
            out[fwd] = np.busday_offset(d[fwd], n[fwd], roll="preceding", busdaycal=self._bdc)
            out[back] = np.busday_offset(d[back], n[back], roll="following", busdaycal=self._bdc)
            out[zero] = np.busday_offset(d[zero], 0, roll="following", busdaycal=self._bdc)
        except ValueError as exc:
            raise InvalidInputError(
                f"{self.name}: cannot advance {dates!r} by {days!r}: {exc}"
            ) from None
        self._check(out, "result")
        self._warn(d, out)
        return out

    def adjust(self, date: dt.date, convention: Convention = "following") -> dt.date:
        """Roll a non-business ``date`` by ``convention`` (``following``, ``modified_following``,
        ``preceding``, ``modified_preceding`` or ``unadjusted``), as ISDA 2006 section 4.12."""
        out = self.adjust_array(np.datetime64(_to_date(date, "date"), "D"), convention)
        return _as_date(out[()])

    def adjust_array(
        self, dates: object, convention: Convention = "following"
    ) -> NDArray[np.datetime64]:
        """Element-wise :meth:`adjust`."""
        d = _to_days(dates, "dates")
        if convention == "unadjusted":
            return d
        try:
            roll = _CONVENTIONS[convention]
        except (KeyError, TypeError):
            known = ", ".join([*_CONVENTIONS, "unadjusted"])
            raise InvalidInputError(
                f"unknown business-day convention {convention!r}; known: {known}"
            ) from None
        self._check(d, "dates")
        out = np.busday_offset(d, 0, roll=roll, busdaycal=self._bdc)
        self._check(out, "result")
        self._warn(d, out)
        return out

    def business_days_between(
        self,
        start: dt.date,
        end: dt.date,
        *,
        include_first: bool = True,
        include_last: bool = False,
    ) -> int:
        """Number of business days from ``start`` to ``end`` (QuantLib's
        ``businessDaysBetween``: ``[start, end)`` by default; negative if ``end < start``)."""
        s = np.datetime64(_to_date(start, "start"), "D")
        e = np.datetime64(_to_date(end, "end"), "D")
        out = self.business_days_between_array(
            s, e, include_first=include_first, include_last=include_last
        )
        return int(out[()])

    def business_days_between_array(
        self,
        starts: object,
        ends: object,
        *,
        include_first: bool = True,
        include_last: bool = False,
    ) -> NDArray[np.int64]:
        """Element-wise :meth:`business_days_between` (``starts`` and ``ends`` broadcast).

        The gap in business days between consecutive trade dates ``t0 < t1`` is
        ``business_days_between_array(t0, t1, include_first=False, include_last=True)``.
        """
        s = _to_days(starts, "starts")
        e = _to_days(ends, "ends")
        self._check(s, "starts")
        self._check(e, "ends")
        s, e = np.broadcast_arrays(s, e)
        lo, hi = np.minimum(s, e), np.maximum(s, e)
        # QuantLib: count [lo, hi] inclusive, then drop `start` unless include_first and `end`
        # unless include_last; negative when end < start; 1 or 0 when start == end.
        n = np.busday_count(lo, hi + np.timedelta64(1, "D"), busdaycal=self._bdc).astype(np.int64)
        s_open = np.is_busday(s, busdaycal=self._bdc)
        e_open = np.is_busday(e, busdaycal=self._bdc)
        n = n - (s_open & (not include_first)) - (e_open & (not include_last))
        n = np.where(s == e, s_open & include_first & include_last, n).astype(np.int64)
        self._warn(s, e)
        return np.where(e < s, -n, n)

    def business_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Business days in ``[start, end]`` (both inclusive), in order."""
        return [_as_date(d) for d in self.business_day_array(start, end)]

    def business_day_array(self, start: dt.date, end: dt.date) -> NDArray[np.datetime64]:
        """Business days in ``[start, end]`` as a ``datetime64[D]`` array."""
        s = np.datetime64(_to_date(start, "start"), "D")
        e = np.datetime64(_to_date(end, "end"), "D")
        if e < s:
            raise InvalidInputError(f"`end` ({e}) is before `start` ({s})")
        span = np.array([s, e])
        self._check(span, "dates")
        days = np.arange(s, e + 1, dtype="datetime64[D]")
        self._warn(span)
        return days[np.is_busday(days, busdaycal=self._bdc)]

    @property
    def busdaycalendar(self) -> np.busdaycalendar:
        """The underlying :class:`numpy.busdaycalendar` (seven-day week, closed days listed)."""
        return self._bdc

    def closed_weekdays(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Monday-Friday dates in ``[start, end]`` that are not business days (holidays)."""
        s = np.datetime64(_to_date(start, "start"), "D")
        e = np.datetime64(_to_date(end, "end"), "D")
        sel = self._closed[(self._closed >= s) & (self._closed <= e)]
        return [_as_date(d) for d in sel]


_LOWER = dt.date(FIRST_YEAR, 1, 1)
_UPPER = dt.date(LAST_PROJECTED_YEAR, 12, 31)


_BUILT: dict[str, ChinaCalendar] = {}


def get_calendar(name: str) -> ChinaCalendar:
    """The China calendar called ``name`` (one of :data:`CALENDAR_NAMES`), built once."""
    if name not in CALENDAR_RULES:
        known = ", ".join(CALENDAR_NAMES)
        raise InvalidInputError(f"unknown China calendar {name!r}; known: {known}")
    built = _BUILT.get(name)
    if built is None:
        with _LOCK:  # one build per process, even when threads ask at once
            built = _BUILT.get(name)
            if built is None:
                built = _BUILT[name] = ChinaCalendar(name)
    return built
