"""The arrays a market-risk measure is taken from, and the measure at one date.

:func:`prepare_series` turns a price history into the prices (closes, or VWAPs for a
VWAP-marked market) and per-business-day returns to a date, suspect prints left out;
:func:`measure_at` runs a registered model (:mod:`carbonfin.collateral.models`) over the
lookback that ends at the last price on or before a date. :mod:`carbonfin.collateral.market_risk`
builds a profile from these, and :mod:`carbonfin.collateral.anti_procyclicality` re-measures
them over other windows (a path of past dates, a stressed window, a ten-year lookback).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from carbonfin.collateral.liquidity import LiquidityRules, excluded_prints, liquidity_rules
from carbonfin.collateral.models import ModelInputs, ModelResult, get_model
from carbonfin.errors import InvalidInputError, MissingDataError, ProvisionalCalendarWarning
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "MeasureSpec",
    "PreparedSeries",
    "ReplayCache",
    "business_grid",
    "day_grid",
    "log_marks_on",
    "loss_frac",
    "measure_at",
    "measured_loss_frac",
    "model_inputs",
    "prepare_series",
    "series_business_days",
]


def _grid_notes(
    history: PriceHistory, start: dt.date, end: dt.date, days: np.ndarray, notes: list[str] | None
) -> None:
    provisional = history._provisional(start, end) if len(days) and notes is not None else ()
    if provisional and notes is not None:
        notes.append(
            f"{history.name}: business days of {provisional[0]}-{provisional[-1]} on the "
            f"{history.calendar} calendar are provisional (holidays not yet published)"
        )


def series_business_days(
    history: PriceHistory, start: dt.date, end: dt.date, notes: list[str] | None = None
) -> list[dt.date]:
    """The series' business days in [start, end], on its own calendar (any the engine knows,
    ``"weekdays"``, or the series' own rows); a provisional calendar year becomes a note."""
    days = history.session_grid(start, end)
    _grid_notes(history, start, end, days, notes)
    out: list[dt.date] = days.tolist()
    return out


def business_grid(
    history: PriceHistory, start: dt.date, end: dt.date, notes: list[str] | None = None
) -> np.ndarray:
    """:func:`series_business_days` as sorted ``datetime64[D]`` (the same days and notes)."""
    days = history.session_grid(start, end)
    _grid_notes(history, start, end, days, notes)
    return days


def day_grid(
    history: PriceHistory, end: dt.date, n_days: int, notes: list[str] | None = None
) -> np.ndarray:
    """The last ``n_days + 1`` business days up to ``end`` (not before the first quote), as
    sorted ``datetime64[D]``."""
    first: dt.date = history.days[0].item()
    start = max(first, end - dt.timedelta(days=int(n_days * 1.6) + 30))
    return business_grid(history, start, end, notes)[-(n_days + 1) :]


def log_marks_on(
    close_dates: np.ndarray, log_close: np.ndarray, grid: np.ndarray | list[dt.date]
) -> np.ndarray:
    """ln of the last price on or before each grid day (days before the first price dropped).

    ``close_dates`` and ``grid`` are ``datetime64[D]`` (a list of ``dt.date`` is converted),
    or both ``dt.date`` object arrays; either way the same positions are found."""
    days = np.asarray(grid, dtype=close_dates.dtype if close_dates.dtype == object else "M8[D]")
    pos = np.searchsorted(close_dates, days, side="right") - 1
    return np.asarray(log_close[pos[pos >= 0]])


def loss_frac(log_loss: float) -> float:
    return 1.0 - math.exp(-max(log_loss, 0.0))


@dataclass(frozen=True, slots=True, eq=False)
class PreparedSeries:
    """The arrays a profile is measured from, prepared once per history and price basis.

    ``price_days`` and ``r_days`` (``datetime64[D]``) are the dates of the prices and of the
    returns (each return's later price); ``r_dates`` the latter as ``dt.date`` objects."""

    history: PriceHistory
    price_days: np.ndarray
    log_price: np.ndarray
    r: np.ndarray
    r_dates: np.ndarray
    gaps: np.ndarray
    basis: str
    r_days: np.ndarray


def prepare_series(
    history: PriceHistory, as_of: dt.date, basis: str, lr: LiquidityRules
) -> PreparedSeries:
    """Prices (closes, or VWAPs for a VWAP-marked market) and per-business-day returns to
    ``as_of``, the prints of :func:`excluded_prints` left out (for closes: the rows of
    :func:`model_closes`)."""
    column = "close" if basis == "close" else "vwap"
    drop = excluded_prints(history, lr)
    values = history.quotes[column].to_numpy(dtype=float)
    rows = np.flatnonzero(~np.isnan(values) & ~drop)
    days = history.days[rows]
    n = int(np.searchsorted(days, np.datetime64(as_of, "D"), side="right"))
    if n < 2:
        raise MissingDataError(f"{history.name}: fewer than two {column} prices to {as_of}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProvisionalCalendarWarning)  # said in the notes instead
        rets = history.returns(per="business_day", price=column, drop=drop)  # type: ignore[arg-type]
    # the returns are between consecutive prices of the same rows: return i ends at price i + 1
    if len(rets.values) != len(rows) - 1:
        raise RuntimeError(f"{history.name}: {len(rets.values)} returns of {len(rows)} prices")
    m = n - 1  # the returns to as_of
    return PreparedSeries(history, days[:n], np.log(values[rows[:n]]), rets.values[:m],
                          rets.dates[:m], rets.gap_days[:m], column, days[1:n])  # fmt: skip


def _cut(full: PreparedSeries, as_of: dt.date) -> PreparedSeries:
    n = int(np.searchsorted(full.price_days, np.datetime64(as_of, "D"), side="right"))
    if n < 2:
        raise MissingDataError(
            f"{full.history.name}: fewer than two {full.basis} prices to {as_of}"
        )
    m = n - 1
    return PreparedSeries(full.history, full.price_days[:n], full.log_price[:n], full.r[:m],
                          full.r_dates[:m], full.gaps[:m], full.basis, full.r_days[:m])  # fmt: skip


@dataclass(eq=False)
class ReplayCache:
    """What measuring one series on many dates (a backtest's replay) can reuse from date to date.

    ``market_risk_profile(..., cache=c)`` takes from it the prices and returns of the series,
    prepared once for the whole history and cut at each date (:func:`prepare_series` makes the
    same arrays: returns to a date depend on no later quote), and the measures at the past dates
    of the anti-procyclicality buffer's path, which do not change as the date moves on (a
    measure at a date uses quotes on or before it only). The profiles are the same, bit for bit,
    with or without it (tested); it belongs to one history and one set of liquidity rules.
    """

    history: PriceHistory
    rules: LiquidityRules = field(default_factory=liquidity_rules)
    _series: dict[str, PreparedSeries] = field(default_factory=dict, repr=False)
    _losses: dict[tuple[MeasureSpec, int, str, np.datetime64], float | None] = field(
        default_factory=dict, repr=False
    )

    def check(self, history: PriceHistory, rules: LiquidityRules) -> None:
        """Refuse another history or other liquidity rules than the cache's."""
        if history is not self.history or rules is not self.rules:
            raise InvalidInputError(
                f"`cache` was made for another history or other liquidity rules (its history: "
                f"{self.history.name}; got {history.name})"
            )

    def series(self, as_of: dt.date, basis: str) -> PreparedSeries:
        """:func:`prepare_series` to ``as_of`` from the arrays prepared once."""
        if basis not in self._series:
            last: dt.date = self.history.days[-1].item()
            try:
                self._series[basis] = prepare_series(self.history, last, basis, self.rules)
            except MissingDataError:  # too few prices at all: each date says so itself
                return prepare_series(self.history, as_of, basis, self.rules)
        return _cut(self._series[basis], as_of)

    def loss_frac(self, s: PreparedSeries, spec: MeasureSpec, end: dt.date, min_returns: int
                  ) -> float | None:  # fmt: skip
        """:func:`loss_frac` of :func:`measure_at` (``None`` where it refuses), measured once."""
        key = (spec, min_returns, s.basis, np.datetime64(end, "D"))
        if key not in self._losses:
            self._losses[key] = measured_loss_frac(s, spec, end, min_returns)
        return self._losses[key]


def measured_loss_frac(
    s: PreparedSeries, spec: MeasureSpec, end: dt.date, min_returns: int
) -> float | None:
    """:func:`loss_frac` of :func:`measure_at`, ``None`` where too early in the history for one."""
    try:
        return loss_frac(measure_at(s, spec, end, min_returns)[0].log_loss)
    except (MissingDataError, InvalidInputError):
        return None


@dataclass(frozen=True, slots=True)
class MeasureSpec:
    """The model and the measurement settings of one profile."""

    model: str
    measure: str
    confidence: float
    holding_days: int
    lookback: int
    n_paths: int
    seed: int
    cap: float


def model_inputs(
    s: PreparedSeries, spec: MeasureSpec, grid: np.ndarray | list[dt.date]
) -> ModelInputs:
    """The model's inputs over the business days ``grid`` (``datetime64[D]``, or ``dt.date``)."""
    days = np.asarray(grid, dtype="M8[D]")
    lo = int(np.searchsorted(s.r_days, days[0], side="right"))  # returns after the first day
    hi = int(np.searchsorted(s.r_days, days[-1], side="right"))  # ... to the last
    return ModelInputs(
        log_marks=log_marks_on(s.price_days, s.log_price, days),
        returns=s.r[lo:hi].copy(), gap_days=s.gaps[lo:hi].copy(), all_returns=s.r[:hi].copy(),
        holding_days=spec.holding_days, confidence=spec.confidence, measure=spec.measure,
        n_paths=spec.n_paths, seed=spec.seed, simulation_cap_frac=spec.cap,
    )  # fmt: skip


def measure_at(
    s: PreparedSeries,
    spec: MeasureSpec,
    end: dt.date,
    min_returns: int,
    notes: list[str] | None = None,
) -> tuple[ModelResult, ModelInputs, np.ndarray]:
    """The model's measure over the lookback that ends at the last price on or before ``end``,
    its inputs and the lookback's business days (``datetime64[D]``)."""
    # The lookback ends at the last price the model uses: the flat marks after it are no
    # information, and the time since is the stale-mark add-on's (so a haircut never falls as
    # the mark ages).
    end_day = np.datetime64(end, "D")
    n = int(np.searchsorted(s.price_days, end_day, side="right"))
    if not n:
        raise MissingDataError(f"{s.history.name}: no price on or before {end_day}")
    grid = day_grid(s.history, s.price_days[n - 1].item(), spec.lookback, notes)
    x = model_inputs(s, spec, grid)
    if len(x.returns) < min_returns:
        raise MissingDataError(
            f"{s.history.name}: only {len(x.returns)} returns in the {spec.lookback} business "
            f"days to {end_day}; a haircut needs at least {min_returns}"
        )
    return get_model(spec.model).measure(x), x, grid
