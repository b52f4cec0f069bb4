"""Curves and forwards against closed forms and QuantLib; American options against Hull."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import QuantLib as ql

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import (
    ForwardCurve,
    american_option,
    black76,
    bootstrap_curve,
    calibrate_carry,
    flat_curve,
)

AS_OF = dt.date(2025, 3, 3)
DEPOSITS = {"ON": 0.0135, "1W": 0.0150, "1M": 0.0158, "3M": 0.0165, "6M": 0.0172, "1Y": 0.0180}


def test_flat_curve_forward_is_the_closed_form() -> None:
    curve = flat_curve(AS_OF, 0.018)
    fwd = ForwardCurve(80.0, curve, net_carry=0.01)
    t = np.array([0.0, 0.25, 1.0, 3.0])
    np.testing.assert_allclose(fwd.forward(t), 80.0 * np.exp((0.018 + 0.01) * t), rtol=1e-14)
    # a date: ACT/365F
    when = dt.date(2026, 3, 3)
    assert float(fwd.forward(when)) == pytest.approx(80.0 * math.exp(0.028 * 365 / 365))
    # negative convenience yield: contango above the risk-free rate is allowed
    assert fwd.implied_convenience_yield(storage_cost=0.0) == pytest.approx(-0.01)


def test_bootstrapped_curve_reprices_the_deposits_and_matches_quantlib() -> None:
    curve = bootstrap_curve(AS_OF, DEPOSITS, convention="SHIBOR")
    cal = ql.China(ql.China.IB)
    start = ql.Date(AS_OF.day, AS_OF.month, AS_OF.year)
    for tenor, rate in DEPOSITS.items():
        period = ql.Period(1, ql.Days) if tenor == "ON" else ql.Period(tenor)
        end = cal.advance(start, period, ql.ModifiedFollowing)
        end_date = dt.date(end.year(), end.month(), end.dayOfMonth())
        tau = ql.Actual360().yearFraction(start, end)
        # a deposit's discount factor: 1 / (1 + r * tau), ACT/360 (settlement T+0)
        assert float(curve.discount(end_date)) == pytest.approx(1 / (1 + rate * tau), rel=1e-12)
    # between pillars: log-linear interpolation exactly like QuantLib's curve
    ql.Settings.instance().evaluationDate = start
    try:
        helpers = [
            ql.DepositRateHelper(
                ql.QuoteHandle(ql.SimpleQuote(r)),
                ql.Period(1, ql.Days) if t == "ON" else ql.Period(t),
                0,
                cal,
                ql.ModifiedFollowing,
                False,
                ql.Actual360(),
            )
            for t, r in DEPOSITS.items()
        ]
        ref = ql.PiecewiseLogLinearDiscount(start, helpers, ql.Actual365Fixed())
        for days in (3, 17, 45, 100, 200, 300, 364, 500):
            ours = float(curve.discount(AS_OF + dt.timedelta(days=days)))
            assert ours == pytest.approx(ref.discount(start + days, True), rel=1e-12), days
    finally:
        ql.Settings.instance().evaluationDate = ql.Date()


def test_carry_calibration_recovers_a_known_carry() -> None:
    curve = bootstrap_curve(AS_OF, DEPOSITS)
    truth = ForwardCurve(72.0, curve, net_carry=0.025)  # contango beyond the rate: y < 0
    quotes = [(dt.date(2025, 6, 3), 0.0), (dt.date(2025, 12, 1), 0.0), (dt.date(2026, 12, 1), 0.0)]
    quotes = [(d, float(truth.forward(d))) for d, _ in quotes]
    fit = calibrate_carry(72.0, curve, quotes)
    assert fit.net_carry == pytest.approx(0.025, abs=1e-12)
    np.testing.assert_allclose(fit.implied_carry, 0.025, atol=1e-12)
    assert fit.rmse_log_price < 1e-12
    with pytest.raises(InvalidInputError, match="forward prices must be finite and > 0"):
        calibrate_carry(72.0, curve, [(dt.date(2025, 6, 3), -1.0)])


def test_curve_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="malformed tenor 'X9'"):
        bootstrap_curve(AS_OF, {"X9": 0.01})
    with pytest.raises(InvalidInputError, match="unknown convention 'LIBOR'"):
        bootstrap_curve(AS_OF, DEPOSITS, convention="LIBOR")
    with pytest.raises(InvalidInputError, match="before the curve date"):
        flat_curve(AS_OF, 0.02).discount(dt.date(2024, 1, 1))
    with pytest.raises(InvalidInputError, match="`spot_cny_per_t` must be finite and > 0"):
        ForwardCurve(-1.0, flat_curve(AS_OF, 0.02))


def test_american_put_hull_example_21_1() -> None:
    # Hull, OFOD (8th ed.) Example 21.1 / Figure 21.4: S = K = 50, r = 10%, sigma = 40%,
    # T = 5 months, 5-step CRR tree: 4.49; with many steps the value converges to about 4.28
    tree = american_option(50.0, 50.0, 5 / 12, 0.40, 0.10, call=False, method="binomial", steps=5)
    assert round(tree.price, 2) == 4.49
    fine = american_option(50.0, 50.0, 5 / 12, 0.40, 0.10, call=False, method="binomial")
    assert fine.price == pytest.approx(4.28, abs=0.01)
    baw = american_option(50.0, 50.0, 5 / 12, 0.40, 0.10, call=False, method="baw")
    assert baw.price == pytest.approx(fine.price, abs=0.02)
    assert baw.early_exercise_premium > 0


def test_american_call_without_yield_is_european() -> None:
    # no convenience yield and positive carry: early exercise of a call is never optimal (Merton)
    res = american_option(80.0, 85.0, 0.5, 0.45, 0.02, net_carry=0.0, method="binomial")
    assert res.price == pytest.approx(res.european_price, rel=2e-3)
    t = res.expiry_days / 365
    bs = float(black76(80.0 * math.exp(0.02 * t), 85.0, t, 0.45, 0.02, True))
    assert res.european_price == pytest.approx(bs, rel=1e-10)
    with pytest.raises(InvalidInputError, match="`vol` must be finite and > 0"):
        american_option(80.0, 85.0, 0.5, 0.0, 0.02)
