"""Anti-procyclicality of the market-risk haircut (EMIR RTS 153/2013 art. 28(1)): one function
per method, found by name in :data:`APC_REGISTRY`.

``"buffer"`` (art. 28(1)(a)) runs the buffer state machine of
:mod:`carbonfin.collateral.apc_buffer` over the base haircuts of recent business days;
``"stressed"`` (art. 28(1)(b)) puts at least 25% weight on the most volatile 250-business-day
window of the last ten years; ``"floor"`` (art. 28(1)(c)) keeps the haircut at least the one
measured over a ten-year lookback; ``"none"`` leaves the base haircut. Each never lowers it.
Parameters and sources: ``[anti_procyclicality]`` of ``carbonfin/rules/collateral.toml``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from carbonfin.collateral.apc_buffer import buffer_path
from carbonfin.collateral.measurement import (
    MeasureSpec,
    PreparedSeries,
    ReplayCache,
    business_grid,
    loss_frac,
    measured_loss_frac,
    model_inputs,
    series_business_days,
)
from carbonfin.collateral.models import ModelResult, get_model
from carbonfin.collateral.policy import CollateralPolicy

__all__ = ["APC_METHODS", "APC_REGISTRY", "ApcContext", "stressed_window"]


def stressed_window(
    r: np.ndarray, pos: np.ndarray, window: int, minimum: int
) -> tuple[int, int] | None:
    """(first, last+1) indices of the returns of the most volatile ``window``-business-day span."""
    csum = np.r_[0.0, np.cumsum(r * r)]
    starts = np.searchsorted(pos, pos - window, side="right")
    counts = np.arange(1, len(r) + 1) - starts
    ok = counts >= minimum
    if not ok.any():
        return None
    var = np.where(ok, (csum[1:] - csum[starts]) / np.maximum(counts, 1), -1.0)
    end = int(np.argmax(var))
    return int(starts[end]), end + 1


@dataclass(frozen=True, slots=True)
class ApcContext:
    s: PreparedSeries
    spec: MeasureSpec
    as_of: dt.date
    base: float
    fitted: ModelResult
    policy: CollateralPolicy
    notes: list[str]
    cache: ReplayCache | None = None


def _apc_none(c: ApcContext) -> tuple[float, dict[str, Any]]:
    return c.base, {}


def _apc_buffer(c: ApcContext) -> tuple[float, dict[str, Any]]:
    """Art. 28(1)(a): the buffer state machine of :mod:`~carbonfin.collateral.apc_buffer` run over
    the base haircuts of the last ``buffer_history_days`` business days."""
    ap = c.policy.anti_procyclicality
    h = c.s.history
    days = business_grid(h, h.days[0].item(), c.as_of)[-(ap.buffer_history_days + 1) :]
    # the path is measured every quarter holding period (5 business days at 20): enough to see
    # a rise within one holding period, at a fifth of the cost of a daily path
    step = max(1, c.spec.holding_days // 4)
    path_days = days[:-1][::-1][step - 1 :: step][::-1] if step > 1 else days[:-1]
    measure = c.cache.loss_frac if c.cache is not None else measured_loss_frac
    path = [x for d in path_days
            if (x := measure(c.s, c.spec, d.item(), c.policy.min_returns)) is not None]  # fmt: skip
    # (a date too early in the history for a measure is left out: the path starts later)
    path.append(c.base)
    bp = buffer_path(path, buffer_frac=ap.buffer_frac, rise_frac=ap.buffer_rise_frac,
                     rise_window=max(1, ap.buffer_rise_window_days // step))  # fmt: skip
    return float(bp.applied[-1]), {
        "buffer_frac": ap.buffer_frac, "state": bp.states[-1],
        "drawn_frac": float(bp.drawn_frac[-1]), "path_days": len(path), "path_step_days": step,
        "rise_frac": ap.buffer_rise_frac, "rise_window_days": ap.buffer_rise_window_days,
    }  # fmt: skip


def _long_days(c: ApcContext) -> list[dt.date]:
    years = c.policy.anti_procyclicality.floor_lookback_years
    h = c.s.history
    start = dt.date(c.as_of.year - years, c.as_of.month, min(c.as_of.day, 28))
    if start < h.dates[0]:
        c.notes.append(
            f"anti-procyclicality: only {(c.as_of - h.dates[0]).days / 365.25:.1f} of "
            f"{years} years of history before {c.as_of.isoformat()}"
        )
    return series_business_days(h, max(start, h.dates[0]), c.as_of, c.notes)


def _window_loss(c: ApcContext, grid: list[dt.date]) -> float:
    x = model_inputs(c.s, c.spec, grid)
    return loss_frac(get_model(c.spec.model).measure_window(x, c.fitted))


def _apc_floor(c: ApcContext) -> tuple[float, dict[str, Any]]:
    """Art. 28(1)(c): not lower than the measure over a ten-year lookback."""
    grid = _long_days(c)
    floor = _window_loss(c, grid)
    return max(c.base, floor), {"lookback_start": grid[0], "floor_frac": floor}


def _apc_stressed(c: ApcContext) -> tuple[float, dict[str, Any]]:
    """Art. 28(1)(b): at least 25% weight on the most volatile 250-day window of ten years."""
    ap, s = c.policy.anti_procyclicality, c.s
    grid = _long_days(c)
    in_long = s.r_dates > grid[0]
    pos = np.searchsorted(np.array(grid, dtype=object), s.r_dates[in_long])
    win = stressed_window(s.r[in_long], pos, ap.stressed_window_days, c.policy.min_returns // 2)
    if win is None:
        c.notes.append("anti-procyclicality: no stressed window with enough returns")
        return c.base, {}
    wd = s.r_dates[in_long][win[0] : win[1]]
    stressed = _window_loss(c, [d for d in grid if wd[0] <= d <= wd[-1]])
    w = ap.stressed_weight
    return max(c.base, (1.0 - w) * c.base + w * stressed), {
        "stressed_start": wd[0], "stressed_end": wd[-1], "stressed_frac": stressed,
        "stressed_weight": w,
    }  # fmt: skip


#: the anti-procyclicality methods by name
APC_REGISTRY: dict[str, Callable[[ApcContext], tuple[float, dict[str, Any]]]] = {
    "none": _apc_none,
    "buffer": _apc_buffer,
    "stressed": _apc_stressed,
    "floor": _apc_floor,
}
APC_METHODS = tuple(APC_REGISTRY)
