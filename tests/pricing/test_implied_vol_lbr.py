"""Implied volatility ("Let's Be Rational", issue 21) against py_lets_be_rational and QuantLib.

``py_lets_be_rational`` (PyPI; a pure-Python port of Jäckel's reference code) is the reference
for the volatility, QuantLib's ``blackFormulaImpliedStdDev`` a second one, and Black-76 itself
(tested against mpmath elsewhere) checks that the volatility reproduces the price.
"""

from __future__ import annotations

import math

import numpy as np
import py_lets_be_rational as plbr
import pytest
import QuantLib as ql

from carbonfin.pricing import _lbr, black76, black76_greeks, implied_vol, solve_implied_vol
from carbonfin.pricing._erfcx_table import COEFFICIENTS


def _extreme_grid(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Deep ITM/OTM (|ln F/K| up to 30 s), one day to ten years, vols 1% to 300%."""
    rng = np.random.default_rng(seed)
    t = np.exp(rng.uniform(np.log(1.0 / 365.0), np.log(10.0), n))
    v = np.exp(rng.uniform(np.log(0.01), np.log(3.0), n))
    s = v * np.sqrt(t)
    f = rng.uniform(5.0, 300.0, n)
    k = f * np.exp(rng.uniform(-30.0, 30.0, n) * s * rng.random(n))
    r = rng.uniform(-0.02, 0.10, n)
    call = rng.random(n) < 0.5
    return f, k, t, v, r, call


def _carries_vol(f, k, t, v, r, call, price):  # type: ignore[no-untyped-def]
    """Rows whose price pins σ: time value and vega not negligible at double precision."""
    intrinsic = np.exp(-r * t) * np.where(call, np.maximum(f - k, 0), np.maximum(k - f, 0))
    vega = black76_greeks(f, k, t, v, r, call).vega
    return (price - intrinsic > 1e-10 * price) & (vega * v > 1e-6 * price) & (price > 1e-250)


def test_reprices_to_1e_12_across_the_extreme_grid() -> None:
    f, k, t, v, r, call = _extreme_grid(40_000, seed=21)
    price = black76(f, k, t, v, r, call)
    res = solve_implied_vol(price, f, k, t, r, call)
    solved = res.solved
    back = black76(f[solved], k[solved], t[solved], res.vol[solved], r[solved], call[solved])
    p = price[solved]
    # the price's own sensitivity to one ulp of s: |d ln p / d ln s| * 2^-52
    g = black76_greeks(f[solved], k[solved], t[solved], res.vol[solved], r[solved], call[solved])
    ulp_move = np.abs(g.vega * res.vol[solved] / p) * 2.0**-52
    tol = np.maximum(1e-12, 4.0 * ulp_move)
    rel = np.abs(back - p) / p
    assert (rel <= tol).all(), float(np.max(rel / tol))
    # every row not solved has a reason: here only a price equal to one of its bounds at double
    # precision (the intrinsic value, or the forward/strike at very large σ√T)
    assert set(res.reason_counts()) <= {
        "price equals the discounted intrinsic value to double precision: "
        "no time value to read a volatility from",
        "price is at or above the no-arbitrage maximum (discounted forward for a call, "
        "discounted strike for a put)",
    }
    assert (
        solved.mean() > 0.75
    )  # the rest: prices at a bound (the grid reaches 30 s from the money)


def test_matches_py_lets_be_rational() -> None:
    f, k, t, v, r, call = _extreme_grid(3_000, seed=5)
    price = black76(f, k, t, v, r, call)
    ours = implied_vol(price, f, k, t, r, call)
    keep = _carries_vol(f, k, t, v, r, call, price)
    assert keep.mean() > 0.6
    checked = 0
    for i in np.flatnonzero(keep):
        undiscounted = float(price[i] * math.exp(r[i] * t[i]))
        q = 1.0 if call[i] else -1.0
        theirs = plbr.implied_volatility_from_a_transformed_rational_guess(
            undiscounted, float(f[i]), float(k[i]), float(t[i]), q
        )
        assert ours[i] == pytest.approx(theirs, rel=1e-10), (i, f[i], k[i], t[i], v[i])
        checked += 1
    assert checked > 1_500


def test_matches_quantlib_implied_std_dev() -> None:
    f, k, t, v, r, call = _extreme_grid(400, seed=8)
    price = black76(f, k, t, v, r, call)
    ours = implied_vol(price, f, k, t, r, call)
    keep = _carries_vol(f, k, t, v, r, call, price) & (price > 1e-6 * f)
    for i in np.flatnonzero(keep):
        kind = ql.Option.Call if call[i] else ql.Option.Put
        stdev = ql.blackFormulaImpliedStdDev(
            kind, k[i], f[i], price[i], math.exp(-r[i] * t[i]), 0.0, 0.3, 1e-15, 1000
        )
        assert ours[i] == pytest.approx(stdev / math.sqrt(t[i]), rel=1e-9)


def test_recovers_the_input_vol_where_the_price_pins_it() -> None:
    f, k, t, v, r, call = _extreme_grid(20_000, seed=13)
    price = black76(f, k, t, v, r, call)
    keep = _carries_vol(f, k, t, v, r, call, price)
    ours = implied_vol(price[keep], f[keep], k[keep], t[keep], r[keep], call[keep])
    np.testing.assert_allclose(ours, v[keep], rtol=1e-9)


def test_nan_and_reason_counts_never_a_wrong_number() -> None:
    f, k, t, r = 80.0, 90.0, 0.5, 0.02
    df = math.exp(-r * t)
    good = float(black76(f, k, t, 0.35, r, True))
    prices = np.array([good, -0.01, f * df, f * df * 1.5, math.nan, math.inf, 0.0, good])
    expiry = np.array([t, t, t, t, t, t, t, 0.0])
    res = solve_implied_vol(prices, f, k, expiry, r, True)
    assert res.vol[0] == pytest.approx(0.35, rel=1e-13)
    assert np.isnan(res.vol[1:]).all()
    assert res.reason_counts() == {
        "price is below the discounted intrinsic value": 1,
        "price is at or above the no-arbitrage maximum (discounted forward for a call, "
        "discounted strike for a put)": 2,
        "price is not a finite number": 2,
        "price equals the discounted intrinsic value to double precision: "
        "no time value to read a volatility from": 1,
        "expiry is 0: the price does not depend on volatility": 1,
    }
    # in-the-money put priced below its intrinsic value (10 undiscounted)
    put = solve_implied_vol(np.array([9.99 * df, 10.5 * df]), f, k, t, r, False)
    assert math.isnan(put.vol[0])
    assert put.reason_counts() == {"price is below the discounted intrinsic value": 1}
    assert float(black76(f, k, t, put.vol[1], r, False)) == pytest.approx(10.5 * df, rel=1e-13)


def test_at_the_money_and_near_expiry() -> None:
    # x = 0 exactly, and one-day options at 1% to 200% vol
    f = np.full(8, 75.0)
    v = np.array([0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 0.3, 0.3])
    t = np.array([1 / 365] * 6 + [1e-4, 30.0])
    price = black76(f, f, t, v, 0.01, True)
    np.testing.assert_allclose(implied_vol(price, f, f, t, 0.01, True), v, rtol=1e-12)


def _market_grid(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """An ordinary book: strikes within ±50% log-moneyness, 1 week to 3 years, vols 10-100%."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(40.0, 120.0, n)
    k = f * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.02, 3.0, n)
    v = rng.uniform(0.1, 1.0, n)
    r = rng.uniform(-0.005, 0.05, n)
    call = rng.random(n) < 0.5
    return f, k, t, v, r, call


def test_the_vectorised_pass_solves_an_ordinary_book_without_the_fallback() -> None:
    # Jäckel's guess plus two Householder(3) steps reach machine precision: the serial safeguarded
    # solver is for rows the fast pass cannot vouch for (s < 1e-3, a cancelling far tail), not
    # for ordinary options. The convergence check used to ask the *second* step itself to be
    # below 1e-7·s, which the roughest (lowest-branch) guesses, ~5% off, miss by a little although
    # the error after that step is ~1e-20: 4% of this grid went to the slow solver.
    # _solve_rows has one explicit signature, compiled and cached with the kernel (it used to be
    # called here with a second one, a cold compile of the inlined solver: 140 s in CI)
    f, k, t, v, r, call = _market_grid(50_000, seed=3)
    price = black76(f, k, t, v, r, call)
    out = np.empty(f.size)
    codes = np.empty(f.size, dtype=np.int8)
    assert len(_lbr._solve_rows.signatures) == 1
    fallback = _lbr._solve_rows(price, f, k, t, r, call, out, codes)
    # what is left for the fallback: rows whose fast value loses more than 500 ulps to
    # cancellation (_lbr._IV_CANCEL: 18 of these 50,000); it was ~2,000 rows here before
    assert fallback < 0.001 * f.size
    assert int(np.isnan(out[codes == 0]).sum()) == fallback


def test_threads_share_the_work_with_the_same_answers() -> None:
    # chunks of rows go to whichever thread asks first; the plain loop (workers=1) and the one
    # called from the parallel region are two compilations of the same code (last-bit
    # differences where a multiply-add is contracted differently)
    f, k, t, v, r, call = _extreme_grid(30_000, seed=17)
    price = black76(f, k, t, v, r, call)
    runs = []
    for workers in (1, 2, 3):
        out = np.empty(f.size)
        codes = np.empty(f.size, dtype=np.int8)
        _lbr.implied_vol(price, f, k, t, r, call, out, codes, workers)
        runs.append((out, codes))
    for out, codes in runs[1:]:
        np.testing.assert_array_equal(codes, runs[0][1])
        np.testing.assert_allclose(out, runs[0][0], rtol=1e-10, atol=0)


def test_the_guess_erfcx_drops_only_terms_below_1e_13() -> None:
    # _lbr._erfcx_guess evaluates the erfcx table only to w^5 (|w| <= 1): what it drops is at most
    # the sum of the w^6..w^10 coefficients, relative to the leading one, on every interval
    table = np.abs(np.array(COEFFICIENTS))
    dropped = table[:, 6:].sum(axis=1) / table[:, 0]
    assert dropped.max() < 1.2e-13
