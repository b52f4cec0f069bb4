"""The State Council holiday schedules as typed, validated data.

Reads ``carbonfin/rules/calendars/china/<year>.toml`` (one file per notice year; see the README in
that folder) into immutable :class:`YearSchedule` objects. A file with ``status = "provisional"``
marks a year whose notice is expected but not confirmed: it carries no dates, and the year is
answered by the projection (``carbonfin._china_projection``).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from carbonfin.errors import DataIntegrityError

__all__ = [
    "DATA_FOLDER",
    "FIRST_YEAR",
    "ExchangeClosure",
    "Holiday",
    "Notice",
    "YearSchedule",
    "load_published",
]

#: First year of the data (the engine covers the Shanghai pilot from its start in 2013).
FIRST_YEAR = 2013
#: Where the year files live, relative to the ``carbonfin.rules`` package.
DATA_FOLDER = "calendars/china"


@dataclass(frozen=True, slots=True)
class Notice:
    """A State Council notice (or, for a projection, the rule it follows)."""

    title: str
    number: str
    date: dt.date | None
    url: str
    note: str = ""

    def cite(self) -> str:
        parts = [self.title]
        if self.number:
            parts.append(self.number)
        if self.date is not None:
            parts.append(self.date.isoformat())
        if self.url:
            parts.append(self.url)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Holiday:
    """One holiday period: its days off and the weekend days declared working days for it."""

    name: str
    name_en: str
    days: tuple[dt.date, ...]
    working_days: tuple[dt.date, ...]
    notice: Notice


@dataclass(frozen=True, slots=True)
class ExchangeClosure:
    """A day a named exchange closes although the State Council schedule has it as a workday."""

    date: dt.date
    calendars: tuple[str, ...]
    reason: str
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """The holidays and adjusted working days of one year, with their source(s).

    ``provisional`` is True for a projected year (no notice on file); ``note`` says how it was
    made.
    """

    year: int
    provisional: bool
    notices: tuple[Notice, ...]
    holidays: tuple[Holiday, ...]
    exchange_closures: tuple[ExchangeClosure, ...] = ()
    note: str = ""

    @property
    def holiday_dates(self) -> frozenset[dt.date]:
        """Every day off named by the schedule (weekend days included where named)."""
        return frozenset(d for h in self.holidays for d in h.days)

    @property
    def working_dates(self) -> frozenset[dt.date]:
        """The weekend days declared official working days (调休上班)."""
        return frozenset(d for h in self.holidays for d in h.working_days)

    @property
    def source(self) -> str:
        """One line naming the notice(s) the schedule comes from."""
        head = "provisional projection: " if self.provisional else ""
        return head + "; ".join(n.cite() for n in self.notices)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DataIntegrityError(f"{where}: expected a TOML date; got {value!r}")
    return value


def _notice(raw: dict[str, Any], where: str) -> Notice:
    try:
        return Notice(
            title=str(raw["title"]),
            number=str(raw["number"]),
            date=_date(raw["date"], f"{where}.date"),
            url=str(raw.get("url", "")),
            note=str(raw.get("note", "")),
        )
    except KeyError as exc:
        raise DataIntegrityError(f"{where}: missing field {exc}") from None


def _holiday(raw: dict[str, Any], notices: tuple[Notice, ...], where: str) -> Holiday:
    if "days" in raw:
        days = tuple(_date(d, f"{where}.days") for d in raw["days"])
    else:
        first = _date(raw.get("first"), f"{where}.first")
        last = _date(raw.get("last"), f"{where}.last")
        if last < first:
            raise DataIntegrityError(f"{where}: last {last} is before first {first}")
        days = tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    working = tuple(_date(d, f"{where}.working_days") for d in raw.get("working_days", ()))
    for d in working:
        if d.weekday() < 5:
            raise DataIntegrityError(
                f"{where}: working day {d} is a {d.strftime('%A')}; adjusted working days are "
                f"weekend days"
            )
        if d in days:
            raise DataIntegrityError(f"{where}: {d} is both a holiday and a working day")
    index = raw.get("notice", 0)
    if not isinstance(index, int) or not 0 <= index < len(notices):
        raise DataIntegrityError(f"{where}: notice index {index!r} is not one of the notices")
    return Holiday(str(raw["name"]), str(raw.get("name_en", "")), days, working, notices[index])


def parse_year(raw: dict[str, Any], year: int) -> YearSchedule | None:
    """Validate one year file; ``None`` for a provisional placeholder."""
    where = f"{DATA_FOLDER}/{year}.toml"
    if raw.get("year") != year:
        raise DataIntegrityError(f"{where}: `year` is {raw.get('year')!r}, expected {year}")
    status = raw.get("status")
    if status == "provisional":
        if raw.get("holidays"):
            raise DataIntegrityError(f"{where}: a provisional placeholder lists no holidays")
        return None
    if status != "published":
        raise DataIntegrityError(f"{where}: `status` must be 'published' or 'provisional'")
    notices = tuple(_notice(n, f"{where} notices[{i}]") for i, n in enumerate(raw["notices"]))
    if not notices:
        raise DataIntegrityError(f"{where}: no source notice")
    holidays = tuple(
        _holiday(h, notices, f"{where} holidays[{i}]") for i, h in enumerate(raw["holidays"])
    )
    lo, hi = dt.date(year - 1, 12, 1), dt.date(year, 12, 31)
    for h in holidays:
        for d in (*h.days, *h.working_days):
            if not lo <= d <= hi:
                raise DataIntegrityError(f"{where}: {h.name} date {d} is outside {year}")
    closures = tuple(
        ExchangeClosure(
            date=_date(c["date"], f"{where} exchange_closures"),
            calendars=tuple(str(x) for x in c["calendars"]),
            reason=str(c["reason"]),
            source=str(c["source"]),
            note=str(c.get("note", "")),
        )
        for c in raw.get("exchange_closures", ())
    )
    return YearSchedule(year, False, notices, holidays, closures, str(raw.get("note", "")))


def load_published() -> dict[int, YearSchedule]:
    """Every published year on file, checked to run without a gap from :data:`FIRST_YEAR`."""
    folder = resources.files("carbonfin.rules").joinpath(DATA_FOLDER)
    out: dict[int, YearSchedule] = {}
    placeholders: set[int] = set()
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".toml"):
            continue
        try:
            year = int(name.removesuffix(".toml"))
        except ValueError:
            raise DataIntegrityError(
                f"{DATA_FOLDER}/{name}: file name must be <year>.toml"
            ) from None
        try:
            raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise DataIntegrityError(f"{DATA_FOLDER}/{name} is not valid TOML: {exc}") from exc
        try:
            sched = parse_year(raw, year)
        except (KeyError, TypeError) as exc:
            raise DataIntegrityError(f"{DATA_FOLDER}/{name}: malformed ({exc!r})") from exc
        if sched is None:
            placeholders.add(year)
        else:
            out[year] = sched
    if not out:
        raise DataIntegrityError(f"no published China calendar year in {DATA_FOLDER}")
    expected = set(range(FIRST_YEAR, max(out) + 1))
    if set(out) != expected:
        missing = sorted(expected - set(out))
        raise DataIntegrityError(f"{DATA_FOLDER}: published years have gaps: missing {missing}")
    stale = sorted(y for y in placeholders if y <= max(out))
    if stale:
        raise DataIntegrityError(
            f"{DATA_FOLDER}: provisional placeholder(s) {stale} precede "
            f"the last published year {max(out)}"
        )
    return out
