"""Volatility models of allowance returns: EWMA (RiskMetrics) and GARCH-family fits via ``arch``.

Time unit
---------
Every fit states its time unit (``VolFit.time_unit``):

``"business_day"`` (the default)
    One step of the variance recursion is one SSE business day, and variances are per business
    day. Given the trade-to-trade returns of a thin market (a :class:`~carbonfin.pricing.Returns`,
    or an array with ``gap_days``), the recursion is *gap-aware*: on business days without a
    trade the variance moves by its expectation, and each return is compared with the mean
    variance of the days it spans (see :mod:`carbonfin.pricing._gap_recursions`). A plain array
    without gaps is taken as consecutive business days. Forecasts, horizons in
    :meth:`VolFit.forecast_variance` and the paths of
    :func:`~carbonfin.pricing.filtered_historical` are all in business days.
``"trade"``
    One step is one trade, whatever the gap, on the raw trade-to-trade returns; variances are per
    trade. This is the classical fit on irregularly spaced data; it is kept for comparison and
    for series that are genuinely one observation per step. Business-day scenarios refuse it.

GARCH models are fitted by ``arch`` on returns in percent (``100·r``), which keeps its optimiser
well scaled; the results are converted back to decimals, so ``omega`` is reported per (decimal
return)². Returns whose scale looks like percent already warn with
:class:`~carbonfin.errors.DataScaleWarning`.

Results are frozen (read-only arrays and mappings) and explain themselves (``summary()`` /
``str``). A fit whose optimiser fails raises :class:`~carbonfin.errors.ConvergenceError`. A fit
that is not covariance-stationary (persistence within ``STATIONARITY_TOL`` of 1 or above; for
EGARCH ``|β|``) warns with :class:`~carbonfin.errors.NonStationaryWarning`, and its long-run
variance is reported as not meaningful instead of a number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from arch.univariate import ConstantMean, Normal, SkewStudent, StudentsT, ZeroMean
from arch.utility.exceptions import ConvergenceWarning as ArchConvergenceWarning

from carbonfin.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DataScaleWarning,
    InvalidInputError,
    NonStationaryWarning,
)
from carbonfin.pricing._ewma import (
    TRADING_DAYS_PER_YEAR,
    EwmaResult,
    _observations,
    ewma,
    normal_loss,
)
from carbonfin.pricing._gap_recursions import GapEGARCH, GapGARCH
from carbonfin.pricing._garch_mle import Optimizer, check_compiled, fit_compiled
from carbonfin.pricing._volfit import _SCALE, STATIONARITY_TOL, VolFit

__all__ = [
    "PERCENT_SCALE_THRESHOLD",
    "STATIONARITY_TOL",
    "TRADING_DAYS_PER_YEAR",
    "EwmaResult",
    "VolFit",
    "ewma",
    "filter_garch",
    "fit_garch",
    "normal_loss",
]

#: Daily decimal returns of allowances have a standard deviation of a few percent (SHEA: ~0.06;
#: the ±10% limit caps a day at 0.105 in log terms); a sample standard deviation above 0.25
#: (390% a year) is taken as percent-scaled input.
PERCENT_SCALE_THRESHOLD = 0.25

VolModel = Literal["garch", "gjr", "egarch"]
Dist = Literal["normal", "t", "skewt"]
TimeUnit = Literal["business_day", "trade"]
InitialVariance = Literal["backcast", "sample"]
_MODELS = ("garch", "gjr", "egarch")
_DISTS = ("normal", "t", "skewt")


def fit_garch(
    returns: Any,
    model: VolModel = "garch",
    dist: Dist = "t",
    mean: Literal["zero", "constant"] = "constant",
    *,
    gap_days: Any = None,
    time_unit: TimeUnit = "business_day",
    initial_variance: InitialVariance = "backcast",
    starting_values: VolFit | Mapping[str, float] | None = None,
    std_errors: bool = True,
    optimizer: Optimizer = "arch",
) -> VolFit:
    """Fit a GARCH(1,1), GJR-GARCH(1,1,1) or EGARCH(1,1,1) with ``arch``.

    Parameters
    ----------
    returns
        Decimal log returns: a :class:`~carbonfin.pricing.Returns` (its ``gap_days`` and ``per``
        are used), or an array (per business day; ``gap_days`` optional, else consecutive days).
        Pass the ``Returns`` rather than ``returns.values``: the values alone lose the gaps.
    time_unit
        ``"business_day"`` (gap-aware recursion, variances per business day) or ``"trade"``
        (one step per trade on the raw trade-to-trade returns); see the module notes.
    initial_variance
        How the recursion starts. ``"backcast"`` (arch's default): an exponentially weighted
        mean (weights 0.94^i) of the first 75 squared residuals, used for both ``σ²_0`` and
        ``ε²_0``. ``"sample"``: the sample mean of all squared demeaned returns, the convention
        of the published GARCH benchmark (Fiorentini, Calzolari and Panattoni 1996; McCullough
        and Renfro 1998; Bollerslev–Ghysels DEM/GBP data). Both use data from inside the
        sample; with a few hundred returns the estimates differ only in the first weeks'
        variances. ``"sample"`` looks further ahead, so prefer ``"backcast"`` in backtests.
    starting_values
        Warm start: the parameters of an earlier fit of the same model (a :class:`VolFit` or its
        ``params``, in decimals) start the optimiser instead of arch's default grid (arch's
        ``starting_values``). A rolling refit then takes a few iterations instead of dozens. If
        the warm start fails to converge, the fit is retried from arch's default start and
        ``warnings`` says so.
    std_errors
        ``False`` leaves the standard errors NaN instead of computing arch's numerical Hessian
        (a backtest's thousands of refits use only the estimates; the estimates are the same).
    optimizer
        ``"arch"``: arch's optimiser (SLSQP, finite-difference gradients, ``ftol`` 1e-6).
        ``"compiled"``: the same likelihood, bounds and constraints with a compiled likelihood
        and analytic gradients, to ``ftol`` 1e-12 (:mod:`carbonfin.pricing._garch_mle`; GARCH
        and GJR, normal or t, zero mean, consecutive days, backcast start, ``std_errors=False``);
        the estimates agree with arch run to the same tolerance within 1e-6, and differ from
        arch's default fit by its optimiser's tolerance. Falls back to arch's, with a note.

    Notes
    -----
    GARCH: Bollerslev (1986); GJR: Glosten, Jagannathan and Runkle (1993), with the leverage term
    ``gamma·ε²·1{ε<0}``; EGARCH: Nelson (1991) in arch's form. Student-t: Bollerslev (1987);
    skew-t: Hansen (1994). Estimation by maximum likelihood (arch, Sheppard).
    """
    values, rec_gaps, gaps = _check_fit_args(returns, model, dist, mean, gap_days, time_unit)
    if initial_variance not in ("backcast", "sample"):
        raise InvalidInputError(
            f"`initial_variance` must be 'backcast' or 'sample'; got {initial_variance!r}"
        )
    if optimizer != "arch":
        check_compiled(optimizer, model, dist, mean, rec_gaps, initial_variance, std_errors)
    start = None if starting_values is None else _arch_params(starting_values, model, dist, mean)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", DataScaleWarning)
        fit = _fit(values, rec_gaps, gaps, model, dist, mean, time_unit, initial_variance, start,
                   std_errors=std_errors, optimizer=optimizer)  # fmt: skip
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    return fit


def _arch_names(model: str, dist: str, mean: str) -> list[str]:
    names = ["mu"] if mean == "constant" else []
    names += ["omega", "alpha[1]"] + (["gamma[1]"] if model in ("gjr", "egarch") else [])
    names += ["beta[1]"]
    names += {"normal": [], "t": ["nu"], "skewt": ["eta", "lambda"]}[dist]
    return names


def _arch_params(
    params: VolFit | Mapping[str, float], model: str, dist: str, mean: str
) -> np.ndarray:
    """Decimal-return parameters (``VolFit.params``) in arch's order and percent scale."""
    if isinstance(params, VolFit):
        if (params.model, params.dist, params.mean) != (model, dist, mean):
            raise InvalidInputError(
                f"`starting_values` come from a {params.model}-{params.dist} fit with "
                f"{params.mean} mean; this fit is {model}-{dist} with {mean} mean"
            )
        params = params.params
    names = _arch_names(model, dist, mean)
    missing = [n for n in names if n not in params]
    if missing:
        raise InvalidInputError(f"parameters {missing} are missing; a {model}-{dist} fit needs "
                                f"{names}")  # fmt: skip
    p = {n: float(params[n]) for n in names}
    if not all(math.isfinite(v) for v in p.values()):
        raise InvalidInputError(f"parameters must be finite; got {p}")
    if "mu" in p:
        p["mu"] *= _SCALE
    if model == "egarch":
        p["omega"] += (1.0 - p["beta[1]"]) * math.log(_SCALE**2)
    else:
        p["omega"] *= _SCALE**2
    return np.array([p[n] for n in names])


def _check_fit_args(
    returns: Any, model: str, dist: str, mean: str, gap_days: Any, time_unit: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if model not in _MODELS:
        raise InvalidInputError(f"`model` must be one of {list(_MODELS)}; got {model!r}")
    if dist not in _DISTS:
        raise InvalidInputError(f"`dist` must be one of {list(_DISTS)}; got {dist!r}")
    if mean not in ("zero", "constant"):
        raise InvalidInputError(f"`mean` must be 'zero' or 'constant'; got {mean!r}")
    values, rec_gaps, gaps = _observations(returns, gap_days, time_unit, 100)
    if np.std(values) == 0:
        raise InvalidInputError("`returns` are all equal: there is no volatility to model")
    return values, rec_gaps, gaps


def _optimise(
    am: Any,
    backcast: float | None,
    start: np.ndarray | None,
    model: str,
    dist: str,
    notes: list[str],
    optimizer: str = "arch",
) -> tuple[Any, list[type[Warning]]]:
    """arch's optimiser, warm-started from ``start`` if given (retried cold if that fails);
    the compiled one first if asked (arch's if it does not converge)."""
    if optimizer == "compiled":
        compiled = fit_compiled(am, start, notes)
        if compiled is not None:
            return compiled, []
        notes.append(
            f"{model}-{dist} compiled fit did not converge; refitted with arch's optimiser"
        )
    for attempt in (start, None) if start is not None else (None,):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ArchConvergenceWarning)
            result = am.fit(disp="off", show_warning=True, backcast=backcast,
                            starting_values=attempt)  # fmt: skip
        if result.convergence_flag == 0 and np.isfinite(result.params).all():
            return result, [w.category for w in caught]
        if attempt is not None:
            notes.append(f"{model}-{dist} warm start did not converge; refitted from arch's "
                         "default starting values")  # fmt: skip
    raise ConvergenceError(
        f"{model} fit with {dist} innovations did not converge "
        f"(optimizer flag {result.convergence_flag}: {result.optimization_result.message})"
    )


def _fit(
    r: np.ndarray,
    rec_gaps: np.ndarray,
    gaps: np.ndarray,
    model: str,
    dist: str,
    mean: str,
    time_unit: str,
    initial_variance: str,
    start: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    *,
    std_errors: bool = True,
    optimizer: str = "arch",
) -> VolFit:
    """The fit itself (or, given ``fixed`` parameters in arch's scale, the filter with them);
    warnings are raised here and also kept on the result."""
    notes: list[str] = []

    def warn(message: str, category: type[Warning]) -> None:
        notes.append(message)
        warnings.warn(message, category, stacklevel=3)

    sd = float(np.std(r))
    if sd > PERCENT_SCALE_THRESHOLD:
        warn(
            f"`returns` have a standard deviation of {sd:.3g}: they look like percent returns "
            f"(above {PERCENT_SCALE_THRESHOLD:g} per step); fit_garch expects decimals "
            "(0.01 = 1%), so divide by 100",
            DataScaleWarning,
        )
    y = r * _SCALE
    vol = GapEGARCH(rec_gaps) if model == "egarch" else GapGARCH(rec_gaps, o=int(model == "gjr"))
    distribution = Normal() if dist == "normal" else StudentsT() if dist == "t" else SkewStudent()
    cls = ZeroMean if mean == "zero" else ConstantMean
    am = cls(y, volatility=vol, distribution=distribution, rescale=False)
    backcast = None
    if initial_variance == "sample":
        backcast = float(np.mean((y - (y.mean() if mean == "constant" else 0.0)) ** 2))
    result: Any
    if fixed is not None:
        if backcast is not None:  # arch's fix() has no backcast argument: the start is set here
            start_var = backcast
            vol.backcast = lambda resids: start_var  # type: ignore[method-assign]
        result = am.fix(fixed)
        errors = {str(k): math.nan for k in result.params.index}
    else:
        result, categories = _optimise(am, backcast, start, model, dist, notes, optimizer)
        if any(issubclass(c, ArchConvergenceWarning) for c in categories):
            warn(
                f"{model}-{dist} fit converged only loosely; check the estimates",
                ConvergenceWarning,
            )
        errors = (
            {str(k): float(v) for k, v in result.std_err.items()}
            if std_errors
            else {str(k): math.nan for k in result.params.index}
        )
    params = {str(k): float(v) for k, v in result.params.items()}
    for name, power in (("mu", 1), ("omega", 2)):
        if name in params and not (model == "egarch" and name == "omega"):
            params[name] /= _SCALE**power
            errors[name] /= _SCALE**power
    if model == "egarch":  # arch's EGARCH omega is on log-variance of percent returns
        params["omega"] -= (1.0 - params["beta[1]"]) * math.log(_SCALE**2)
    log_scale = len(r) * math.log(_SCALE)
    fit = VolFit(
        model=model,
        dist=dist,
        mean=mean,
        n_obs=len(r),
        params=params,
        std_errors=errors,
        # the density of r = y/100 is 100·f(y): each observation adds ln(100) to the likelihood
        loglikelihood=float(result.loglikelihood) + log_scale,
        aic=float(result.aic) - 2 * log_scale,
        bic=float(result.bic) - 2 * log_scale,
        conditional_vol=np.asarray(result.conditional_volatility, dtype=float) / _SCALE,
        std_resid=np.asarray(result.std_resid, dtype=float),
        time_unit=time_unit,
        gap_days=gaps,
        initial_variance=initial_variance,
        fixed_params=fixed is not None,
        _arch_result=result,
    )
    if not fit.is_stationary:
        warn(
            f"{model}-{dist} fit is not stationary (persistence {fit.persistence:.10f}, within "
            f"{STATIONARITY_TOL:g} of 1 or above): long-run variance and long-horizon forecasts "
            "are not meaningful",
            NonStationaryWarning,
        )
    object.__setattr__(fit, "warnings", tuple(notes))
    return fit


def filter_garch(
    fit: VolFit,
    returns: Any,
    *,
    gap_days: Any = None,
) -> VolFit:
    """Run ``fit``'s model over ``returns`` with its parameters fixed: no re-estimation.

    A backtest that refits every ``k`` days filters the model forward over the new returns
    between refits: the conditional variances, standardised residuals and forecasts are those of
    the earlier parameters on the returns given (which must use only data up to the forecast
    date), exactly as a risk system would run between two calibrations. Same model, innovations,
    mean, time unit and initial variance as ``fit`` (arch's ``fix``); the result has
    ``fixed_params=True``, NaN standard errors, and warns like :func:`fit_garch` when the
    parameters are not stationary.
    """
    if not isinstance(fit, VolFit):
        raise InvalidInputError(f"`fit` must be a VolFit; got {type(fit).__name__}")
    values, rec_gaps, gaps = _check_fit_args(
        returns, fit.model, fit.dist, fit.mean, gap_days, fit.time_unit
    )
    fixed = _arch_params(fit, fit.model, fit.dist, fit.mean)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataScaleWarning)
        out = _fit(values, rec_gaps, gaps, fit.model, fit.dist, fit.mean, fit.time_unit,
                   fit.initial_variance, fixed=fixed)  # fmt: skip
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    return out
