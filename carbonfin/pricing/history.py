"""Validated daily price history of a carbon instrument, its returns and its valuation mark.

A :class:`PriceHistory` is built from a frame of daily quotes (the ``prices`` table of the store or
the sample market, or a CSV such as the real SHEA quotes). It refuses what cannot be right and
flags what is merely unusual:

refused (:class:`~carbonfin.errors.InvalidInputError`, naming the date)
    duplicate or unsorted dates, infinite or non-positive prices, a negative volume, and — unless
    ``strict=False`` — a high below the low;
flagged (a boolean column each, never dropped)
    ``no_close`` (no trade, or a VWAP without a close), ``zero_volume``, ``limit_breach`` (a
    close-to-close move beyond the listed-trade limit: a block trade or a data error),
    ``non_business_day`` (not a China SSE business day), ``stale`` (part of a run of at least
    ``stale_run`` unchanged closes), ``inconsistent_range`` (high below low, with ``strict=False``;
    open/high/low of the row are then ignored) and ``close_outside_range``.

Returns across no-trade days
----------------------------
Thin markets such as SHEA trade on about 60% of business days. Returns are formed **trade to
trade** — between consecutive closes, whatever the gap — because a close is the only price there
is; filling missing days with the last close would invent zero returns and understate
volatility. Each return carries ``gap_days``, the number of SSE business days it spans. For
volatility per business day, ``returns(per="business_day")`` divides each return by
``sqrt(gap_days)`` (a random walk's variance grows with elapsed time), which is the form used
for volatility models and scenarios; ``per="trade"`` gives the raw trade-to-trade returns.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from carbonfin._quantlib import CALENDAR_DATA_LAST_YEAR, business_days
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.rules import market_rules

__all__ = ["Mark", "PriceHistory", "Returns"]

PRICE_COLUMNS = ("open", "high", "low", "close", "vwap")
#: accepted spellings of each column (the store/sample names and the real file's names)
_ALIASES = {
    "open": ("open", "open_cny_per_t"),
    "high": ("high", "high_cny_per_t"),
    "low": ("low", "low_cny_per_t"),
    "close": ("close", "close_cny_per_t"),
    "vwap": ("vwap", "vwap_cny_per_t"),
    "volume_t": ("volume_t", "volume"),
    "amount_cny": ("amount_cny", "turnover_cny", "amount"),
}
FLAGS = (
    "no_close",
    "zero_volume",
    "limit_breach",
    "non_business_day",
    "stale",
    "inconsistent_range",
    "close_outside_range",
)
# a close-to-close move counts as beyond the limit only past the limit plus one tick of rounding
_LIMIT_SLACK = 1e-6


@dataclass(frozen=True, slots=True, eq=False)
class Returns:
    """Returns between consecutive closes.

    ``values`` (decimals), ``dates`` (date of the later close), ``gap_days`` (SSE business days
    spanned, >= 1), ``kind`` (``"log"`` or ``"simple"``) and ``per`` (``"trade"`` or
    ``"business_day"``: scaled by ``1/sqrt(gap_days)``).
    """

    values: np.ndarray
    dates: np.ndarray
    gap_days: np.ndarray
    kind: str
    per: str

    def __post_init__(self) -> None:
        # frozen means frozen: hold private read-only copies of the arrays
        for name in ("values", "dates", "gap_days"):
            array = np.array(getattr(self, name), copy=True)
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    def to_series(self) -> pd.Series:
        return pd.Series(self.values, index=pd.Index(self.dates, name="date"), name="return")

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class Mark:
    """The price used to value a position on ``as_of``, with how it was obtained.

    ``price_cny_per_t`` is the last close on or before ``as_of`` (method ``"close"``) or the
    volume-weighted average price over the last ``window_days`` SSE business days (method
    ``"vwap"``: total amount / total volume of the window's trades). ``first_date`` and
    ``last_date`` are the trades actually used; ``age_days`` is the number of business days
    from the last trade used to ``as_of`` (0 = traded that day).
    """

    instrument: Instrument
    as_of: dt.date
    method: str
    window_days: int
    price_cny_per_t: float
    first_date: dt.date
    last_date: dt.date
    trade_days: int
    volume_t: float
    age_days: int


def _pick_columns(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name, aliases in _ALIASES.items():
        found = [a for a in aliases if a in frame.columns]
        if name in ("close",) and not found:
            raise InvalidInputError(
                f"price frame has no close column (expected one of {list(aliases)}); "
                f"columns are {list(frame.columns)}"
            )
        out[name] = (
            pd.to_numeric(frame[found[0]], errors="raise").astype(float)
            if found
            else pd.Series(np.nan, index=frame.index)
        )
    return pd.DataFrame(out)


def _dates(frame: pd.DataFrame) -> pd.Series:
    if "date" in frame.columns:
        raw = frame["date"]
    elif isinstance(frame.index, pd.DatetimeIndex) or frame.index.name == "date":
        raw = pd.Series(frame.index, index=frame.index)
    else:
        raise InvalidInputError("price frame needs a `date` column or a date index")
    try:
        dates = pd.to_datetime(raw, errors="raise")
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"price frame has a malformed date: {exc}") from None
    return pd.Series([d.date() for d in dates], index=frame.index)


def _check_order(dates: list[dt.date]) -> None:
    for prev, cur in itertools.pairwise(dates):
        if cur == prev:
            raise InvalidInputError(f"duplicate date {cur.isoformat()} in the price history")
        if cur < prev:
            raise InvalidInputError(
                f"dates are not sorted: {cur.isoformat()} comes after {prev.isoformat()}"
            )


def _stale_runs(close: np.ndarray, run: int) -> np.ndarray:
    """Mark closes that belong to a run of at least ``run`` equal consecutive closes."""
    flags = np.zeros(len(close), dtype=bool)
    idx = np.flatnonzero(~np.isnan(close))
    if len(idx) < run:
        return flags
    values = close[idx]
    change = np.r_[True, values[1:] != values[:-1]]
    run_id = np.cumsum(change)
    lengths = np.bincount(run_id)
    flags[idx[lengths[run_id] >= run]] = True
    return flags


def _gap_days(trade_dates: list[dt.date], calendar: str) -> np.ndarray:
    """Business days between consecutive trade dates (>= 1; weekends do not count)."""
    if len(trade_dates) < 2:
        return np.zeros(0)
    last_year = CALENDAR_DATA_LAST_YEAR.get(calendar, 9999)
    within = [d for d in trade_dates if d.year <= last_year]
    if len(within) == len(trade_dates):
        grid = np.array(business_days(trade_dates[0], trade_dates[-1], calendar))
        pos = np.searchsorted(grid, np.array(trade_dates, dtype=object))
    else:  # beyond QuantLib's holiday data: count weekdays
        pos = np.array([np.busday_count(trade_dates[0], d) for d in trade_dates])
    return np.maximum(np.diff(pos), 1).astype(float)


def _frozen_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A private deep copy of ``frame``, so that the caller's frame and the held one never share
    memory. It is only ever handed out through ``copy(deep=False)``: under pandas'
    copy-on-write a write to that view copies first, and its ``to_numpy()`` is read-only."""
    return frame.copy(deep=True)


def _limit_breaches(close: np.ndarray, gap_days: np.ndarray, limit: float) -> np.ndarray:
    """Closes whose move from the previous close exceeds the limit compounded over the gap.

    A daily limit ``L`` applies to each session's move from the previous session's reference
    price, so over a gap of ``g`` business days without a close the largest listed move is
    ``(1 + L)^g - 1`` up and ``1 - (1 - L)^g`` down; only a move beyond that (plus rounding
    slack) is flagged.
    """
    breach = np.zeros(len(close), dtype=bool)
    has = np.flatnonzero(~np.isnan(close))
    if len(has) < 2:
        return breach
    trade_close = close[has]
    move = trade_close[1:] / trade_close[:-1] - 1.0
    up = (1.0 + limit) ** gap_days - 1.0
    down = 1.0 - (1.0 - limit) ** gap_days
    breach[has[1:]] = (move > up + _LIMIT_SLACK) | (move < -down - _LIMIT_SLACK)
    return breach


@dataclass(frozen=True, slots=True, eq=False)
class PriceHistory:
    """A validated daily series of one instrument: quotes and flags, indexed by date.

    Build it with :meth:`from_frame`. ``quotes`` has the columns open, high, low, close, vwap
    (CNY/t), volume_t and amount_cny; ``flags`` has one boolean column per entry of ``FLAGS``.
    Both are read-only: each access hands out a copy-on-write view whose arrays cannot be
    written, so no caller can change the history another caller sees.
    """

    instrument: Instrument
    _quotes: pd.DataFrame
    _flags: pd.DataFrame
    limit_frac: float
    calendar: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_quotes", _frozen_frame(self._quotes))
        object.__setattr__(self, "_flags", _frozen_frame(self._flags))

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
        instrument: Instrument | str,
        *,
        strict: bool = True,
        stale_run: int = 5,
        limit_frac: float | None = None,
    ) -> PriceHistory:
        """Validate ``frame`` (one row per date) and flag its unusual rows.

        Parameters
        ----------
        frame
            Daily quotes with a ``date`` column (or index) and at least a close column; the
            store's names (``close_cny_per_t`` …) and plain names (``close``, ``turnover_cny``)
            are both understood. Rows of other instruments must be filtered out beforehand.
        instrument
            The instrument quoted.
        strict
            If true (the default), a high below the low is an error; if false, the row is kept,
            flagged ``inconsistent_range`` and its open/high/low ignored (for sources known to
            mix up columns, such as the republished real SHEA quotes).
        stale_run
            Minimum length of a run of unchanged closes to flag as stale.
        limit_frac
            Daily price limit; defaults to the instrument's listed-trade limit from the rules.
        """
        instrument = (
            instrument if isinstance(instrument, Instrument) else Instrument.parse(instrument)
        )
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise InvalidInputError("price frame is empty")
        if "instrument" in frame.columns:
            others = set(frame["instrument"].dropna().astype(str)) - {instrument.value}
            if others:
                raise InvalidInputError(
                    f"price frame for {instrument.value} also holds rows of {sorted(others)}"
                )
        rules = market_rules()[instrument]
        limit = rules.price_limit.listed_frac if limit_frac is None else float(limit_frac)
        if not 0.0 < limit < 1.0:
            raise InvalidInputError(f"`limit_frac` must be in (0, 1); got {limit_frac!r}")
        if stale_run < 2:
            raise InvalidInputError(f"`stale_run` must be >= 2; got {stale_run!r}")
        dates = _dates(frame)
        _check_order(list(dates))
        try:
            quotes = _pick_columns(frame)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"price frame has a non-numeric value: {exc}") from None
        quotes.index = pd.Index(list(dates), name="date")
        cls._check_values(quotes)
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
        close = quotes["close"].to_numpy()
        flags["no_close"] = np.isnan(close)
        volume = quotes["volume_t"].to_numpy()
        flags["zero_volume"] = ~(volume > 0)
        outside = (close > quotes["high"].to_numpy() * (1 + 1e-9)) | (
            close < quotes["low"].to_numpy() * (1 - 1e-9)
        )
        flags["close_outside_range"] = outside
        flags["stale"] = _stale_runs(close, stale_run)
        flags["limit_breach"] = _limit_breaches(
            close, _gap_days(list(quotes.index[~np.isnan(close)]), rules.calendar), limit
        )
        flags["non_business_day"] = cls._non_business(list(quotes.index), rules.calendar)
        return cls(instrument, quotes, flags, limit, rules.calendar)

    @classmethod
    def from_csv(
        cls, path: str | Path, instrument: Instrument | str, **kwargs: Any
    ) -> PriceHistory:
        """Read a CSV of daily quotes (a ``date`` column and price columns) and validate it."""
        try:
            frame = pd.read_csv(path)
        except FileNotFoundError:
            raise InvalidInputError(f"no such price file: {path}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path} is not a readable CSV: {exc}") from None
        return cls.from_frame(frame, instrument, **kwargs)

    @staticmethod
    def _check_values(quotes: pd.DataFrame) -> None:
        for col in PRICE_COLUMNS:
            values = quotes[col].to_numpy()
            bad = ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
            if bad.any():
                at = quotes.index[int(np.argmax(bad))]
                raise InvalidInputError(
                    f"{at.isoformat()}: {col} price must be finite and > 0; "
                    f"got {values[np.argmax(bad)]!r}"
                )
        for col in ("volume_t", "amount_cny"):
            values = quotes[col].to_numpy()
            bad = ~np.isnan(values) & ~(np.isfinite(values) & (values >= 0))
            if bad.any():
                at = quotes.index[int(np.argmax(bad))]
                raise InvalidInputError(
                    f"{at.isoformat()}: {col} must be finite and >= 0; "
                    f"got {values[np.argmax(bad)]!r}"
                )

    @staticmethod
    def _non_business(dates: list[dt.date], calendar: str) -> np.ndarray:
        last_year = CALENDAR_DATA_LAST_YEAR.get(calendar, 9999)
        known = [d for d in dates if d.year <= last_year]
        if not known:
            return np.zeros(len(dates), dtype=bool)
        open_days = set(business_days(min(known), max(known), calendar))
        return np.array([d.year <= last_year and d not in open_days for d in dates])

    # --- views ------------------------------------------------------------------------------

    @property
    def dates(self) -> list[dt.date]:
        return list(self._quotes.index)

    def closes(self) -> pd.Series:
        """Closes of the days that have one (trade days), indexed by date."""
        return self._quotes["close"].dropna()

    def between(self, start: dt.date | None = None, end: dt.date | None = None) -> PriceHistory:
        """The history restricted to ``[start, end]`` (flags recomputed on the window)."""
        if start is not None and end is not None and end < start:
            raise InvalidInputError(f"`end` {end} is before `start` {start}")
        mask = np.ones(len(self._quotes), dtype=bool)
        index = np.array(self.dates, dtype=object)
        if start is not None:
            mask &= index >= start
        if end is not None:
            mask &= index <= end
        if not mask.any():
            raise MissingDataError(f"no {self.instrument.value} quotes between {start} and {end}")
        frame = self._quotes[mask].reset_index()
        rebuilt = PriceHistory.from_frame(
            frame, self.instrument, strict=True, limit_frac=self.limit_frac
        )
        # keep the range flags of the full history (open/high/low were already blanked)
        flags = rebuilt.flags.copy()
        flags["inconsistent_range"] = self._flags["inconsistent_range"][mask].to_numpy()
        return PriceHistory(self.instrument, rebuilt.quotes, flags, self.limit_frac, self.calendar)

    def flag_counts(self) -> dict[str, int]:
        """Number of rows carrying each flag."""
        return {name: int(self._flags[name].sum()) for name in FLAGS}

    def returns(
        self,
        kind: Literal["log", "simple"] = "log",
        per: Literal["trade", "business_day"] = "business_day",
    ) -> Returns:
        """Trade-to-trade returns of the closes (see the module notes on no-trade days).

        ``kind="log"`` gives ``ln(C_t / C_prev)``, ``"simple"`` gives ``C_t / C_prev − 1``.
        ``per="business_day"`` divides each by ``sqrt(gap_days)``.
        """
        if kind not in ("log", "simple"):
            raise InvalidInputError(f"`kind` must be 'log' or 'simple'; got {kind!r}")
        if per not in ("trade", "business_day"):
            raise InvalidInputError(f"`per` must be 'trade' or 'business_day'; got {per!r}")
        closes = self.closes()
        if len(closes) < 2:
            raise MissingDataError(f"{self.instrument.value}: fewer than two closes, no returns")
        values = closes.to_numpy()
        ratio = values[1:] / values[:-1]
        out = np.log(ratio) if kind == "log" else ratio - 1.0
        gaps = _gap_days(list(closes.index), self.calendar)
        if per == "business_day":
            out = out / np.sqrt(gaps)
        dates = np.array(list(closes.index[1:]), dtype=object)
        return Returns(out, dates, gaps, kind, per)

    def mark(
        self,
        as_of: dt.date,
        method: Literal["close", "vwap"] = "close",
        window_days: int = 5,
        max_age_days: int | None = None,
    ) -> Mark:
        """The valuation price on ``as_of``.

        Parameters
        ----------
        as_of
            Valuation date; only quotes on or before it are used.
        method
            ``"close"``: the last close. ``"vwap"``: total amount over total volume of the trades
            in the last ``window_days`` SSE business days up to ``as_of`` (days with a volume and
            an amount; a VWAP-only day counts). The Shanghai pledge-loan guideline values pledged
            allowances "by market price" without fixing the averaging; both the method and the
            window are therefore parameters (source: 上海市碳排放配额质押贷款操作指引, 2020).
        window_days
            Window of the VWAP in business days (ignored for ``"close"``).
        max_age_days
            If given, refuse (``MissingDataError``) a mark whose last trade is more than this many
            business days before ``as_of``.
        """
        if method not in ("close", "vwap"):
            raise InvalidInputError(f"`method` must be 'close' or 'vwap'; got {method!r}")
        if window_days < 1:
            raise InvalidInputError(f"`window_days` must be >= 1; got {window_days!r}")
        upto = self._quotes[np.array(self.dates, dtype=object) <= as_of]
        if upto.empty:
            raise MissingDataError(
                f"no {self.instrument.value} quotes on or before {as_of.isoformat()}"
            )
        if method == "close":
            closes = upto["close"].dropna()
            if closes.empty:
                raise MissingDataError(
                    f"no {self.instrument.value} close on or before {as_of.isoformat()}"
                )
            last = closes.index[-1]
            volume = float(np.nan_to_num(upto.loc[last, "volume_t"]))
            mark = Mark(
                self.instrument,
                as_of,
                "close",
                1,
                float(closes.iloc[-1]),
                last,
                last,
                1,
                volume,
                self._age(last, as_of),
            )
        else:
            start = self._window_start(as_of, window_days)
            window = upto[np.array(list(upto.index), dtype=object) >= start]
            traded = window[(window["volume_t"] > 0) & (window["amount_cny"] > 0)]
            if traded.empty:
                raise MissingDataError(
                    f"no {self.instrument.value} trades with volume and amount in the "
                    f"{window_days} business days to {as_of.isoformat()}"
                )
            volume = float(traded["volume_t"].sum())
            price = float(traded["amount_cny"].sum()) / volume
            first, last = traded.index[0], traded.index[-1]
            age = self._age(last, as_of)
            mark = Mark(
                self.instrument,
                as_of,
                "vwap",
                window_days,
                price,
                first,
                last,
                len(traded),
                volume,
                age,
            )
        if max_age_days is not None and mark.age_days > max_age_days:
            raise MissingDataError(
                f"{self.instrument.value} last traded on {mark.last_date.isoformat()}, "
                f"{mark.age_days} business days before {as_of.isoformat()} "
                f"(limit {max_age_days})"
            )
        return mark

    def _window_start(self, as_of: dt.date, window_days: int) -> dt.date:
        # the window is the last `window_days` business days ending on as_of (or before it)
        lookback = as_of - dt.timedelta(days=window_days * 3 + 20)
        if as_of.year > CALENDAR_DATA_LAST_YEAR.get(self.calendar, 9999):
            days = list(pd.bdate_range(lookback, as_of).date)
        else:
            days = business_days(lookback, as_of, self.calendar)
        start: dt.date = days[-window_days] if len(days) >= window_days else days[0]
        return start

    def _age(self, last: dt.date, as_of: dt.date) -> int:
        if last == as_of:
            return 0
        if as_of.year > CALENDAR_DATA_LAST_YEAR.get(self.calendar, 9999):
            return int(np.busday_count(last, as_of))
        return len(business_days(last, as_of, self.calendar)) - 1

    def summary(self) -> str:
        """A short text description: range, trade days, flags."""
        closes = self.closes()
        lines = [
            f"{self.instrument.value}: {len(self._quotes)} rows, "
            f"{self.dates[0]} to {self.dates[-1]}",
            f"  closes on {len(closes)} days; last close {closes.iloc[-1]:.2f} CNY/t "
            f"on {closes.index[-1]}"
            if len(closes)
            else "  no closes",
            f"  price limit ±{self.limit_frac:.0%} ({self.calendar} calendar)",
        ]
        lines += [f"  {name:20s} {count:6d}" for name, count in self.flag_counts().items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
