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
from dataclasses import dataclass

import numpy as np

from carbonfin.collateral.liquidity import LiquidityRules, excluded_prints, model_closes
from carbonfin.collateral.models import ModelInputs, ModelResult, get_model
from carbonfin.errors import MissingDataError, ProvisionalCalendarWarning
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "MeasureSpec",
    "PreparedSeries",
    "day_grid",
    "log_marks_on",
    "loss_frac",
    "measure_at",
    "model_inputs",
    "prepare_series",
    "series_business_days",
]


def series_business_days(
    history: PriceHistory, start: dt.date, end: dt.date, notes: list[str] | None = None
) -> list[dt.date]:
    """The series' business days in [start, end], on its own calendar (any the engine knows,
    ``"weekdays"``, or the series' own rows); a provisional calendar year becomes a note."""
    days = history.session_days(start, end)
    provisional = history._provisional(start, end) if days else ()
    if provisional and notes is not None:
        notes.append(
            f"{history.name}: business days of {provisional[0]}-{provisional[-1]} on the "
            f"{history.calendar} calendar are provisional (holidays not yet published)"
        )
    return days


def day_grid(
    history: PriceHistory, end: dt.date, n_days: int, notes: list[str] | None = None
) -> list[dt.date]:
    """The last ``n_days + 1`` business days up to ``end`` (not before the first quote)."""
    start = max(history.dates[0], end - dt.timedelta(days=int(n_days * 1.6) + 30))
    days = series_business_days(history, start, end, notes)
    return days[-(n_days + 1) :]


def log_marks_on(close_dates: np.ndarray, log_close: np.ndarray, grid: list[dt.date]) -> np.ndarray:
    """ln of the last price on or before each grid day (days before the first price dropped)."""
    pos = np.searchsorted(close_dates, np.array(grid, dtype=object), side="right") - 1
    return np.asarray(log_close[pos[pos >= 0]])


def loss_frac(log_loss: float) -> float:
    return 1.0 - math.exp(-max(log_loss, 0.0))


@dataclass(frozen=True, slots=True, eq=False)
class PreparedSeries:
    """The arrays a profile is measured from, prepared once per history and price basis."""

    history: PriceHistory
    price_dates: np.ndarray
    log_price: np.ndarray
    r: np.ndarray
    r_dates: np.ndarray
    gaps: np.ndarray
    basis: str


def prepare_series(
    history: PriceHistory, as_of: dt.date, basis: str, lr: LiquidityRules
) -> PreparedSeries:
    """Prices (closes, or VWAPs for a VWAP-marked market) and per-business-day returns to
    ``as_of``, the prints of :func:`excluded_prints` left out."""
    column = "close" if basis == "close" else "vwap"
    drop = excluded_prints(history, lr)
    if column == "close":
        prices = model_closes(history, lr)
    else:
        vwap = history.quotes["vwap"]
        prices = vwap[vwap.notna().to_numpy() & ~drop]
    prices = prices[np.array(list(prices.index), dtype=object) <= as_of]
    if len(prices) < 2:
        raise MissingDataError(f"{history.name}: fewer than two {column} prices to {as_of}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProvisionalCalendarWarning)  # said in the notes instead
        rets = history.returns(per="business_day", price=column, drop=drop)  # type: ignore[arg-type]
    keep = rets.dates <= as_of
    return PreparedSeries(history, np.array(list(prices.index), dtype=object),
                   np.log(prices.to_numpy()), rets.values[keep], rets.dates[keep],
                   rets.gap_days[keep], column)  # fmt: skip


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


def model_inputs(s: PreparedSeries, spec: MeasureSpec, grid: list[dt.date]) -> ModelInputs:
    inside = s.r_dates > grid[0]
    upto = s.r_dates <= grid[-1]
    return ModelInputs(
        log_marks=log_marks_on(s.price_dates, s.log_price, grid),
        returns=s.r[inside & upto], gap_days=s.gaps[inside & upto], all_returns=s.r[upto],
        holding_days=spec.holding_days, confidence=spec.confidence, measure=spec.measure,
        n_paths=spec.n_paths, seed=spec.seed, simulation_cap_frac=spec.cap,
    )  # fmt: skip


def measure_at(
    s: PreparedSeries,
    spec: MeasureSpec,
    end: dt.date,
    min_returns: int,
    notes: list[str] | None = None,
) -> tuple[ModelResult, ModelInputs, list[dt.date]]:
    # The lookback ends at the last price the model uses: the flat marks after it are no
    # information, and the time since is the stale-mark add-on's (so a haircut never falls as
    # the mark ages).
    used = s.price_dates[s.price_dates <= end]
    if not len(used):
        raise MissingDataError(f"{s.history.name}: no price on or before {end.isoformat()}")
    grid = day_grid(s.history, used[-1], spec.lookback, notes)
    x = model_inputs(s, spec, grid)
    if len(x.returns) < min_returns:
        raise MissingDataError(
            f"{s.history.name}: only {len(x.returns)} returns in the {spec.lookback} business "
            f"days to {end.isoformat()}; a haircut needs at least {min_returns}"
        )
    return get_model(spec.model).measure(x), x, grid
