"""Black-76 implied volatility kernel (compiled with numba), element by element.

Interim: the safeguarded Newton solver of ``_kernels``; Jäckel's "Let's Be Rational" follows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from carbonfin.pricing import _jit
from carbonfin.pricing._kernels import (
    _IV_SIG,
    ABOVE_MAXIMUM,
    BELOW_INTRINSIC,
    NO_TIME_VALUE,
    NOT_FINITE,
    ZERO_EXPIRY,
    _is_bad,
    solve_total_stdev,
)

_jit.configure_cache()


@njit(_IV_SIG, cache=True, parallel=True)
def implied_vol(price, f, k, t, r, call, out, reason, threads):  # type: ignore[no-untyped-def]
    """Black-76 implied volatility into ``out`` with a reason code per element."""
    bad = 0
    for i in prange(out.shape[0]):
        pi, fi, ki, ti, ri = price[i], f[i], k[i], t[i], r[i]
        if _is_bad(fi, ki, ti, 0.0, ri) or ki == 0.0:
            bad += 1
            out[i] = np.nan
            reason[i] = NOT_FINITE
            continue
        if not math.isfinite(pi):
            out[i] = np.nan
            reason[i] = NOT_FINITE
            continue
        p = pi * math.exp(ri * ti)  # undiscounted
        ci = call[i]
        intrinsic = max(fi - ki, 0.0) if ci else max(ki - fi, 0.0)
        otm_target = p - intrinsic  # the out-of-the-money option's value, by put–call parity
        a, b = (fi, ki) if fi <= ki else (ki, fi)
        tol = 1e-14 * max(p, intrinsic, 1e-300)
        if otm_target < -tol:
            out[i] = np.nan
            reason[i] = BELOW_INTRINSIC
            continue
        if otm_target >= a:
            out[i] = np.nan
            reason[i] = ABOVE_MAXIMUM
            continue
        if ti == 0.0:
            out[i] = np.nan
            reason[i] = ZERO_EXPIRY
            continue
        if otm_target <= tol:  # no time value left to read a volatility from
            out[i] = np.nan
            reason[i] = NO_TIME_VALUE
            continue
        s, code = solve_total_stdev(a, b, otm_target)
        out[i] = s / math.sqrt(ti)
        reason[i] = code
    return bad
