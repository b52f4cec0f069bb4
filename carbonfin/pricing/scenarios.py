"""Multi-day price scenarios for allowances: filtered historical simulation, Student-t Monte Carlo,
Merton jump-diffusion, and replays of historical stress windows.

Every generator returns a :class:`ScenarioPaths` (read-only arrays) shaped ``(paths, days)``:
day ``j`` is the ``j+1``-th SSE business day after the start. Daily log returns are capped at the
instrument's listed-trade price limit (``ln(1 − L)``, ``ln(1 + L)``), as the exchange caps listed
trades: by default ``L`` comes from the instrument's rules (``carbonfin/rules/market.toml``);
pass ``limit_frac=`` a fraction to override or ``None`` for no cap. Draws use
``numpy.random.default_rng(seed)``: the same seed gives the same paths. Loops run over days only;
all paths of a day are one array operation. Prices are formed in log space and stay finite.

Calibration lives here too, one function per model: :func:`calibrate_student_t` (from a fit) and
:func:`calibrate_merton` (from returns); each returns a frozen calibration that states its inputs
and can ``simulate(...)``.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from carbonfin.errors import InvalidInputError, MissingDataError, NonStationaryWarning
from carbonfin.instruments import Instrument
from carbonfin.pricing._fhs_paths import garch_paths
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.volatility import VolFit
from carbonfin.rules import market_rules

__all__ = [
    "STRESS_WINDOWS",
    "MertonCalibration",
    "ScenarioPaths",
    "StressWindow",
    "StudentTCalibration",
    "calibrate_merton",
    "calibrate_student_t",
    "filtered_historical",
    "merton_jump",
    "replay_window",
    "student_t",
]

#: ``limit_frac`` default: the instrument's listed-trade limit from its rules
LimitArg = float | None | Literal["rules"]
#: log-price moves are clipped at ±700 from the start (e^700 is still a finite double)
_MAX_LOG_MOVE = 700.0


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioPaths:
    """Simulated prices and daily log returns, shaped ``(paths, days)``."""

    method: str
    start_price: float
    log_returns: np.ndarray
    prices: np.ndarray
    seed: int | None
    limit_frac: float | None
    limit_source: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.log_returns.flags.writeable = False
        self.prices.flags.writeable = False

    def with_notes(self, *notes: str) -> ScenarioPaths:
        """The same paths with ``notes`` appended (the arrays are shared, read-only)."""
        return ScenarioPaths(
            self.method,
            self.start_price,
            self.log_returns,
            self.prices,
            self.seed,
            self.limit_frac,
            self.limit_source,
            (*self.notes, *notes),
        )

    @property
    def n_paths(self) -> int:
        return int(self.prices.shape[0])

    @property
    def horizon_days(self) -> int:
        return int(self.prices.shape[1])

    def horizon_returns(self) -> np.ndarray:
        """Simple return from the start to the end of the horizon, per path (from log space)."""
        total = np.clip(self.log_returns.sum(axis=1), -_MAX_LOG_MOVE, _MAX_LOG_MOVE)
        return np.asarray(np.expm1(total))

    def value_at_risk(self, confidence: float = 0.99) -> float:
        """Loss fraction not exceeded with ``confidence`` over the horizon (positive = loss)."""
        if not 0.5 <= confidence < 1.0:
            raise InvalidInputError(f"`confidence` must be in [0.5, 1); got {confidence!r}")
        return float(-np.quantile(self.horizon_returns(), 1.0 - confidence))

    def summary(self) -> str:
        h = self.horizon_returns()
        q = np.quantile(h, [0.01, 0.05, 0.5, 0.95, 0.99])
        cap = (
            "no price-limit cap"
            if self.limit_frac is None
            else f"daily moves capped at ±{self.limit_frac:.0%}"
            + (f" ({self.limit_source})" if self.limit_source else "")
        )
        return "\n".join(
            [
                f"{self.method}: {self.n_paths} paths x {self.horizon_days} business days from "
                f"{self.start_price:.2f} CNY/t (seed {self.seed}); {cap}",
                f"  horizon return quantiles 1% {q[0]:+.2%}  5% {q[1]:+.2%}  50% {q[2]:+.2%}  "
                f"95% {q[3]:+.2%}  99% {q[4]:+.2%}",
                f"  99% VaR {self.value_at_risk(0.99):.2%}   worst path {h.min():+.2%}",
                *(f"  note: {n}" for n in self.notes),
            ]
        )

    def __str__(self) -> str:
        return self.summary()


def _limit(limit_frac: LimitArg, instrument: Instrument | str) -> tuple[float | None, str]:
    """The cap to apply and where it came from."""
    if limit_frac == "rules":
        inst = Instrument.parse(instrument) if isinstance(instrument, str) else instrument
        rule = market_rules()[inst].price_limit
        source = f"{inst.value} listed-trade limit: {rule.source}" + (
            " (assumed)" if rule.assumed and "assumed" not in rule.source else ""
        )
        return rule.listed_frac, source
    if limit_frac is None:
        return None, "no cap requested"
    if isinstance(limit_frac, str):
        raise InvalidInputError(
            f"`limit_frac` must be a fraction in (0, 1), None or 'rules'; got {limit_frac!r}"
        )
    return float(limit_frac), "limit given by the caller"


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
    limit: tuple[float | None, str],
    notes: tuple[str, ...] = (),
) -> ScenarioPaths:
    """Prices in log space: ``S·exp(clip(Σ r, ±700))``, finite whatever the returns."""
    cum = np.clip(np.cumsum(log_returns, axis=1), -_MAX_LOG_MOVE, _MAX_LOG_MOVE)
    prices = start_price * np.exp(cum)
    if not np.isfinite(prices).all():  # a start price near the float maximum
        raise InvalidInputError(f"`start_price` {start_price!r} leaves no room for price moves")
    return ScenarioPaths(
        method, float(start_price), log_returns, prices, seed, limit[0], limit[1], notes
    )


def filtered_historical(
    fit: VolFit,
    start_price: float,
    horizon_days: int,
    n_paths: int = 10_000,
    *,
    seed: int = 0,
    instrument: Instrument | str = Instrument.SHEA,
    limit_frac: LimitArg = "rules",
    max_variance: float | None = None,
) -> ScenarioPaths:
    """Filtered historical simulation (Barone-Adesi, Giannopoulos and Vosper 1999).

    The fit's standardised residuals ``z`` are resampled with replacement and re-scaled by the
    model's conditional volatility, which is updated day by day along each path from the
    one-day-ahead forecast after the last observation. The variance recursion uses the capped
    (observed) move, as the market would. The fit must be in business-day time
    (``fit.time_unit == "business_day"``): the paths step one business day at a time.

    GARCH/GJR: ``σ²_{t+1} = ω + (α + γ·1{ε_t<0})·ε_t² + β·σ²_t``; EGARCH (arch's form):
    ``ln σ²_{t+1} = ω + α(|z_t| − √(2/π)) + γ z_t + β ln σ²_t``; ``r_t = μ + σ_t z_t``.

    A fit that is not stationary makes the variance explode along the paths (near-integrated
    fits with fat-tailed residuals, as on thin carbon markets): it warns
    (:class:`~carbonfin.errors.NonStationaryWarning`) for multi-day horizons, and the daily
    variance is bounded by ``max_variance`` (default: the largest conditional variance of the
    fit's own sample, which the model has actually seen); the result's ``notes`` say how many
    path-days hit the bound. Prices are formed in log space, so they stay finite.
    """
    limit = _limit(limit_frac, instrument)
    _check_common(start_price, horizon_days, n_paths, limit[0])
    out, notes = _fhs_returns(fit, horizon_days, n_paths, seed, limit, max_variance)
    return _paths(f"FHS ({fit.model}-{fit.dist})", start_price, out, seed, limit, tuple(notes))


def _fhs_returns(
    fit: VolFit,
    horizon_days: int,
    n_paths: int,
    seed: int,
    limit: tuple[float | None, str],
    max_variance: float | None,
) -> tuple[np.ndarray, list[str]]:
    """The capped daily log returns (paths × days) of a filtered historical simulation and its
    notes (checks, stationarity warning, variance-bound hits)."""
    _check_common(1.0, horizon_days, n_paths, limit[0])
    if fit.time_unit != "business_day":
        raise InvalidInputError(
            f"filtered historical simulation steps one business day at a time, but the fit is in "
            f"{fit.time_unit!r} time; fit with time_unit='business_day' (the default)"
        )
    z_hist = fit.std_resid[np.isfinite(fit.std_resid)]
    if len(z_hist) < 50:
        raise MissingDataError(f"only {len(z_hist)} filtered residuals; need at least 50")
    var_cap = float(np.max(fit.conditional_vol) ** 2) if max_variance is None else max_variance
    if not (math.isfinite(var_cap) and var_cap > 0):
        raise InvalidInputError(f"`max_variance` must be finite and > 0; got {max_variance!r}")
    notes: list[str] = []
    if not fit.is_stationary and horizon_days > 1:
        message = (
            f"the {fit.model}-{fit.dist} fit is not stationary (persistence "
            f"{fit.persistence:.6f}): its variance grows along the paths; daily variance bounded "
            f"at {var_cap:.4g} (daily vol {math.sqrt(var_cap):.2%})"
        )
        notes.append(message)
        warnings.warn(message, NonStationaryWarning, stacklevel=3)
    rng = np.random.default_rng(seed)
    p = fit.params
    mu = fit.mu
    var0 = min(float(fit.forecast_variance(1)[0]), var_cap)
    if fit.model == "egarch":
        out, capped = _egarch_paths(z_hist, rng, dict(p), mu, var0, var_cap, limit[0],
                                    horizon_days, n_paths)  # fmt: skip
    else:  # compiled, the same arithmetic as a numpy loop (carbonfin.pricing._fhs_paths)
        idx = np.array([rng.integers(0, len(z_hist), n_paths) for _ in range(horizon_days)])
        clip = None if limit[0] is None else (math.log1p(-limit[0]), math.log1p(limit[0]))
        out, capped = garch_paths(z_hist, idx, dict(p), mu, var0, var_cap, clip)
    if capped:
        notes.append(f"{capped} of {n_paths * horizon_days} path-days hit the variance bound")
    return out, notes


def _egarch_paths(
    z_hist: np.ndarray, rng: np.random.Generator, p: dict[str, float], mu: float, var0: float,
    var_cap: float, limit_frac: float | None, horizon_days: int, n_paths: int,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """EGARCH paths (arch's form), one numpy pass per day; path-days at the variance cap."""
    var = np.full(n_paths, var0)
    out = np.empty((n_paths, horizon_days))
    capped = 0
    for day in range(horizon_days):
        z = z_hist[rng.integers(0, len(z_hist), n_paths)]
        sigma = np.sqrt(var)
        r = _cap(mu + sigma * z, limit_frac)
        out[:, day] = r
        z_obs = (r - mu) / sigma
        log_var = (
            p["omega"]
            + p["alpha[1]"] * (np.abs(z_obs) - math.sqrt(2.0 / math.pi))
            + p["gamma[1]"] * z_obs
            + p["beta[1]"] * np.log(var)
        )
        var = np.exp(np.minimum(log_var, math.log(var_cap)))
        over = var >= var_cap
        capped += int(over.sum())
        var = np.where(over, var_cap, var)
    return out, capped


def student_t(
    vol_daily: float,
    dof: float,
    start_price: float,
    horizon_days: int,
    n_paths: int = 10_000,
    *,
    drift_daily: float = 0.0,
    seed: int = 0,
    instrument: Instrument | str = Instrument.SHEA,
    limit_frac: LimitArg = "rules",
) -> ScenarioPaths:
    """IID Student-t daily log returns scaled to standard deviation ``vol_daily``.

    ``r = drift + vol_daily · t_ν · √((ν − 2)/ν)``: the scaling makes the innovation's variance
    exactly one (the variance of ``t_ν`` is ``ν/(ν − 2)``), so ``vol_daily`` is the true daily
    standard deviation before the price-limit cap.
    """
    limit = _limit(limit_frac, instrument)
    _check_common(start_price, horizon_days, n_paths, limit[0])
    if not (math.isfinite(vol_daily) and vol_daily >= 0):
        raise InvalidInputError(f"`vol_daily` must be finite and >= 0; got {vol_daily!r}")
    if not (math.isfinite(dof) and dof > 2):
        raise InvalidInputError(f"`dof` must be > 2 (finite variance); got {dof!r}")
    rng = np.random.default_rng(seed)
    z = rng.standard_t(dof, size=(n_paths, horizon_days)) * math.sqrt((dof - 2.0) / dof)
    r = _cap(drift_daily + vol_daily * z, limit[0])
    return _paths(f"Student-t (nu={dof:g})", start_price, r, seed, limit)


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
    instrument: Instrument | str = Instrument.SHEA,
    limit_frac: LimitArg = "rules",
) -> ScenarioPaths:
    """Merton (1976) jump-diffusion: Gaussian diffusion plus compound-Poisson Gaussian jumps.

    Daily log return ``r = drift + vol_daily·Z + Σ_{i=1}^{N} J_i`` with ``N ~ Poisson(λ)`` jumps a
    day and ``J_i ~ N(jump_mean, jump_sd²)``: policy shocks (allocation news, cap changes) as jumps.
    Before the cap, ``E[r] = drift + λ·jump_mean`` and
    ``Var[r] = vol_daily² + λ·(jump_mean² + jump_sd²)``.
    """
    limit = _limit(limit_frac, instrument)
    _check_common(start_price, horizon_days, n_paths, limit[0])
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
    r = _cap(drift_daily + diffusion + jumps, limit[0])
    return _paths("Merton jump-diffusion", start_price, r, seed, limit)


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
            f"the {history.name} history does not cover {start} to {end} "
            f"with a close before the window (it spans {history.dates[0]} to {history.dates[-1]})"
        )
    days = history.session_days(start, end)
    chain = np.log(np.r_[before.iloc[-1], inside.to_numpy()])
    moves = dict(zip(inside.index, np.diff(chain), strict=True))
    r = np.array([[moves.get(d, 0.0) for d in days]])
    name = window.name if isinstance(window, StressWindow) else f"{start}..{end}"
    return _paths(f"replay {name}", start_price, r, None, (None, "realised moves, not capped"))


@dataclass(frozen=True, slots=True)
class StudentTCalibration:
    """Inputs of :func:`student_t` calibrated from a fit, with where each came from."""

    vol_daily: float
    dof: float
    drift_daily: float
    source: str
    notes: tuple[str, ...] = ()

    def simulate(
        self,
        start_price: float,
        horizon_days: int,
        n_paths: int = 10_000,
        *,
        seed: int = 0,
        instrument: Instrument | str = Instrument.SHEA,
        limit_frac: LimitArg = "rules",
    ) -> ScenarioPaths:
        paths = student_t(
            self.vol_daily,
            self.dof,
            start_price,
            horizon_days,
            n_paths,
            drift_daily=self.drift_daily,
            seed=seed,
            instrument=instrument,
            limit_frac=limit_frac,
        )
        return paths.with_notes(f"calibrated from {self.source}", *self.notes)


def calibrate_student_t(
    fit: VolFit, *, min_dof: float = 2.1, with_drift: bool = False
) -> StudentTCalibration:
    """IID Student-t scenario inputs from a GARCH-family fit with t or skew-t innovations.

    ``vol_daily`` is the fit's next-business-day volatility (the IID model keeps it for the
    whole horizon); ``dof`` the fit's ``nu`` (t) or ``eta`` (skew-t), raised to ``min_dof`` when
    below it (the unit-variance scaling ``√((ν − 2)/ν)`` degenerates as ν → 2; arch allows
    ν down to 2.05), and the result says so. ``drift_daily`` is the fit's ``mu`` when
    ``with_drift``, else 0 (a drift estimated from a few hundred noisy returns is mostly noise).
    """
    if fit.time_unit != "business_day":
        raise InvalidInputError(
            f"scenarios step one business day at a time, but the fit is in {fit.time_unit!r} time"
        )
    if not (math.isfinite(min_dof) and min_dof > 2):
        raise InvalidInputError(f"`min_dof` must be > 2; got {min_dof!r}")
    name = {"t": "nu", "skewt": "eta"}.get(fit.dist)
    if name is None:
        raise InvalidInputError(
            f"a {fit.dist}-innovation fit has no degrees of freedom for Student-t scenarios; "
            "fit with dist='t' or 'skewt'"
        )
    dof = float(fit.params[name])
    notes: list[str] = []
    if dof < min_dof:
        notes.append(f"degrees of freedom {dof:.4g} raised to the minimum {min_dof:g}")
        dof = min_dof
    if not fit.is_stationary:
        notes.append(
            f"the fit is not stationary (persistence {fit.persistence:.6f}): its next-day vol is "
            "used as a constant"
        )
    return StudentTCalibration(
        vol_daily=fit.next_vol(),
        dof=dof,
        drift_daily=fit.mu if with_drift else 0.0,
        source=f"{fit.model}-{fit.dist} fit on {fit.n_obs} returns",
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class MertonCalibration:
    """Inputs of :func:`merton_jump` calibrated from returns, with where they came from."""

    vol_daily: float
    jump_intensity_daily: float
    jump_mean: float
    jump_sd: float
    drift_daily: float
    source: str

    @property
    def daily_variance(self) -> float:
        """``vol_daily² + λ·(jump_mean² + jump_sd²)``: the variance the calibration matches."""
        return self.vol_daily**2 + self.jump_intensity_daily * (self.jump_mean**2 + self.jump_sd**2)

    def simulate(
        self,
        start_price: float,
        horizon_days: int,
        n_paths: int = 10_000,
        *,
        seed: int = 0,
        instrument: Instrument | str = Instrument.SHEA,
        limit_frac: LimitArg = "rules",
    ) -> ScenarioPaths:
        paths = merton_jump(
            self.vol_daily,
            self.jump_intensity_daily,
            self.jump_mean,
            self.jump_sd,
            start_price,
            horizon_days,
            n_paths,
            drift_daily=self.drift_daily,
            seed=seed,
            instrument=instrument,
            limit_frac=limit_frac,
        )
        return paths.with_notes(f"calibrated from {self.source}")


def calibrate_merton(
    returns: Any, *, jump_intensity_daily: float = 0.05, jump_share: float = 0.5
) -> MertonCalibration:
    """Merton jump-diffusion inputs whose daily variance equals the returns' sample variance.

    The sample variance ``v`` of the daily log returns (a :class:`~carbonfin.pricing.Returns`:
    per business day, trade-to-trade returns divided by ``√gap``; or an array of daily returns)
    is split: ``(1 − jump_share)·v`` to the diffusion and ``jump_share·v`` to zero-mean jumps
    arriving ``jump_intensity_daily`` times a business day, so
    ``jump_sd = √(jump_share·v / λ)``. Zero drift.
    """
    if not (math.isfinite(jump_share) and 0.0 <= jump_share < 1.0):
        raise InvalidInputError(f"`jump_share` must be in [0, 1); got {jump_share!r}")
    if not (math.isfinite(jump_intensity_daily) and jump_intensity_daily > 0):
        raise InvalidInputError(
            f"`jump_intensity_daily` must be finite and > 0; got {jump_intensity_daily!r}"
        )
    values = np.asarray(getattr(returns, "values", returns), dtype=float)
    if getattr(returns, "per", "business_day") == "trade":
        values = values / np.sqrt(np.asarray(returns.gap_days, dtype=float))
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise InvalidInputError("`returns` must be at least two finite daily returns")
    var = float(np.var(values, ddof=1))
    return MertonCalibration(
        vol_daily=math.sqrt((1.0 - jump_share) * var),
        jump_intensity_daily=jump_intensity_daily,
        jump_mean=0.0,
        jump_sd=math.sqrt(jump_share * var / jump_intensity_daily),
        drift_daily=0.0,
        source=(
            f"the sample variance of {len(values)} daily returns ({jump_share:.0%} from jumps at "
            f"{jump_intensity_daily:g} a business day)"
        ),
    )
