"""The business days of one price series: a single calendar for every date of the series.

A series is counted in one of three ways, chosen when it is loaded:

* a named calendar: a China calendar of :mod:`carbonfin.calendars` (``"China.SEEE"``,
  ``"China.CEA"``, ``"China.SSE"``, ``"China.IB"``: the State Council notices as data) or one of
  QuantLib's (``"TARGET"`` …);
* ``"weekdays"``: Monday to Friday, no holidays;
* ``None``: no calendar is known, the series' own rows are its sessions (handled by the caller).

A China calendar beyond its last published year is a **provisional** projection; every answer
that uses such a year lists it in ``provisional_years`` (the caller warns once, naming the
series). The grid never switches method inside a series: a date in 2026 counts the same whether
or not the series also reaches into 2027. The China grids read the calendars'
``numpy.busdaycalendar`` directly, so building them neither warns nor touches global state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from carbonfin import calendars as china
from carbonfin._quantlib import business_days, calendar
from carbonfin.errors import InvalidInputError

__all__ = ["WEEKDAYS", "Sessions"]

WEEKDAYS = "weekdays"
_CHINA_FIRST = np.datetime64(dt.date(china.FIRST_YEAR, 1, 1), "D")
_CHINA_LAST = np.datetime64(dt.date(china.LAST_PROJECTED_YEAR, 12, 31), "D")


@dataclass(frozen=True, slots=True)
class Sessions:
    """Business days of a named calendar or of the weekday calendar (not ``None``)."""

    calendar: str

    @classmethod
    def of(cls, name: str) -> Sessions:
        """Validate the calendar's name (``"weekdays"`` or a calendar the engine knows)."""
        if not isinstance(name, str):
            raise InvalidInputError(
                f"`calendar` must be a calendar name, 'weekdays' or None; got {name!r}"
            )
        if name != WEEKDAYS and name not in china.CALENDAR_RULES:
            calendar(name)  # raises InvalidInputError naming the known calendars
        return cls(name)

    @property
    def is_china(self) -> bool:
        return self.calendar in china.CALENDAR_RULES

    @property
    def last_published_year(self) -> int | None:
        """The last year whose holidays are published (``None``: no such limit)."""
        return china.last_published_year() if self.is_china else None

    def provisional_years(self, start: dt.date, end: dt.date) -> tuple[int, ...]:
        """The years of ``[start, end]`` answered by the provisional projection."""
        last = self.last_published_year
        if last is None or end.year <= last:
            return ()
        return tuple(range(max(start.year, last + 1), end.year + 1))

    def grid(self, start: dt.date, end: dt.date) -> np.ndarray:
        """Business days in ``[start, end]`` (both inclusive) as sorted ``datetime64[D]``."""
        if end < start:
            return np.array([], dtype="datetime64[D]")
        if self.calendar == WEEKDAYS:
            return _weekdays(start, end)
        if self.is_china:
            lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
            if lo < _CHINA_FIRST or hi > _CHINA_LAST:
                raise InvalidInputError(
                    f"{self.calendar} covers {_CHINA_FIRST} to {_CHINA_LAST}; "
                    f"got dates from {lo} to {hi}"
                )
            days = np.arange(lo, hi + 1, dtype="datetime64[D]")
            bdc = china.get_calendar(self.calendar).busdaycalendar
            return days[np.is_busday(days, busdaycal=bdc)]
        return np.array(business_days(start, end, self.calendar), dtype="datetime64[D]")

    def positions(self, dates: np.ndarray) -> np.ndarray:
        """Position of each date in the business-day grid spanning them (a date that is not a
        business day takes the position of the next business day)."""
        if len(dates) == 0:
            return np.zeros(0, dtype=np.int64)
        days = dates.astype("datetime64[D]")
        first, last = days.min().item(), days.max().item()
        return np.searchsorted(self.grid(first, last), days).astype(np.int64)

    def is_business(self, dates: np.ndarray) -> np.ndarray:
        """Whether each date is a business day."""
        if len(dates) == 0:
            return np.zeros(0, dtype=bool)
        days = dates.astype("datetime64[D]")
        grid = self.grid(days.min().item(), days.max().item())
        return np.isin(days, grid)

    def count_after(self, last: dt.date, as_of: dt.date) -> int:
        """Business days ``d`` with ``last < d <= as_of``."""
        if as_of <= last:
            return 0
        return len(self.grid(last + dt.timedelta(days=1), as_of))

    def window_start(self, as_of: dt.date, n_days: int) -> dt.date:
        """First day of the last ``n_days`` business days on or before ``as_of``."""
        lookback = as_of - dt.timedelta(days=n_days * 3 + 20)
        days = self.grid(lookback, as_of)
        pick = days[-n_days] if len(days) >= n_days else days[0]
        start: dt.date = pick.item()
        return start


def _weekdays(start: dt.date, end: dt.date) -> np.ndarray:
    days = np.arange(
        np.datetime64(start, "D"), np.datetime64(end, "D") + np.timedelta64(1, "D"), dtype="M8[D]"
    )
    return days[np.is_busday(days)]
