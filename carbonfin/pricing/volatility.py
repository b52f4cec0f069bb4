"""Volatility models of allowance returns: EWMA (RiskMetrics) and GARCH-family fits via ``arch``.

Returns are decimals per business day (see :meth:`PriceHistory.returns`). GARCH models are fitted
by ``arch`` on returns in percent (``100·r``), which keeps its optimiser well scaled; the results
are converted back to decimals, so ``omega`` is reported per (decimal return)².

Results are frozen and explain themselves (``summary()`` / ``str``). A fit whose optimiser fails
raises :class:`~carbonfin.errors.ConvergenceError`; one that converges to a non-stationary model
(persistence >= 1) warns with :class:`~carbonfin.errors.ConvergenceWarning`, since its
unconditional variance and long-horizon forecasts are then not meaningful.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from arch import arch_model
from arch.utility.exceptions import ConvergenceWarning as ArchConvergenceWarning
from scipy.signal import lfilter

from carbonfin.errors import ConvergenceError, ConvergenceWarning, InvalidInputError

__all__ = [
    "TRADING_DAYS_PER_YEAR",
    "EwmaResult",
    "ModelSelection",
    "VolFit",
    "ewma",
    "fit_garch",
    "select_model",
]

#: SSE business days per year (QuantLib China.SSE calendar: 242-244 a year in 2015-2026).
TRADING_DAYS_PER_YEAR = 243

VolModel = Literal["garch", "gjr", "egarch"]
Dist = Literal["normal", "t", "skewt"]
_ARCH_SPEC: dict[str, dict[str, Any]] = {
    "garch": {"vol": "GARCH", "p": 1, "o": 0, "q": 1},
    "gjr": {"vol": "GARCH", "p": 1, "o": 1, "q": 1},
    "egarch": {"vol": "EGARCH", "p": 1, "o": 1, "q": 1},
}
_DISTS = ("normal", "t", "skewt")
_SCALE = 100.0  # arch fits percent returns


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

    ``next_variance`` is the one-day-ahead forecast after the last return. The EWMA has no mean
    reversion, so its h-day forecast is ``h · next_variance`` (RiskMetrics' square-root-of-time
    rule is exact for this model).
    """

    lam: float
    variance: np.ndarray
    next_variance: float

    @property
    def next_vol(self) -> float:
        return math.sqrt(self.next_variance)

    def horizon_variance(self, horizon_days: int) -> float:
        return horizon_days * self.next_variance

    def annualised_vol(self) -> float:
        return math.sqrt(self.next_variance * TRADING_DAYS_PER_YEAR)

    def summary(self) -> str:
        return (
            f"EWMA (RiskMetrics) lambda={self.lam}: next-day vol {self.next_vol:.4%}, "
            f"annualised {self.annualised_vol():.2%} over {len(self.variance)} returns"
        )

    def __str__(self) -> str:
        return self.summary()


def ewma(
    returns: Iterable[float] | np.ndarray, lam: float = 0.94, init_window: int = 30
) -> EwmaResult:
    """RiskMetrics exponentially weighted variance.

    ``σ²_t = λ σ²_{t−1} + (1 − λ) r²_{t−1}``, started at the mean of the first ``init_window``
    squared returns (zero mean, as RiskMetrics assumes for daily returns). Source: J.P. Morgan /
    Reuters, *RiskMetrics — Technical Document* (4th ed., 1996), §5.2; λ = 0.94 for daily data.
    """
    if not 0.0 < lam < 1.0:
        raise InvalidInputError(f"`lam` must be in (0, 1); got {lam!r}")
    r = _clean_returns(returns, 2)
    r2 = r * r
    var = np.empty(len(r))
    var[0] = r2[: max(1, min(init_window, len(r)))].mean()
    # the linear recursion in closed form: var_t = lam^t var_0 + (1-lam) sum lam^(t-1-j) r2_j
    forced = lfilter([0.0, 1.0 - lam], [1.0, -lam], r2)  # (1-lam) * sum_{j<t} lam^(t-1-j) r2_j
    var[:] = forced + lam ** np.arange(len(r)) * var[0]
    next_var = lam * var[-1] + (1.0 - lam) * r2[-1]
    return EwmaResult(lam, var, float(next_var))


@dataclass(frozen=True, slots=True, eq=False)
class VolFit:
    """A fitted GARCH-family model (decimal returns per business day).

    ``params`` uses arch's names (``mu``, ``omega``, ``alpha[1]``, ``gamma[1]``, ``beta[1]``,
    ``nu``, ``lambda``) with ``mu`` and ``omega`` converted to decimal returns; ``std_errors``
    likewise. ``conditional_vol`` and ``std_resid`` are aligned with the input returns;
    ``std_resid`` are the filtered residuals used by filtered historical simulation.
    """

    model: str
    dist: str
    mean: str
    n_obs: int
    params: dict[str, float]
    std_errors: dict[str, float]
    loglikelihood: float
    aic: float
    bic: float
    conditional_vol: np.ndarray
    std_resid: np.ndarray
    _arch_result: Any = field(repr=False)

    @property
    def persistence(self) -> float:
        """alpha + beta (+ gamma/2 for GJR; beta for EGARCH)."""
        p = self.params
        if self.model == "egarch":
            return p["beta[1]"]
        return p["alpha[1]"] + p["beta[1]"] + 0.5 * p.get("gamma[1]", 0.0)

    @property
    def unconditional_variance(self) -> float:
        """Long-run daily variance (nan for EGARCH or a non-stationary fit)."""
        if self.model == "egarch" or self.persistence >= 1.0:
            return math.nan
        return self.params["omega"] / (1.0 - self.persistence)

    @property
    def mu(self) -> float:
        return self.params.get("mu", 0.0)

    def forecast_variance(self, horizon_days: int, *, seed: int = 0) -> np.ndarray:
        """Variance of each of the next ``horizon_days`` daily returns (the term structure).

        Analytic for GARCH and GJR; EGARCH has no closed form beyond one step, so its path is
        estimated by simulation (10,000 paths, ``seed``). For EGARCH with Student-t or skew-t
        innovations the expected variance beyond one day is infinite (``E[exp(α|z|)]`` diverges
        for t-distributed ``z``; Nelson 1991), so only ``horizon_days=1`` is defined there.
        """
        if horizon_days < 1:
            raise InvalidInputError(f"`horizon_days` must be >= 1; got {horizon_days!r}")
        if self.model == "egarch" and self.dist != "normal" and horizon_days > 1:
            raise InvalidInputError(
                f"EGARCH with {self.dist} innovations has no finite variance forecast beyond one "
                "day (E[exp(alpha|z|)] is infinite for fat-tailed z); use GARCH or GJR for the "
                "term structure, or EGARCH with normal innovations"
            )
        kwargs: dict[str, Any] = {"horizon": horizon_days, "reindex": False}
        if self.model == "egarch" and horizon_days > 1:
            kwargs.update(
                method="simulation", simulations=10_000, rng=_rng_for(seed, self._arch_result)
            )
        forecast = self._arch_result.forecast(**kwargs)
        return np.asarray(forecast.variance.to_numpy()[-1], dtype=float) / _SCALE**2

    def horizon_variance(self, horizon_days: int) -> float:
        """Variance of the ``horizon_days``-day log return: the sum of the daily forecasts."""
        return float(self.forecast_variance(horizon_days).sum())

    def next_vol(self) -> float:
        return math.sqrt(float(self.forecast_variance(1)[0]))

    def annualised_vol(self) -> float:
        """Annualised long-run vol (or the next-day vol where there is no long run)."""
        var = self.unconditional_variance
        if math.isnan(var):
            var = self.next_vol() ** 2
        return math.sqrt(var * TRADING_DAYS_PER_YEAR)

    def summary(self) -> str:
        lines = [
            f"{self.model.upper()}(1,1) with {self.dist} innovations, {self.mean} mean: "
            f"{self.n_obs} daily returns",
            f"  log-likelihood {self.loglikelihood:.2f}   AIC {self.aic:.2f}   BIC {self.bic:.2f}",
            f"  persistence {self.persistence:.4f}   next-day vol {self.next_vol():.4%}   "
            f"annualised {self.annualised_vol():.2%}",
            "  parameter        estimate     std. error",
        ]
        for name, value in self.params.items():
            lines.append(f"  {name:12s} {value:14.6g} {self.std_errors.get(name, math.nan):14.4g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _rng_for(seed: int, result: Any) -> Any:
    """A seeded draw of the fitted model's standardised innovations, for simulated forecasts."""
    dist = result.model.distribution
    k = dist.num_params
    params = np.asarray(result.params)[-k:] if k else np.empty(0)
    return type(dist)(seed=seed).simulate(params)


def fit_garch(
    returns: Iterable[float] | np.ndarray,
    model: VolModel = "garch",
    dist: Dist = "t",
    mean: Literal["zero", "constant"] = "constant",
) -> VolFit:
    """Fit a GARCH(1,1), GJR-GARCH(1,1,1) or EGARCH(1,1,1) with ``arch``.

    Notes
    -----
    GARCH: Bollerslev (1986); GJR: Glosten, Jagannathan and Runkle (1993), with the leverage term
    ``gamma·ε²·1{ε<0}``; EGARCH: Nelson (1991) in arch's form. Student-t: Bollerslev (1987);
    skew-t: Hansen (1994). Estimation by maximum likelihood (arch, Sheppard).
    """
    if model not in _ARCH_SPEC:
        raise InvalidInputError(f"`model` must be one of {list(_ARCH_SPEC)}; got {model!r}")
    if dist not in _DISTS:
        raise InvalidInputError(f"`dist` must be one of {list(_DISTS)}; got {dist!r}")
    if mean not in ("zero", "constant"):
        raise InvalidInputError(f"`mean` must be 'zero' or 'constant'; got {mean!r}")
    r = _clean_returns(returns, 100)
    if np.std(r) == 0:
        raise InvalidInputError("`returns` are all equal: there is no volatility to model")
    am = arch_model(
        r * _SCALE,
        mean="Zero" if mean == "zero" else "Constant",
        dist=dist,
        rescale=False,
        **_ARCH_SPEC[model],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ArchConvergenceWarning)
        result = am.fit(disp="off", show_warning=True)
    if result.convergence_flag != 0 or not np.isfinite(result.params).all():
        raise ConvergenceError(
            f"{model} fit with {dist} innovations did not converge "
            f"(optimizer flag {result.convergence_flag}: {result.optimization_result.message})"
        )
    if any(issubclass(w.category, ArchConvergenceWarning) for w in caught):
        warnings.warn(
            f"{model} fit converged only loosely; check the estimates",
            ConvergenceWarning,
            stacklevel=2,
        )
    params = {str(k): float(v) for k, v in result.params.items()}
    errors = {str(k): float(v) for k, v in result.std_err.items()}
    for name, power in (("mu", 1), ("omega", 2)):
        if name in params and not (model == "egarch" and name == "omega"):
            params[name] /= _SCALE**power
            errors[name] /= _SCALE**power
    if model == "egarch":  # arch's EGARCH omega is on log-variance of percent returns
        params["omega"] -= (1.0 - params["beta[1]"]) * math.log(_SCALE**2)
    fit = VolFit(
        model=model,
        dist=dist,
        mean=mean,
        n_obs=len(r),
        params=params,
        std_errors=errors,
        # the density of r = y/100 is 100·f(y): each observation adds ln(100) to the likelihood
        loglikelihood=float(result.loglikelihood) + len(r) * math.log(_SCALE),
        aic=float(result.aic) - 2 * len(r) * math.log(_SCALE),
        bic=float(result.bic) - 2 * len(r) * math.log(_SCALE),
        conditional_vol=np.asarray(result.conditional_volatility, dtype=float) / _SCALE,
        std_resid=np.asarray(result.std_resid, dtype=float),
        _arch_result=result,
    )
    if fit.model != "egarch" and fit.persistence >= 1.0:
        warnings.warn(
            f"{model} fit is not stationary (persistence {fit.persistence:.4f} >= 1): "
            "long-run variance and long-horizon forecasts are not meaningful",
            ConvergenceWarning,
            stacklevel=2,
        )
    return fit


@dataclass(frozen=True, slots=True, eq=False)
class ModelSelection:
    """Candidate fits ranked by an information criterion (lowest first)."""

    criterion: str
    fits: tuple[VolFit, ...]
    failures: tuple[tuple[str, str, str], ...]  # (model, dist, reason)

    @property
    def best(self) -> VolFit:
        return self.fits[0]

    def summary(self) -> str:
        lines = [
            f"model selection by {self.criterion.upper()} (lower is better)",
            "  model    dist     log-lik        AIC        BIC   persistence",
        ]
        for fit in self.fits:
            lines.append(
                f"  {fit.model:8s} {fit.dist:6s} {fit.loglikelihood:9.2f} {fit.aic:10.2f} "
                f"{fit.bic:10.2f} {fit.persistence:12.4f}"
            )
        lines += [f"  {m} {d}: failed ({why})" for m, d, why in self.failures]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def select_model(
    returns: Iterable[float] | np.ndarray,
    candidates: Sequence[tuple[VolModel, Dist]] | None = None,
    criterion: Literal["aic", "bic"] = "bic",
    mean: Literal["zero", "constant"] = "constant",
) -> ModelSelection:
    """Fit every candidate (default: the 3 models × 3 distributions) and rank them.

    Candidates that fail to converge are listed with the reason, not silently dropped.
    """
    if criterion not in ("aic", "bic"):
        raise InvalidInputError(f"`criterion` must be 'aic' or 'bic'; got {criterion!r}")
    r = _clean_returns(returns, 100)
    pairs = (
        list(candidates)
        if candidates is not None
        else [(m, d) for m in ("garch", "gjr", "egarch") for d in ("normal", "t", "skewt")]
    )
    fits: list[VolFit] = []
    failures: list[tuple[str, str, str]] = []
    for model, dist in pairs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(fit_garch(r, model, dist, mean))
        except ConvergenceError as exc:
            failures.append((model, dist, str(exc)))
    if not fits:
        raise ConvergenceError(f"no candidate model converged: {failures}")
    fits.sort(key=lambda f: getattr(f, criterion))
    return ModelSelection(criterion, tuple(fits), tuple(failures))
