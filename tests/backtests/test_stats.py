"""Backtest statistics against published tables and independent computations (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from backtests.stats import (
    acerbi_szekely_z2,
    christoffersen,
    kupiec,
    kupiec_non_overlapping,
    non_overlapping,
    student_t_sampler,
    traffic_light,
)
from carbonfin.errors import InvalidInputError

# --------------------------------------------------------------------------- Kupiec


def test_kupiec_against_likelihood_written_out() -> None:
    # 8 exceptions in 250 days at 99%: log-likelihoods written out with math.log.
    x, n, p = 8, 250, 0.01
    ll0 = (n - x) * math.log(1 - p) + x * math.log(p)
    ll1 = (n - x) * math.log(1 - x / n) + x * math.log(x / n)
    expected = -2 * (ll0 - ll1)
    r = kupiec(x, n, 0.99)
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.p_value == pytest.approx(sps.chi2.sf(expected, 1), rel=1e-12)
    assert r.reject == (r.p_value < 0.05)
    assert r.expected_exceptions == pytest.approx(2.5)


def test_kupiec_at_zero_and_at_all_exceptions() -> None:
    # 0·log 0 = 0: at x = 0, LR = -2 n log(1 - p); at x = n, LR = -2 n log p.
    assert kupiec(0, 250).statistic == pytest.approx(-2 * 250 * math.log(0.99))
    assert kupiec(250, 250).statistic == pytest.approx(-2 * 250 * math.log(0.01))
    assert kupiec(250, 250).reject


@pytest.mark.parametrize(
    ("observations", "lowest", "highest"),
    [(510, 2, 10), (1000, 5, 16)],
    ids=["T510", "T1000"],
)
def test_kupiec_non_rejection_regions_match_jorion(
    observations: int, lowest: int, highest: int
) -> None:
    # Jorion, Value at Risk (3rd ed.), Table 6-3, p = 1%, 95% confidence:
    # T = 510: 1 < N < 11; T = 1000: 4 < N < 17.
    accepted = [x for x in range(60) if not kupiec(x, observations, 0.99).reject]
    assert (accepted[0], accepted[-1]) == (lowest, highest)
    assert accepted == list(range(lowest, highest + 1))


def test_kupiec_upper_bound_at_255_days_matches_jorion() -> None:
    # Jorion Table 6-3, T = 255: N < 7.
    assert not kupiec(6, 255).reject
    assert kupiec(7, 255).reject


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 250, 0.99), "`exceptions` must be non-negative"),
        ((251, 250, 0.99), "cannot exceed"),
        ((0, 0, 0.99), "`observations` must be at least 1"),
        ((1, 250, 1.0), "`coverage`"),
        ((1, 250, 0.0), "`coverage`"),
        ((1, 250, float("nan")), "`coverage`"),
        ((1.5, 250, 0.99), "integer count"),
    ],
)
def test_kupiec_rejects_invalid_counts(args: tuple[float, int, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        kupiec(*args)  # type: ignore[arg-type]


# ------------------------------------------------------------------- Christoffersen


def _lr_ind_by_counts(n00: int, n01: int, n10: int, n11: int) -> float:
    # Christoffersen (1998) eq. for LR_ind, written from the transition counts with scipy's
    # xlogy (0 log 0 = 0), independently of the module's helper.
    from scipy.special import xlogy

    pi01 = n01 / (n00 + n01)
    pi11 = n11 / (n10 + n11)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    l0 = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    l1 = xlogy(n00, 1 - pi01) + xlogy(n01, pi01) + xlogy(n10, 1 - pi11) + xlogy(n11, pi11)
    return float(-2 * (l0 - l1))


def test_christoffersen_counts_and_statistic() -> None:
    hits = np.zeros(250, dtype=bool)
    hits[[10, 11, 12, 100, 200, 201]] = True  # clustered exceptions
    r = christoffersen(hits)
    assert (r.n00, r.n01, r.n10, r.n11) == (240, 3, 3, 3)
    expected = _lr_ind_by_counts(240, 3, 3, 3)
    assert r.statistic == pytest.approx(expected, rel=1e-12)
    assert r.p_value == pytest.approx(sps.chi2.sf(expected, 1))
    assert r.reject  # three back-to-back pairs out of six exceptions is clustering
    assert r.cc_statistic == pytest.approx(kupiec(6, 250).statistic + expected)
    assert r.cc_p_value == pytest.approx(sps.chi2.sf(r.cc_statistic, 2))


def test_christoffersen_spread_out_exceptions_are_independent() -> None:
    hits = np.zeros(500, dtype=bool)
    hits[::100] = True
    r = christoffersen(hits)
    assert r.n11 == 0
    assert not r.reject


def test_christoffersen_single_observation_and_no_transitions_of_one_kind() -> None:
    one = christoffersen([True])
    assert one.statistic == 0.0
    assert one.p_value == 1.0
    assert one.cc_statistic == pytest.approx(kupiec(1, 1).statistic)
    none = christoffersen(np.zeros(100, dtype=bool))  # never in state 1: n10 = n11 = 0
    assert (none.n10, none.n11) == (0, 0)
    assert none.statistic == 0.0
    allhits = christoffersen(np.ones(50, dtype=bool))  # never in state 0
    assert allhits.statistic == 0.0
    assert allhits.cc_reject  # 50 of 50 at 99% is wrong coverage


@pytest.mark.parametrize(
    ("hits", "message"),
    [
        ([], "empty"),
        ([[0, 1]], "one-dimensional"),
        ([0, 2, 1], "only 0 and 1"),
        ([0.0, float("nan")], "NaN"),
        (["a", "b"], "booleans or 0/1"),
    ],
)
def test_christoffersen_rejects_malformed_hits(hits: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        christoffersen(hits)  # type: ignore[arg-type]


# -------------------------------------------------------------------- traffic light

# Basel Committee (1996), "Supervisory framework for the use of backtesting ...", Table 2:
# exceptions, zone, plus factor, cumulative probability (%) for 250 observations at 99%.
BASEL_TABLE_2 = [
    (0, "green", 0.00, 8.11),
    (1, "green", 0.00, 28.58),
    (2, "green", 0.00, 54.32),
    (3, "green", 0.00, 75.81),
    (4, "green", 0.00, 89.22),
    (5, "yellow", 0.40, 95.88),
    (6, "yellow", 0.50, 98.63),
    (7, "yellow", 0.65, 99.60),
    (8, "yellow", 0.75, 99.89),
    (9, "yellow", 0.85, 99.97),
    (10, "red", 1.00, 99.99),
]


@pytest.mark.parametrize(("exceptions", "zone", "plus", "cum_pct"), BASEL_TABLE_2)
def test_traffic_light_reproduces_basel_table_2(
    exceptions: int, zone: str, plus: float, cum_pct: float
) -> None:
    r = traffic_light(exceptions)
    assert r.zone == zone
    assert r.plus_factor == pytest.approx(plus)
    assert round(100 * r.cumulative_probability, 2) == pytest.approx(cum_pct)
    assert r.reject == (zone == "red")


def test_traffic_light_generalises_through_binomial_thresholds() -> None:
    # 500 observations at 99%: the zone boundaries are where scipy's binomial cdf reaches
    # 95% and 99.99%, computed here independently.
    cdf = sps.binom.cdf(np.arange(501), 500, 0.01)
    yellow = int(np.argmax(cdf >= 0.95))
    red = int(np.argmax(cdf >= 0.9999))
    assert traffic_light(yellow - 1, 500).zone == "green"
    assert traffic_light(yellow, 500).zone == "yellow"
    assert traffic_light(red - 1, 500).zone == "yellow"
    assert traffic_light(red, 500).zone == "red"
    assert traffic_light(red, 500).plus_factor == 1.0
    assert traffic_light(yellow, 500).plus_factor == pytest.approx(0.40)


def test_traffic_light_rejects_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="cannot exceed"):
        traffic_light(300, 250)
    with pytest.raises(InvalidInputError, match="`coverage`"):
        traffic_light(3, 250, coverage=1.5)


def test_correct_model_lands_green_about_as_often_as_the_binomial_law_says() -> None:
    # 2,000 simulated years of 250 days with a correctly specified 99% VaR (normal returns,
    # true quantile): the share of green years must match P(X ≤ 4) = 89.22%.
    rng = np.random.default_rng(20261125)
    returns = rng.standard_normal((2000, 250))
    var = -sps.norm.ppf(0.01)
    counts = (returns < -var).sum(axis=1)
    green = np.mean([traffic_light(int(c)).zone == "green" for c in counts])
    assert green == pytest.approx(sps.binom.cdf(4, 250, 0.01), abs=0.02)


def test_underestimated_volatility_is_rejected() -> None:
    rng = np.random.default_rng(7)
    returns = 0.02 * rng.standard_normal(1000)
    var_too_small = 0.6 * 0.02 * -sps.norm.ppf(0.01)  # volatility under-estimated by 40%
    hits = returns < -var_too_small
    assert kupiec(int(hits.sum()), hits.size).reject
    assert traffic_light(int(hits[:250].sum())).zone != "green"
    assert christoffersen(hits).cc_reject


# --------------------------------------------------------------- expected shortfall


def _normal_var_es(sigma: float, alpha: float) -> tuple[float, float]:
    # Closed forms: VaR = -σ Φ^-1(α), ES = σ φ(Φ^-1(α)) / α.
    z = sps.norm.ppf(alpha)
    return -sigma * z, sigma * sps.norm.pdf(z) / alpha


def test_z2_hand_worked_value() -> None:
    # Four days, alpha = 0.25, VaR 0.02, ES 0.03; one exception of -0.06:
    # Z2 = (-0.06 / 0.03) / (4 · 0.25) + 1 = -2 / 1 + 1 = -1.
    r = acerbi_szekely_z2(
        [0.01, -0.06, 0.0, -0.01],
        0.02,
        0.03,
        alpha=0.25,
        sampler=student_t_sampler(np.full(4, 0.02), math.inf),
        simulations=200,
    )
    assert r.statistic == pytest.approx(-1.0)
    assert r.exceptions == 1


def test_z2_correct_model_not_rejected_and_critical_value_near_published() -> None:
    alpha, sigma, t = 0.025, 0.02, 250
    var, es = _normal_var_es(sigma, alpha)
    sampler = student_t_sampler(np.full(t, sigma), math.inf)
    sims = sampler(np.random.default_rng(1), 20_000)
    z = np.sum(np.where(sims < -var, sims / es, 0.0), axis=1) / (t * alpha) + 1
    assert abs(float(np.mean(z))) < 0.02  # E[Z2] = 0 under the null
    # Acerbi & Szekely (2014) report a 5% critical value of about -0.70.
    assert float(np.quantile(z, 0.05)) == pytest.approx(-0.70, abs=0.1)
    realised = np.random.default_rng(2).standard_normal(t) * sigma
    r = acerbi_szekely_z2(realised, var, es, alpha=alpha, sampler=sampler, seed=3)
    assert not r.reject


def test_z2_rejects_understated_tail() -> None:
    alpha, t = 0.025, 500
    var, es = _normal_var_es(0.02, alpha)
    realised = np.random.default_rng(4).standard_t(3, t) * 0.03  # fatter and wider
    r = acerbi_szekely_z2(
        realised,
        var,
        es,
        alpha=alpha,
        sampler=student_t_sampler(np.full(t, 0.02), math.inf),
        seed=5,
    )
    assert r.statistic < -0.7
    assert r.reject
    assert r.p_value < 0.01


def test_z2_rejects_bad_input() -> None:
    s = student_t_sampler(np.full(3, 0.02), math.inf)
    with pytest.raises(InvalidInputError, match="NaN"):
        acerbi_szekely_z2([0.0, float("nan"), 0.0], 0.02, 0.03, alpha=0.025, sampler=s)
    with pytest.raises(InvalidInputError, match="at least `var`"):
        acerbi_szekely_z2([0.0, 0.0, 0.0], 0.03, 0.02, alpha=0.025, sampler=s)
    with pytest.raises(InvalidInputError, match="`alpha`"):
        acerbi_szekely_z2([0.0, 0.0, 0.0], 0.02, 0.03, alpha=1.5, sampler=s)
    with pytest.raises(InvalidInputError, match="shape"):
        acerbi_szekely_z2([0.0, 0.0], 0.02, 0.03, alpha=0.025, sampler=s, simulations=100)


# ------------------------------------------------------ overlapping multi-day windows


def test_non_overlapping_subsamples_share_no_day() -> None:
    assert non_overlapping(np.arange(10), 3, 1).tolist() == [1, 4, 7]
    with pytest.raises(InvalidInputError, match="`offset`"):
        non_overlapping(np.arange(10), 3, 3)


def test_kupiec_non_overlapping_bonferroni() -> None:
    rng = np.random.default_rng(11)
    # Overlapping 10-day hits built from a daily exceedance: runs of 10 identical hits.
    daily = rng.random(3000) < 0.01
    hits = np.convolve(daily, np.ones(10, dtype=int), mode="valid") > 0
    r = kupiec_non_overlapping(hits, 10, coverage=0.99)
    assert len(r.subsamples) == 10
    p_min = min(s.p_value for s in r.subsamples)
    assert r.p_value == pytest.approx(min(1.0, 10 * p_min))
    assert r.reject == (r.p_value < 0.05)
    assert all(s.observations in (len(hits) // 10, len(hits) // 10 + 1) for s in r.subsamples)
    with pytest.raises(InvalidInputError, match="fewer than one"):
        kupiec_non_overlapping([True, False], 10)
