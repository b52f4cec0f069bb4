"""Scenario generators against theory: variances, FHS residual quantiles, jump moments, limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError, MissingDataError, NonStationaryWarning
from carbonfin.instruments import Instrument
from carbonfin.pricing import (
    PriceHistory,
    calibrate_merton,
    calibrate_student_t,
    fhs_marks,
    filtered_historical,
    fit_garch,
    merton_jump,
    replay_window,
    student_t,
)
from carbonfin.pricing import scenarios as scenarios_module
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


def test_default_limit_comes_from_the_instrument_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 9 item 10: the cap was a literal 0.10 whatever the instrument
    rules = dict(scenarios_module.market_rules())
    cea = rules[Instrument.CEA]
    rules[Instrument.CEA] = dataclasses.replace(
        cea, price_limit=dataclasses.replace(cea.price_limit, listed_frac=0.05, source="test")
    )
    monkeypatch.setattr(scenarios_module, "market_rules", lambda: rules)
    paths = student_t(0.08, 3.0, 60.0, 10, 2000, seed=7, instrument="CEA")
    assert paths.limit_frac == 0.05
    assert paths.log_returns.max() == pytest.approx(math.log1p(0.05))
    assert "CEA listed-trade limit: test" in paths.summary()
    assert student_t(0.08, 3.0, 60.0, 10, 2000, seed=7).limit_frac == 0.10  # SHEA
    assert student_t(0.08, 3.0, 60.0, 5, 10, limit_frac=None).limit_frac is None


def test_paths_are_read_only() -> None:
    paths = student_t(0.02, 5.0, 60.0, 5, 100, seed=1)
    with pytest.raises(ValueError, match="read-only"):
        paths.prices[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        paths.log_returns[0, 0] = 1.0


def test_student_t_calibration_from_a_t_fit() -> None:
    fit = fit_garch(R, "garch", "t")
    cal = calibrate_student_t(fit)
    assert cal.dof == pytest.approx(fit.params["nu"])
    assert cal.vol_daily == pytest.approx(fit.next_vol())
    paths = cal.simulate(60.0, 20, 100_000, seed=3, limit_frac=None)
    # unit-variance t innovations: the simulated daily sd is the fit's next-day vol
    assert float(np.std(paths.log_returns)) == pytest.approx(fit.next_vol(), rel=0.02)
    assert any("calibrated from garch-t fit" in n for n in paths.notes)
    low = dataclasses.replace(fit, params={**fit.params, "nu": 2.05})
    assert calibrate_student_t(low).dof == 2.1
    assert "raised to the minimum" in calibrate_student_t(low).notes[0]
    with pytest.raises(InvalidInputError, match="no degrees of freedom"):
        calibrate_student_t(fit_garch(R, "garch", "normal"))


def test_merton_calibration_matches_the_sample_variance() -> None:
    cal = calibrate_merton(R, jump_intensity_daily=0.05, jump_share=0.4)
    assert cal.daily_variance == pytest.approx(float(np.var(R, ddof=1)), rel=1e-12)
    paths = cal.simulate(60.0, 5, 400_000, seed=5, limit_frac=None)
    # Merton (1976) moments: the simulated daily variance is the sample's
    assert float(np.var(paths.log_returns)) == pytest.approx(float(np.var(R, ddof=1)), rel=0.03)
    with pytest.raises(InvalidInputError, match="`jump_share` must be in"):
        calibrate_merton(R, jump_share=1.0)


def test_fhs_from_an_explosive_fit_stays_finite_and_warns() -> None:
    # issue 9 item 22: a near-integrated fit with fat-tailed residuals (as on real SHEA:
    # alpha 0.72, beta 0.28) sent prices to inf over 250 unbounded days
    fit = fit_garch(R, "garch", "t")
    explosive = dataclasses.replace(
        fit,
        params={**fit.params, "alpha[1]": 0.72, "beta[1]": 0.28},
        std_resid=fit.std_resid * 3.0,
    )
    assert not explosive.is_stationary
    with pytest.warns(NonStationaryWarning, match="variance grows along the paths"):
        paths = filtered_historical(explosive, 30.0, 250, 2000, seed=1, limit_frac=None)
    assert np.isfinite(paths.prices).all()
    assert (paths.prices > 0).all()
    assert paths.value_at_risk(0.99) < 1.0
    assert any("variance bound" in n for n in paths.notes)
    assert float(np.max(np.var(paths.log_returns, axis=0))) <= 9 * np.max(fit.conditional_vol) ** 2


@pytest.mark.parametrize("model", ["gjr", "egarch"])
def test_fhs_prices_on_chosen_days_equal_the_full_paths_bit_for_bit(model: str) -> None:
    """``filtered_historical_at`` keeps only a running sum, not the paths: same seed, same bits
    as the full simulation read on those days (days unsorted and repeated on purpose)."""
    fit = fit_garch(R, model, "t")
    days = [37, 5, 120, 5, 1]
    full = filtered_historical(fit, 60.0, 120, 3_000, seed=11, instrument="SHEA")
    at = fhs_marks.filtered_historical_at(fit, 60.0, days, 3_000, seed=11, instrument="SHEA")
    expected = full.prices[:, np.array(days) - 1]
    np.testing.assert_array_equal(at.prices.view(np.int64), expected.view(np.int64))
    assert at.days == tuple(days)
    assert at.notes == full.notes
    assert at.method == full.method
    with pytest.raises(InvalidInputError, match="`days`"):
        fhs_marks.filtered_historical_at(fit, 60.0, [0, 3], 10, seed=1)
