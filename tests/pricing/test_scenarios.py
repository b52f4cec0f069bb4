"""Scenario generators against theory: variances, FHS residual quantiles, jump moments, limits."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.pricing import (
    PriceHistory,
    filtered_historical,
    fit_garch,
    merton_jump,
    replay_window,
    student_t,
)
from tests.pricing.test_volatility import R


def test_student_t_has_the_stated_variance() -> None:
    paths = student_t(0.02, 5.0, 60.0, 20, 50_000, seed=1, limit_frac=None)
    assert paths.log_returns.shape == (50_000, 20)
    # the variance of a scaled t(5) is vol^2; its sample variance has sd ~ vol^2*sqrt((k-1)/n)
    assert float(np.var(paths.log_returns)) == pytest.approx(0.02**2, rel=0.03)
    excess = float(np.mean(paths.log_returns**4) / np.var(paths.log_returns) ** 2 - 3)
    assert excess > 3  # t(5) has excess kurtosis 6


def test_seeded_and_capped() -> None:
    a = student_t(0.08, 3.0, 60.0, 10, 2000, seed=7)
    b = student_t(0.08, 3.0, 60.0, 10, 2000, seed=7)
    np.testing.assert_array_equal(a.prices, b.prices)
    assert a.log_returns.max() <= math.log1p(0.10) + 1e-15
    assert a.log_returns.min() >= math.log1p(-0.10) - 1e-15
    moves = np.diff(a.prices, axis=1) / a.prices[:, :-1]  # close-to-close simple moves
    assert np.abs(moves).max() <= 0.10 + 1e-12


def test_fhs_reproduces_the_filtered_residual_quantiles() -> None:
    fit = fit_garch(R, "gjr", "t")
    paths = filtered_historical(fit, 60.0, 1, 200_000, seed=3, limit_frac=None)
    sigma = math.sqrt(float(fit.forecast_variance(1)[0]))
    z = (paths.log_returns[:, 0] - fit.mu) / sigma
    qs = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    # the simulated shocks are the residuals' empirical distribution: P(z <= q_hist(p)) = p
    hist_q = np.quantile(fit.std_resid, qs, method="inverted_cdf")
    np.testing.assert_allclose([np.mean(z <= q + 1e-12) for q in hist_q], qs, atol=0.003)


def test_fhs_multi_day_variance_follows_the_model() -> None:
    fit = fit_garch(R, "garch", "t")
    paths = filtered_historical(fit, 60.0, 10, 100_000, seed=5, limit_frac=None)
    per_day = np.var(paths.log_returns, axis=0)
    np.testing.assert_allclose(per_day, fit.forecast_variance(10), rtol=0.05)


def test_merton_moments() -> None:
    vol, lam, mj, sj = 0.015, 0.05, -0.06, 0.03
    paths = merton_jump(vol, lam, mj, sj, 60.0, 5, 400_000, seed=11, limit_frac=None)
    r = paths.log_returns
    assert float(r.mean()) == pytest.approx(lam * mj, abs=2e-4)
    assert float(r.var()) == pytest.approx(vol**2 + lam * (mj**2 + sj**2), rel=0.02)
    assert float(np.mean(r < -0.05)) > 0.02  # the jumps make a fat left tail


def test_stress_replay_on_the_sample_2015_collapse() -> None:
    prices = load_table("prices")
    history = PriceHistory.from_frame(prices[prices["instrument"] == "SHEA"], "SHEA")
    path = replay_window(history, "shea-2015-collapse", 64.0)
    assert path.n_paths == 1
    closes = history.closes()
    before = closes[[d < dt.date(2014, 7, 1) for d in closes.index]].iloc[-1]
    last = closes[[d <= dt.date(2015, 6, 30) for d in closes.index]].iloc[-1]
    assert path.horizon_returns()[0] == pytest.approx(last / before - 1, rel=1e-12)
    assert path.horizon_returns()[0] < -0.5  # the collapse: more than half the value lost
    with pytest.raises(MissingDataError, match="does not cover"):
        replay_window(history.between(dt.date(2020, 1, 1)), "shea-2015-collapse", 64.0)
    with pytest.raises(InvalidInputError, match="unknown stress window"):
        replay_window(history, "crash-of-1929", 64.0)


def test_value_at_risk_and_bad_input() -> None:
    paths = student_t(0.03, 4.0, 60.0, 10, 20_000, seed=2)
    assert 0.1 < paths.value_at_risk(0.99) < 0.4
    assert "99% VaR" in paths.summary()
    with pytest.raises(InvalidInputError, match="`dof` must be > 2"):
        student_t(0.02, 2.0, 60.0, 10)
    with pytest.raises(InvalidInputError, match="`horizon_days` must be an integer >= 1"):
        student_t(0.02, 5.0, 60.0, 0)
    with pytest.raises(InvalidInputError, match="`start_price` must be finite and > 0"):
        merton_jump(0.01, 0.1, 0.0, 0.02, -5.0, 10)
