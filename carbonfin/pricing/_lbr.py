"""Black-76 implied volatility: Jäckel's "Let's Be Rational", vectorised and compiled with numba.

Method (P. Jäckel, "Let's Be Rational", Wilmott 2015 (75), 40-53; written here from the paper):
the price is reduced to the *normalised out-of-the-money call* ``β = b(x, s)`` with
``x = −|ln(F/K)| <= 0`` (the in-the-money option less its intrinsic value is the other
option's value, by put–call parity) and

    b(x, s) = e^{x/2} Φ(x/s + s/2) − e^{−x/2} Φ(x/s − s/2),  0 < β < b_max = e^{x/2},

solved for the total standard deviation ``s = σ√T``. Three reference points split the range of
β into four branches: the inflection point ``s_c = √(2|x|)`` with ``b_c = b(x, s_c)``, and the
points ``s_l``, ``s_u`` where the tangent at ``s_c`` reaches 0 and ``b_max``. On each branch a
rational cubic (Delbourgo & Gregory 1985) interpolates ``s`` as a function of β — directly on
the two middle branches, and through the transformations ``f_l(s) = (2π|x|/(3√3))·Φ(−|x|/(√3 s))³``
(lowest: ``f_l ~ β`` as β → 0) and ``f_u(s) = Φ(−s/2)`` (highest) on the outer ones, matching
values, slopes and the second derivative at the inner end. Two Householder steps of third order
(fourth-order convergence) on the branch's objective — ``1/ln b − 1/ln β`` on the lowest,
``b − β`` in the middle, ``ln((b_max − β)/(b_max − b))`` on the highest — then reach machine
precision from that guess.

Speed: every step is written with selects, ``vexp``/``vlog`` and the ``erfcx`` table of
``_kernels`` (no libm calls, no branches), and every helper is inlined (``inline="always"``) into
one plain loop over a chunk of rows (:func:`_solve_rows`), so LLVM vectorises it like the pricing
kernels: the work is a fixed ~4 normalised-Black evaluations per option, 8 options per AVX-512
instruction. (The helpers used to be separate functions called from the ``prange`` loop: those
calls kept the loop scalar, at ~0.9 µs an option. Inlining them into the *parallel* loop instead
makes numba's parfor passes take minutes and gigabytes; into a plain loop, seconds.) With more
than one thread the chunks are shared out through an atomic counter, so a thread whose core is
busy with other work takes fewer of them instead of holding up the call.

Rows the vectorised pass cannot vouch for are solved again by the safeguarded Newton solver of
``_kernels`` (``solve_total_stdev``), which uses the accurate slow-path value: the last
Householder step larger than ``1e-5·s`` (not converged: the error left after a step of relative
size δ is about K·δ⁴, K ≈ 0.04 measured on the lowest branch, whose rational guess is the
roughest, ~5% in s), a total deviation below ``1e-3`` (the fast value loses ``ε/s`` near the
money), far-out-of-the-money rows where the fast value cancels (see ``_kernels._tail_diff``), or
anything not finite. No row is returned unverified.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from carbonfin.pricing import _jit
from carbonfin.pricing._kernels import (
    _FAST_MIN_S,
    _INV_SQRT2,
    _INV_SQRT2PI,
    _IV_SIG,
    ABOVE_MAXIMUM,
    BELOW_INTRINSIC,
    CHUNK,
    NO_TIME_VALUE,
    NOT_FINITE,
    SOLVED,
    ZERO_EXPIRY,
    _fetch_add,
    _is_bad,
    erfcx,
    solve_total_stdev,
    vexp,
    vlog,
)

_jit.configure_cache()

_FM = {"contract", "arcp"}
_SQRT3 = math.sqrt(3.0)
_TWO_PI = 2.0 * math.pi
_R_LINEAR = 1e8  # a rational-cubic control parameter beyond this is the straight line
_R_MIN = -(1.0 - 1.4901161193847656e-08)  # the smallest allowed (Delbourgo & Gregory: r > -1)
_CONVERGED = 1e-5  # last Householder step relative to s: the error after it is ~K·(1e-5)^4
_FALLBACK = -1.0  # marks a row for the safeguarded solver
# The fast b(x, s) loses about (1 + z)/δ ulps where two close erfcx values cancel (δ = s/√2; see
# _kernels._tail_diff). The pricing kernels accept up to 1000 (≤ ~2e-13 relative); a volatility
# read off such a b carries that error *and* is repriced by a kernel with its own, which together
# reached 1.3e-12 in price near the money at s ≈ 0.002 (a loss of ~840 ulps; test_reprices_to_
# 1e_12_across_the_extreme_grid). The solver therefore vouches only for rows that lose at most
# 500 ulps (~1e-13) and sends the rest to the safeguarded solver, whose b is the accurate
# slow-path value: 0.04% of an ordinary book (100 ulps would send 0.7%).
_IV_CANCEL = 500.0

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9), used only
# for the initial guess (the Householder steps take it to machine precision)
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269,
      -30.66479806614716, 2.506628277459239)  # fmt: skip
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
      -13.28068155288572)  # fmt: skip
_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
      4.374664141464968, 2.938163982698783)  # fmt: skip
_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_P_LOW = 0.02425


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _inverse_normal_low(p: float) -> float:
    """Φ⁻¹(p) for 0 < p <= ½ (Acklam), branch-free."""
    p = max(p, 1e-300)
    q = p - 0.5
    r = q * q
    a, b, c, d = _A, _B, _C, _D
    central = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
    central /= ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0
    t = math.sqrt(-2.0 * vlog(p))
    tail = ((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]
    tail /= (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0
    return central if p >= _P_LOW else tail


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _norm_cdf_neg(z: float) -> float:
    """Φ(−z) for z >= 0 (½·e^{−z²/2}·erfcx(z/√2))."""
    return 0.5 * vexp(-0.5 * z * z) * erfcx(z * _INV_SQRT2)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _black(x: float, s: float) -> tuple[float, float, float, bool]:
    """Normalised OTM call b(x, s) for x <= 0, s > 0: (b, b_max − b, ∂b/∂s, exact needed).

    The same two-erfcx form as ``_kernels._fast``; ``exact`` flags the rows where it loses more
    than ~2.7 digits (small s near the money, or a cancelling far tail: ``_IV_CANCEL``).
    """
    u = x / s + 0.5 * s
    lo = u - s
    e_half = vexp(0.5 * x)
    e_u = vexp(-0.5 * u * u)
    z_u = abs(u) * _INV_SQRT2
    c_u = erfcx(z_u)
    c_l = erfcx(-lo * _INV_SQRT2)
    tail = u <= 0.0
    b_tail = 0.5 * e_half * e_u * (c_u - c_l)
    gap_mid = 0.5 * e_half * e_u * (c_u + c_l)  # b_max − b = e^{x/2}Φ(−u) + e^{−x/2}Φ(l)
    b = b_tail if tail else e_half - gap_mid
    gap = e_half - b_tail if tail else gap_mid
    vega = _INV_SQRT2PI * e_half * e_u  # e^{x/2} φ(u)
    exact = (tail and s * _INV_SQRT2 * _IV_CANCEL < 1.0 + z_u) or s < _FAST_MIN_S
    return b, gap, vega, exact


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _rational_cubic(
    x: float, xl: float, xr: float, yl: float, yr: float, dl: float, dr: float, r: float
) -> float:
    """Delbourgo-Gregory rational cubic through (xl, yl), (xr, yr) with slopes dl, dr."""
    h = xr - xl
    t = (x - xl) / h
    mt = 1.0 - t
    num = yr * t * t * t + (r * yr - h * dr) * t * t * mt
    num += (r * yl + h * dl) * t * mt * mt + yl * mt * mt * mt
    cubic = num / (1.0 + (r - 3.0) * t * mt)
    return cubic if r < _R_LINEAR else yr * t + yl * mt


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _control(
    xl: float, xr: float, yl: float, yr: float, dl: float, dr: float, second: float, left: bool
) -> float:
    """Control parameter r that fits the second derivative at the left (or right) end, raised to
    the least value that keeps the interpolant monotone and convex or concave as its data are."""
    h = xr - xl
    slope = (yr - yl) / h
    num = 0.5 * h * second + (dr - dl)
    den = slope - dl if left else dr - slope
    fit = num / den
    fit = fit if math.isfinite(fit) else _R_LINEAR
    monotone = dl * slope >= 0.0 and dr * slope >= 0.0
    convex = dl <= slope <= dr
    concave = dl >= slope >= dr
    r1 = (dr + dl) / slope if monotone else _R_MIN
    r1 = r1 if math.isfinite(r1) else _R_LINEAR
    r2a = abs((dr - dl) / (dr - slope))
    r2b = abs((dr - dl) / (slope - dl))
    r2 = max(r2a, r2b) if (convex or concave) else _R_MIN
    r2 = r2 if math.isfinite(r2) else _R_LINEAR
    return max(fit, r1, r2, _R_MIN)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _lower_map(x: float, s: float, vega: float, h2: float) -> tuple[float, float, float]:
    """f_l(s) = C·Φ(z)³, z = −|x|/(√3 s), C = 2π|x|/(3√3), and df/dβ, d²f/dβ² at s."""
    ax = -x
    z = -ax / (_SQRT3 * s)
    cdf = _norm_cdf_neg(-z)
    pdf = _INV_SQRT2PI * vexp(-0.5 * z * z)
    c = _TWO_PI * ax / (3.0 * _SQRT3)
    dz = -z / s
    d2z = 2.0 * z / (s * s)
    f = c * cdf * cdf * cdf
    df = 3.0 * c * cdf * cdf * pdf * dz
    d2f = 3.0 * c * cdf * pdf * (dz * dz * (2.0 * pdf - z * cdf) + cdf * d2z)
    return f, df / vega, (d2f - df * h2) / (vega * vega)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _guess(beta: float, x: float) -> tuple[float, int]:
    """Initial guess for s and the branch (0 lowest, 1-2 middle, 3 highest) for 0 < β < b_max."""
    b_max = vexp(0.5 * x)
    s_c = math.sqrt(-2.0 * x)
    b_c, _, v_c, _ = _black(x, s_c)
    s_l = s_c - b_c / v_c
    s_u = s_c + (b_max - b_c) / v_c
    low = beta <= b_c
    s_side = s_l if low else s_u
    b_side, _, v_side, _ = _black(x, s_side)
    h2_side = x * x / (s_side * s_side * s_side) - 0.25 * s_side  # b''/b' at s_side
    # lowest branch: (0, 0) slope 1 to (b_l, f_l(s_l))
    f_l, df_l, d2f_l = _lower_map(x, s_side, v_side, h2_side)
    r_ll = _control(0.0, b_side, 0.0, f_l, 1.0, df_l, d2f_l, False)
    f_lo = _rational_cubic(beta, 0.0, b_side, 0.0, f_l, 1.0, df_l, r_ll)
    p_lo = vexp(vlog(max(f_lo, 1e-300) / (_TWO_PI * -x / (3.0 * _SQRT3))) / 3.0)
    s_lowest = x / (_SQRT3 * _inverse_normal_low(min(p_lo, 0.5)))
    # middle branches: s itself between (b_l, s_l) and (b_c, s_c), or (b_c, s_c) and (b_u, s_u)
    xl = b_side if low else b_c
    xr = b_c if low else b_side
    yl = s_side if low else s_c
    yr = s_c if low else s_side
    dl = 1.0 / v_side if low else 1.0 / v_c
    dr = 1.0 / v_c if low else 1.0 / v_side
    r_m = _control(xl, xr, yl, yr, dl, dr, 0.0, not low)  # b'' = 0 at the inflection s_c
    s_middle = _rational_cubic(beta, xl, xr, yl, yr, dl, dr, r_m)
    # highest branch: f_u(s) = Φ(−s/2) from (b_u, f_u(s_u)) to (b_max, 0) with slope −½ there
    f_u = _norm_cdf_neg(0.5 * s_side)
    pdf_u = _INV_SQRT2PI * vexp(-0.125 * s_side * s_side)
    df_u = -0.5 * pdf_u / v_side
    d2f_u = (0.125 * s_side * pdf_u + 0.5 * pdf_u * h2_side) / (v_side * v_side)
    r_hh = _control(b_side, b_max, f_u, 0.0, df_u, -0.5, d2f_u, True)
    f_hi = _rational_cubic(beta, b_side, b_max, f_u, 0.0, df_u, -0.5, r_hh)
    s_highest = -2.0 * _inverse_normal_low(min(max(f_hi, 1e-300), 0.5))
    lowest = low and beta < b_side
    highest = not low and beta > b_side
    branch = 0 if lowest else (3 if highest else (1 if low else 2))
    s = s_lowest if lowest else (s_highest if highest else s_middle)
    return s, branch


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _householder(beta: float, x: float, s: float, branch: int) -> tuple[float, float, bool]:
    """One third-order Householder step on the branch's objective: (new s, step, exact)."""
    b, gap, vega, exact = _black(x, s)
    h2 = x * x / (s * s * s) - 0.25 * s  # b''/b'
    h3 = h2 * h2 - 3.0 * x * x / (s * s * s * s) - 0.25  # b'''/b'
    # lowest: g = 1/ln b − 1/ln β
    ln_b = vlog(max(b, 1e-300))
    lam = vega / b
    nu_lo = (1.0 / ln_b - 1.0 / vlog(beta)) * ln_b * ln_b / lam
    k = 1.0 + 2.0 / ln_b
    h2_lo = h2 - lam * k
    h3_lo = h3 + 2.0 * lam * lam * (1.0 + 3.0 / ln_b + 3.0 / (ln_b * ln_b)) - 3.0 * h2 * lam * k
    # middle: g = b − β
    nu_mid = (beta - b) / vega
    # highest: g = ln((b_max − β)/(b_max − b))
    b_max = vexp(0.5 * x)
    psi = vega / gap
    nu_hi = -(vlog(b_max - beta) - vlog(max(gap, 1e-300))) / psi
    h2_hi = h2 + psi
    h3_hi = h3 + 3.0 * h2 * psi + 2.0 * psi * psi
    lowest = branch == 0
    highest = branch == 3
    nu = nu_lo if lowest else (nu_hi if highest else nu_mid)
    g2 = h2_lo if lowest else (h2_hi if highest else h2)
    g3 = h3_lo if lowest else (h3_hi if highest else h3)
    step = nu * (1.0 + 0.5 * g2 * nu) / (1.0 + nu * (g2 + g3 * nu / 6.0))
    s_new = s + step
    s_new = s_new if s_new > 0.0 else 0.5 * s  # never leave s > 0
    return s_new, step, exact


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _lbr(beta: float, x: float) -> float:
    """s with b(x, s) = β (x < 0, 0 < β < e^{x/2}); _FALLBACK where unverified."""
    s, branch = _guess(beta, x)
    s, _, _ = _householder(beta, x, s, branch)
    s, step, exact = _householder(beta, x, s, branch)
    ok = abs(step) <= _CONVERGED * s and not exact and math.isfinite(s)
    return s if ok else _FALLBACK


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _screen(pi: float, fi: float, ki: float, ti: float, ri: float, ci: bool) -> tuple[int, float]:
    """(reason code, out-of-the-money target value, undiscounted) of one row; code 0: solve."""
    p = pi * vexp(ri * ti)  # undiscounted
    intrinsic = max(fi - ki, 0.0) if ci else max(ki - fi, 0.0)
    target = p - intrinsic  # the out-of-the-money option's value, by put–call parity
    a = min(fi, ki)
    tol = 1e-14 * max(p, intrinsic, 1e-300)
    code = SOLVED
    code = NO_TIME_VALUE if target <= tol else code
    code = ZERO_EXPIRY if ti == 0.0 else code
    code = ABOVE_MAXIMUM if target >= a else code
    code = BELOW_INTRINSIC if target < -tol else code
    code = NOT_FINITE if not math.isfinite(pi) else code
    return code, target


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _solve_rows(price, f, k, t, r, call, out, reason, start, stop):  # type: ignore[no-untyped-def]
    """The vectorised pass over rows [start, stop): returns how many rows need the fallback."""
    fallback = 0
    for i in range(start, stop):
        fi, ki, ti, ri = f[i], k[i], t[i], r[i]
        invalid = _is_bad(fi, ki, ti, 0.0, ri) or ki == 0.0
        fi = 1.0 if invalid else fi
        ki = 2.0 if invalid else ki
        ti = 1.0 if invalid else ti
        ri = 0.0 if invalid else ri
        code, target = _screen(price[i], fi, ki, ti, ri, call[i])
        code = NOT_FINITE if invalid else code
        a = min(fi, ki)
        b = max(fi, ki)
        solve = code == SOLVED
        beta = target / (math.sqrt(a) * math.sqrt(b)) if solve else 0.1
        x = vlog(a / b) if solve else -1.0  # log1p (libm) would stop the loop vectorising
        x = min(x, -1e-300)  # at the money: the limit x -> 0- (s_c = 0 would divide by zero)
        s = _lbr(beta, x)
        fallback += solve and s == _FALLBACK
        out[i] = s / math.sqrt(ti) if solve and s != _FALLBACK else np.nan
        reason[i] = code
    return fallback


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _finish(price, f, k, t, r, call, out, reason, fallback):  # type: ignore[no-untyped-def]
    """Serial: solve again the rows the fast pass left NaN (if any); count the invalid inputs."""
    bad = 0
    for i in range(out.shape[0]):
        if reason[i] == NOT_FINITE and (_is_bad(f[i], k[i], t[i], 0.0, r[i]) or k[i] == 0.0):
            bad += 1
        if fallback == 0 or reason[i] != SOLVED or out[i] == out[i]:
            continue
        fi, ki, ti = f[i], k[i], t[i]
        code, target = _screen(price[i], fi, ki, ti, r[i], call[i])
        s, code = solve_total_stdev(min(fi, ki), max(fi, ki), target)
        out[i] = s / math.sqrt(ti)
        reason[i] = code
    return bad


@njit(_IV_SIG, cache=True, parallel=True, error_model="numpy")
def implied_vol(price, f, k, t, r, call, out, reason, workers):  # type: ignore[no-untyped-def]
    """Black-76 implied volatility into ``out`` with a reason code per element.

    ``workers``: threads to share the vectorised pass (1: run it on the calling thread, no
    parallel region). Returns the number of rows with invalid market inputs (NaN, code
    NOT_FINITE; the caller raises).
    """
    n = out.shape[0]
    if workers <= 1 or n <= CHUNK:
        fallback = _solve_rows(price, f, k, t, r, call, out, reason, 0, n)
        return _finish(price, f, k, t, r, call, out, reason, fallback)
    chunks = (n + CHUNK - 1) // CHUNK
    counter = np.zeros(1, dtype=np.int64)
    fallback = 0
    for _ in prange(workers):
        mine = 0
        c: int = _fetch_add(counter)  # type: ignore[call-arg]
        while c < chunks:
            lo = c * CHUNK
            mine += _solve_rows(price, f, k, t, r, call, out, reason, lo, min(lo + CHUNK, n))
            c = _fetch_add(counter)
        fallback += mine
    return _finish(price, f, k, t, r, call, out, reason, fallback)
