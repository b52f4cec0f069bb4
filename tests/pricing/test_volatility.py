"""EWMA against a hand-written recursion; GARCH-family fits against arch's own fits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from arch import arch_model

from carbonfin.errors import ConvergenceError, ConvergenceWarning, InvalidInputError
from carbonfin.pricing import ewma, fit_garch, select_model
from carbonfin.pricing import volatility as vol_module


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
    var = np.mean(R[:30] ** 2)
    expected = [var]
    for x in R[:-1]:
        var = lam * var + (1 - lam) * x * x
        expected.append(var)
    np.testing.assert_allclose(res.variance, expected, rtol=1e-12)
    assert res.next_variance == pytest.approx(lam * expected[-1] + (1 - lam) * R[-1] ** 2)
    assert res.horizon_variance(10) == pytest.approx(10 * res.next_variance)
    with pytest.raises(InvalidInputError, match="`lam` must be in"):
        ewma(R, lam=1.0)


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
    normal = fit_garch(R, "egarch", "normal")
    assert normal.forecast_variance(5, seed=1) == pytest.approx(normal.forecast_variance(5, seed=1))


def test_selection_ranks_by_the_criterion() -> None:
    sel = select_model(R, [("garch", "normal"), ("garch", "t"), ("gjr", "t")], criterion="bic")
    bics = [f.bic for f in sel.fits]
    assert bics == sorted(bics)
    assert sel.best.dist == "t"  # the data are t-distributed
    assert "model selection by BIC" in str(sel)


def test_non_stationary_fit_warns() -> None:
    # a volatility regime shift half-way makes the fit integrated
    rng = np.random.default_rng(3)
    r = np.r_[rng.standard_normal(1500) * 0.01, rng.standard_normal(1500) * 0.05]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_garch(r, "garch", "normal")
    if fit.persistence >= 1.0:
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
        assert math.isnan(fit.unconditional_variance)
    else:
        assert fit.persistence > 0.97


def test_failed_optimisation_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real = vol_module.arch_model

    class Failing:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.inner = real(*args, **kwargs)

        def fit(self, **kwargs: object) -> object:
            result = self.inner.fit(**kwargs)
            result.convergence_flag = 9  # type: ignore[misc]
            return result

    monkeypatch.setattr(vol_module, "arch_model", Failing)
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
