"""Liquidity of a pledged position: a daily volume thin markets cannot fake, marks an odd lot
cannot set, and the cost of selling the position gradually.

Rules in ``carbonfin/rules/liquidity.toml`` (each with its source), loaded once by
:func:`liquidity_rules`.

Daily volume (:func:`daily_volume`)
    The volume of each business day of the window (no-trade days count as zero; a day with a
    price but no stated volume is *unknown*, never zero), then the rules' statistic: a trimmed
    mean (default, ``trim_frac`` cut from each end, as :func:`scipy.stats.trim_mean`, so that
    the largest days — the block trades of a thin market — do not count), the median or the
    plain mean. Days reaching the smallest block trade are counted. Too many unknown days
    and the statistic is refused with what to supply, unless the caller states ``adv_t``, which
    the result then carries as an assumption.
Marks (:func:`valuation_mark`)
    A close is a mark only if its day traded at least the rules' minimum volume and it is not a
    suspect print; otherwise the VWAP of the last few business days (volume-weighted, so an odd
    lot weighs what it traded), and without trades in that window the last qualifying close.
Gradual sale (:func:`sale_variance_days`, :func:`impact_frac`)
    The position is held whole for the holding period ``T_M`` and sold in equal slices over
    ``T_L`` business days; the variance of the declining exposure is that of
    ``T_M + (T_L − 1)(2T_L − 1)/(6T_L)`` days of the whole position. The expected cost of the
    sale follows the square-root law, ``average_frac · Y · σ_daily · sqrt(Q / V_daily)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from carbonfin.errors import DataIntegrityError, InvalidInputError, MissingDataError, StaleDataError
from carbonfin.pricing.history import Mark, PriceHistory
from carbonfin.rules import load_rules_toml

__all__ = [
    "STATISTICS",
    "DailyVolume",
    "LiquidityRules",
    "daily_volume",
    "excluded_prints",
    "impact_frac",
    "largest_day_volume",
    "liquidity_rules",
    "model_closes",
    "require_volume",
    "robust_volume",
    "sale_variance_days",
    "valuation_mark",
]

STATISTICS = ("trimmed_mean", "median", "mean")


@dataclass(frozen=True, slots=True)
class LiquidityRules:
    """The liquidity rules of one version (see ``carbonfin/rules/liquidity.toml``)."""

    version: str
    statistic: str
    trim_frac: float
    max_unknown_frac: float
    block_min_t: Mapping[str, float]
    mark_min_volume_t: Mapping[str, float]
    mark_fallback: str
    vwap_window_days: int
    return_exclude: tuple[str, ...]
    odd_lot_limit_breach: bool
    impact_y: float
    impact_average_frac: float
    block_lookback_days: int
    sources: Mapping[str, str]

    def block_min(self, series: str) -> float:
        """Smallest block trade (t) of the series (its own value or the default)."""
        return self.block_min_t.get(series, self.block_min_t["default"])

    def mark_min(self, series: str) -> float:
        """Smallest day volume (t) for a close of the series to be a mark."""
        return self.mark_min_volume_t.get(series, self.mark_min_volume_t["default"])


def _per_series(spec: Mapping[str, Any]) -> MappingProxyType[str, float]:
    out = {k: float(v) for k, v in spec.items() if k != "source"}
    if "default" not in out or any(v < 0 for v in out.values()):
        raise DataIntegrityError("liquidity.toml: per-series values need a `default`, all >= 0")
    return MappingProxyType(out)


@cache
def liquidity_rules() -> LiquidityRules:
    """The shipped liquidity rules (parsed once; immutable, safe to share)."""
    raw = load_rules_toml("liquidity.toml")
    try:
        vol, marks, imp = raw["volume"], raw["marks"], raw["impact"]
        rules = LiquidityRules(
            version=str(raw["version"]),
            statistic=str(vol["statistic"]),
            trim_frac=float(vol["trim_frac"]),
            max_unknown_frac=float(vol["max_unknown_frac"]),
            block_min_t=_per_series(vol["block_min_t"]),
            mark_min_volume_t=_per_series(marks["min_volume_t"]),
            mark_fallback=str(marks["fallback"]),
            vwap_window_days=int(marks["vwap_window_days"]),
            return_exclude=tuple(raw["returns"]["exclude"]),
            odd_lot_limit_breach=bool(raw["returns"]["odd_lot_limit_breach"]),
            impact_y=float(imp["y"]),
            impact_average_frac=float(imp["average_frac"]),
            block_lookback_days=int(raw["block"]["lookback_days"]),
            sources=MappingProxyType(
                {
                    "statistic": str(vol["statistic_source"]),
                    "unknown": str(vol["max_unknown_source"]),
                    "block_min": str(vol["block_min_t"]["source"]),
                    "marks": str(marks["min_volume_t"]["source"]),
                    "returns": str(raw["returns"]["source"]),
                    "impact": str(imp["source"]),
                    "sale": str(raw["sale"]["source"]),
                    "block": str(raw["block"]["source"]),
                }
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"liquidity.toml is missing or mistypes a field: {exc}") from exc
    if rules.statistic not in STATISTICS or not (0.0 <= rules.trim_frac < 0.5):
        raise DataIntegrityError(
            f"liquidity.toml: statistic must be one of {STATISTICS} and trim_frac in [0, 0.5)"
        )
    if rules.mark_fallback not in ("vwap", "last_qualifying_close"):
        raise DataIntegrityError("liquidity.toml: marks.fallback must be 'vwap' or a close")
    return rules


# --- daily volume --------------------------------------------------------------------------------


def robust_volume(volume_t: np.ndarray, statistic: str, *, trim_frac: float) -> float:
    """The daily-volume statistic of business-day volumes (zeros for no-trade days).

    Parameters
    ----------
    volume_t
        Known volume (t) of each business day of the window; no-trade days as 0.
    statistic
        ``"trimmed_mean"`` (``trim_frac`` cut from each end, as :func:`scipy.stats.trim_mean`),
        ``"median"`` or ``"mean"`` of the business-day volumes.
    trim_frac
        Fraction cut from each end for the trimmed mean, in [0, 0.5): the largest days, where
        the block trades of a thin market are, do not count.

    Returns
    -------
    float
        Tonnes a business day (0 for a window without volume).
    """
    # every statistic here is a non-decreasing function of each day's volume: less volume never
    # gives a shorter liquidation (removing days by a fixed size threshold would not be)
    v = np.asarray(volume_t, dtype=float)
    if statistic not in STATISTICS:
        raise InvalidInputError(f"`statistic` must be one of {STATISTICS}; got {statistic!r}")
    if len(v) == 0:
        return 0.0
    if statistic == "mean":
        return float(v.mean())
    if statistic == "trimmed_mean":
        return float(stats.trim_mean(v, trim_frac))
    return float(np.median(v))


@dataclass(frozen=True, slots=True)
class DailyVolume:
    """The daily volume a liquidation schedule counts on, and what it was made from.

    ``adv_t`` is the statistic named in ``statistic`` (or the caller's figure when ``stated``);
    ``mean_t`` (plain mean of the known business-day volumes) and ``median_trading_day_t`` are
    shown beside it for comparison; ``block_days`` reached ``block_min_t`` (a block
    trade's size; the trimmed mean leaves the largest days out, and ``notes`` says when there
    are more block days than trimmed ones); ``unknown_days`` had a price but no stated volume
    (left out).
    """

    adv_t: float
    statistic: str
    window_days: int
    trading_days: int
    unknown_days: int
    block_days: int
    block_min_t: float
    mean_t: float
    median_trading_day_t: float
    stated: bool
    source: str
    notes: tuple[str, ...] = ()

    def inputs(self) -> dict[str, Any]:
        """The figures for a haircut's breakdown."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _window_volumes(
    history: PriceHistory, grid: np.ndarray | Sequence[dt.date]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume per grid day with NaN where unknown, traded per day, unknown per day)."""
    q = history.quotes
    dates = history.days
    days = np.asarray(grid, dtype="datetime64[D]")
    # the rows inside [first, last grid day]: a slice of the sorted dates
    inside = slice(np.searchsorted(dates, days[0]), np.searchsorted(dates, days[-1], "right"))
    pos = np.searchsorted(days, dates[inside], side="right") - 1
    vol = q["volume_t"].to_numpy(dtype=float)[inside]
    priced = ~(np.isnan(q["close"].to_numpy(dtype=float)[inside])
               & np.isnan(q["vwap"].to_numpy(dtype=float)[inside]))  # fmt: skip
    unknown_row = np.isnan(vol) & priced
    n = len(days)
    total = np.bincount(pos, weights=np.nan_to_num(vol), minlength=n)
    unknown = np.bincount(pos, weights=unknown_row, minlength=n) > 0
    traded = np.bincount(pos, weights=priced | (np.nan_to_num(vol) > 0), minlength=n) > 0
    return np.where(unknown, np.nan, total), traded, unknown


def daily_volume(
    history: PriceHistory,
    grid: np.ndarray | Sequence[dt.date],
    *,
    rules: LiquidityRules | None = None,
    adv_t: float | None = None,
) -> DailyVolume:
    """The daily volume of ``history`` over the business days ``grid`` (see the module notes).

    Parameters
    ----------
    history
        Daily quotes (only those inside the grid are used).
    grid
        The window's business days, ascending (``datetime64[D]`` or ``dt.date``).
    rules
        Liquidity rules (default: the shipped ones).
    adv_t
        A daily volume (t) the caller states instead of measuring it; reported as stated.

    Raises
    ------
    MissingDataError
        When the volume of too many trading days is unknown and no ``adv_t`` is stated.
    """
    lr = rules or liquidity_rules()
    name = history.instrument.value if history.instrument is not None else history.name
    block_min = lr.block_min(name)
    vol, traded, unknown = _window_volumes(history, grid)
    known = vol[~unknown]
    n_trading, n_unknown = int(traded.sum()), int(unknown.sum())
    mean_t = float(known.mean()) if len(known) else math.nan
    pos = known[known > 0]
    median_t = float(np.median(pos)) if len(pos) else math.nan
    n_block = int((known >= block_min).sum())
    common: dict[str, Any] = {
        "window_days": len(grid),
        "trading_days": n_trading,
        "unknown_days": n_unknown,
        "block_days": n_block,
        "block_min_t": block_min,
        "mean_t": mean_t,
        "median_trading_day_t": median_t,
    }
    if adv_t is not None:
        if isinstance(adv_t, bool) or not (
            isinstance(adv_t, int | float) and math.isfinite(adv_t) and adv_t > 0
        ):
            raise InvalidInputError(f"`adv_t` must be a number of tonnes > 0; got {adv_t!r}")
        if len(known) and n_unknown <= lr.max_unknown_frac * n_trading:  # it replaces a measure
            own = robust_volume(known, lr.statistic, trim_frac=lr.trim_frac)
            common["notes"] = (
                f"the quotes' own daily volume is {own:,.0f} t ({lr.statistic} of "
                f"{len(known)} days); the stated {float(adv_t):,.0f} t replaces it"
                + (f" ({float(adv_t) / own:.1f}x it)" if own > 0 else ""),
            )
        return DailyVolume(
            float(adv_t), "stated", stated=True,
            source="stated by the caller (assumption, not measured)", **common,
        )  # fmt: skip
    if n_trading and n_unknown > lr.max_unknown_frac * n_trading:
        raise MissingDataError(
            f"{name}: volume unknown on {n_unknown} of {n_trading} trading days in the "
            f"{len(grid)} business days to {np.datetime64(grid[-1], 'D')}: the liquidation "
            "horizon needs a daily volume; supply quotes with volume_t, or state the daily "
            "volume with `adv_t` (tonnes a day, taken as an assumption)"
        )
    value = robust_volume(known, lr.statistic, trim_frac=lr.trim_frac)
    trimmed = int(lr.trim_frac * len(known)) if lr.statistic == "trimmed_mean" else 0
    if lr.statistic == "mean" or n_block > trimmed:
        common["notes"] = (
            f"{n_block} day(s) reached the {block_min:,.0f} t block minimum and "
            f"{trimmed} largest day(s) are trimmed: the statistic still counts block volume",
        )
    return DailyVolume(value, lr.statistic, stated=False, source=lr.sources["statistic"], **common)


def require_volume(history: PriceHistory, *, adv_t: float | None) -> None:
    """Refuse a series that carries no volume at all unless the caller states a daily volume.

    A close-only file (EU allowance closes, a vendor's close file) has volume *unknown*, not
    zero (docs/pricing.md): the liquidation horizon cannot be measured from it. Callers that
    run many haircuts over one series (a backtest) check this once, before the run, rather than
    skipping every date.

    Parameters
    ----------
    history
        The series.
    adv_t
        The daily volume (t) the caller states, or ``None``.

    Raises
    ------
    MissingDataError
        When no quote has a volume and ``adv_t`` is ``None``.
    InvalidInputError
        When ``adv_t`` is given and is not a number of tonnes > 0.
    """
    if adv_t is not None:
        if isinstance(adv_t, bool) or not (
            isinstance(adv_t, int | float) and math.isfinite(adv_t) and adv_t > 0
        ):
            raise InvalidInputError(f"`adv_t` must be a number of tonnes > 0; got {adv_t!r}")
        return
    vol = history.quotes["volume_t"].to_numpy(dtype=float)
    if not np.isfinite(vol).any():
        raise MissingDataError(
            f"{history.name}: no quote has a volume (a close-only series): the liquidation "
            "horizon needs a daily volume; state it with `adv_t` (tonnes a day, taken as an "
            "assumption) or supply quotes with volume_t"
        )


def largest_day_volume(history: PriceHistory, grid: np.ndarray | Sequence[dt.date]) -> float:
    """The largest known volume (t) of one business day of ``grid`` (0 if none)."""
    vol, _, _ = _window_volumes(history, grid)
    known = vol[np.isfinite(vol)]
    return float(known.max()) if len(known) else 0.0


# --- gradual sale --------------------------------------------------------------------------------


def sale_variance_days(holding_days: float, sale_days: float | np.ndarray) -> np.ndarray:
    """Days of the whole position with the variance of a hold-then-linear-sale.

    The position is held whole for ``holding_days`` (``T_M``) and sold in ``T_L`` equal slices
    at the ends of days ``T_M, …, T_M + T_L − 1``; on day ``T_M + j`` (``j = 1 … T_L − 1``)
    the fraction ``(T_L − j)/T_L`` is still held. With i.i.d. daily returns the variance of the
    sale's P&L is that of ``T_M + Σ_{m=1}^{T_L−1} (m/T_L)² = T_M + (T_L − 1)(2T_L − 1)/(6T_L)``
    days of the whole position (``T_M`` for a one-day sale; about ``T_M + T_L/3`` for a long
    one). Source: Almgren and Chriss (2000), variance of a linear trajectory.
    """
    tl = np.asarray(sale_days, dtype=float)
    if not (np.isfinite(tl) & (tl >= 1)).all():
        raise InvalidInputError("`sale_days` must be finite and >= 1")
    return np.asarray(holding_days + (tl - 1.0) * (2.0 * tl - 1.0) / (6.0 * tl))


def impact_frac(
    position_t: np.ndarray | float,
    adv_t: float,
    daily_vol: float,
    *,
    rules: LiquidityRules | None = None,
) -> np.ndarray:
    """Expected cost of selling ``position_t`` as a fraction of its value (square-root law).

    ``average_frac · Y · daily_vol · sqrt(position_t / adv_t)``, capped at 1; 1 where the daily
    volume is zero (nothing trades). Source: Tóth et al. (2011); Almgren et al. (2005).
    """
    lr = rules or liquidity_rules()
    q = np.asarray(position_t, dtype=float)
    if adv_t <= 0:
        return np.ones_like(q)
    cost = lr.impact_average_frac * lr.impact_y * daily_vol * np.sqrt(q / adv_t)
    return np.asarray(np.minimum(cost, 1.0))


# --- marks ---------------------------------------------------------------------------------------


def _closes_after_exclusion(history: PriceHistory, as_of: dt.date, exclude: tuple[str, ...]):  # type: ignore[no-untyped-def]
    q = history.quotes
    ok = (history.days <= np.datetime64(as_of, "D")) & q["close"].notna().to_numpy()
    if exclude:
        ok &= ~history.flags[list(exclude)].to_numpy().any(axis=1)
    return np.flatnonzero(ok), q


def valuation_mark(
    history: PriceHistory,
    as_of: dt.date,
    *,
    method: str = "close",
    max_age_days: int | None = None,
    rules: LiquidityRules | None = None,
) -> Mark:
    """The valuation mark on ``as_of`` that a suspect print or an odd lot cannot set.

    ``method="close"``: the last close that is not flagged (rules ``[returns] exclude``) and
    whose day traded at least the rules' minimum volume; if the last close does not qualify,
    the rules' fallback — the VWAP of the last ``vwap_window_days`` business days (flagged
    rows left out), and without trades there the last qualifying close. ``method="vwap"``: the
    VWAP with flagged rows left out. The mark's ``notes`` say which fallback was taken.

    Raises
    ------
    MissingDataError, StaleDataError
        No usable price, or the price used is older than ``max_age_days``.
    """
    lr = rules or liquidity_rules()
    excl = lr.return_exclude
    if method == "vwap":
        return history.mark(as_of, "vwap", lr.vwap_window_days, max_age_days, exclude=excl)
    rows, q = _closes_after_exclusion(history, as_of, excl)
    name = history.instrument.value if history.instrument is not None else history.name
    minimum = lr.mark_min(name)
    if len(rows) == 0:
        return history.mark(as_of, "close", max_age_days=max_age_days, exclude=excl)
    vol = q["volume_t"].to_numpy(dtype=float)[rows]
    qualifies = ~(vol < minimum)  # an unknown volume (NaN) cannot be tested: it is not refused
    if qualifies[-1]:
        mark = history.mark(as_of, "close", max_age_days=max_age_days, exclude=excl)
        if np.isnan(vol[-1]):
            note = "volume of the mark's day not stated: the minimum-volume test was not applied"
            return dataclasses.replace(mark, notes=(*mark.notes, note))
        return mark
    last_day = history.dates[int(rows[-1])]
    why = (
        f"last close ({last_day.isoformat()}) traded {vol[-1]:,.0f} t, below the "
        f"{minimum:,.0f} t a close needs to be a mark"
    )
    if lr.mark_fallback == "vwap":
        try:
            mark = history.mark(as_of, "vwap", lr.vwap_window_days, max_age_days, exclude=excl)
        except StaleDataError:
            raise
        except MissingDataError:
            pass
        else:
            note = f"{why}: VWAP of the last {lr.vwap_window_days} business days used"
            return dataclasses.replace(mark, notes=(*mark.notes, note))
    good = rows[qualifies]
    if len(good) == 0:
        raise MissingDataError(
            f"{name}: no close on or before {as_of.isoformat()} traded at least {minimum:,.0f} t "
            "and no trades in the VWAP window; no mark"
        )
    day = history.dates[int(good[-1])]
    mark = history.mark(day, "close", max_age_days=max_age_days, exclude=excl)
    age = _age(history, day, as_of)
    limit = mark.max_age_days
    if age > limit:
        raise StaleDataError(
            f"{name} mark on {as_of.isoformat()} refused: {why}, and the last close that "
            f"qualifies ({day.isoformat()}) is {age} business days old (limit {limit})"
        )
    note = f"{why}: last qualifying close of {day.isoformat()} used"
    return dataclasses.replace(mark, as_of=as_of, age_days=age, notes=(*mark.notes, note))


def _age(history: PriceHistory, day: dt.date, as_of: dt.date) -> int:
    """Business days after ``day`` up to ``as_of`` on the series' sessions."""
    return len([d for d in history.session_days(day, as_of) if d > day])


def excluded_prints(history: PriceHistory, rules: LiquidityRules | None = None) -> np.ndarray:
    """Rows whose close stays out of the model's returns, marks and realised losses: a flag of
    the rules' ``[returns] exclude`` (suspect prints) or, with ``odd_lot_limit_breach``, a close
    beyond the daily limit on less than the mark's minimum volume (only a block trade, which is
    large, or an error can breach the limit)."""
    lr = rules or liquidity_rules()
    flags = history.flags
    out = np.zeros(len(flags), dtype=bool)
    if lr.return_exclude:
        out |= flags[list(lr.return_exclude)].to_numpy().any(axis=1)
    if lr.odd_lot_limit_breach:
        name = history.instrument.value if history.instrument is not None else history.name
        volume = history.quotes["volume_t"].to_numpy(dtype=float)
        out |= flags["limit_breach"].to_numpy() & (volume < lr.mark_min(name))
    return out


def model_closes(history: PriceHistory, rules: LiquidityRules | None = None) -> pd.Series:
    """The closes that enter the model's returns and marks (see :func:`excluded_prints`)."""
    closes: pd.Series = history.quotes["close"]
    keep = closes.notna().to_numpy() & ~excluded_prints(history, rules)
    out: pd.Series = closes[keep]
    return out
