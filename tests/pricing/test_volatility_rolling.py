"""Warm-started refits, filtering with fixed parameters, and the normal (EWMA) VaR/ES: the pieces
a rolling backtest needs from the core."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch.univariate import GARCH, ZeroMean
from arch.univariate import StudentsT as ArchT
from scipy import stats

from carbonfin.errors import InvalidInputError, NonStationaryWarning
from carbonfin.pricing.volatility import VolFit, ewma, filter_garch, fit_garch, normal_loss


def _garch_t(n: int, seed: int = 11) -> np.ndarray:
    # GARCH(1,1)-t with omega 2e-5, alpha 0.08, beta 0.88, nu 6 (decimal returns, ~2.2% a day)
    rng = np.random.default_rng(seed)
    omega, alpha, beta, nu = 2e-5, 0.08, 0.88, 6.0
    z = rng.standard_t(nu, n) * math.sqrt((nu - 2) / nu)
    h, out = omega / (1 - alpha - beta), np.empty(n)
    for t in range(n):
        out[t] = math.sqrt(h) * z[t]
        h = omega + alpha * out[t] ** 2 + beta * h
    return out


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    return _garch_t(900)


@pytest.mark.parametrize(
    ("model", "dist", "mean"),
    [("garch", "t", "zero"), ("gjr", "t", "zero"), ("egarch", "normal", "constant")],
    ids=["garch-t", "gjr-t", "egarch-normal-constant-mean"],
)
def test_filter_with_the_fitted_parameters_reproduces_the_fit(
    returns: np.ndarray, model: str, dist: str, mean: str
) -> None:
    # the parameters go out in decimals and come back in arch's percent scale: a round trip that
    # gets omega/mu scaling wrong shows here as different variances and likelihood
    fit = fit_garch(returns, model, dist, mean)  # type: ignore[arg-type]
    fixed = filter_garch(fit, returns)
    assert fixed.fixed_params
    np.testing.assert_allclose(fixed.conditional_vol, fit.conditional_vol, rtol=1e-9)
    assert fixed.loglikelihood == pytest.approx(fit.loglikelihood, rel=1e-10)
    assert all(math.isnan(v) for v in fixed.std_errors.values())
    assert "FIXED" in fixed.summary()


def test_filtering_forward_is_the_garch_recursion_with_old_parameters(returns: np.ndarray) -> None:
    fit = fit_garch(returns[:750], "garch", "t", mean="zero")
    moved = filter_garch(fit, returns[10:760])  # ten days later, same parameters
    p = fit.params
    # the next-day forecast written out: h_{T+1} = omega + alpha eps_T^2 + beta h_T (Bollerslev
    # 1986), from the filtered variance of the last day
    h_t = moved.conditional_vol[-1] ** 2
    expected = p["omega"] + p["alpha[1]"] * returns[759] ** 2 + p["beta[1]"] * h_t
    assert moved.forecast_variance(1)[0] == pytest.approx(expected, rel=1e-9)
    assert dict(moved.params) == pytest.approx(dict(fit.params))


def test_warm_start_reaches_the_cold_optimum_in_fewer_iterations(returns: np.ndarray) -> None:
    first = fit_garch(returns[:750], "garch", "t", mean="zero")
    cold = fit_garch(returns[5:755], "garch", "t", mean="zero")
    warm = fit_garch(returns[5:755], "garch", "t", mean="zero", starting_values=first)
    assert warm.loglikelihood == pytest.approx(cold.loglikelihood, abs=1e-4)
    for name in cold.params:
        assert warm.params[name] == pytest.approx(cold.params[name], rel=2e-2, abs=1e-7)
    assert warm._arch_result.optimization_result.nit < cold._arch_result.optimization_result.nit


def test_against_arch_own_warm_start(returns: np.ndarray) -> None:
    # arch's own model on percent returns, started from the same (percent-scale) values
    first = fit_garch(returns[:750], "garch", "t", mean="zero")
    warm = fit_garch(returns[5:755], "garch", "t", mean="zero", starting_values=first.params)
    am = ZeroMean(100 * returns[5:755], volatility=GARCH(), distribution=ArchT(), rescale=False)
    p = first.params
    ref = am.fit(
        disp="off",
        starting_values=np.array([p["omega"] * 1e4, p["alpha[1]"], p["beta[1]"], p["nu"]]),
    )
    assert warm.params["omega"] == pytest.approx(ref.params["omega"] / 1e4, rel=1e-4)
    assert warm.params["beta[1]"] == pytest.approx(ref.params["beta[1]"], rel=1e-4)


def test_starting_values_of_another_model_are_refused(returns: np.ndarray) -> None:
    fit = fit_garch(returns, "garch", "t", mean="zero")
    with pytest.raises(InvalidInputError, match="come from a garch-t fit"):
        fit_garch(returns, "gjr", "t", mean="zero", starting_values=fit)
    with pytest.raises(InvalidInputError, match=r"\['gamma\[1\]'\] are missing"):
        fit_garch(returns, "gjr", "t", mean="zero", starting_values=dict(fit.params))


def test_filtering_non_stationary_parameters_warns(returns: np.ndarray) -> None:
    fit = fit_garch(returns, "garch", "t", mean="zero")
    fields = {name: getattr(fit, name) for name in fit.__dataclass_fields__}
    integrated = VolFit(**{**fields, "params": {**fit.params, "alpha[1]": 0.2, "beta[1]": 0.8}})
    with pytest.warns(NonStationaryWarning, match="not stationary"):
        forced = filter_garch(integrated, returns)
    assert not forced.is_stationary


@pytest.mark.parametrize(
    ("confidence", "measure", "z"),
    [
        (0.99, "var", 2.326348),  # standard normal 99% quantile (published tables)
        (0.975, "es", 2.337803),  # ES 97.5% of the standard normal: φ(1.95996)/0.025
        (0.99, "es", 2.665214),  # ES 99%: φ(2.32635)/0.01
    ],
    ids=["var99", "es975", "es99"],
)
def test_normal_loss_against_published_normal_values(
    confidence: float, measure: str, z: float
) -> None:
    sigma = 0.02
    got = normal_loss(sigma**2, 10, confidence, measure)  # type: ignore[arg-type]
    assert float(got) == pytest.approx(sigma * math.sqrt(10) * z, rel=1e-6)
    assert float(normal_loss(sigma**2, 1, confidence, "var")) == pytest.approx(
        -stats.norm.ppf(1 - confidence, scale=sigma)
    )


def test_ewma_loss_after_return_j_uses_returns_up_to_j_only(returns: np.ndarray) -> None:
    base = ewma(returns[:400]).loss_after(1, 0.99)
    shocked = returns[:400].copy()
    shocked[300] = -0.5
    moved = ewma(shocked).loss_after(1, 0.99)
    np.testing.assert_array_equal(base[:300], moved[:300])
    assert moved[300] > base[300]
    # the last entry is the RiskMetrics next-day VaR
    res = ewma(returns[:400])
    assert base[-1] == pytest.approx(2.326348 * math.sqrt(res.next_variance), rel=1e-6)
    assert np.isnan(base[: res.valid_from - 1]).all()


def test_normal_loss_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="`confidence` must be in"):
        normal_loss(1e-4, 1, 1.5)
    with pytest.raises(InvalidInputError, match="`horizon_days` must be"):
        normal_loss(1e-4, 0, 0.99)
