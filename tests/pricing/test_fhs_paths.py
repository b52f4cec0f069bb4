"""The compiled FHS paths are bit for bit the numpy loop they replaced (the loop is kept here,
as it was in ``filtered_historical`` before: one numpy pass per day over all paths)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from carbonfin.errors import CarbonfinWarning
from carbonfin.pricing.scenarios import filtered_historical
from carbonfin.pricing.volatility import VolFit, fit_garch
from tests.collateral.synthetic import garch_t_returns


def _numpy_paths(fit: VolFit, horizon: int, n_paths: int, seed: int,
                 limit: float | None) -> tuple[np.ndarray, int]:  # fmt: skip
    z_hist = fit.std_resid[np.isfinite(fit.std_resid)]
    var_cap = float(np.max(fit.conditional_vol) ** 2)
    rng = np.random.default_rng(seed)
    p, mu = fit.params, fit.mu
    var = np.full(n_paths, min(float(fit.forecast_variance(1)[0]), var_cap))
    out, capped = np.empty((n_paths, horizon)), 0
    for day in range(horizon):
        z = z_hist[rng.integers(0, len(z_hist), n_paths)]
        sigma = np.sqrt(var)
        r = mu + sigma * z
        if limit is not None:
            r = np.clip(r, math.log1p(-limit), math.log1p(limit))
        out[:, day] = r
        eps = r - mu
        alpha = p["alpha[1]"] + p.get("gamma[1]", 0.0) * (eps < 0)
        var = p["omega"] + alpha * eps * eps + p["beta[1]"] * var
        over = var >= var_cap
        capped += int(over.sum())
        var = np.where(over, var_cap, var)
    return out, capped


def _returns(n: int, seed: int) -> np.ndarray:
    # fat-tailed, volatility-clustered decimal returns (GARCH(1,1)-t(4), near-integrated)
    return garch_t_returns(np.random.default_rng(seed), n, omega=1e-6, alpha=0.15, beta=0.849)


@pytest.mark.parametrize(
    ("model", "dist", "mean", "limit", "horizon"),
    [("garch", "t", "zero", 0.10, 20), ("gjr", "t", "zero", 0.10, 10),
     ("garch", "normal", "constant", None, 5), ("gjr", "t", "constant", 0.02, 20)],
    ids=["garch-t-limit", "gjr-t-limit", "garch-normal-mean-no-limit", "gjr-t-tight-limit"],
)  # fmt: skip
def test_compiled_paths_are_the_numpy_loop(model: str, dist: str, mean: str,
                                           limit: float | None, horizon: int) -> None:  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CarbonfinWarning)
        fit = fit_garch(_returns(700, 3), model, dist, mean)  # type: ignore[arg-type]
        paths = filtered_historical(fit, 1.0, horizon, 1_999, seed=17,
                                    limit_frac=limit)  # fmt: skip
    expected, capped = _numpy_paths(fit, horizon, 1_999, 17, limit)
    np.testing.assert_array_equal(paths.log_returns, expected)
    assert any(f"{capped} of" in n for n in paths.notes) == (capped > 0)
