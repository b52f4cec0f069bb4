"""Issue 9 item 7: the time unit of volatility fits on a thin market (trades on some business
days only). The reference is a simulated *daily* GARCH observed only on trade days: the
gap-aware business-day fit must recover the daily dynamics that the per-trade fit cannot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch import arch_model

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import filtered_historical, fit_garch

OMEGA, ALPHA, BETA = 2e-6, 0.10, 0.88  # persistence 0.98 per business day


def _thinned_daily_garch(n_days: int = 8000, trade_prob: float = 0.6, seed: int = 11):
    """Daily GARCH(1,1)-normal returns, observed only on ~60% of days (as SHEA trades)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n_days)
    r = np.empty(n_days)
    var = OMEGA / (1 - ALPHA - BETA)
    for i in range(n_days):
        r[i] = math.sqrt(var) * z[i]
        var = OMEGA + ALPHA * r[i] ** 2 + BETA * var
    traded = rng.random(n_days) < trade_prob
    traded[0] = True
    days = np.flatnonzero(traded)
    log_price = np.cumsum(r)
    trade_returns = np.diff(log_price[days])
    gaps = np.diff(days).astype(float)
    return trade_returns, gaps


class _Returns:
    """The shape of carbonfin.pricing.Returns that the fits read (values, gap_days, per)."""

    def __init__(self, values: np.ndarray, gaps: np.ndarray, per: str) -> None:
        self.values, self.gap_days, self.per = values, gaps, per


def test_gap_aware_fit_recovers_the_daily_persistence() -> None:
    trade_r, gaps = _thinned_daily_garch()
    assert 1.5 < gaps.mean() < 1.8  # like SHEA's 1.58
    fit = fit_garch(_Returns(trade_r, gaps, "trade"), "garch", "normal")
    assert fit.time_unit == "business_day"
    assert fit.mean_gap_days == pytest.approx(gaps.mean())
    assert fit.persistence == pytest.approx(ALPHA + BETA, abs=0.01)
    # the long-run variance is per business day: the daily model's omega / (1 - persistence)
    assert fit.unconditional_variance == pytest.approx(OMEGA / (1 - ALPHA - BETA), rel=0.2)
    # the classical fit steps once per trade: its persistence is per trade, ~0.98^1.67
    per_trade = fit_garch(_Returns(trade_r, gaps, "trade"), "garch", "normal", time_unit="trade")
    assert per_trade.time_unit == "trade"
    assert per_trade.persistence < fit.persistence - 0.005
    # stepping the per-trade-scaled returns per observation (the old default) misstates the
    # business-day persistence by more than the gap-aware fit does
    old_style = fit_garch(trade_r / np.sqrt(gaps), "garch", "normal")
    assert abs(old_style.persistence - 0.98) > abs(fit.persistence - 0.98)


def test_unit_gaps_are_arch_exactly() -> None:
    # with every gap 1 the gap-aware recursion is arch's GJR: same estimates, same variances
    trade_r, _ = _thinned_daily_garch(3000, trade_prob=1.0, seed=4)
    ours = fit_garch(_Returns(trade_r, np.ones(len(trade_r)), "trade"), "gjr", "t")
    ref = arch_model(trade_r * 100, vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(
        disp="off"
    )
    np.testing.assert_allclose(ours.conditional_vol, ref.conditional_volatility / 100, rtol=1e-12)
    assert ours.params["beta[1]"] == pytest.approx(float(ref.params["beta[1]"]), rel=1e-10)


def test_scenarios_refuse_a_trade_time_fit() -> None:
    trade_r, gaps = _thinned_daily_garch(3000)
    per_trade = fit_garch(_Returns(trade_r, gaps, "trade"), "garch", "normal", time_unit="trade")
    with pytest.raises(InvalidInputError, match="steps one business day at a time"):
        filtered_historical(per_trade, 60.0, 10, 100)
    with pytest.raises(InvalidInputError, match="`gap_days` must be whole numbers"):
        fit_garch(trade_r, "garch", "normal", gap_days=np.full(len(trade_r), 0.5))
    # annualisation follows the unit: trades per year for a trade-time fit
    assert per_trade.steps_per_year == pytest.approx(243 / gaps.mean())
