"""Compiled GARCH(1,1) / GJR-GARCH(1,1,1) likelihood with analytic gradients (normal or
Student-t innovations, zero mean), minimised by scipy's SLSQP under arch's bounds and constraints.

``fit_garch(..., optimizer="compiled")`` uses it instead of arch's optimiser: arch minimises the
same likelihood with SLSQP but differentiates it (and its linear constraints) by finite
differences, which is most of the cost of a backtest's thousands of daily refits. Here one call of
a numba kernel gives the negative log-likelihood and its exact gradient, and the constraints carry
their (constant) Jacobian.

What is the same as arch (so that the estimates are arch's maximum-likelihood estimates)
-------------------------------------------------------------------------------------------
* the likelihood: arch's variance recursion (started at the backcast, ``σ²`` clipped by arch's
  ``variance_bounds`` exactly as :func:`carbonfin.pricing._gap_recursions.gap_garch_recursion`
  does with unit gaps, summed in the same order) and arch's normal and standardised Student-t
  densities (Bollerslev 1987);
* the backcast, the variance bounds, the parameter bounds, the linear constraints (``ω ≥ 0``,
  ``α ≥ 0``, ``α + γ ≥ 0``, ``β ≥ 0``, ``α + γ/2 + β ≤ 1``, ``2.05 ≤ ν ≤ 500``) and the cold
  starting values (arch's grid for the variance parameters, the kurtosis estimate of ``ν``), all
  taken from arch's own objects;
* the percent scale (arch fits ``100·r``).

What differs: the optimiser stops at ``FTOL`` = 1e-9 on the objective instead of arch's default
1e-6 (SLSQP's ``ftol``), so the estimates are closer to the maximum than arch's default fit; the
two agree to 1e-6 on parameters and log-likelihood when arch is run to the same tolerance
(``tests/pricing/test_garch_mle.py``, simulated and real SHEA returns). A fit whose optimiser does
not converge returns ``None`` and the caller falls back to arch's optimiser, with a note.

Gradient: with ``h_t`` the recursion's variance before bounding and ``s_t`` the bounded one,
``∂s_t = ∂h_t`` inside the bounds, ``0`` below, ``∂h_t / h_t`` above (arch compresses
logarithmically); ``∂h_{t+1} = ∂ω + ε_t²·∂α + ε_t²·1{ε_t<0}·∂γ + s_t·∂β + β·∂s_t``;
``∂ℓ_t/∂s_t = −1/(2s_t) + (ν+1)q_t/(2s_t(1+q_t))`` with ``q_t = ε_t²/(s_t(ν−2))`` (normal:
``−1/(2s_t) + ε_t²/(2s_t²)``); ``∂ℓ_t/∂ν = ½ψ((ν+1)/2) − ½ψ(ν/2) − 1/(2(ν−2)) − ½ln(1+q_t) +
(ν+1)q_t/(2(1+q_t)(ν−2))``.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numba import njit
from scipy import optimize

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _jit

_jit.configure_cache()

__all__ = [
    "FTOL",
    "CompiledFit",
    "Optimizer",
    "check_compiled",
    "fit_compiled",
    "negative_loglikelihood",
]

Optimizer = Literal["arch", "compiled"]

#: SLSQP's ``ftol`` for the compiled fits (arch's default is scipy's 1e-6)
FTOL = 1e-10
MAX_ITER = 200
_LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True)
def _digamma(x: float) -> float:
    """ψ(x) for x > 0: recurrence up to x >= 6, then the asymptotic series (error < 1e-15)."""
    out = 0.0
    while x < 6.0:
        out -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (
        1.0 / 240 - inv2 * (1.0 / 132)))))  # fmt: skip
    return out + math.log(x) - 0.5 * inv - series


@njit(cache=True, inline="always")
def _bounded(h: float, lo: float, hi: float) -> tuple[float, float]:
    """arch's ``bounds_check`` and its derivative: clip below, compress logarithmically above."""
    if h < lo:
        return lo, 0.0
    if h > hi:
        if math.isinf(h):
            return hi + 1000.0, 0.0
        return hi + math.log(h / hi), 1.0 / h
    return h, 1.0


@njit(cache=True)
def _nll(
    params: np.ndarray,
    y: np.ndarray,
    backcast: float,
    var_bounds: np.ndarray,
    has_gamma: bool,
    student: bool,
    grad: np.ndarray,
    sigma2: np.ndarray,
) -> float:
    """Negative log-likelihood of ``y`` (zero mean); fills ``grad`` and ``sigma2``; returns the
    one-step variance after the last observation in ``grad``'s last slot when asked."""
    omega, alpha = params[0], params[1]
    gamma = params[2] if has_gamma else 0.0
    beta = params[3] if has_gamma else params[2]
    nu = params[-1] if student else 0.0
    k = 4 if has_gamma else 3  # variance parameters
    dh = np.zeros(4)  # d h / d(omega, alpha, gamma, beta)
    g = np.zeros(4)
    dnu = 0.0
    h = omega + (alpha + 0.5 * gamma + beta) * backcast
    dh[0], dh[1], dh[2], dh[3] = 1.0, backcast, 0.5 * backcast, backcast
    if student:
        const = math.lgamma(0.5 * (nu + 1.0)) - math.lgamma(0.5 * nu)
        const -= 0.5 * math.log(math.pi * (nu - 2.0))
        dconst = 0.5 * _digamma(0.5 * (nu + 1.0)) - 0.5 * _digamma(0.5 * nu)
        dconst -= 0.5 / (nu - 2.0)
    ll = 0.0
    for t in range(y.shape[0]):
        s2, ds = _bounded(h, var_bounds[t, 0], var_bounds[t, 1])
        sigma2[t] = s2
        e = y[t]
        e2 = e * e
        if student:
            q = e2 / (s2 * (nu - 2.0))
            lq = math.log(1.0 + q)
            ll += const - 0.5 * math.log(s2) - 0.5 * (nu + 1.0) * lq
            dl_ds2 = -0.5 / s2 + 0.5 * (nu + 1.0) * q / ((1.0 + q) * s2)
            dnu += dconst - 0.5 * lq + 0.5 * (nu + 1.0) * q / ((1.0 + q) * (nu - 2.0))
        else:
            ll += -0.5 * (_LOG_2PI + math.log(s2) + e2 / s2)
            dl_ds2 = -0.5 / s2 + 0.5 * e2 / (s2 * s2)
        neg = e < 0.0
        for j in range(4):
            dsj = ds * dh[j]
            g[j] += dl_ds2 * dsj
            dh[j] = beta * dsj
        dh[0] += 1.0
        dh[1] += e2
        if neg:
            dh[2] += e2
        dh[3] += s2
        # summed in arch's order (see gap_garch_recursion)
        h = omega + alpha * e2
        if neg:
            h += gamma * e2
        h += beta * s2
    grad[0], grad[1] = -g[0], -g[1]
    if has_gamma:
        grad[2], grad[3] = -g[2], -g[3]
    else:
        grad[2] = -g[3]
    if student:
        grad[k] = -dnu
    grad[-1] = h  # the slot after the parameters: the one-step variance forecast
    return -ll


def negative_loglikelihood(
    params: np.ndarray,
    y: np.ndarray,
    backcast: float,
    var_bounds: np.ndarray,
    *,
    gjr: bool,
    student: bool,
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """(−ℓ, ∂(−ℓ)/∂params, σ², next-step variance) at ``params`` in arch's order and scale."""
    p = np.ascontiguousarray(params, dtype=float)
    grad = np.empty(len(p) + 1)
    sigma2 = np.empty(len(y))
    f = _nll(p, np.ascontiguousarray(y, dtype=float), float(backcast),
             np.ascontiguousarray(var_bounds, dtype=float), gjr, student, grad, sigma2)  # fmt: skip
    return float(f), grad[:-1].copy(), sigma2, float(grad[-1])


@dataclass(frozen=True, slots=True, eq=False)
class CompiledFit:
    """What :func:`carbonfin.pricing.volatility.fit_garch` reads from a fit, in arch's shape
    (``params`` by arch's names, percent scale; ``optimization_result`` is scipy's)."""

    params: pd.Series
    loglikelihood: float
    aic: float
    bic: float
    conditional_volatility: np.ndarray
    std_resid: np.ndarray
    next_variance: float
    optimization_result: Any
    convergence_flag: int = 0
    std_err: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))

    def forecast(self, horizon: int = 1, reindex: bool = False) -> Any:
        """The one-step variance forecast in arch's shape (``.variance``, one row and column):
        arch's recursion one step past the last observation, unbounded, as arch forecasts."""
        if horizon != 1:
            raise InvalidInputError(f"`horizon` must be 1 for a compiled fit; got {horizon}")
        return types.SimpleNamespace(variance=pd.DataFrame({"h.1": [self.next_variance]}))


def check_compiled(
    optimizer: str, model: str, dist: str, mean: str, rec_gaps: np.ndarray,
    initial_variance: str, std_errors: bool,
) -> None:  # fmt: skip
    """Refuse, naming the argument, what the compiled fit does not cover."""
    if optimizer != "compiled":
        raise InvalidInputError(f"`optimizer` must be 'arch' or 'compiled'; got {optimizer!r}")
    wrong = [
        f"{name}={value!r} (compiled: {allowed})"
        for name, value, allowed, ok in (
            ("model", model, "'garch' or 'gjr'", model in ("garch", "gjr")),
            ("dist", dist, "'normal' or 't'", dist in ("normal", "t")),
            ("mean", mean, "'zero'", mean == "zero"),
            ("initial_variance", initial_variance, "'backcast'", initial_variance == "backcast"),
            ("std_errors", std_errors, "False", not std_errors),
            ("gap_days", "gaps > 1", "consecutive business days", bool((rec_gaps == 1).all())),
        )
        if not ok
    ]
    if wrong:
        raise InvalidInputError(f"`optimizer='compiled'` does not cover {'; '.join(wrong)}: use "
                                "optimizer='arch'")  # fmt: skip


def _problem(am: Any) -> tuple[np.ndarray, float, np.ndarray, list[Any], np.ndarray, np.ndarray]:
    """(y, backcast, variance bounds, parameter bounds, constraint matrix a, b) from arch's own
    model objects, as arch's ``fit`` builds them (``a @ x − b >= 0``)."""
    y = np.asarray(am._y, dtype=float)
    vol, dist = am.volatility, am.distribution
    backcast = float(vol.backcast(y))
    var_bounds = np.ascontiguousarray(vol.variance_bounds(y))
    bounds = [*vol.bounds(y), *dist.bounds(y)]
    blocks = [vol.constraints(), dist.constraints()]
    rows = sum(c[0].shape[0] for c in blocks)
    a, b = np.zeros((rows, len(bounds))), np.zeros(rows)
    r = c0 = 0
    for (ca, cb), k in zip(blocks, (vol.num_params, dist.num_params), strict=True):
        if ca.size:
            a[r : r + ca.shape[0], c0 : c0 + k] = ca
            b[r : r + ca.shape[0]] = cb
            r += ca.shape[0]
        c0 += k
    return y, backcast, var_bounds, bounds, a, b


def _cold_start(am: Any, y: np.ndarray, backcast: float, var_bounds: np.ndarray) -> np.ndarray:
    """arch's default starting values (its grid for the variance, kurtosis for ν)."""
    vol, dist = am.volatility, am.distribution
    sv = np.asarray(vol.starting_values(y), dtype=float)
    sigma2 = np.zeros(len(y))
    vol.compute_variance(sv, y, sigma2, backcast, var_bounds)
    nu = np.asarray(dist.starting_values(y / np.sqrt(sigma2)), dtype=float)
    return np.concatenate([sv, nu])


def _valid(x: np.ndarray, bounds: list[Any], a: np.ndarray, b: np.ndarray) -> bool:
    """arch's check of user starting values: within the bounds and the constraints."""
    inside = all(lo <= v <= hi for v, (lo, hi) in zip(x, bounds, strict=True))
    return bool(inside and (a @ x - b >= 0).all())


def fit_compiled(am: Any, start: np.ndarray | None, notes: list[str]) -> CompiledFit | None:
    """Maximum likelihood of arch's model ``am`` (zero mean, GARCH/GJR with unit gaps, normal or
    Student-t) with the compiled likelihood; warm-started from ``start`` (arch's order and
    scale) when it is valid, else from arch's default start. ``None`` if SLSQP does not
    converge from either."""
    y, backcast, var_bounds, bounds, a, b = _problem(am)
    gjr = am.volatility.o > 0
    student = am.distribution.num_params == 1
    names = [*am.volatility.parameter_names(), *am.distribution.parameter_names()]
    grad = np.empty(len(names) + 1)
    sigma2 = np.empty(len(y))

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        f = _nll(x, y, backcast, var_bounds, gjr, student, grad, sigma2)
        return f, grad[:-1].copy()

    cons = {"type": "ineq", "fun": lambda x: a @ x - b, "jac": lambda x: a}
    starts: list[np.ndarray | None] = [None]
    if start is not None:
        warm = _feasible(np.asarray(start, dtype=float), bounds, gjr)
        if _valid(warm, bounds, a, b):
            starts = [warm, None]
        else:
            notes.append("warm start outside arch's bounds or constraints: arch's default start")

    def solve(x0: np.ndarray) -> Any:
        return optimize.minimize(objective, x0, jac=True, method="SLSQP", bounds=bounds,
                                 constraints=cons,
                                 options={"ftol": FTOL, "maxiter": MAX_ITER})  # fmt: skip

    for x0 in starts:
        res = solve(_cold_start(am, y, backcast, var_bounds) if x0 is None else x0)
        if res.status == _LINE_SEARCH and np.isfinite(res.x).all():
            res = _restart(res, solve, notes)
        if res.status == 0 and np.isfinite(res.x).all():
            return _result(res, names, y, backcast, var_bounds, gjr, student)
        notes.append(f"compiled fit from {'the warm' if x0 is not None else 'the default'} start "
                     f"did not converge (SLSQP {res.status}: {res.message})")  # fmt: skip
    return None


_LINE_SEARCH = 8  # SLSQP: "Positive directional derivative for linesearch"


def _restart(res: Any, solve: Any, notes: list[str]) -> Any:
    """SLSQP's code 8 at ftol 1e-10: the line search found no descent from its last point, which
    happens where the likelihood is flat to rounding *or* where SLSQP's quasi-Newton model has
    gone stale. One restart from that point (a fresh Hessian model) tells them apart: it either
    converges (code 0) or stops again without moving the likelihood by more than ftol — the
    point is then a maximum to machine precision (taken, and said) — else the fit failed. (On
    real SHEA the GJR-t fit from arch's default start stops with code 8 on an AMD EPYC (AVX2)
    machine and converges on an AVX-512 one: rounding decides where the line search gives up.)"""
    again = solve(np.asarray(res.x, dtype=float))
    if again.status == 0:
        notes.append(
            "compiled fit restarted once after SLSQP code 8 (line search); the restart met ftol"
        )
        return again
    still = again.status == _LINE_SEARCH and np.isfinite(again.x).all()
    if still and abs(again.fun - res.fun) <= FTOL * max(1.0, abs(res.fun)):
        notes.append("compiled fit: SLSQP code 8 twice at the same likelihood (flat to rounding): "
                     "taken as the maximum")  # fmt: skip
        again.status = 0
        return again
    return res


def _feasible(x: np.ndarray, bounds: list[Any], gjr: bool) -> np.ndarray:
    """A warm start moved inside the bounds and below persistence 1: the previous optimum sits
    on the constraint ``α + γ/2 + β ≤ 1`` within SLSQP's feasibility tolerance (~1e-9), which
    arch's check of starting values refuses."""
    x = np.asarray(np.clip(x, [lo for lo, _ in bounds], [hi for _, hi in bounds]), dtype=float)
    k = 4 if gjr else 3
    persistence = x[1] + x[k - 1] + (0.5 * x[2] if gjr else 0.0)
    if persistence > 1.0 - 1e-12:
        x[1:k] *= (1.0 - 1e-12) / persistence
    return x


def _result(res: Any, names: list[str], y: np.ndarray, backcast: float, var_bounds: np.ndarray,
            gjr: bool, student: bool) -> CompiledFit:  # fmt: skip
    x = np.asarray(res.x, dtype=float)
    nll, _, sigma2, next_var = negative_loglikelihood(x, y, backcast, var_bounds, gjr=gjr,
                                                      student=student)  # fmt: skip
    vol = np.sqrt(sigma2)
    llf, k, n = -nll, len(x), len(y)
    return CompiledFit(
        params=pd.Series(x, index=names),
        loglikelihood=llf,
        aic=-2.0 * llf + 2.0 * k,
        bic=-2.0 * llf + math.log(n) * k,
        conditional_volatility=vol,
        std_resid=y / vol,
        next_variance=next_var,
        optimization_result=res,
        std_err=pd.Series(np.nan, index=names),
    )
