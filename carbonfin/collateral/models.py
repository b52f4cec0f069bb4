"""The market-risk models of the haircut and of the backtests: one registry, one vocabulary.

Each model is a small object found by name in :data:`MODELS` (aliases in :data:`ALIASES`); it
turns the quotes before a date (:class:`ModelInputs`) into the loss quantile (VaR or ES, positive
= loss) of the ``h``-business-day log return, with the inputs and notes that explain it. Adding
a model adds a class and a line here; ``market_risk_profile``, ``carbonfin haircut --model`` and
``carbonfin backtest --models`` all read this table.

``hs``      historical simulation of the overlapping ``h``-day changes of the log mark over the
            lookback (the mark on a business day is the last close on or before it).
``t``       Student-t by maximum likelihood (location 0, ``ν ≥ 2.05``), ``s·√h`` scaling.
``fhs``     filtered historical simulation from a GJR-GARCH-t fit (alias ``gjr-t``).
``garch-t`` the same from a GARCH(1,1)-t fit (``garch-n``: with normal innovations).
``ewma``    RiskMetrics EWMA (λ = 0.94), normal quantile, square-root-of-time.
``hs-vw``   the larger of ``hs`` and a volatility-weighted historical simulation (Hull and White
            1998): each per-business-day return is divided by its EWMA volatility before it and
            the ``h``-day sums of these standardised returns are rescaled by today's EWMA
            volatility. After a regime change (a 20-30% fall) today's volatility jumps, and so
            does the measure, while the long lookback keeps it from falling in quiet times.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import numpy as np
from scipy import optimize, special, stats

from carbonfin.errors import CarbonfinWarning, ConvergenceError, InvalidInputError, MissingDataError
from carbonfin.pricing.scenarios import filtered_historical
from carbonfin.pricing.volatility import VolFit, ewma, fit_garch, normal_loss

__all__ = [
    "ALIASES",
    "MODELS",
    "T_MIN_NU",
    "MarketModel",
    "ModelInputs",
    "ModelResult",
    "fhs_log_loss",
    "fhs_log_losses",
    "get_model",
    "hs_loss",
    "hs_losses",
    "loss_of",
    "losses_of",
    "t_fit",
    "t_loss",
]

#: lower bound of the fitted degrees of freedom: the √T scaling of the t model needs ν > 2
T_MIN_NU = 2.05
#: RiskMetrics decay for daily data (J.P. Morgan / Reuters, RiskMetrics Technical Document 1996)
EWMA_LAMBDA = 0.94


@dataclass(frozen=True, slots=True, eq=False)
class ModelInputs:
    """What a model sees on one date: only quotes on or before it.

    ``log_marks`` are the log marks of the lookback's business days (last close on or before
    each); ``returns`` and ``gap_days`` the per-business-day trade-to-trade returns in the
    lookback; ``all_returns`` every per-business-day return up to the date (for recursive
    volatility estimates that need a burn-in before the lookback).
    """

    log_marks: np.ndarray
    returns: np.ndarray
    gap_days: np.ndarray
    all_returns: np.ndarray
    holding_days: int
    confidence: float
    measure: str
    n_paths: int = 10_000
    seed: int = 0
    simulation_cap_frac: float = 0.30


@dataclass(frozen=True, slots=True)
class ModelResult:
    """A model's loss quantile of the log return, its inputs and notes."""

    log_loss: float
    inputs: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: what ``measure_window`` needs from the fit (not shown in a breakdown)
    state: Any = None


class MarketModel(Protocol):
    """A market-risk model: a name, a version (stored with results) and two measurements."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def description(self) -> str: ...

    def measure(self, x: ModelInputs) -> ModelResult: ...

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        """The loss on another window (anti-procyclicality: a stressed or long window), the
        volatility dynamics of ``fitted`` held where the model has any."""
        ...


def loss_of(x: np.ndarray, confidence: float, measure: str) -> float:
    """VaR or ES (positive = loss) of the sample ``x`` of log returns."""
    q = float(np.quantile(x, 1.0 - confidence))
    if measure == "var":
        return -q
    return -float(x[x <= q].mean())


def losses_of(x: np.ndarray, levels: Sequence[tuple[float, str]]) -> list[float]:
    """:func:`loss_of` at several ``(confidence, measure)`` levels of one sample: every
    quantile from one ``np.quantile`` call (one partition of ``x`` instead of one per level;
    the same order statistics and interpolation, so the same numbers bit for bit, tested)."""
    probs = list(dict.fromkeys(1.0 - c for c, _ in levels))
    qs = dict(zip(probs, np.quantile(x, probs).tolist(), strict=True))
    return [-qs[1.0 - c] if m == "var" else -float(x[x <= qs[1.0 - c]].mean()) for c, m in levels]


def hs_loss(log_marks: np.ndarray, days: int, confidence: float, measure: str) -> float:
    """Historical-simulation VaR/ES of the ``days`` log return from consecutive log marks."""
    return loss_of(_hs_changes(log_marks, days), confidence, measure)


def hs_losses(log_marks: np.ndarray, days: int, levels: Sequence[tuple[float, str]]) -> list[float]:
    """:func:`hs_loss` at several ``(confidence, measure)`` levels: the ``days`` changes made
    once, the quantiles from one call (:func:`losses_of`); the same numbers bit for bit."""
    return losses_of(_hs_changes(log_marks, days), levels)


def _hs_changes(log_marks: np.ndarray, days: int) -> np.ndarray:
    """The overlapping ``days`` log changes of the finite marks (more than ``days + 20`` needed)."""
    marks = np.asarray(log_marks, dtype=float)
    marks = marks[np.isfinite(marks)]
    if len(marks) <= days + 20:
        raise MissingDataError(
            f"historical simulation needs more than {days + 20} business days of marks; "
            f"got {len(marks)}"
        )
    return np.asarray(marks[days:] - marks[:-days])


def _t_nll(x: np.ndarray, r: np.ndarray) -> float:
    """−Σ ln f(r; ν, 0, s): scipy's ``stats.t.logpdf(r, ν, 0, s)`` term by term (its ``_logpdf``
    formula on ``r/s``, minus ``ln s``) without its argument handling, which cost five times
    the arithmetic; the same numbers bit for bit (tested), so the same fits."""
    nu, scale = float(x[0]), float(x[1])
    z = r / scale
    logpdf = (np.log(special.poch(0.5 * nu, 0.5)) - 0.5 * (np.log(nu) + np.log(np.pi))
              - (nu + 1) / 2 * np.log1p(z * z / nu))  # fmt: skip
    return -float((logpdf - np.log(scale)).sum())


def t_fit(r: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ν and scale of a zero-location Student-t, with ν >= ``T_MIN_NU``."""
    r = np.asarray(r, dtype=float)
    sd = float(np.std(r))
    if sd == 0:
        raise InvalidInputError("`returns` are all equal: there is no volatility to model")
    res = optimize.minimize(
        _t_nll, np.array([4.0, sd * 0.7]), args=(r,), method="L-BFGS-B",
        bounds=[(T_MIN_NU, 500.0), (sd * 1e-4, sd * 10.0)],
    )  # fmt: skip
    if not res.success:
        raise ConvergenceError(f"Student-t fit did not converge: {res.message}")
    return float(res.x[0]), float(res.x[1])


def t_loss(nu: float, scale: float, days: int, confidence: float, measure: str) -> float:
    """VaR/ES of a Student-t ``days`` log return with scale ``scale·√days``.

    ES = ``s(ν + z²)/(ν − 1)·f_ν(z)/(1 − q)`` (McNeil, Frey, Embrechts 2015, 2.2.3).
    """
    s = scale * math.sqrt(days)
    z = _t_ppf(confidence, nu)
    if measure == "var":
        return s * z
    if nu <= 1.0:
        raise InvalidInputError(f"expected shortfall needs a t fit with nu > 1; got nu={nu:.3f}")
    return s * (nu + z * z) / (nu - 1.0) * _t_pdf(z, nu) / (1.0 - confidence)


@functools.lru_cache(maxsize=256)
def _t_ppf(confidence: float, nu: float) -> float:
    """``stats.t.ppf`` kept for the next call with the same arguments: a backtest date asks for
    the same ν at every horizon and level (scipy's argument handling cost ~0.2 ms a call)."""
    return float(stats.t.ppf(confidence, nu))


@functools.lru_cache(maxsize=256)
def _t_pdf(z: float, nu: float) -> float:
    """``stats.t.pdf``, kept as :func:`_t_ppf` is."""
    return float(stats.t.pdf(z, nu))


def fhs_log_loss(
    fit: VolFit, holding_days: int, confidence: float, measure: str, *, n_paths: int, seed: int,
    cap: float,
) -> tuple[float, list[str]]:  # fmt: skip
    """FHS VaR/ES of the ``holding_days`` log return from a GARCH-family fit, with the notes of
    the simulation (variance bounds hit by non-stationary fits)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarbonfinWarning)
        paths = filtered_historical(fit, 1.0, holding_days, n_paths, seed=seed, limit_frac=cap)
    notes = [f"{fit.model}-{fit.dist} simulation: {w.message}" for w in caught]
    return loss_of(np.log(paths.prices[:, -1]), confidence, measure), notes


def fhs_log_losses(
    fit: VolFit, holding_days: int, levels: Sequence[tuple[float, str]], *, n_paths: int,
    seed: int, cap: float,
) -> tuple[list[float], list[str]]:  # fmt: skip
    """:func:`fhs_log_loss` at several ``(confidence, measure)`` levels from one simulation.

    The paths depend on the fit, the horizon, ``n_paths``, ``seed`` and ``cap`` only, so each
    level's loss equals what :func:`fhs_log_loss` gives for it alone; a backtest date that
    needs VaR at two confidences and the ES simulates once instead of three times.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarbonfinWarning)
        paths = filtered_historical(fit, 1.0, holding_days, n_paths, seed=seed, limit_frac=cap)
    notes = [f"{fit.model}-{fit.dist} simulation: {w.message}" for w in caught]
    x = np.log(paths.prices[:, -1])
    return losses_of(x, levels), notes


def _bootstrap(x: ModelInputs, z: np.ndarray, sigma: float) -> float:
    """i.i.d. resampling of standardised residuals at a constant daily volatility."""
    rng = np.random.default_rng(x.seed)
    sums = (sigma * z[rng.integers(0, len(z), (x.n_paths, x.holding_days))]).sum(axis=1)
    return loss_of(sums, x.confidence, x.measure)


class HistoricalSimulation:
    name, version = "hs", "1"
    description = "historical simulation of overlapping h-day mark changes over the lookback"

    def measure(self, x: ModelInputs) -> ModelResult:
        loss = hs_loss(x.log_marks, x.holding_days, x.confidence, x.measure)
        n = int(np.isfinite(x.log_marks).sum()) - x.holding_days
        return ModelResult(loss, {"n_horizon_returns": n})

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        return hs_loss(x.log_marks, x.holding_days, x.confidence, x.measure)


class StudentT:
    name, version = "t", "1"
    description = "Student-t by maximum likelihood, location 0, nu >= 2.05, s*sqrt(h)"

    def measure(self, x: ModelInputs) -> ModelResult:
        nu, scale = t_fit(x.returns)
        notes = (
            (f"Student-t fit at its lower bound nu = {T_MIN_NU} (tails heavier still)",)
            if nu <= T_MIN_NU + 1e-6
            else ()
        )
        loss = t_loss(nu, scale, x.holding_days, x.confidence, x.measure)
        return ModelResult(loss, {"nu": nu, "scale_daily": scale}, notes)

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        return t_loss(*t_fit(x.returns), x.holding_days, x.confidence, x.measure)


@dataclass(frozen=True, slots=True)
class FilteredHS:
    name: str
    vol: tuple[str, str]
    version: str = "1"
    description: str = "filtered historical simulation from a GARCH-family fit"

    def measure(self, x: ModelInputs) -> ModelResult:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CarbonfinWarning)
            fit = fit_garch(
                x.returns, self.vol[0], self.vol[1], mean="zero",  # type: ignore[arg-type]
                gap_days=x.gap_days,
            )  # fmt: skip
        notes = [f"{self.vol[0]}-{self.vol[1]} fit: {w.message}" for w in caught]
        loss, sim = fhs_log_loss(
            fit, x.holding_days, x.confidence, x.measure, n_paths=x.n_paths, seed=x.seed,
            cap=x.simulation_cap_frac,
        )  # fmt: skip
        inputs = {
            "vol_model": f"{fit.model}-{fit.dist}", "persistence": fit.persistence,
            "next_day_vol": fit.next_vol(), "n_paths": x.n_paths,
            "daily_move_cap": x.simulation_cap_frac, "seed": x.seed,
            **{f"param.{k}": v for k, v in fit.params.items()},
        }  # fmt: skip
        return ModelResult(loss, inputs, tuple(notes + sim), state=fit.std_resid)

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        z = np.asarray(fitted.state)
        z = z[np.isfinite(z)]
        return _bootstrap(x, z, float(np.sqrt(np.mean(x.returns * x.returns))))


class Ewma:
    name, version = "ewma", "1"
    description = "RiskMetrics EWMA (lambda 0.94), normal quantile, square-root-of-time"

    def measure(self, x: ModelInputs) -> ModelResult:
        res = ewma(x.all_returns, EWMA_LAMBDA)
        m: Any = x.measure
        loss = float(normal_loss(res.next_variance, x.holding_days, x.confidence, m))
        return ModelResult(loss, {"lambda": EWMA_LAMBDA, "next_day_vol": res.next_vol})

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        var = float(np.mean(x.returns * x.returns))
        m: Any = x.measure
        return float(normal_loss(var, x.holding_days, x.confidence, m))


class VolatilityWeightedHS:
    """max(HS, volatility-weighted HS); see the module notes (Hull and White 1998, "Incorporating
    volatility updating into the historical simulation method for value-at-risk", Journal of
    Risk 1(1))."""

    name, version = "hs-vw", "1"
    description = "larger of historical simulation and EWMA volatility-weighted HS"
    burn_in: ClassVar[int] = 30

    def vw_loss(self, x: ModelInputs) -> tuple[float, float]:
        r = np.asarray(x.all_returns, dtype=float)
        if len(r) <= self.burn_in + x.holding_days:
            raise MissingDataError(
                f"volatility-weighted HS needs more than {self.burn_in + x.holding_days} "
                f"returns; got {len(r)}"
            )
        res = ewma(r, EWMA_LAMBDA, self.burn_in)
        z = r[self.burn_in :] / np.sqrt(res.variance[self.burn_in :])
        z = z[-len(x.returns) :] if len(x.returns) < len(z) else z
        c = np.r_[0.0, np.cumsum(z)]
        sums = c[x.holding_days :] - c[: -x.holding_days]
        return res.next_vol * loss_of(sums, x.confidence, x.measure), res.next_vol

    def measure(self, x: ModelInputs) -> ModelResult:
        hs = hs_loss(x.log_marks, x.holding_days, x.confidence, x.measure)
        vw, vol = self.vw_loss(x)
        inputs = {"hs_log_loss": hs, "vw_log_loss": vw, "next_day_vol": vol,
                  "lambda": EWMA_LAMBDA, "binding": "hs" if hs >= vw else "vw"}  # fmt: skip
        return ModelResult(max(hs, vw), inputs)

    def measure_window(self, x: ModelInputs, fitted: ModelResult) -> float:
        return hs_loss(x.log_marks, x.holding_days, x.confidence, x.measure)


_ENTRIES: tuple[MarketModel, ...] = (
    HistoricalSimulation(),
    StudentT(),
    FilteredHS("fhs", ("gjr", "t"), description="FHS from a GJR-GARCH-t fit"),
    FilteredHS("garch-t", ("garch", "t"), description="FHS from a GARCH(1,1)-t fit"),
    FilteredHS("garch-n", ("garch", "normal"), description="FHS from a GARCH(1,1)-normal fit"),
    Ewma(),
    VolatilityWeightedHS(),
)
#: the models by name (read-only)
MODELS: Mapping[str, MarketModel] = MappingProxyType({m.name: m for m in _ENTRIES})
#: other names of the same models (the backtests' historical names)
ALIASES: Mapping[str, str] = MappingProxyType({"gjr-t": "fhs"})


def get_model(name: str) -> MarketModel:
    """The model called ``name`` (or one of its :data:`ALIASES`).

    Raises
    ------
    InvalidInputError
        No model has that name (the message lists the known ones).
    """
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    model = MODELS.get(key) if isinstance(key, str) else None
    if model is None:
        raise InvalidInputError(f"`model` must be one of {[*MODELS, *ALIASES]}; got {name!r}")
    return model
