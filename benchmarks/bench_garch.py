"""GARCH-t fit on 3,000 daily returns: carbonfin.pricing.fit_garch against a bare arch fit.

The overhead ratio is what the engine adds around ``arch`` (validation, scaling, result object).
Run: ``python benchmarks/bench_garch.py`` (or ``make bench``).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from arch import arch_model

from carbonfin.pricing import fit_garch

REPEATS = 5


def returns(n: int = 3000, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nu, omega, alpha, beta = 5.0, 4e-6, 0.08, 0.9
    z = rng.standard_t(nu, n) * math.sqrt((nu - 2) / nu)
    out = np.empty(n)
    var = omega / (1 - alpha - beta)
    for i in range(n):
        out[i] = math.sqrt(var) * z[i]
        var = omega + alpha * out[i] ** 2 + beta * var
    return out


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    r = returns()
    warnings.simplefilter("ignore")
    bare = timed(
        lambda: arch_model(r * 100, vol="GARCH", p=1, q=1, dist="t", rescale=False).fit(disp="off")
    )
    ours = timed(lambda: fit_garch(r, "garch", "t"))
    gjr_bare = timed(
        lambda: arch_model(r * 100, vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(
            disp="off"
        )
    )
    gjr = timed(lambda: fit_garch(r, "gjr", "t"))
    print(f"{'fit on 3,000 returns (best of 5)':36s}{'seconds':>10s}{'overhead':>10s}")
    print(f"{'arch GARCH(1,1)-t, bare':36s}{bare:10.4f}")
    print(f"{'carbonfin fit_garch garch/t':36s}{ours:10.4f}{ours / bare:9.2f}x")
    print(f"{'arch GJR-GARCH-t, bare':36s}{gjr_bare:10.4f}")
    print(f"{'carbonfin fit_garch gjr/t':36s}{gjr:10.4f}{gjr / gjr_bare:9.2f}x")


if __name__ == "__main__":
    main()
