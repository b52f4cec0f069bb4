"""Backtest statistics for VaR and expected-shortfall forecasts.

Every test returns a frozen result with ``statistic``, ``p_value`` and ``reject`` (at the chosen
``significance``, default 5%). ``coverage`` is always the VaR confidence (e.g. 0.99), so the
expected exception rate is ``1 - coverage``.

Sign convention: ``returns`` are realised P&L as decimal returns (a loss is negative); ``var``
and ``es`` are positive loss fractions, and an *exception* (hit) is a day with
``returns < -var``.

References
----------
- Kupiec, P. (1995), "Techniques for verifying the accuracy of risk measurement models",
  Journal of Derivatives 3(2): proportion-of-failures likelihood ratio.
- Christoffersen, P. (1998), "Evaluating interval forecasts", International Economic Review
  39(4): Markov independence and conditional coverage tests.
- Basel Committee on Banking Supervision (1996), "Supervisory framework for the use of
  backtesting in conjunction with the internal models approach", Table 2 (traffic-light zones
  and plus factors); carried into MAR99.
- Acerbi, C. and Szekely, B. (2014), "Backtesting expected shortfall", Risk, December:
  the Z2 statistic and its simulated p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from carbonfin.errors import InvalidInputError

__all__ = [
    "BASEL_PLUS_FACTORS",
    "ChristoffersenResult",
    "ESBacktestResult",
    "KupiecResult",
    "NonOverlappingResult",
    "TrafficLightResult",
    "acerbi_szekely_z2",
    "christoffersen",
    "kupiec",
    "kupiec_non_overlapping",
    "non_overlapping",
    "student_t_sampler",
    "traffic_light",
]

FloatArray = npt.NDArray[np.float64]

# Basel (1996) Table 2, 250 observations at 99%: plus factor by number of exceptions in the
# yellow zone; the red zone (10 or more) takes 1.00, the green zone 0.00.
BASEL_PLUS_FACTORS: dict[int, float] = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}
_BASEL_N = 250
_BASEL_COVERAGE = 0.99
_YELLOW_FROM = 0.95  # cumulative binomial probability at which the yellow zone begins
_RED_FROM = 0.9999  # ... and the red zone


def _check_significance(significance: float) -> None:
    if not (0.0 < significance < 1.0) or math.isnan(significance):
        raise InvalidInputError(f"`significance` must be in (0, 1); got {significance}")


def _check_coverage(coverage: float) -> None:
    if not (0.0 < coverage < 1.0) or math.isnan(coverage):
        raise InvalidInputError(
            f"`coverage` is the VaR confidence and must be in (0, 1); got {coverage}"
        )


def _check_counts(exceptions: int, observations: int) -> None:
    for name, value in (("exceptions", exceptions), ("observations", observations)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidInputError(f"`{name}` must be an integer count; got {value!r}")
    if observations < 1:
        raise InvalidInputError(f"`observations` must be at least 1; got {observations}")
    if exceptions < 0:
        raise InvalidInputError(f"`exceptions` must be non-negative; got {exceptions}")
    if exceptions > observations:
        raise InvalidInputError(
            f"`exceptions` ({exceptions}) cannot exceed `observations` ({observations})"
        )


def _xlogy(x: float, y: float) -> float:
    """``x · log(y)`` with ``0 · log 0 = 0``."""
    return 0.0 if x == 0 else x * math.log(y)


def _bernoulli_loglik(successes: int, trials: int, p: float) -> float:
    return _xlogy(successes, p) + _xlogy(trials - successes, 1.0 - p)


# --------------------------------------------------------------------------- Kupiec


@dataclass(frozen=True, slots=True)
class KupiecResult:
    """Kupiec's proportion-of-failures test: LR_pof ~ χ²(1) under correct coverage."""

    statistic: float
    p_value: float
    reject: bool
    significance: float
    exceptions: int
    observations: int
    coverage: float

    @property
    def expected_rate(self) -> float:
        return 1.0 - self.coverage

    @property
    def observed_rate(self) -> float:
        return self.exceptions / self.observations

    @property
    def expected_exceptions(self) -> float:
        return self.observations * (1.0 - self.coverage)


def kupiec(
    exceptions: int, observations: int, coverage: float = 0.99, *, significance: float = 0.05
) -> KupiecResult:
    """Kupiec's proportion-of-failures (POF) likelihood-ratio test.

    Notes
    -----
    With ``x`` exceptions in ``n`` observations, ``p = 1 - coverage`` and ``π̂ = x / n``::

        LR_pof = -2 [ log L(p) - log L(π̂) ],  log L(q) = (n - x) log(1 - q) + x log q

    with ``0 · log 0 = 0`` so that the test is defined at ``x = 0`` and ``x = n``
    (Kupiec 1995). ``LR_pof ~ χ²(1)`` under the null of correct unconditional coverage.
    """
    _check_counts(exceptions, observations)
    _check_coverage(coverage)
    _check_significance(significance)
    x, n = int(exceptions), int(observations)
    p = 1.0 - coverage
    pi_hat = x / n
    lr = -2.0 * (_bernoulli_loglik(x, n, p) - _bernoulli_loglik(x, n, pi_hat))
    lr = max(lr, 0.0)  # rounding can leave -1e-13 when π̂ = p
    p_value = float(sps.chi2.sf(lr, df=1))
    return KupiecResult(lr, p_value, p_value < significance, significance, x, n, coverage)


# ------------------------------------------------------------------- Christoffersen


@dataclass(frozen=True, slots=True)
class ChristoffersenResult:
    """Christoffersen's independence test (``statistic``/``p_value``/``reject``, χ²(1)) and the
    conditional-coverage test (``cc_statistic``/``cc_p_value``/``cc_reject``, χ²(2))."""

    statistic: float
    p_value: float
    reject: bool
    cc_statistic: float
    cc_p_value: float
    cc_reject: bool
    significance: float
    n00: int
    n01: int
    n10: int
    n11: int
    pof: KupiecResult


def _as_hits(hits: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    arr = np.asarray(hits)
    if arr.ndim != 1:
        raise InvalidInputError(f"`hits` must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError("`hits` is empty: nothing to test")
    if arr.dtype == np.bool_:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"`hits` must be booleans or 0/1; got dtype {arr.dtype}")
    if np.isnan(arr.astype(float)).any():
        raise InvalidInputError("`hits` contains NaN; a day is either an exception or not")
    if not np.isin(arr, (0, 1)).all():
        raise InvalidInputError("`hits` must hold only 0 and 1 (or booleans)")
    return arr.astype(bool)


def christoffersen(
    hits: npt.ArrayLike, coverage: float = 0.99, *, significance: float = 0.05
) -> ChristoffersenResult:
    """Christoffersen's Markov independence test and the conditional-coverage test.

    Notes
    -----
    With transition counts ``n_ij`` (state ``i`` yesterday, ``j`` today), ``π01 = n01 / (n00 +
    n01)``, ``π11 = n11 / (n10 + n11)`` and ``π = (n01 + n11) / (n00 + n01 + n10 + n11)``::

        LR_ind = -2 [ log L(π) - log L(π01, π11) ]           ~ χ²(1)
        LR_cc  = LR_pof + LR_ind                              ~ χ²(2)

    A state never visited contributes nothing (its likelihood is 1), so the test is defined
    for a single observation (no transitions: ``LR_ind = 0``) and for sequences with no
    transitions of one kind. ``LR_pof`` is Kupiec's statistic over all ``len(hits)`` days.
    """
    _check_coverage(coverage)
    _check_significance(significance)
    h = _as_hits(hits)
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    n0, n1 = n00 + n01, n10 + n11
    total = n0 + n1
    if total == 0:
        lr_ind = 0.0
    else:
        pi = (n01 + n11) / total
        restricted = _bernoulli_loglik(n01 + n11, total, pi)
        pi01 = n01 / n0 if n0 else 0.0
        pi11 = n11 / n1 if n1 else 0.0
        unrestricted = _bernoulli_loglik(n01, n0, pi01) + _bernoulli_loglik(n11, n1, pi11)
        lr_ind = max(-2.0 * (restricted - unrestricted), 0.0)
    pof = kupiec(int(h.sum()), int(h.size), coverage, significance=significance)
    p_ind = float(sps.chi2.sf(lr_ind, df=1))
    lr_cc = pof.statistic + lr_ind
    p_cc = float(sps.chi2.sf(lr_cc, df=2))
    return ChristoffersenResult(
        lr_ind,
        p_ind,
        p_ind < significance,
        lr_cc,
        p_cc,
        p_cc < significance,
        significance,
        n00,
        n01,
        n10,
        n11,
        pof,
    )


# -------------------------------------------------------------------- traffic light

Zone = Literal["green", "yellow", "red"]


@dataclass(frozen=True, slots=True)
class TrafficLightResult:
    """Basel traffic-light zone.

    ``statistic`` is the number of exceptions; ``p_value`` the probability of at least that
    many exceptions under correct coverage; ``reject`` is True in the red zone.
    ``cumulative_probability`` is P(X ≤ exceptions) under Binomial(observations, 1 − coverage).
    """

    zone: Zone
    plus_factor: float
    cumulative_probability: float
    statistic: float
    p_value: float
    reject: bool
    exceptions: int
    observations: int
    coverage: float
    yellow_from: int
    red_from: int


def _zone_bounds(n: int, p: float) -> tuple[int, int]:
    """Smallest exception counts whose cumulative probability reaches 95% and 99.99%."""
    k = np.arange(n + 1)
    cdf = sps.binom.cdf(k, n, p)
    # A tiny tolerance so that a cumulative probability printed as 95.00% counts as reached.
    yellow = (
        int(np.argmax(cdf >= _YELLOW_FROM - 1e-12))
        if (cdf >= _YELLOW_FROM - 1e-12).any()
        else n + 1
    )
    red = int(np.argmax(cdf >= _RED_FROM - 1e-12)) if (cdf >= _RED_FROM - 1e-12).any() else n + 1
    return yellow, red


_BASEL_CDF = {k: float(sps.binom.cdf(k, _BASEL_N, 1 - _BASEL_COVERAGE)) for k in BASEL_PLUS_FACTORS}


def _plus_factor(cum: float, zone: Zone) -> float:
    if zone == "green":
        return 0.0
    if zone == "red":
        return 1.0
    # Generalisation to other sample sizes: the plus factor of the Basel 250-day row whose
    # cumulative probability is the largest not above this one (at 250 days and 99% this is
    # exactly Table 2).
    factor = BASEL_PLUS_FACTORS[5]
    for k in sorted(BASEL_PLUS_FACTORS):
        if _BASEL_CDF[k] <= cum + 1e-12:
            factor = BASEL_PLUS_FACTORS[k]
    return factor


def traffic_light(
    exceptions: int, observations: int = 250, coverage: float = 0.99
) -> TrafficLightResult:
    """Basel traffic-light zone, plus factor and cumulative probability.

    Notes
    -----
    At 250 observations and 99% this reproduces Basel (1996) Table 2: green 0–4 exceptions,
    yellow 5–9 with plus factors 0.40, 0.50, 0.65, 0.75, 0.85, red 10 or more (plus factor 1).
    For other sizes and confidences the zones are generalised through the same binomial
    cumulative probabilities: the yellow zone begins at the smallest count ``k`` with
    ``P(X ≤ k) ≥ 95%``, the red zone at ``P(X ≤ k) ≥ 99.99%``; a yellow-zone count takes the
    plus factor of the Table 2 row whose cumulative probability is the largest not above its
    own.
    """
    _check_counts(exceptions, observations)
    _check_coverage(coverage)
    x, n = int(exceptions), int(observations)
    p = 1.0 - coverage
    yellow_from, red_from = _zone_bounds(n, p)
    cum = float(sps.binom.cdf(x, n, p))
    zone: Zone = "red" if x >= red_from else "yellow" if x >= yellow_from else "green"
    p_value = float(sps.binom.sf(x - 1, n, p))  # P(X >= x)
    return TrafficLightResult(
        zone,
        _plus_factor(cum, zone),
        cum,
        float(x),
        p_value,
        zone == "red",
        x,
        n,
        coverage,
        yellow_from,
        red_from,
    )


# ------------------------------------------------------------- expected shortfall

Sampler = Callable[[np.random.Generator, int], FloatArray]


@dataclass(frozen=True, slots=True)
class ESBacktestResult:
    """Acerbi–Szekely Z2 test of expected shortfall (one-sided: a negative Z2 means the
    forecast ES understated the tail). ``p_value`` is simulated under the forecast model."""

    statistic: float
    p_value: float
    reject: bool
    significance: float
    alpha: float
    observations: int
    exceptions: int
    simulations: int
    seed: int


def _z2(returns: FloatArray, var: FloatArray, es: FloatArray, alpha: float) -> FloatArray:
    """Z2 along the last axis; ``returns`` may carry leading simulation axes."""
    hits = returns < -var
    t = returns.shape[-1]
    contrib = np.where(hits, returns / es, 0.0)
    out: FloatArray = np.sum(contrib, axis=-1) / (t * alpha) + 1.0
    return out


def _as_float_1d(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"`{name}` must be a non-empty one-dimensional array")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"`{name}` contains NaN or infinite values")
    return arr


def acerbi_szekely_z2(
    returns: npt.ArrayLike,
    var: npt.ArrayLike,
    es: npt.ArrayLike,
    *,
    alpha: float,
    sampler: Sampler,
    simulations: int = 10_000,
    seed: int = 0,
    significance: float = 0.05,
) -> ESBacktestResult:
    """Acerbi–Szekely (2014) Z2 backtest of expected shortfall.

    Parameters
    ----------
    returns
        Realised returns (a loss is negative), one per forecast day.
    var, es
        The forecast VaR and ES at tail probability ``alpha`` as positive loss fractions.
    alpha
        Tail probability of the ES (e.g. 0.025 for the 97.5% ES of FRTB).
    sampler
        ``sampler(rng, simulations)`` returns an array ``(simulations, T)`` of returns drawn
        from the forecast distributions under the null (see :func:`student_t_sampler`).

    Notes
    -----
    ``Z2 = Σ_t X_t I_t / (T α ES_t) + 1`` with ``I_t = 1{X_t < −VaR_t}``; ``E[Z2] = 0`` under
    the null and a negative value signals an understated tail. The p-value is
    ``(1 + #{Z2_sim ≤ Z2}) / (1 + M)`` over ``M`` simulated histories (Acerbi & Szekely 2014,
    section "Test 2"). Their reported 5% critical value is about −0.70 and stable across
    distributions.
    """
    x = _as_float_1d("returns", returns)
    v = np.broadcast_to(_as_float_1d("var", np.atleast_1d(var)), x.shape).astype(float)
    e = np.broadcast_to(_as_float_1d("es", np.atleast_1d(es)), x.shape).astype(float)
    if not (0.0 < alpha < 1.0):
        raise InvalidInputError(f"`alpha` is a tail probability in (0, 1); got {alpha}")
    if (e <= 0).any() or (v < 0).any():
        raise InvalidInputError("`var` must be non-negative and `es` positive loss fractions")
    if (e < v - 1e-12).any():
        raise InvalidInputError("`es` must be at least `var` on every day")
    if simulations < 100:
        raise InvalidInputError(f"`simulations` must be at least 100; got {simulations}")
    _check_significance(significance)
    z2 = float(_z2(x, v, e, alpha))
    rng = np.random.default_rng(seed)
    sims = np.asarray(sampler(rng, simulations), dtype=float)
    if sims.shape != (simulations, x.size):
        raise InvalidInputError(
            f"`sampler` must return shape ({simulations}, {x.size}); got {sims.shape}"
        )
    z_sim = _z2(sims, v, e, alpha)
    p_value = float((1 + np.sum(z_sim <= z2)) / (1 + simulations))
    return ESBacktestResult(
        z2,
        p_value,
        p_value < significance,
        significance,
        alpha,
        int(x.size),
        int(np.sum(x < -v)),
        simulations,
        seed,
    )


def student_t_sampler(scale: npt.ArrayLike, df: float, loc: npt.ArrayLike = 0.0) -> Sampler:
    """A sampler of ``loc + scale · T_df`` returns (standardised to unit variance when
    ``df > 2``; ``df = inf`` gives the normal) for :func:`acerbi_szekely_z2`."""
    s = np.asarray(scale, dtype=float)
    m = np.asarray(loc, dtype=float)
    if df <= 2:
        raise InvalidInputError(f"`df` must exceed 2 for a unit-variance t; got {df}")

    def draw(rng: np.random.Generator, n: int) -> FloatArray:
        size = (n, *np.broadcast_shapes(s.shape, m.shape))
        if math.isinf(df):
            z = rng.standard_normal(size)
        else:
            z = rng.standard_t(df, size) * math.sqrt((df - 2.0) / df)
        out: FloatArray = m + s * z
        return out

    return draw


# ------------------------------------------------------ multi-day horizons, overlap


def non_overlapping(
    values: npt.ArrayLike, horizon: int, offset: int = 0
) -> npt.NDArray[np.generic]:
    """Every ``horizon``-th element starting at ``offset``: the non-overlapping subsample of
    ``horizon``-day outcomes whose windows do not share a day."""
    arr = np.asarray(values)
    if horizon < 1:
        raise InvalidInputError(f"`horizon` must be at least 1; got {horizon}")
    if not (0 <= offset < horizon):
        raise InvalidInputError(f"`offset` must be in [0, {horizon}); got {offset}")
    return arr[offset::horizon]


@dataclass(frozen=True, slots=True)
class NonOverlappingResult:
    """Kupiec's test on each of the ``horizon`` non-overlapping subsamples of overlapping
    multi-day hits, combined with a Bonferroni correction (reject when the smallest p-value is
    below ``significance / horizon``). ``statistic`` is the largest subsample LR_pof and
    ``p_value`` the Bonferroni-adjusted smallest p-value."""

    statistic: float
    p_value: float
    reject: bool
    significance: float
    horizon: int
    subsamples: tuple[KupiecResult, ...]
    method: str = "non-overlapping subsamples, Bonferroni"


def kupiec_non_overlapping(
    hits: npt.ArrayLike, horizon: int, coverage: float = 0.99, *, significance: float = 0.05
) -> NonOverlappingResult:
    """Kupiec's test for overlapping ``horizon``-day outcomes, honest about autocorrelation.

    Overlapping windows share ``horizon − 1`` days, so their hits are autocorrelated and the χ²
    law of LR_pof does not hold for the full sequence. Each offset ``0 … horizon−1`` gives an
    independent-window subsample; each is tested and the family is combined with Bonferroni's
    bound, which stays valid whatever the dependence between subsamples.
    """
    h = _as_hits(hits)
    _check_significance(significance)
    if horizon < 1:
        raise InvalidInputError(f"`horizon` must be at least 1; got {horizon}")
    if h.size < horizon:
        raise InvalidInputError(
            f"{h.size} outcomes are fewer than one non-overlapping {horizon}-day window"
        )
    results = tuple(
        kupiec(int(sub.sum()), int(sub.size), coverage, significance=significance)
        for sub in (non_overlapping(h, horizon, k) for k in range(horizon))
    )
    p_min = min(r.p_value for r in results)
    adjusted = min(1.0, p_min * horizon)
    return NonOverlappingResult(
        max(r.statistic for r in results),
        adjusted,
        adjusted < significance,
        significance,
        horizon,
        results,
    )
