"""RiskMetrics EWMA variance and the normal VaR/ES of a zero-mean return (split out of
:mod:`carbonfin.pricing.volatility`, which re-exports both)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.signal import lfilter

from carbonfin.errors import InvalidInputError

__all__ = ["TRADING_DAYS_PER_YEAR", "EwmaResult", "ewma", "normal_loss"]

#: SSE business days per year (QuantLib China.SSE calendar: 242-244 a year in 2015-2026).
TRADING_DAYS_PER_YEAR = 243


def _clean_returns(returns: Iterable[float] | np.ndarray, minimum: int) -> np.ndarray:
    values = np.asarray(getattr(returns, "values", returns), dtype=float)
    if values.ndim != 1:
        raise InvalidInputError(f"`returns` must be one-dimensional; got shape {values.shape}")
    if not np.isfinite(values).all():
        pos = int(np.argmin(np.isfinite(values)))
        raise InvalidInputError(f"`returns` must be finite; got {values[pos]!r} at index {pos}")
    if len(values) < minimum:
        raise InvalidInputError(f"need at least {minimum} returns; got {len(values)}")
    return values


@dataclass(frozen=True, slots=True, eq=False)
class EwmaResult:
    """EWMA variance estimates: ``variance[t]`` is the estimate for day ``t`` made at ``t − 1``.

    Estimates use past returns only: ``variance[t]`` depends on ``r_0 … r_{t−1}``. The first
    ``valid_from`` entries are NaN (the burn-in: too little past to start from); the recursion
    starts at ``valid_from`` from the mean of the burn-in's squared returns. ``next_variance`` is
    the one-day-ahead forecast after the last return. The EWMA has no mean reversion, so its
    h-day forecast is ``h · next_variance`` (RiskMetrics' square-root-of-time rule is exact for
    this model).
    """

    lam: float
    variance: np.ndarray
    next_variance: float
    valid_from: int

    def __post_init__(self) -> None:
        self.variance.flags.writeable = False

    @property
    def next_vol(self) -> float:
        return math.sqrt(self.next_variance)

    def horizon_variance(self, horizon_days: int) -> float:
        return horizon_days * self.next_variance

    def annualised_vol(self) -> float:
        return math.sqrt(self.next_variance * TRADING_DAYS_PER_YEAR)

    def loss_after(
        self, horizon_days: int, confidence: float, measure: Literal["var", "es"] = "var"
    ) -> np.ndarray:
        """RiskMetrics VaR or ES of the ``horizon_days`` log return, one per return.

        Entry ``j`` is the forecast made right after return ``j`` (from returns ``0 … j`` only):
        :func:`normal_loss` of ``variance[j + 1]`` (``next_variance`` for the last entry).
        Entries before ``valid_from − 1`` are NaN (burn-in).
        """
        after = np.r_[self.variance[1:], self.next_variance]
        return normal_loss(after, horizon_days, confidence, measure)

    def summary(self) -> str:
        return (
            f"EWMA (RiskMetrics) lambda={self.lam}: next-day vol {self.next_vol:.4%}, "
            f"annualised {self.annualised_vol():.2%} over {len(self.variance)} returns "
            f"(estimates from return {self.valid_from} on; the first {self.valid_from} are the "
            "burn-in)"
        )

    def __str__(self) -> str:
        return self.summary()


def ewma(
    returns: Iterable[float] | np.ndarray, lam: float = 0.94, init_window: int = 30
) -> EwmaResult:
    """RiskMetrics exponentially weighted variance, without look-ahead.

    ``σ²_t = λ σ²_{t−1} + (1 − λ) r²_{t−1}`` for ``t > w``, started at
    ``σ²_w = mean(r²_0 … r²_{w−1})`` with ``w = init_window``: every estimate uses only returns
    before its day, so a backtest can judge it day by day. ``variance[:w]`` is NaN
    (``valid_from = w``). Zero mean, as RiskMetrics assumes for daily returns. Source:
    J.P. Morgan / Reuters, *RiskMetrics — Technical Document* (4th ed., 1996), §5.2; λ = 0.94 for
    daily data.
    """
    if not 0.0 < lam < 1.0:
        raise InvalidInputError(f"`lam` must be in (0, 1); got {lam!r}")
    if not (isinstance(init_window, int) and init_window >= 1):
        raise InvalidInputError(f"`init_window` must be an integer >= 1; got {init_window!r}")
    r = _clean_returns(returns, init_window + 1)
    r2 = r * r
    w = init_window
    var = np.full(len(r), np.nan)
    start = float(r2[:w].mean())
    # the linear recursion in closed form from w on:
    # var[w+j] = lam^j start + (1-lam) sum_{i<j} lam^(j-1-i) r2[w+i]
    forced = lfilter([0.0, 1.0 - lam], [1.0, -lam], r2[w:])
    var[w:] = forced + lam ** np.arange(len(r) - w) * start
    next_var = lam * var[-1] + (1.0 - lam) * r2[-1]
    return EwmaResult(lam, var, float(next_var), w)


def normal_loss(
    daily_variance: float | np.ndarray,
    horizon_days: int,
    confidence: float,
    measure: Literal["var", "es"] = "var",
) -> np.ndarray:
    """VaR or ES (positive = loss) of a zero-mean normal ``horizon_days`` log return.

    ``VaR = σ√h · z_q`` and ``ES = σ√h · φ(z_q) / (1 − q)`` with ``z_q = Φ⁻¹(q)``, ``q`` the
    confidence (RiskMetrics — Technical Document, 4th ed. 1996, §6; the ES of the normal: McNeil,
    Frey and Embrechts 2015, example 2.14). The square-root-of-time rule is exact for the EWMA,
    which has no mean reversion.
    """
    if not (isinstance(horizon_days, (int, np.integer)) and horizon_days >= 1):
        raise InvalidInputError(f"`horizon_days` must be an integer >= 1; got {horizon_days!r}")
    if not (isinstance(confidence, (float, int)) and 0.5 <= confidence < 1.0):
        raise InvalidInputError(f"`confidence` must be in [0.5, 1); got {confidence!r}")
    if measure not in ("var", "es"):
        raise InvalidInputError(f"`measure` must be 'var' or 'es'; got {measure!r}")
    sigma = np.sqrt(np.asarray(daily_variance, dtype=float) * horizon_days)
    z = float(stats.norm.ppf(confidence))
    if measure == "var":
        return np.asarray(sigma * z)
    return np.asarray(sigma * float(stats.norm.pdf(z)) / (1.0 - confidence))


def _observations(
    returns: Any, gap_days: Any, time_unit: str, minimum: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values to fit, recursion gaps, actual gaps) from an array or a ``Returns``."""
    if time_unit not in ("business_day", "trade"):
        raise InvalidInputError(f"`time_unit` must be 'business_day' or 'trade'; got {time_unit!r}")
    values = _clean_returns(returns, minimum)
    per = getattr(returns, "per", "business_day")
    if gap_days is None:
        gap_days = getattr(returns, "gap_days", None)
    if gap_days is None:
        gaps = np.ones(len(values))
    else:
        gaps = np.asarray(gap_days, dtype=float)
        if gaps.shape != values.shape:
            raise InvalidInputError(
                f"`gap_days` must have one entry per return; got {gaps.shape} for {values.shape}"
            )
        if not (np.isfinite(gaps).all() and (gaps >= 1).all() and (gaps == np.round(gaps)).all()):
            raise InvalidInputError("`gap_days` must be whole numbers of business days >= 1")
    if time_unit == "trade":
        if per == "business_day":  # back to the raw trade-to-trade returns
            values = values * np.sqrt(gaps)
        return values, np.ones(len(values)), gaps
    if per == "trade":  # per business day: a random walk's variance grows with elapsed time
        values = values / np.sqrt(gaps)
    return values, gaps, gaps
