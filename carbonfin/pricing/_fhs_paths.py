"""Compiled GARCH/GJR filtered-historical-simulation paths (the hot loop of
:func:`carbonfin.pricing.scenarios.filtered_historical`).

The same arithmetic as the numpy loop it replaces, operation by operation and in the same order
(``σ = √h``, ``r = clip(μ + σz)``, ``ε = r − μ``, ``h ← ω + (α + γ·1{ε<0})·ε·ε + β·h``, bounded at
the variance cap), so the paths are bit for bit the same (tested); only the loop over paths and
days runs compiled instead of one numpy pass per day. The resampled residual indices are drawn by
the caller, day by day from the same generator, before the loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carbonfin.pricing import _jit

_jit.configure_cache()

__all__ = ["garch_paths"]


@njit(cache=True)
def _garch_paths(
    z: np.ndarray,
    idx: np.ndarray,
    mu: float,
    omega: float,
    alpha: float,
    gamma: float,
    beta: float,
    var0: float,
    var_cap: float,
    lo: float,
    hi: float,
    out: np.ndarray,
) -> int:
    horizon, n_paths = idx.shape
    capped = 0
    for i in range(n_paths):
        var = var0
        for d in range(horizon):
            sigma = math.sqrt(var)
            r = min(max(mu + sigma * z[idx[d, i]], lo), hi)
            out[i, d] = r
            eps = r - mu
            a = alpha + gamma * (1.0 if eps < 0.0 else 0.0)
            var = omega + a * eps * eps + beta * var
            if var >= var_cap:
                capped += 1
                var = var_cap
    return capped


def garch_paths(
    z: np.ndarray,
    idx: np.ndarray,
    params: dict[str, float],
    mu: float,
    var0: float,
    var_cap: float,
    limit: tuple[float, float] | None,
) -> tuple[np.ndarray, int]:
    """Daily log returns (paths × days) and the number of path-days at the variance cap, from
    residuals ``z`` resampled at ``idx`` (days × paths); ``limit``: the log-return clip."""
    lo, hi = limit if limit is not None else (-math.inf, math.inf)
    out = np.empty((idx.shape[1], idx.shape[0]))
    capped = _garch_paths(
        np.ascontiguousarray(z, dtype=float), np.ascontiguousarray(idx, dtype=np.int64),
        float(mu), float(params["omega"]), float(params["alpha[1]"]),
        float(params.get("gamma[1]", 0.0)), float(params["beta[1]"]), float(var0),
        float(var_cap), float(lo), float(hi), out,
    )  # fmt: skip
    return out, int(capped)
