"""Multi-day price scenarios for allowances: filtered historical simulation, Student-t Monte Carlo,
Merton jump-diffusion, and replays of historical stress windows.

Every generator returns a :class:`ScenarioPaths` with arrays shaped ``(paths, days)``: day ``j``
is the ``j+1``-th SSE business day after the start. Daily log returns are capped at the
instrument's price limit (``ln(1 − L)``, ``ln(1 + L)``), as the exchange caps listed trades.
Draws use ``numpy.random.default_rng(seed)``: the same seed gives the same paths. Loops run over
days only; all paths of a day are one array operation.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from carbonfin._quantlib import business_days
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.volatility import VolFit

__all__ = [
    "STRESS_WINDOWS",
    "ScenarioPaths",
    "StressWindow",
    "filtered_historical",
    "merton_jump",
    "replay_window",
    "student_t",
]


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioPaths:
    """Simulated prices and daily log returns, shaped ``(paths, days)``."""

    method: str
    start_price: float
    log_returns: np.ndarray
    prices: np.ndarray
    seed: int | None
    limit_frac: float | None

    @property
    def n_paths(self) -> int:
        return int(self.prices.shape[0])

    @property
    def horizon_days(self) -> int:
        return int(self.prices.shape[1])

    def horizon_returns(self) -> np.ndarray:
        """Simple return from the start to the end of the horizon, per path."""
        return np.asarray(self.prices[:, -1] / self.start_price - 1.0)

    def value_at_risk(self, confidence: float = 0.99) -> float:
        """Loss fraction not exceeded with ``confidence`` over the horizon (positive = loss)."""
        if not 0.5 <= confidence < 1.0:
            raise InvalidInputError(f"`confidence` must be in [0.5, 1); got {confidence!r}")
        return float(-np.quantile(self.horizon_returns(), 1.0 - confidence))

    def summary(self) -> str:
        h = self.horizon_returns()
        q = np.quantile(h, [0.01, 0.05, 0.5, 0.95, 0.99])
        return (
            f"{self.method}: {self.n_paths} paths x {self.horizon_days} business days from "
            f"{self.start_price:.2f} CNY/t (seed {self.seed})\n"
            f"  horizon return quantiles 1% {q[0]:+.2%}  5% {q[1]:+.2%}  50% {q[2]:+.2%}  "
            f"95% {q[3]:+.2%}  99% {q[4]:+.2%}\n"
            f"  99% VaR {self.value_at_risk(0.99):.2%}   worst path {h.min():+.2%}"
        )

    def __str__(self) -> str:
        return self.summary()


def _check_common(
    start_price: float, horizon_days: int, n_paths: int, limit_frac: float | None
) -> None:
    if not (math.isfinite(start_price) and start_price > 0):
        raise InvalidInputError(f"`start_price` must be finite and > 0; got {start_price!r}")
    if not (isinstance(horizon_days, int) and horizon_days >= 1):
        raise InvalidInputError(f"`horizon_days` must be an integer >= 1; got {horizon_days!r}")
    if not (isinstance(n_paths, int) and n_paths >= 1):
        raise InvalidInputError(f"`n_paths` must be an integer >= 1; got {n_paths!r}")
    if limit_frac is not None and not 0.0 < limit_frac < 1.0:
        raise InvalidInputError(f"`limit_frac` must be in (0, 1) or None; got {limit_frac!r}")


def _cap(r: np.ndarray, limit_frac: float | None) -> np.ndarray:
    if limit_frac is None:
        return r
    return np.asarray(np.clip(r, math.log1p(-limit_frac), math.log1p(limit_frac)))


def _paths(
    method: str,
    start_price: float,
    log_returns: np.ndarray,
    seed: int | None,
    limit_frac: float | None,
) -> ScenarioPaths:
    prices = start_price * np.exp(np.cumsum(log_returns, axis=1))
    return ScenarioPaths(method, float(start_price), log_returns, prices, seed, limit_frac)


def filtered_historical(
    fit: VolFit,
    start_price: float,
    horizon_days: int,
    n_paths: int = 10_000,
    *,
    seed: int = 0,
    limit_frac: float | None = 0.10,
) -> ScenarioPaths:
    """Filtered historical simulation (Barone-Adesi, Giannopoulos and Vosper 1999).

    The fit's standardised residuals ``z`` are resampled with replacement and re-scaled by the
    model's conditional volatility, which is updated day by day along each path from the
    one-day-ahead forecast after the last observation. The variance recursion uses the capped
    (observed) move, as the market would.

    GARCH/GJR: ``σ²_{t+1} = ω + (α + γ·1{ε_t<0})·ε_t² + β·σ²_t``; EGARCH (arch's form):
    ``ln σ²_{t+1} = ω + α(|z_t| − √(2/π)) + γ z_t + β ln σ²_t``; ``r_t = μ + σ_t z_t``.
    """
    _check_common(start_price, horizon_days, n_paths, limit_frac)
    z_hist = fit.std_resid[np.isfinite(fit.std_resid)]
    if len(z_hist) < 50:
        raise MissingDataError(f"only {len(z_hist)} filtered residuals; need at least 50")
    rng = np.random.default_rng(seed)
    p = fit.params
    mu = fit.mu
    var = np.full(n_paths, float(fit.forecast_variance(1)[0]))
    out = np.empty((n_paths, horizon_days))
    for day in range(horizon_days):
        z = z_hist[rng.integers(0, len(z_hist), n_paths)]
        sigma = np.sqrt(var)
        r = _cap(mu + sigma * z, limit_frac)
        out[:, day] = r
        eps = r - mu
        if fit.model == "egarch":
            z_obs = eps / sigma
            log_var = (
                p["omega"]
                + p["alpha[1]"] * (np.abs(z_obs) - math.sqrt(2.0 / math.pi))
                + p["gamma[1]"] * z_obs
                + p["beta[1]"] * np.log(var)
            )
            var = np.exp(log_var)
        else:
            alpha = p["alpha[1]"] + p.get("gamma[1]", 0.0) * (eps < 0)
            var = p["omega"] + alpha * eps * eps + p["beta[1]"] * var
    return _paths(f"FHS ({fit.model}-{fit.dist})", start_price, out, seed, limit_frac)


def student_t(
    vol_daily: float,
    dof: float,
    start_price: float,
    horizon_days: int,
    n_paths: int = 10_000,
    *,
    drift_daily: float = 0.0,
    seed: int = 0,
    limit_frac: float | None = 0.10,
) -> ScenarioPaths:
    """IID Student-t daily log returns scaled to standard deviation ``vol_daily``.

    ``r = drift + vol_daily · t_ν · √((ν − 2)/ν)``: the scaling makes the innovation's variance
    exactly one (the variance of ``t_ν`` is ``ν/(ν − 2)``), so ``vol_daily`` is the true daily
    standard deviation before the price-limit cap.
    """
    _check_common(start_price, horizon_days, n_paths, limit_frac)
    if not (math.isfinite(vol_daily) and vol_daily >= 0):
        raise InvalidInputError(f"`vol_daily` must be finite and >= 0; got {vol_daily!r}")
    if not (math.isfinite(dof) and dof > 2):
        raise InvalidInputError(f"`dof` must be > 2 (finite variance); got {dof!r}")
    rng = np.random.default_rng(seed)
    z = rng.standard_t(dof, size=(n_paths, horizon_days)) * math.sqrt((dof - 2.0) / dof)
    r = _cap(drift_daily + vol_daily * z, limit_frac)
    return _paths(f"Student-t (nu={dof:g})", start_price, r, seed, limit_frac)


def merton_jump(
    vol_daily: float,
    jump_intensity_daily: float,
    jump_mean: float,
    jump_sd: float,
    start_price: float,
    horizon_days: int,
    n_paths: int = 10_000,
    *,
    drift_daily: float = 0.0,
    seed: int = 0,
    limit_frac: float | None = 0.10,
) -> ScenarioPaths:
    """Merton (1976) jump-diffusion: Gaussian diffusion plus compound-Poisson Gaussian jumps.

    Daily log return ``r = drift + vol_daily·Z + Σ_{i=1}^{N} J_i`` with ``N ~ Poisson(λ)`` jumps a
    day and ``J_i ~ N(jump_mean, jump_sd²)``: policy shocks (allocation news, cap changes) as jumps.
    Before the cap, ``E[r] = drift + λ·jump_mean`` and
    ``Var[r] = vol_daily² + λ·(jump_mean² + jump_sd²)``.
    """
    _check_common(start_price, horizon_days, n_paths, limit_frac)
    for name, value in (
        ("vol_daily", vol_daily),
        ("jump_intensity_daily", jump_intensity_daily),
        ("jump_sd", jump_sd),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInputError(f"`{name}` must be finite and >= 0; got {value!r}")
    if not math.isfinite(jump_mean):
        raise InvalidInputError(f"`jump_mean` must be finite; got {jump_mean!r}")
    rng = np.random.default_rng(seed)
    shape = (n_paths, horizon_days)
    diffusion = vol_daily * rng.standard_normal(shape)
    n_jumps = rng.poisson(jump_intensity_daily, shape)
    # the sum of n iid normal jumps is N(n·mean, n·sd²)
    jumps = n_jumps * jump_mean + np.sqrt(n_jumps) * jump_sd * rng.standard_normal(shape)
    r = _cap(drift_daily + diffusion + jumps, limit_frac)
    return _paths("Merton jump-diffusion", start_price, r, seed, limit_frac)


@dataclass(frozen=True, slots=True)
class StressWindow:
    """A historical period to replay, with why it matters."""

    name: str
    start: dt.date
    end: dt.date
    description: str


#: Named stress windows (dates of the market moves; replay them on a history that covers them).
STRESS_WINDOWS: dict[str, StressWindow] = {
    w.name: w
    for w in (
        StressWindow(
            "shea-2015-collapse",
            dt.date(2014, 7, 1),
            dt.date(2015, 6, 30),
            "SHEA fell from about 36 to the published SHEA14 low of 12.5 CNY/t in "
            "June 2015 (oversupply in the pilot's first period)",
        ),
        StressWindow(
            "shea-2016-trough",
            dt.date(2015, 7, 1),
            dt.date(2016, 6, 30),
            "SHEA below 10 CNY/t in 2016 before the 2017 recovery",
        ),
        StressWindow(
            "cea-2024-2025-decline",
            dt.date(2024, 4, 24),
            dt.date(2025, 6, 30),
            "CEA fell from about 100 CNY/t (April 2024) to about 70 (mid 2025)",
        ),
    )
}


def replay_window(
    history: PriceHistory,
    window: StressWindow | str | tuple[dt.date, dt.date],
    start_price: float,
) -> ScenarioPaths:
    """Replay the window's realised daily moves from ``start_price`` (one path).

    Each business day of the window gets the trade-to-trade log return of the close on that
    day (0 on a day without a close), so the path has the window's length in business days and
    its total move equals the window's close-to-close move.
    """
    if isinstance(window, str):
        if window not in STRESS_WINDOWS:
            raise InvalidInputError(
                f"unknown stress window {window!r}; known: {sorted(STRESS_WINDOWS)}"
            )
        window = STRESS_WINDOWS[window]
    start, end = (window.start, window.end) if isinstance(window, StressWindow) else window
    if end <= start:
        raise InvalidInputError(f"window end {end} is not after its start {start}")
    _check_common(start_price, 1, 1, None)
    closes = history.closes()
    before = closes[[d < start for d in closes.index]]
    inside = closes[[start <= d <= end for d in closes.index]]
    if before.empty or inside.empty:
        raise MissingDataError(
            f"the {history.instrument.value} history does not cover {start} to {end} "
            f"with a close before the window (it spans {history.dates[0]} to {history.dates[-1]})"
        )
    days = business_days(start, end, history.calendar)
    chain = np.log(np.r_[before.iloc[-1], inside.to_numpy()])
    moves = dict(zip(inside.index, np.diff(chain), strict=True))
    r = np.array([[moves.get(d, 0.0) for d in days]])
    name = window.name if isinstance(window, StressWindow) else f"{start}..{end}"
    return _paths(f"replay {name}", start_price, r, None, None)
