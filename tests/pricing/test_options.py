"""Black-76 and implied vol against QuantLib, mpmath, Hull's examples and finite differences."""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _kernels, black76, black76_greeks, implied_vol, solve_implied_vol
from carbonfin.pricing._erfcx_table import COEFFICIENTS
from carbonfin.pricing._kernels import erfcx

mp.mp.dps = 50


def _mp_black(f: float, k: float, t: float, v: float, r: float, call: bool) -> float:
    """Black-76 in 50-digit arithmetic (the high-precision reference)."""
    F, K, T, V, R = (mp.mpf(x) for x in (f, k, t, v, r))
    s = V * mp.sqrt(T)
    d1 = mp.log(F / K) / s + s / 2
    d2 = d1 - s
    N = lambda x: mp.erfc(-x / mp.sqrt(2)) / 2  # noqa: E731
    value = F * N(d1) - K * N(d2) if call else K * N(-d2) - F * N(-d1)
    return float(mp.exp(-R * T) * value)


def _ql_black(f: float, k: float, t: float, v: float, r: float, call: bool) -> float:
    kind = ql.Option.Call if call else ql.Option.Put
    return float(ql.blackFormula(kind, k, f, v * math.sqrt(t), math.exp(-r * t)))


def _grid(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    f = rng.uniform(5.0, 200.0, n)
    k = f * np.exp(rng.uniform(-1.0, 1.0, n))
    t = rng.uniform(0.01, 5.0, n)
    v = rng.uniform(0.02, 1.5, n)
    r = rng.uniform(-0.02, 0.10, n)
    call = rng.random(n) < 0.5
    return f, k, t, v, r, call


# Hull, Options, Futures, and Other Derivatives (8th ed.): the crude-oil futures put of ch. 18
# (F0 = K = 20, r = 9%, T = 4 months, sigma = 25%: d1 = 0.07216, p = 1.12), and the stock
# option of Example 15.6 (S = 42, K = 40, r = 10%, sigma = 20%, T = 6 months: c = 4.76,
# p = 0.81) written on the forward F = S e^{rT}.
@pytest.mark.parametrize(
    ("forward", "strike", "expiry", "vol", "rate", "call", "expected"),
    [
        (20.0, 20.0, 4 / 12, 0.25, 0.09, False, 1.12),
        (42.0 * math.exp(0.05), 40.0, 0.5, 0.2, 0.10, True, 4.76),
        (42.0 * math.exp(0.05), 40.0, 0.5, 0.2, 0.10, False, 0.81),
    ],
    ids=["hull-futures-put", "hull-15.6-call", "hull-15.6-put"],
)
def test_hull_examples(
    forward: float,
    strike: float,
    expiry: float,
    vol: float,
    rate: float,
    call: bool,
    expected: float,
) -> None:
    assert round(float(black76(forward, strike, expiry, vol, rate, call)), 2) == expected


def test_matches_quantlib_on_a_broad_grid() -> None:
    f, k, t, v, r, call = _grid(20_000, seed=1)
    ours = black76(f, k, t, v, r, call)
    ref = np.array([_ql_black(*row) for row in zip(f, k, t, v, r, call, strict=True)])
    # QuantLib's normal CDF loses digits far out of the money; there see the mpmath test below
    accurate = ref > 1e-6 * f
    assert accurate.mean() > 0.8
    rel = np.abs(ours[accurate] - ref[accurate]) / ref[accurate]
    assert rel.max() <= 1e-10, rel.max()


def test_far_out_of_the_money_is_at_least_as_accurate_as_quantlib() -> None:
    rng = np.random.default_rng(7)
    n = 300
    f = np.full(n, 60.0)
    k = f * np.exp(rng.uniform(0.5, 3.0, n))  # far OTM calls
    t = rng.uniform(0.02, 1.0, n)
    v = rng.uniform(0.05, 0.4, n)
    r = np.full(n, 0.02)
    ours = black76(f, k, t, v, r, True)
    exact = np.array([_mp_black(*row, True) for row in zip(f, k, t, v, r, strict=True)])
    theirs = np.array([_ql_black(*row, True) for row in zip(f, k, t, v, r, strict=True)])
    keep = exact > 1e-290
    our_err = np.abs(ours[keep] - exact[keep]) / exact[keep]
    ql_err = np.abs(theirs[keep] - exact[keep]) / exact[keep]
    assert our_err.max() < 1e-11, our_err.max()
    assert np.all(our_err <= np.maximum(ql_err, 1e-11))
    assert ql_err.max() > 1e-6  # QuantLib is really inaccurate here: the test has teeth


def test_mpmath_agreement_on_the_broad_grid() -> None:
    f, k, t, v, r, call = _grid(1_000, seed=3)
    ours = black76(f, k, t, v, r, call)
    exact = np.array([_mp_black(*row) for row in zip(f, k, t, v, r, call, strict=True)])
    keep = exact > 1e-290
    rel = np.abs(ours[keep] - exact[keep]) / exact[keep]
    assert rel.max() < 5e-12, rel.max()


def test_small_total_deviation_takes_the_accurate_path() -> None:
    # s = vol * sqrt(T) far below 1e-3, at and near the money
    f = np.array([100.0, 100.0, 100.0, 100.0])
    k = np.array([100.0, 100.0001, 99.9999, 100.0])
    t = np.array([1e-6, 1e-4, 1e-4, 1.0])
    v = np.array([0.01, 0.05, 0.05, 1e-5])
    for call in (True, False):
        ours = black76(f, k, t, v, 0.01, call)
        exact = np.array([_mp_black(*row, 0.01, call) for row in zip(f, k, t, v, strict=True)])
        np.testing.assert_allclose(ours, exact, rtol=1e-11)


def test_erfcx_table_against_mpmath() -> None:
    assert len(COEFFICIENTS) == 100
    zs = np.concatenate([np.linspace(0, 2, 401), np.geomspace(2, 1e7, 400)])
    for z in zs:
        exact = float(mp.erfc(mp.mpf(z)) * mp.exp(mp.mpf(z) ** 2))
        assert erfcx(float(z)) == pytest.approx(exact, rel=2e-15), z
    assert erfcx(math.inf) == 0.0


def test_greeks_against_quantlib_black_calculator() -> None:
    f, k, t, v, r, call = _grid(2_000, seed=5)
    g = black76_greeks(f, k, t, v, r, call)
    for i in range(0, 2_000, 7):
        kind = ql.Option.Call if call[i] else ql.Option.Put
        calc = ql.BlackCalculator(
            ql.PlainVanillaPayoff(kind, k[i]), f[i], v[i] * math.sqrt(t[i]), math.exp(-r[i] * t[i])
        )
        assert g.price[i] == pytest.approx(calc.value(), rel=1e-10, abs=1e-13)
        assert g.delta[i] == pytest.approx(calc.deltaForward(), rel=1e-9, abs=1e-13)
        assert g.gamma[i] == pytest.approx(calc.gammaForward(), rel=1e-9, abs=1e-13)
        assert g.vega[i] == pytest.approx(calc.vega(t[i]), rel=1e-9, abs=1e-11)


def test_greeks_against_finite_differences() -> None:
    f, k, t, v, r, call = _grid(500, seed=11)
    g = black76_greeks(f, k, t, v, r, call)

    def bump(fn_args: dict[str, np.ndarray], name: str, h: np.ndarray) -> np.ndarray:
        up = dict(fn_args, **{name: fn_args[name] + h})
        down = dict(fn_args, **{name: fn_args[name] - h})
        return (black76(**up) - black76(**down)) / (2 * h)

    args = {"forward": f, "strike": k, "expiry_years": t, "vol": v, "rate": r, "call": call}
    np.testing.assert_allclose(g.delta, bump(args, "forward", 1e-5 * f), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        g.vega, bump(args, "vol", np.full_like(v, 1e-5)), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        g.rho, bump(args, "rate", np.full_like(r, 1e-6)), rtol=1e-6, atol=1e-7
    )
    theta_fd = -bump(args, "expiry_years", np.full_like(t, 1e-6))
    np.testing.assert_allclose(g.theta, theta_fd, rtol=1e-5, atol=1e-6)
    hf = 1e-5 * f  # gamma as the derivative of the (separately verified) delta
    up = black76_greeks(f + hf, k, t, v, r, call).delta
    down = black76_greeks(f - hf, k, t, v, r, call).delta
    np.testing.assert_allclose(g.gamma, (up - down) / (2 * hf), rtol=1e-5, atol=1e-9)
    assert np.allclose(g.vega_per_point, g.vega / 100)
    assert np.allclose(g.theta_per_day, g.theta / 365)


def test_edge_cases_are_finite_limits_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # expiry 0 and vol 0: discounted intrinsic value
        assert black76(80.0, 70.0, 0.0, 0.3, 0.02, True) == pytest.approx(10.0)
        assert black76(80.0, 70.0, 1.0, 0.0, 0.02, True) == pytest.approx(10.0 * math.exp(-0.02))
        assert black76(80.0, 90.0, 1.0, 0.0, 0.02, True) == 0.0
        assert black76(80.0, 90.0, 1.0, 0.0, -0.01, False) == pytest.approx(10.0 * math.exp(0.01))
        # deep in and out of the money
        assert black76(80.0, 1e-6, 1.0, 0.3, 0.0, True) == pytest.approx(80.0 - 1e-6, rel=1e-14)
        deep_otm = float(black76(80.0, 8000.0, 1.0, 0.3, 0.0, True))
        assert deep_otm == pytest.approx(_mp_black(80.0, 8000.0, 1.0, 0.3, 0.0, True), rel=1e-12)
        assert black76(80.0, 1e6, 0.1, 0.1, 0.0, True) == 0.0  # underflows cleanly
        assert black76(80.0, 0.0, 1.0, 0.3, 0.01, True) == pytest.approx(80.0 * math.exp(-0.01))
        assert black76(80.0, 0.0, 1.0, 0.3, 0.01, False) == 0.0
        # greeks at the limits
        g = black76_greeks(
            [80.0, 80.0, 80.0, 80.0],
            [70.0, 80.0, 80.0, 0.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.3, 0.3, 0.0, 0.3],
            0.02,
            True,
        )
        assert list(g.delta) == pytest.approx([1.0, 0.5, 0.5 * math.exp(-0.02), math.exp(-0.02)])
        assert g.gamma[0] == 0.0
        assert g.gamma[1] == math.inf
        assert g.vega[0] == 0.0
        assert g.vega[2] == pytest.approx(80.0 * math.exp(-0.02) / math.sqrt(2 * math.pi))
        assert g.theta[1] == -math.inf
        assert np.isfinite(g.price).all()


def test_broadcasting_shapes() -> None:
    strikes = np.array([70.0, 80.0, 90.0])
    vols = np.array([[0.2], [0.4]])
    out = black76(80.0, strikes, 0.5, vols, 0.02, np.array([True, False, True]))
    assert out.shape == (2, 3)
    assert out[1, 0] == pytest.approx(float(black76(80.0, 70.0, 0.5, 0.4, 0.02, True)))
    assert black76(80.0, 85.0, 0.5, 0.45, 0.018).shape == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forward": -1.0}, r"`forward` must be finite and > 0; got -1.0"),
        ({"forward": math.nan}, r"`forward` must be finite and > 0; got nan"),
        ({"strike": [80.0, -5.0]}, r"`strike` must be finite and >= 0; got -5.0 at index \(1,\)"),
        ({"expiry_years": -0.5}, r"`expiry_years` must be finite and >= 0; got -0.5"),
        ({"vol": math.inf}, r"`vol` must be finite and >= 0; got inf"),
        ({"rate": math.nan}, r"`rate` must be finite; got nan"),
        ({"strike": [1.0, 2.0], "vol": [0.1, 0.2, 0.3]}, r"cannot be broadcast together"),
        ({"call": "yes"}, r"`call` must be a bool"),
        ({"forward": "eighty"}, r"`forward` must be numeric"),
    ],
    ids=[
        "negative-forward",
        "nan-forward",
        "negative-strike",
        "negative-expiry",
        "inf-vol",
        "nan-rate",
        "shapes",
        "call-string",
        "forward-string",
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "forward": 80.0,
        "strike": 85.0,
        "expiry_years": 0.5,
        "vol": 0.4,
        "rate": 0.02,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        black76(**args)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=message):
        black76_greeks(**args)  # type: ignore[arg-type]


# --- implied volatility ---------------------------------------------------------------------


def test_implied_vol_round_trip_on_the_grid() -> None:
    f, k, t, v, r, call = _grid(50_000, seed=2)
    price = black76(f, k, t, v, r, call)
    res = solve_implied_vol(price, f, k, t, r, call)
    solved = res.solved
    assert solved.mean() > 0.95
    # every solved vol reproduces the price (to the price's own conditioning in the far tail)
    back = black76(f[solved], k[solved], t[solved], res.vol[solved], r[solved], call[solved])
    np.testing.assert_allclose(back, price[solved], rtol=1e-9, atol=1e-300)
    sizeable = price[solved] > 1e-8 * f[solved]
    np.testing.assert_allclose(back[sizeable], price[solved][sizeable], rtol=1e-12)
    # and recovers the vol wherever the price carries it (vega not negligible against the price)
    vega = black76_greeks(f, k, t, v, r, call).vega
    informative = solved & (vega * v > 1e-6 * price)
    np.testing.assert_allclose(res.vol[informative], v[informative], rtol=1e-9)
    # rows that could not be solved have no time value to speak of
    assert set(np.unique(res.reasons()[~solved])) <= {
        "price equals the discounted intrinsic value to double precision: "
        "no time value to read a volatility from"
    }


def test_implied_vol_against_quantlib() -> None:
    f, k, t, v, r, call = _grid(300, seed=9)
    price = black76(f, k, t, v, r, call)
    ours = implied_vol(price, f, k, t, r, call)
    # how much a relative price difference moves the vol: price / (vega * vol)
    conditioning = price / (black76_greeks(f, k, t, v, r, call).vega * v)
    for i in range(300):
        kind = ql.Option.Call if call[i] else ql.Option.Put
        try:
            stdev = ql.blackFormulaImpliedStdDev(
                kind, k[i], f[i], price[i], math.exp(-r[i] * t[i]), 0.0, 0.3, 1e-14, 1000
            )
        except RuntimeError:
            continue  # QuantLib gives up where there is no time value
        if np.isfinite(ours[i]) and price[i] > 1e-4 * f[i]:
            tol = 1e-11 * max(1.0, conditioning[i])
            assert ours[i] == pytest.approx(stdev / math.sqrt(t[i]), rel=tol)


def test_implied_vol_reasons() -> None:
    f, k, t, r = 80.0, 90.0, 0.5, 0.02
    df = math.exp(-r * t)
    prices = np.array(
        [
            float(black76(f, k, t, 0.35, r, True)),  # solvable
            -0.01,  # below intrinsic (0)
            f * df,  # the call's upper bound
            math.nan,
        ]
    )
    res = solve_implied_vol(prices, f, k, t, r, True)
    assert res.vol[0] == pytest.approx(0.35, rel=1e-12)
    assert list(res.reasons()) == [
        "",
        "price is below the discounted intrinsic value",
        "price is at or above the no-arbitrage maximum (discounted forward for a call, "
        "discounted strike for a put)",
        "price is not a finite number",
    ]
    itm_put_below = solve_implied_vol(5.0 * df, f, k, t, r, False)  # intrinsic is 10
    assert math.isnan(float(itm_put_below.vol))
    assert "below the discounted intrinsic" in str(itm_put_below.reasons())
    expired = solve_implied_vol(1.0, f, k, 0.0, r, True)
    assert "expiry is 0" in str(expired.reasons())
    with pytest.raises(InvalidInputError, match="`strike` must be > 0"):
        implied_vol(1.0, f, 0.0, t, r, True)


# --- properties -----------------------------------------------------------------------------

_f = st.floats(1.0, 500.0)
_moneyness = st.floats(-1.5, 1.5)
_t = st.floats(0.001, 10.0)
_v = st.floats(0.01, 2.0)
_r = st.floats(-0.05, 0.15)


@settings(max_examples=300, deadline=None)
@given(f=_f, m=_moneyness, t=_t, v=_v, r=_r)
def test_put_call_parity(f: float, m: float, t: float, v: float, r: float) -> None:
    k = f * math.exp(m)
    c = float(black76(f, k, t, v, r, True))
    p = float(black76(f, k, t, v, r, False))
    assert c - p == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-12 * max(f, k))


@settings(max_examples=300, deadline=None)
@given(f=_f, m=_moneyness, t=_t, v=_v, r=_r, call=st.booleans())
def test_monotone_in_vol_and_forward(
    f: float, m: float, t: float, v: float, r: float, call: bool
) -> None:
    k = f * math.exp(m)
    base = float(black76(f, k, t, v, r, call))
    tol = 1e-13 * max(f, k)
    assert float(black76(f, k, t, v * 1.01, r, call)) >= base - tol
    moved = float(black76(f * 1.01, k, t, v, r, call))
    assert (moved >= base - tol) if call else (moved <= base + tol)


@settings(max_examples=300, deadline=None)
@given(
    f=_f,
    m=st.floats(-0.8, 0.8),
    t=st.floats(0.01, 5.0),
    v=st.floats(0.02, 1.5),
    r=_r,
    call=st.booleans(),
)
def test_implied_vol_inverts_black76(
    f: float, m: float, t: float, v: float, r: float, call: bool
) -> None:
    k = f * math.exp(m)
    price = float(black76(f, k, t, v, r, call))
    vega = float(black76_greeks(f, k, t, v, r, call).vega)
    if price < 1e-250 or vega * v < 1e-6 * price:
        return  # the price does not carry the vol at double precision
    assert float(implied_vol(price, f, k, t, r, call)) == pytest.approx(v, rel=1e-9)


def test_vectorisable_exp_and_log_match_libm() -> None:
    from carbonfin.pricing._kernels import vexp, vlog

    rng = np.random.default_rng(4)
    for x in np.r_[rng.uniform(-700, 700, 3000), rng.uniform(-1, 1, 3000), [0.0, -708.0]]:
        exact = math.exp(x)
        assert abs(vexp(float(x)) - exact) <= np.spacing(exact), x
    assert vexp(-800.0) == 0.0  # flushed below e^-708
    for y in np.r_[np.exp(rng.uniform(-300, 300, 3000)), 1 + rng.uniform(-1e-6, 1e-6, 1000), [1.0]]:
        exact = math.log(y)
        assert abs(vlog(float(y)) - exact) <= 2 * np.spacing(abs(exact)) + 1e-300, y


def test_discount_factor_overflow_is_refused() -> None:
    # issue 9 item 11: vexp wrapped for -r*T > 709 and this call returned a negative price
    from carbonfin.pricing._kernels import vexp

    assert vexp(800.0) == math.inf
    assert vexp(709.5) == pytest.approx(math.exp(709.5), rel=1e-15)
    msg = r"`rate` x `expiry_years` must be within ±700"
    with pytest.raises(InvalidInputError, match=msg):
        black76(80.0, 85.0, 800.0, 0.3, -1.0)
    with pytest.raises(InvalidInputError, match=msg):
        black76_greeks(80.0, 85.0, 800.0, 0.3, -1.0, False)
    with pytest.raises(InvalidInputError, match=msg):
        solve_implied_vol(10.0, 80.0, 85.0, 800.0, -1.0)
    # at the edge the price is still Black's formula written out (Hull ch. 18) with libm's exp
    s = 0.3 * math.sqrt(700.0)
    d1 = math.log(80.0 / 85.0) / s + s / 2
    n1, n2 = (0.5 * math.erfc(-d / math.sqrt(2)) for d in (d1, d1 - s))
    expected = math.exp(700.0) * (80.0 * n1 - 85.0 * n2)
    assert float(black76(80.0, 85.0, 700.0, 0.3, -1.0)) == pytest.approx(expected, rel=1e-12)


def test_greeks_are_read_only() -> None:
    g = black76_greeks([60.0, 70.0], 65.0, 0.5, 0.4, 0.02)
    with pytest.raises(ValueError, match="read-only"):
        g.delta[0] = 0.0


def test_one_thread_and_shared_out_kernels_give_the_same_bits() -> None:
    # workers=1 runs the vectorised row loop over all rows on the calling thread, more run the
    # same compiled loop over chunks of CHUNK rows (the other tests exercise both against
    # QuantLib and mpmath). One loop, so the same bits whatever the thread count: before, the
    # two paths were two compilations (a scalar one and the prange body) and differed in the
    # last bits of ~10% of the rows here
    rng = np.random.default_rng(11)
    n = 3 * _kernels.CHUNK + 17
    f = rng.uniform(40.0, 120.0, n)
    k = f * np.exp(rng.uniform(-3.0, 3.0, n))
    t = rng.uniform(0.0, 3.0, n)
    v = rng.uniform(0.0, 1.0, n)
    r = rng.uniform(-0.005, 0.05, n)
    call = rng.random(n) < 0.5
    results = []
    for workers in (1, 2, 3, 4):  # 4 chunks: 3 parts of 2, the last one empty
        out = np.empty(n)
        _kernels.black76_price(f, k, t, v, r, call, out, workers)
        outs = list(np.empty((6, n)))
        _kernels.black76_all(f, k, t, v, r, call, *outs, workers)
        results.append([out, *outs])
    for result in results[1:]:
        for a, b in zip(result, results[0], strict=True):
            np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


def test_greeks_into_a_reused_buffer_are_the_same_bits() -> None:
    # out= writes the same kernel results into the caller's block; the result views it read-only
    rng = np.random.default_rng(5)
    shape = (3, 1000)
    f = rng.uniform(40.0, 120.0, shape)
    k = f * np.exp(rng.uniform(-2.0, 2.0, shape))
    t = rng.uniform(0.0, 3.0, shape)
    v = rng.uniform(0.0, 1.0, shape)
    call = rng.random(shape) < 0.5
    fresh = black76_greeks(f, k, t, v, 0.02, call)
    out = np.full((6, *shape), np.nan)
    for _ in range(2):  # the second call overwrites the first one's results in place
        reused = black76_greeks(f, k, t, v, 0.02, call, out=out)
    names = ("price", "delta", "gamma", "vega", "theta", "rho")
    for i, name in enumerate(names):
        a, b = getattr(fresh, name), getattr(reused, name)
        np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))
        assert np.shares_memory(b, out[i])
        assert not b.flags.writeable
    assert out.flags.writeable


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (np.empty((6, 4), dtype=np.float32), "`out` must be a float64 ndarray; got float32"),
        ([[0.0] * 4] * 6, "`out` must be a float64 ndarray; got list"),
        (np.empty((6, 5)), r"`out` must have shape \(6, 4\); got \(6, 5\)"),
        (np.empty((4, 6)).T, "`out` must be C-contiguous and writable"),
    ],
    ids=["float32", "list", "shape", "not-contiguous"],
)
def test_greeks_out_is_checked(out: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        black76_greeks(np.full(4, 60.0), 65.0, 0.5, 0.4, 0.02, out=out)  # type: ignore[arg-type]


def test_greeks_out_read_only_or_overlapping_is_refused() -> None:
    forward = np.full(4, 60.0)
    frozen = np.empty((6, 4))
    frozen.flags.writeable = False
    with pytest.raises(InvalidInputError, match="C-contiguous and writable"):
        black76_greeks(forward, 65.0, 0.5, 0.4, 0.02, out=frozen)
    block = np.empty((7, 4))
    block[6] = 60.0
    with pytest.raises(InvalidInputError, match="must not overlap the inputs"):
        black76_greeks(block[6], 65.0, 0.5, 0.4, 0.02, out=block[1:])
