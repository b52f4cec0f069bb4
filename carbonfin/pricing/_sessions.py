"""The business days of one price series: a single calendar for every date of the series.

A series is counted in one of three ways, chosen when it is loaded:

* a named calendar (``"China.SSE"``, ``"China.IB"``, ``"TARGET"`` …): its business days;
* ``"weekdays"``: Monday to Friday, no holidays;
* ``None``: no calendar is known, the series' own rows are its sessions (handled by the caller).

For a China calendar the holiday schedule is published one year at a time. Beyond the last
published year the business days are a **provisional** projection (weekdays in the interim
QuantLib-backed version); every answer that uses such a year lists it in
``provisional_years``. The grid never switches method inside a series: a date in 2026 counts the
same whether or not the series also reaches into 2027.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from carbonfin._quantlib import CALENDAR_DATA_LAST_YEAR, business_days, calendar
from carbonfin.errors import InvalidInputError

__all__ = ["WEEKDAYS", "Sessions"]

WEEKDAYS = "weekdays"


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
        if name != WEEKDAYS:
            calendar(name)  # raises InvalidInputError naming the known calendars
        return cls(name)

    @property
    def last_published_year(self) -> int | None:
        """The last year whose holidays are published (``None``: no such limit)."""
        return CALENDAR_DATA_LAST_YEAR.get(self.calendar)

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
        last = self.last_published_year
        if self.calendar == WEEKDAYS:
            return _weekdays(start, end)
        if last is None or end.year <= last:
            return np.array(business_days(start, end, self.calendar), dtype="datetime64[D]")
        parts = []
        if start.year <= last:
            parts.append(
                np.array(
                    business_days(start, dt.date(last, 12, 31), self.calendar),
                    dtype="datetime64[D]",
                )
            )
        parts.append(_weekdays(max(start, dt.date(last + 1, 1, 1)), end))
        return np.concatenate(parts)

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
