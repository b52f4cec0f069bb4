"""EWMA against a hand-written recursion; GARCH-family fits against arch's own fits and the
published GARCH benchmark; stationarity, data scale and model selection."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from arch import arch_model

from carbonfin.errors import (
    ConvergenceError,
    DataScaleWarning,
    InvalidInputError,
    NonStationaryWarning,
)
from carbonfin.pricing import ewma, fit_garch, select_model
from carbonfin.pricing import volatility as vol_module

DATA = Path(__file__).parent / "data"


def _garch_t_returns(
    n: int, seed: int, omega: float = 4e-6, alpha: float = 0.08, beta: float = 0.9, nu: float = 6.0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_t(nu, n) * math.sqrt((nu - 2) / nu)
    r = np.empty(n)
    var = omega / (1 - alpha - beta)
    for i in range(n):
        r[i] = math.sqrt(var) * z[i]
        var = omega + alpha * r[i] ** 2 + beta * var
    return r


R = _garch_t_returns(3000, seed=42)


def test_ewma_matches_the_recursion() -> None:
    lam = 0.94
    res = ewma(R, lam=lam, init_window=30)
    # RiskMetrics recursion written out: start on day 30 from the mean of days 0..29
    var = np.mean(R[:30] ** 2)
    expected = [math.nan] * 30 + [var]
    for x in R[30:-1]:
        var = lam * var + (1 - lam) * x * x
        expected.append(var)
    np.testing.assert_allclose(res.variance, expected, rtol=1e-12)
    assert res.valid_from == 30
    assert res.next_variance == pytest.approx(lam * expected[-1] + (1 - lam) * R[-1] ** 2)
    assert res.horizon_variance(10) == pytest.approx(10 * res.next_variance)
    with pytest.raises(InvalidInputError, match="`lam` must be in"):
        ewma(R, lam=1.0)


def test_ewma_uses_no_future_return() -> None:
    # issue 9 item 9: each estimate may use only the returns before its day
    base = ewma(R[:500]).variance
    for k in (0, 10, 29, 30, 200):
        bumped = R[:500].copy()
        bumped[k] *= 5.0
        changed = ewma(bumped).variance
        same = slice(0, k + 1)  # variance[t] may depend on r_0..r_{t-1} only
        np.testing.assert_array_equal(changed[same], base[same])
    assert np.isnan(base[:30]).all()
    assert np.isfinite(base[30:]).all()
    assert not base.flags.writeable


@pytest.mark.parametrize(
    ("model", "dist", "spec"),
    [
        ("garch", "t", {"vol": "GARCH", "p": 1, "o": 0, "q": 1}),
        ("gjr", "t", {"vol": "GARCH", "p": 1, "o": 1, "q": 1}),
        ("garch", "normal", {"vol": "GARCH", "p": 1, "o": 0, "q": 1}),
        ("garch", "skewt", {"vol": "GARCH", "p": 1, "o": 0, "q": 1}),
        ("egarch", "normal", {"vol": "EGARCH", "p": 1, "o": 1, "q": 1}),
    ],
    ids=["garch-t", "gjr-t", "garch-normal", "garch-skewt", "egarch-normal"],
)
def test_estimates_equal_arch_own_fit(model: str, dist: str, spec: dict[str, object]) -> None:
    ours = fit_garch(R, model, dist)  # type: ignore[arg-type]
    ref = arch_model(R * 100, mean="Constant", dist=dist, rescale=False, **spec).fit(disp="off")
    for name, value in ref.params.items():
        expected = float(value)
        if name == "mu":
            expected /= 100
        elif name == "omega" and model != "egarch":
            expected /= 100**2
        elif name == "omega":  # log-variance intercept moves by (1 - beta) ln(100^2)
            expected -= (1 - float(ref.params["beta[1]"])) * math.log(100**2)
        assert ours.params[name] == pytest.approx(expected, rel=1e-8, abs=1e-14), name
    np.testing.assert_allclose(ours.conditional_vol, ref.conditional_volatility / 100, rtol=1e-10)
    np.testing.assert_allclose(ours.std_resid, ref.std_resid, rtol=1e-10)


def test_likelihood_is_that_of_the_decimal_returns() -> None:
    ours = fit_garch(R, "garch", "t")
    # evaluate the same model on the decimal data at our (decimal) parameters
    direct = arch_model(R, mean="Constant", vol="GARCH", dist="t", rescale=False)
    fixed = direct.fix([ours.params[k] for k in ("mu", "omega", "alpha[1]", "beta[1]", "nu")])
    assert ours.loglikelihood == pytest.approx(fixed.loglikelihood, rel=1e-9)
    assert ours.aic == pytest.approx(-2 * ours.loglikelihood + 2 * 5, rel=1e-9)


def test_recovers_the_simulated_parameters() -> None:
    fit = fit_garch(R, "garch", "t")
    assert fit.params["alpha[1]"] == pytest.approx(0.08, abs=0.03)
    assert fit.params["beta[1]"] == pytest.approx(0.90, abs=0.04)
    assert fit.params["nu"] == pytest.approx(6.0, abs=2.0)
    assert fit.unconditional_variance == pytest.approx(4e-6 / 0.02, rel=0.35)


def test_garch_term_structure_is_the_closed_form() -> None:
    fit = fit_garch(R, "garch", "t")
    h = 20
    path = fit.forecast_variance(h)
    p = fit.params
    persistence = p["alpha[1]"] + p["beta[1]"]
    long_run = p["omega"] / (1 - persistence)
    expected = long_run + persistence ** np.arange(h) * (path[0] - long_run)
    np.testing.assert_allclose(path, expected, rtol=1e-10)
    assert fit.horizon_variance(h) == pytest.approx(expected.sum())
    assert "GARCH(1,1) with t innovations" in fit.summary()


def test_egarch_fat_tailed_multi_day_forecast_is_refused() -> None:
    fit = fit_garch(R, "egarch", "t")
    assert fit.forecast_variance(1)[0] > 0
    with pytest.raises(InvalidInputError, match="no finite variance forecast beyond one day"):
        fit.forecast_variance(5)


def test_egarch_term_structure_equals_arch_simulation() -> None:
    # the closed form (product of normal moment generating functions) against arch's own
    # simulated forecast of the same model: 400,000 paths, Monte Carlo error ~0.3% at day 10
    ours = fit_garch(R, "egarch", "normal")
    ref = arch_model(R * 100, mean="Constant", vol="EGARCH", p=1, o=1, q=1, rescale=False)
    res = ref.fit(disp="off")
    sim = res.forecast(
        horizon=10, method="simulation", simulations=400_000, reindex=False, random_state=None
    )
    expected = sim.variance.to_numpy()[-1] / 100**2
    np.testing.assert_allclose(ours.forecast_variance(10), expected, rtol=0.01)
    assert ours.forecast_variance(1)[0] == pytest.approx(expected[0], rel=1e-9)


def test_selection_ranks_by_the_criterion() -> None:
    sel = select_model(R, [("garch", "normal"), ("garch", "t"), ("gjr", "t")], criterion="bic")
    bics = [f.bic for f in sel.fits]
    assert bics == sorted(bics)
    assert sel.best.dist == "t"  # the data are t-distributed
    assert "model selection by BIC" in str(sel)


def _igarch_t(n: int = 1500, seed: int = 3) -> np.ndarray:
    """Returns from an integrated GARCH (alpha 0.3 + beta 0.7 = 1) with t(3) shocks."""
    rng = np.random.default_rng(seed)
    z = rng.standard_t(3.0, n) * math.sqrt(1 / 3)
    r = np.empty(n)
    var = 1e-4
    for i in range(n):
        r[i] = math.sqrt(var) * z[i]
        var = 1e-7 + 0.3 * r[i] ** 2 + 0.7 * var
    return r


@pytest.mark.parametrize("model", ["garch", "gjr"])
def test_non_stationary_fit_warns_and_reports_no_long_run(model: str) -> None:
    # issue 9 item 16: persistence 1 - 1e-10 printed "annualised 12509966%" without a warning
    with pytest.warns(NonStationaryWarning, match="not stationary"):
        fit = fit_garch(_igarch_t(), model, "t")  # type: ignore[arg-type]
    assert not fit.is_stationary
    assert math.isnan(fit.unconditional_variance)
    assert "not meaningful" in (fit.long_run_note or "")
    assert "long-run variance: not meaningful" in fit.summary()
    assert "NOT STATIONARY" in fit.summary()
    assert any("not stationary" in w for w in fit.warnings)
    # the annualised figure falls back to the next-day vol, a number of the data's order
    assert fit.annualised_vol() < 10 * np.std(_igarch_t()) * math.sqrt(243)


def test_stationarity_rule_covers_egarch() -> None:
    fit = fit_garch(R, "egarch", "normal")
    assert fit.is_stationary
    # EGARCH-normal long-run variance in closed form against the long-horizon forecast
    assert fit.unconditional_variance == pytest.approx(fit.forecast_variance(400)[-1], rel=1e-6)
    unit_root = dataclasses.replace(fit, params={**fit.params, "beta[1]": 1.0})
    assert not unit_root.is_stationary
    assert "not stationary" in (unit_root.long_run_note or "")
    assert math.isnan(fit_garch(R, "egarch", "t").unconditional_variance)


def test_selection_keeps_warnings_and_never_picks_a_non_stationary_best() -> None:
    # issue 9 item 8: on this integrated series GARCH-t and GJR-t are not stationary
    r = _igarch_t()
    sel = select_model(r, [("garch", "t"), ("gjr", "t"), ("egarch", "t")], criterion="bic")
    flags = {f"{f.model}-{f.dist}": f.is_stationary for f in sel.fits}
    assert flags == {"garch-t": False, "gjr-t": False, "egarch-t": True}
    assert sel.best.is_stationary
    assert sel.best.model == "egarch"
    for fit in sel.fits:
        if not fit.is_stationary:
            assert any("not stationary" in w for w in fit.warnings)
    text = sel.summary()
    assert "NO" in text
    assert "<- best" in text
    if sel.best_rank > 0:
        assert "ranked above it but not stationary" in sel.note
    # only non-stationary candidates: best is the first-ranked, and a warning says so
    with pytest.warns(NonStationaryWarning, match="no candidate is stationary"):
        only = select_model(r, [("garch", "t"), ("gjr", "t")])
    assert not only.best_is_stationary
    assert "no candidate is stationary" in only.summary()


def test_percent_returns_warn() -> None:
    # issue 9 item 23: percent returns only change the likelihood's units in arch
    with pytest.warns(DataScaleWarning, match="look like percent returns"):
        fit = fit_garch(R * 100, "garch", "normal")
    assert any("percent" in w for w in fit.warnings)


def test_published_garch_benchmark_with_sample_initial_variance() -> None:
    # Fiorentini, Calzolari and Panattoni (1996) / McCullough and Renfro (1998): GARCH(1,1),
    # normal, constant mean on the Bollerslev-Ghysels DEM/GBP returns, the recursion started at
    # the sample mean of squared residuals. Published estimates (rugarch's benchmark test):
    # mu -0.00619041, omega 0.0107613, alpha 0.153134, beta 0.805974 (percent returns).
    y = np.loadtxt(DATA / "dem_gbp_bollerslev_ghysels.csv", comments="#", skiprows=8)
    assert len(y) == 1974
    fit = fit_garch(y / 100, "garch", "normal", initial_variance="sample")
    p = fit.params
    assert p["omega"] * 100**2 == pytest.approx(0.0107613, rel=2e-4)
    assert p["alpha[1]"] == pytest.approx(0.153134, rel=2e-4)
    assert p["beta[1]"] == pytest.approx(0.805974, rel=2e-5)
    # mu: the benchmark re-centres the start at each trial mu, arch at the sample mean
    assert p["mu"] * 100 == pytest.approx(-0.00619041, rel=5e-3)
    # arch's backcast start lands elsewhere on this sample: the option matters
    backcast = fit_garch(y / 100, "garch", "normal")
    assert backcast.initial_variance == "backcast"
    assert abs(backcast.params["alpha[1]"] - 0.153134) > 0.005
    with pytest.raises(InvalidInputError, match="`initial_variance` must be"):
        fit_garch(y / 100, "garch", "normal", initial_variance="zero")  # type: ignore[arg-type]


def test_fit_results_are_read_only() -> None:
    fit = fit_garch(R, "garch", "t")
    with pytest.raises(TypeError):
        fit.params["omega"] = 1.0  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        fit.std_resid[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        fit.conditional_vol[0] = 0.0


def test_failed_optimisation_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real = vol_module.ConstantMean

    class Failing:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.inner = real(*args, **kwargs)

        def fit(self, **kwargs: object) -> object:
            result = self.inner.fit(**kwargs)
            result.convergence_flag = 9  # type: ignore[misc]
            return result

    monkeypatch.setattr(vol_module, "ConstantMean", Failing)
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_garch(R, "garch", "t")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"returns": np.r_[R[:200], np.nan]}, "`returns` must be finite"),
        ({"returns": R[:50]}, "need at least 100 returns"),
        ({"returns": np.zeros(200)}, "no volatility to model"),
        ({"model": "figarch"}, "`model` must be one of"),
        ({"dist": "ged"}, "`dist` must be one of"),
    ],
    ids=["nan", "short", "constant", "model", "dist"],
)
def test_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"returns": R, "model": "garch", "dist": "t"}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        fit_garch(**args)  # type: ignore[arg-type]
