"""Validated daily price history of a carbon price series, its returns and its valuation mark.

A :class:`PriceHistory` is built from a frame of daily quotes (the ``prices`` table of the store or
the sample market, or a CSV such as the real SHEA quotes) of one of the engine's instruments, or
of any other daily carbon price series (another pilot, EUA) with its own name, calendar and price
limit. It refuses what cannot be right and flags what is merely unusual:

refused (:class:`~carbonfin.errors.InvalidInputError`, naming the date)
    duplicate or unsorted dates, infinite or non-positive prices, a negative volume, and — unless
    ``strict=False`` — a high below the low;
flagged (a boolean column each, never dropped)
    ``no_close`` (no trade, or a VWAP without a close); ``zero_volume`` (a volume of 0) and
    ``missing_volume`` (no volume given: unknown, not zero); ``limit_breach`` (a close-to-close
    move beyond the daily limit compounded over the gap: a block trade or a data error);
    ``non_business_day`` (not a business day of the series' calendar); ``stale`` (part of a run
    of at least ``stale_run`` unchanged closes); ``inconsistent_range`` (high below low, with
    ``strict=False``; open/high/low of the row are then ignored); ``close_outside_range``;
    ``suspect_print`` (close and VWAP further apart than ``suspect_frac``, the close not
    corroborated by the day's range) and ``suspect_vwap`` (the same gap, but the close lies in
    the day's high-low range and the VWAP does not).

Suspect prints
--------------
A close of 5.11 beside a VWAP of 25.11 is a bad tick, not a −80% day. Under a ±10% daily limit
every listed price of a session lies in ``[P(1 − L), P(1 + L)]`` around the previous reference
price ``P``, so two of them differ by at most ``(1 + L)/(1 − L) − 1 = 22.2%``. The default
``suspect_frac = 0.25`` leaves a margin above that: a wider gap between close and VWAP cannot be
two listed trades of one session. It is a parameter; a market without limits (EUA) needs its own.

Returns across no-trade days
----------------------------
Thin markets such as SHEA trade on about 60% of business days. Returns are formed **trade to
trade** — between consecutive observed prices, whatever the gap — because a close is the only
price there is; filling missing days with the last close would invent zero returns and understate
volatility. Each return carries ``gap_days``, the number of business days it spans, counted on
**one calendar for every date of the series** (the series' calendar; ``"weekdays"``; or, with
``calendar=None``, the series' own rows). For volatility per business day,
``returns(per="business_day")`` divides each return by ``sqrt(gap_days)`` (a random walk's
variance grows with elapsed time); ``per="trade"`` gives the raw trade-to-trade returns.
``returns(exclude=(flag, ...))`` drops the prices carrying those flags and
``price="vwap" | "close_else_vwap"`` uses the VWAP (for markets that rarely print a close); the
result says how many prices were dropped or substituted.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from carbonfin.errors import (
    InvalidInputError,
    MissingDataError,
    ProvisionalCalendarWarning,
    StaleDataError,
)
from carbonfin.instruments import Instrument
from carbonfin.pricing import _quote_checks as qc
from carbonfin.pricing._history_results import Mark, Returns
from carbonfin.pricing._history_settings import (
    FROM_RULES,
    check_age,
    identify_series,
    series_settings,
)
from carbonfin.pricing._sessions import WEEKDAYS, Sessions

__all__ = ["FLAGS", "FROM_RULES", "SUSPECT_PRINT_FRAC", "Mark", "PriceHistory", "Returns"]

FLAGS = (
    "no_close",
    "zero_volume",
    "limit_breach",
    "non_business_day",
    "stale",
    "inconsistent_range",
    "close_outside_range",
    "missing_volume",
    "suspect_print",
    "suspect_vwap",
)
#: default gap between close and VWAP beyond which a row is a suspect print (module notes)
SUSPECT_PRINT_FRAC = 0.25
PRICES = ("close", "vwap", "close_else_vwap")


def _frozen_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A private deep copy of ``frame``, so that the caller's frame and the held one never share
    memory. It is only ever handed out through ``copy(deep=False)``: under pandas'
    copy-on-write a write to that view copies first, and its ``to_numpy()`` is read-only."""
    return frame.copy(deep=True)


def _as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidInputError(f"`{name}` must be a datetime.date; got {value!r}")
    return value


def _check_flags(exclude: Iterable[str]) -> tuple[str, ...]:
    if isinstance(exclude, str):
        exclude = (exclude,)
    try:
        out = tuple(exclude)
    except TypeError:
        raise InvalidInputError(
            f"`exclude` must be a flag name or a sequence of them; got {exclude!r}"
        ) from None
    unknown = [f for f in out if f not in FLAGS]
    if unknown:
        raise InvalidInputError(f"`exclude` holds unknown flags {unknown}; known flags: {FLAGS}")
    return out


@dataclass(frozen=True, slots=True, eq=False)
class PriceHistory:
    """A validated daily series: quotes and flags, indexed by date.

    Build it with :meth:`from_frame` or :meth:`from_csv`. ``quotes`` has the columns open, high,
    low, close, vwap (per tonne, in ``currency``), volume_t and amount_cny (turnover in the
    same currency); ``flags`` has one boolean column per entry of ``FLAGS``. Both are
    read-only: each access hands out a copy-on-write view whose arrays cannot be written, so no
    caller can change the history another caller sees. ``instrument`` is ``None`` for a series
    outside the engine's instruments; ``name`` always names the series.
    """

    instrument: Instrument | None
    _quotes: pd.DataFrame = field(repr=False)
    _flags: pd.DataFrame = field(repr=False)
    limit_frac: float | None
    calendar: str | None
    name: str = ""
    currency: str | None = "CNY"
    max_mark_age_days: int = 10
    suspect_frac: float = SUSPECT_PRINT_FRAC
    stale_run: int = 5
    _positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    _days: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_quotes", _frozen_frame(self._quotes))
        object.__setattr__(self, "_flags", _frozen_frame(self._flags))
        if not self.name:
            object.__setattr__(self, "name", self.instrument.value if self.instrument else "")
        if len(self._positions) != len(self._quotes):
            object.__setattr__(self, "_positions", self._session_positions())
        positions = np.array(self._positions, dtype=np.int64)
        positions.flags.writeable = False
        object.__setattr__(self, "_positions", positions)
        days = np.array(self._quotes.index.tolist(), dtype="datetime64[D]")
        days.flags.writeable = False
        object.__setattr__(self, "_days", days)

    @property
    def quotes(self) -> pd.DataFrame:
        """The daily quotes (read-only; see the class notes)."""
        return self._quotes.copy(deep=False)

    @property
    def flags(self) -> pd.DataFrame:
        """One boolean column per flag of ``FLAGS`` (read-only)."""
        return self._flags.copy(deep=False)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        instrument: Instrument | str | None = None,
        *,
        name: str | None = None,
        calendar: str | None = FROM_RULES,
        limit_frac: float | Literal["rules"] | None = FROM_RULES,
        currency: str | None = FROM_RULES,
        max_mark_age_days: int | None = None,
        suspect_frac: float = SUSPECT_PRINT_FRAC,
        strict: bool = True,
        stale_run: int = 5,
    ) -> PriceHistory:
        """Validate ``frame`` (one row per date) and flag its unusual rows.

        Parameters
        ----------
        frame
            Daily quotes with a ``date`` column (or index) and at least a close column; the
            store's names (``close_cny_per_t`` …) and plain names (``close``, ``turnover_cny``)
            are both understood. Rows of other instruments must be filtered out beforehand.
        instrument
            The engine instrument quoted (SHEA, CEA, CCER), whose market rules give the
            defaults below; ``None`` for any other series, which then needs ``name``,
            ``calendar`` and ``limit_frac``.
        name
            Name of the series in every output (default: the instrument's code).
        calendar
            Business days of the series: a calendar name (``"China.SSE"``, ``"China.IB"``,
            ``"TARGET"`` …), ``"weekdays"`` (Monday-Friday) or ``None`` (the series' own rows are
            its sessions; no day is flagged ``non_business_day``). Default: the instrument's.
        limit_frac
            Daily price limit as a fraction of the previous close, in (0, 1), or ``None`` for a
            market without a limit. Default: the instrument's listed-trade limit.
        currency
            Currency of the prices (default: the instrument's; ``None`` for a series: not
            stated).
        max_mark_age_days
            Default maximum age of a mark in business days (see :meth:`mark`); default: the
            instrument's ``max_mark_age_days`` in ``market.toml``, or its ``series_defaults``.
        suspect_frac
            Gap between close and VWAP beyond which a row is a suspect print (module notes).
        strict
            If true (the default), a high below the low is an error; if false, the row is kept,
            flagged ``inconsistent_range`` and its open/high/low ignored (for sources known to
            mix up columns, such as the republished real SHEA quotes).
        stale_run
            Minimum length of a run of unchanged closes to flag as stale.
        """
        inst, series = identify_series(frame, instrument, name)
        calendar, limit, currency, max_age = series_settings(
            inst, series, calendar, limit_frac, currency, max_mark_age_days
        )
        if isinstance(stale_run, bool) or not isinstance(stale_run, int) or stale_run < 2:
            raise InvalidInputError(f"`stale_run` must be an integer >= 2; got {stale_run!r}")
        if not (isinstance(suspect_frac, int | float) and 0.0 < suspect_frac < np.inf):
            raise InvalidInputError(f"`suspect_frac` must be > 0; got {suspect_frac!r}")
        dates = qc.parse_dates(frame)
        quotes = qc.pick_columns(frame)
        quotes.index = pd.Index(dates, name="date")
        qc.check_values(quotes)
        flags = pd.DataFrame(False, index=quotes.index, columns=list(FLAGS))
        bad_range = (quotes["high"] < quotes["low"]).to_numpy()
        if bad_range.any():
            first = quotes.index[int(np.argmax(bad_range))]
            if strict:
                high, low = quotes.loc[first, "high"], quotes.loc[first, "low"]
                raise InvalidInputError(
                    f"{first.isoformat()}: high {high} is below low {low} "
                    "(pass strict=False to flag such rows instead)"
                )
            flags["inconsistent_range"] = bad_range
            quotes.loc[bad_range, ["open", "high", "low"]] = np.nan
        history = cls(
            inst, quotes, flags, limit, calendar, series, currency, max_age, float(suspect_frac),
            stale_run,
        )  # fmt: skip
        return history._with_flags()

    def _with_flags(self) -> PriceHistory:
        """The same history with every flag but ``inconsistent_range`` (re)computed."""
        quotes = self._quotes
        flags = self._flags.copy()
        close = quotes["close"].to_numpy()
        volume = quotes["volume_t"].to_numpy()
        flags["no_close"] = np.isnan(close)
        flags["zero_volume"] = volume == 0
        flags["missing_volume"] = np.isnan(volume)
        flags["close_outside_range"] = qc.close_outside_range(quotes)
        flags["stale"] = qc.stale_runs(close, self.stale_run)
        flags["limit_breach"] = qc.limit_breaches(close, self._positions, self.limit_frac)
        flags["suspect_print"], flags["suspect_vwap"] = qc.suspect_prints(quotes, self.suspect_frac)
        if self.calendar is not None:
            days = self._days
            flags["non_business_day"] = ~Sessions(self.calendar).is_business(days)
        return self._replace(flags=flags)

    def _replace(self, quotes: pd.DataFrame | None = None, flags: pd.DataFrame | None = None,
                 positions: np.ndarray | None = None) -> PriceHistory:  # fmt: skip
        return PriceHistory(
            self.instrument,
            self._quotes if quotes is None else quotes,
            self._flags if flags is None else flags,
            self.limit_frac,
            self.calendar,
            self.name,
            self.currency,
            self.max_mark_age_days,
            self.suspect_frac,
            self.stale_run,
            self._positions if positions is None else positions,
        )

    @classmethod
    def from_csv(
        cls, path: str | Path, instrument: Instrument | str | None = None, **kwargs: Any
    ) -> PriceHistory:
        """Read a CSV of daily quotes (a ``date`` column and price columns) and validate it;
        ``kwargs`` as for :meth:`from_frame` (``name``, ``calendar``, ``limit_frac`` …)."""
        try:
            frame = pd.read_csv(path)
        except FileNotFoundError:
            raise InvalidInputError(f"no such price file: {path}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path} is not a readable CSV: {exc}") from None
        return cls.from_frame(frame, instrument, **kwargs)

    # --- sessions -----------------------------------------------------------------------------

    def _session_positions(self) -> np.ndarray:
        if self.calendar is None:
            return np.arange(len(self._quotes), dtype=np.int64)
        days = np.array(list(self._quotes.index), dtype="datetime64[D]")
        return Sessions(self.calendar).positions(days)

    def _provisional(self, start: dt.date, end: dt.date) -> tuple[int, ...]:
        if self.calendar is None:
            return ()
        return Sessions(self.calendar).provisional_years(start, end)

    @property
    def provisional_years(self) -> tuple[int, ...]:
        """Years of the series whose business days are a provisional projection."""
        return self._provisional(self.dates[0], self.dates[-1])

    def session_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The series' business days in ``[start, end]`` (its own dates with ``calendar=None``)."""
        days: list[dt.date] = self.session_grid(start, end).tolist()  # dt.date each
        return days

    def session_grid(self, start: dt.date, end: dt.date) -> np.ndarray:
        """:meth:`session_days` as sorted ``datetime64[D]`` (no ``dt.date`` objects made)."""
        if self.calendar is None:
            lo = np.searchsorted(self._days, np.datetime64(start, "D"))
            return self._days[lo : np.searchsorted(self._days, np.datetime64(end, "D"), "right")]
        return Sessions(self.calendar).grid(start, end)

    # --- views ------------------------------------------------------------------------------

    @property
    def days(self) -> np.ndarray:
        """The dates as ``datetime64[D]`` (read-only; made once with the history)."""
        return self._days

    @property
    def dates(self) -> list[dt.date]:
        dates: list[dt.date] = self._quotes.index.tolist()  # a new list (C-level copy) each call
        return dates

    def closes(self) -> pd.Series:
        """Closes of the days that have one (trade days), indexed by date."""
        return self._quotes["close"].dropna()

    def between(self, start: dt.date | None = None, end: dt.date | None = None) -> PriceHistory:
        """The history restricted to ``[start, end]`` (flags recomputed on the window)."""
        start = None if start is None else _as_date(start, "start")
        end = None if end is None else _as_date(end, "end")
        if start is not None and end is not None and end < start:
            raise InvalidInputError(f"`end` {end} is before `start` {start}")
        mask = np.ones(len(self._quotes), dtype=bool)
        index = np.array(self.dates, dtype=object)
        if start is not None:
            mask &= index >= start
        if end is not None:
            mask &= index <= end
        if not mask.any():
            span = (
                f"between {start} and {end}"
                if start is not None and end is not None
                else f"on or after {start}"
                if start is not None
                else f"on or before {end}"
            )
            raise MissingDataError(
                f"no {self.name} quotes {span} (the history runs {self.dates[0]} to "
                f"{self.dates[-1]})"
            )
        # the flags of the full history's range check stay (open/high/low were already blanked)
        window = self._replace(self._quotes[mask], self._flags[mask], self._positions[mask])
        return window._with_flags()

    def flag_counts(self) -> dict[str, int]:
        """Number of rows carrying each flag."""
        return {name: int(self._flags[name].sum()) for name in FLAGS}

    def returns(
        self,
        kind: Literal["log", "simple"] = "log",
        per: Literal["trade", "business_day"] = "business_day",
        *,
        price: Literal["close", "vwap", "close_else_vwap"] = "close",
        exclude: Iterable[str] = (),
        drop: np.ndarray | None = None,
    ) -> Returns:
        """Trade-to-trade returns of the observed prices (see the module notes).

        ``kind="log"`` gives ``ln(P_t / P_prev)``, ``"simple"`` gives ``P_t / P_prev − 1``.
        ``per="business_day"`` divides each by ``sqrt(gap_days)``. ``price`` picks the closes,
        the VWAPs, or the close where there is one and the VWAP otherwise. Prices on rows
        carrying any flag in ``exclude`` are dropped (the return then spans the gap), and so are
        the rows where the boolean array ``drop`` (one value per row) is true, counted with them.
        A ``ProvisionalCalendarWarning`` says when a provisional calendar year was used.
        """
        if kind not in ("log", "simple"):
            raise InvalidInputError(f"`kind` must be 'log' or 'simple'; got {kind!r}")
        if per not in ("trade", "business_day"):
            raise InvalidInputError(f"`per` must be 'trade' or 'business_day'; got {per!r}")
        if price not in PRICES:
            raise InvalidInputError(f"`price` must be one of {PRICES}; got {price!r}")
        excluded = _check_flags(exclude)
        close = self._quotes["close"].to_numpy()
        vwap = self._quotes["vwap"].to_numpy()
        observed = {"close": close, "vwap": vwap}.get(price, np.where(np.isnan(close), vwap, close))
        has = ~np.isnan(observed)
        dropped = has & self._flags[list(excluded)].to_numpy().any(axis=1)
        if drop is not None:
            extra = np.asarray(drop, dtype=bool)
            if extra.shape != has.shape:
                raise InvalidInputError(
                    f"`drop` must have one value per row ({has.shape}); got {extra.shape}"
                )
            dropped |= has & extra
        keep = np.flatnonzero(has & ~dropped)
        if len(keep) < 2:
            raise MissingDataError(
                f"{self.name}: fewer than two {price} prices"
                + (f" once {', '.join(excluded)} are excluded" if excluded else "")
                + ", no returns"
            )
        substituted = price == "close_else_vwap" and np.isnan(close[keep])
        values = observed[keep]
        ratio = values[1:] / values[:-1]
        out = np.log(ratio) if kind == "log" else ratio - 1.0
        gaps = np.maximum(np.diff(self._positions[keep]), 1).astype(float)
        if per == "business_day":
            out = out / np.sqrt(gaps)
        dates = np.array(self.dates, dtype=object)[keep]
        provisional = self._provisional(dates[0], dates[-1])
        self._warn_provisional(provisional, "returns")
        return Returns(
            out, dates[1:], gaps, kind, per, self.name, price, excluded,
            int(dropped.sum()), int(np.sum(substituted)), self.calendar, provisional,
        )  # fmt: skip

    def _warn_provisional(self, years: tuple[int, ...], what: str) -> None:
        if years:
            warnings.warn(
                f"{self.name} {what}: business days of {_years_text(years)} on the "
                f"{self.calendar} calendar are provisional (holidays not yet published)",
                ProvisionalCalendarWarning,
                stacklevel=3,
            )

    def mark(
        self,
        as_of: dt.date,
        method: Literal["close", "vwap"] = "close",
        window_days: int = 5,
        max_age_days: int | None = None,
        *,
        exclude: Iterable[str] = (),
    ) -> Mark:
        """The valuation price on ``as_of``.

        Parameters
        ----------
        as_of
            Valuation date; only quotes on or before it are used.
        method
            ``"close"``: the last close. ``"vwap"``: total amount over total volume of the trades
            in the last ``window_days`` business days up to ``as_of`` (days with a volume and
            an amount; a VWAP-only day counts). The Shanghai pledge-loan guideline values pledged
            allowances "by market price" without fixing the averaging; both the method and the
            window are therefore parameters (source: 上海市碳排放配额质押贷款操作指引, 2020).
        window_days
            Window of the VWAP in business days (ignored for ``"close"``).
        max_age_days
            Maximum number of business days from the last trade used to ``as_of``; default the
            series' ``max_mark_age_days`` (the instrument's rules). An older mark raises
            :class:`~carbonfin.errors.StaleDataError` naming both dates.
        exclude
            Skip quotes carrying any of these flags (e.g. ``("suspect_print",)``).

        The mark lists in ``flags`` every flag carried by the quotes it used.
        """
        as_of = _as_date(as_of, "as_of")
        if method not in ("close", "vwap"):
            raise InvalidInputError(f"`method` must be 'close' or 'vwap'; got {method!r}")
        if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
            raise InvalidInputError(f"`window_days` must be an integer >= 1; got {window_days!r}")
        limit = (
            self.max_mark_age_days
            if max_age_days is None
            else check_age(max_age_days, "max_age_days")
        )
        excluded = _check_flags(exclude)
        days = self._days
        usable = days <= np.datetime64(as_of, "D")
        if not usable.any():
            raise MissingDataError(f"no {self.name} quotes on or before {as_of.isoformat()}")
        usable &= ~self._flags[list(excluded)].to_numpy().any(axis=1)
        quotes = self._quotes
        notes: list[str] = []
        if method == "close":
            rows = np.flatnonzero(usable & quotes["close"].notna().to_numpy())
            if len(rows) == 0:
                raise MissingDataError(
                    f"no {self.name} close on or before {as_of.isoformat()}"
                    + (f" without {', '.join(excluded)}" if excluded else "")
                )
            rows = rows[-1:]
            price = float(quotes["close"].iloc[rows[0]])
            volume = float(np.nan_to_num(quotes["volume_t"].iloc[rows[0]]))
        else:
            start = self._window_start(as_of, window_days, notes)
            traded = (quotes["volume_t"] > 0).to_numpy() & (quotes["amount_cny"] > 0).to_numpy()
            rows = np.flatnonzero(usable & traded & (days >= np.datetime64(start, "D")))
            if len(rows) == 0:
                raise MissingDataError(
                    f"no {self.name} trades with volume and amount in the "
                    f"{window_days} business days to {as_of.isoformat()}"
                )
            volume = float(quotes["volume_t"].iloc[rows].sum())
            price = float(quotes["amount_cny"].iloc[rows].sum()) / volume
        first, last = days[rows[0]].item(), days[rows[-1]].item()
        age = self._age(last, as_of, notes)
        provisional = self._provisional(first, as_of)
        if age > limit:
            if provisional:
                notes.append(
                    f"counted on a provisional calendar for {provisional[0]}-{provisional[-1]}"
                )
            raise StaleDataError(
                f"{self.name} mark on {as_of.isoformat()} refused: last traded on "
                f"{last.isoformat()}, {age} business days before {as_of.isoformat()} "
                f"(limit {limit}); pass `max_age_days` to override"
                + "".join(f"; {note}" for note in notes)
            )
        self._warn_provisional(provisional, "mark")
        used = self._flags.iloc[rows]
        flagged = {
            name: tuple(used.index[used[name].to_numpy()]) for name in FLAGS if used[name].any()
        }
        return Mark(
            self.instrument, as_of, method, 1 if method == "close" else window_days, price,
            first, last, len(rows), volume, age, limit, self.name, self.currency, flagged,
            excluded, self.calendar, provisional, tuple(notes),
        )  # fmt: skip

    def _window_start(self, as_of: dt.date, window_days: int, notes: list[str]) -> dt.date:
        """First day of the last ``window_days`` business days ending on ``as_of`` or before."""
        if self.calendar is not None:
            return Sessions(self.calendar).window_start(as_of, window_days)
        dates = [d for d in self.dates if d <= as_of]
        notes.append("no calendar: the VWAP window is the series' last rows up to the date")
        start: dt.date = dates[-window_days] if len(dates) >= window_days else dates[0]
        return start

    def _age(self, last: dt.date, as_of: dt.date, notes: list[str]) -> int:
        if self.calendar is not None:
            return Sessions(self.calendar).count_after(last, as_of)
        rows = sum(1 for d in self.dates if last < d <= as_of)
        end = self.dates[-1]
        if as_of <= end:
            return rows
        notes.append(
            f"no calendar: the age counts the series' rows to {end.isoformat()} and weekdays "
            "after it"
        )
        return rows + Sessions(WEEKDAYS).count_after(end, as_of)

    def summary(self) -> str:
        """A short text description: range, trade days, flags."""
        closes = self.closes()
        unit = f"{self.currency}/t" if self.currency else "per t"
        limit = (
            "no price limit" if self.limit_frac is None else f"price limit ±{self.limit_frac:.0%}"
        )
        calendar = (
            "the series' own rows as sessions"
            if self.calendar is None
            else f"{self.calendar} calendar"
        )
        provisional = self.provisional_years
        if provisional:
            calendar += f", provisional for {_years_text(provisional)}"
        lines = [
            f"{self.name}: {len(self._quotes)} rows, {self.dates[0]} to {self.dates[-1]}",
            f"  closes on {len(closes)} days; last close {closes.iloc[-1]:.2f} {unit} "
            f"on {closes.index[-1]}"
            if len(closes)
            else "  no closes",
            f"  {limit} ({calendar}); marks older than {self.max_mark_age_days} business "
            "days refused",
        ]
        lines += [f"  {name:20s} {count:6d}" for name, count in self.flag_counts().items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _years_text(years: tuple[int, ...]) -> str:
    """``(2027,)`` -> ``"2027"``; consecutive years as a range, ``"2027-2040"``."""
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
