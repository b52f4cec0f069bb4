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
kernels, 8 options per AVX-512 instruction. Per option: the branch is picked first, so the guess
fits one rational cubic on that branch's data and inverts one map; ``b`` at the inflection
(where ``u = 0``) takes one erfcx, ``b`` at ``s_l`` or ``s_u`` two and the outer map one, all
from the table cut after w⁵ (:func:`_erfcx_guess`); each Householder step takes one exponential,
two erfcx (the cut table in the first step, the full one in the second) and one logarithm. The
loop counter is unsigned: with a signed one numba's negative-index wraparound reached the
vectorised loop as a per-lane select, and every load became a gather and every store a scatter
(~4x slower streaming from memory). (The helpers used
to be separate functions called from the ``prange`` loop: those calls kept the loop scalar, at
~0.9 µs an option. Inlining them into the *parallel* loop instead makes numba's parfor passes
take minutes and gigabytes; into a plain loop, seconds.) With more than one thread the chunks
(slices of ``CHUNK`` rows) are shared out through an atomic counter, so a thread whose core is
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
from numba import njit, prange, types

from carbonfin.pricing import _jit
from carbonfin.pricing._kernels import (
    _CODES,
    _ERFCX,
    _FAST_MIN_S,
    _FLAGS,
    _IN,
    _INV_SQRT2,
    _INV_SQRT2PI,
    _IV_SIG,
    _LAST,
    _OUT,
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

# the vectorised pass and the serial finish: one explicit signature each (the kernel's argument
# types), so each is compiled once (a literal 0 start argument used to make numba compile the
# pass a second time) and a test calling them directly loads the cached code
_ROWS_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, _CODES)
_FINISH_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, _CODES, types.int64)

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
def _erfcx_guess(z: float) -> float:
    """erfcx(z), z >= 0, for the initial guess only: ``_kernels.erfcx``'s table cut after w⁵.

    The dropped coefficients of w⁶..w¹⁰ are at most 1.1e-13 of the leading one on every interval
    (|w| <= 1), so this is erfcx to ~1.2e-13 relative with 6 table reads instead of 8. The guess
    is itself only ~1e-2..1e-6 accurate and the Householder steps use the full ``erfcx``.
    """
    t = _ERFCX
    y = 400.0 / (4.0 + z)
    j = min(int(y), _LAST)
    w = 2.0 * (y - j) - 1.0
    p = t[j, 5]
    p = p * w + t[j, 4]
    p = p * w + t[j, 3]
    p = p * w + t[j, 2]
    p = p * w + t[j, 1]
    p = p * w + t[j, 0]
    return float(p * y)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _black(x: float, s: float, e_half: float, rough: bool) -> tuple[float, float, float, bool]:
    """Normalised OTM call b(x, s) for x <= 0, s > 0: (b, b_max − b, ∂b/∂s, exact needed).

    ``e_half`` is ``e^{x/2} = b_max``, formed once per row by the caller; ``rough`` (a constant
    at each call) takes :func:`_erfcx_guess` for the initial guess. The same two-erfcx form as
    ``_kernels._fast``; ``exact`` flags the rows where it loses more than ~2.7 digits (small s
    near the money, or a cancelling far tail: ``_IV_CANCEL``).
    """
    u = x / s + 0.5 * s
    lo = u - s
    e_u = vexp(-0.5 * u * u)
    z_u = abs(u) * _INV_SQRT2
    z_l = -lo * _INV_SQRT2
    c_u = _erfcx_guess(z_u) if rough else erfcx(z_u)
    c_l = _erfcx_guess(z_l) if rough else erfcx(z_l)
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
def _outer_map(x: float, s: float, vega: float, h2: float, low: bool) -> tuple[float, float, float]:
    """The outer branch's map at s and its first two derivatives in β: (f, df/dβ, d²f/dβ²).

    Lowest (``low``): ``f_l(s) = C·Φ(−w)³`` with ``w = |x|/(√3 s)``, ``C = 2π|x|/(3√3)``;
    highest: ``f_u(s) = Φ(−w)`` with ``w = s/2``. A row is on one side only, so both share one
    ``Φ(−w) = ½·e^{−w²/2}·erfcx(w/√2)`` and ``φ(w)``: one exponential and one erfcx.
    """
    w = -x / (_SQRT3 * s) if low else 0.5 * s
    e_w = vexp(-0.5 * w * w)
    cdf = 0.5 * e_w * _erfcx_guess(w * _INV_SQRT2)  # Φ(−w)
    pdf = _INV_SQRT2PI * e_w  # φ(w)
    # lowest: z = −w, dz/ds = w/s, d²z/ds² = −2w/s²
    c = _TWO_PI * -x / (3.0 * _SQRT3)
    dz = w / s
    d2z = -2.0 * w / (s * s)
    df_l = 3.0 * c * cdf * cdf * pdf * dz
    d2f_l = 3.0 * c * cdf * pdf * (dz * dz * (2.0 * pdf + w * cdf) + cdf * d2z)
    # highest: df_u/ds = −½φ(s/2), d²f_u/ds² = (s/8)·φ(s/2)
    df = df_l if low else -0.5 * pdf
    d2f = d2f_l if low else 0.125 * s * pdf
    f = c * cdf * cdf * cdf if low else cdf
    return f, df / vega, (d2f - df * h2) / (vega * vega)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _guess(beta: float, x: float, e_half: float) -> tuple[float, int]:
    """Initial guess for s and the branch (0 lowest, 1-2 middle, 3 highest) for 0 < β < b_max.

    The branch is chosen first, so each row evaluates one rational cubic, on its own branch's
    data, and (outer branches) one inverse normal.
    """
    s_c = math.sqrt(-2.0 * x)
    # at the inflection u = x/s_c + s_c/2 = 0: b_c = ½e^{x/2}(1 − erfcx(s_c/√2)), b' = e^{x/2}φ(0)
    b_c = 0.5 * e_half * (1.0 - _erfcx_guess(s_c * _INV_SQRT2))
    v_c = _INV_SQRT2PI * e_half
    low = beta <= b_c
    s_side = s_c - b_c / v_c if low else s_c + (e_half - b_c) / v_c  # s_l or s_u
    b_side, _, v_side, _ = _black(x, s_side, e_half, True)
    lowest = low and beta < b_side
    highest = not low and beta > b_side
    outer = lowest or highest
    h2_side = x * x / (s_side * s_side * s_side) - 0.25 * s_side  # b''/b' at s_side
    f_side, df_side, d2f_side = _outer_map(x, s_side, v_side, h2_side, low)
    # the branch's data: lowest (0, 0) slope 1 to (b_l, f_l(s_l)); the middle ones s itself from
    # (b_l, s_l) to (b_c, s_c) or (b_c, s_c) to (b_u, s_u), b'' = 0 at s_c; highest (b_u,
    # f_u(s_u)) to (b_max, 0) with slope −½ there
    xl = b_c if not low else (0.0 if lowest else b_side)
    xl = b_side if highest else xl
    xr = b_side if lowest or not low else b_c
    xr = e_half if highest else xr
    yl = 0.0 if lowest else (s_side if low else s_c)
    yl = f_side if highest else yl
    yr = f_side if lowest else (s_c if low else s_side)
    yr = 0.0 if highest else yr
    dl = 1.0 if lowest else (1.0 / v_side if low else 1.0 / v_c)
    dl = df_side if highest else dl
    dr = df_side if lowest else (1.0 / v_c if low else 1.0 / v_side)
    dr = -0.5 if highest else dr
    second = d2f_side if outer else 0.0
    r = _control(xl, xr, yl, yr, dl, dr, second, not low)
    y = _rational_cubic(beta, xl, xr, yl, yr, dl, dr, r)
    # outer branches: invert the map (f_l = C·p³ with p = Φ(−|x|/(√3 s)); f_u = Φ(−s/2))
    p_lo = vexp(vlog(max(y, 1e-300) / (_TWO_PI * -x / (3.0 * _SQRT3))) / 3.0)
    q = _inverse_normal_low(min(p_lo if low else max(y, 1e-300), 0.5))
    s_outer = x / (_SQRT3 * q) if low else -2.0 * q
    branch = 0 if lowest else (3 if highest else (1 if low else 2))
    return (s_outer if outer else y), branch


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _householder(
    beta: float, x: float, s: float, branch: int, e_half: float, ln_target: float, rough: bool
) -> tuple[float, float, bool]:
    """One third-order Householder step on the branch's objective: (new s, step, exact).

    ``rough`` (the first of the two steps) evaluates b with :func:`_erfcx_guess`: its ~1e-13
    relative error moves that step's s by about as much, and the second step, on the full erfcx,
    takes s from there to machine precision (the error after it is ~0.04·δ⁴ for a start δ off).

    ``ln_target`` is ``ln β`` on the lowest branch and ``ln(b_max − β)`` on the highest (formed
    once per row); a row is on one branch, so one logarithm, of ``b`` or of ``b_max − b``, serves.
    """
    b, gap, vega, exact = _black(x, s, e_half, rough)
    h2 = x * x / (s * s * s) - 0.25 * s  # b''/b'
    h3 = h2 * h2 - 3.0 * x * x / (s * s * s * s) - 0.25  # b'''/b'
    lowest = branch == 0
    highest = branch == 3
    ln_v = vlog(max(b if lowest else gap, 1e-300))  # ln b (lowest), ln(b_max − b) (highest)
    lam = vega / (b if lowest else gap)  # b'/b (lowest), b'/(b_max − b) (highest)
    # lowest: g = 1/ln b − 1/ln β
    nu_lo = (1.0 / ln_v - 1.0 / ln_target) * ln_v * ln_v / lam
    k = 1.0 + 2.0 / ln_v
    h2_lo = h2 - lam * k
    h3_lo = h3 + 2.0 * lam * lam * (1.0 + 3.0 / ln_v + 3.0 / (ln_v * ln_v)) - 3.0 * h2 * lam * k
    # middle: g = b − β
    nu_mid = (beta - b) / vega
    # highest: g = ln((b_max − β)/(b_max − b))
    nu_hi = -(ln_target - ln_v) / lam
    h2_hi = h2 + lam
    h3_hi = h3 + 3.0 * h2 * lam + 2.0 * lam * lam
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
    e_half = vexp(0.5 * x)  # b_max, once per row
    s, branch = _guess(beta, x, e_half)
    ln_target = vlog(beta if branch == 0 else e_half - beta)  # read on the outer branches only
    s, _, _ = _householder(beta, x, s, branch, e_half, ln_target, True)
    s, step, exact = _householder(beta, x, s, branch, e_half, ln_target, False)
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


@njit(_ROWS_SIG, cache=True, fastmath=_FM, error_model="numpy")
def _solve_rows(price, f, k, t, r, call, out, reason):  # type: ignore[no-untyped-def]
    """The vectorised pass over a chunk of rows: returns how many rows need the fallback.

    The loop index runs from 0 over the chunk's own arrays (slices): with an offset start numba's
    negative-index wraparound could not be proved away, and LLVM vectorised the loop with
    gathers and scatters instead of contiguous loads (3-4x slower over 1M rows). One explicit
    signature, compiled and cached once at import, for the kernel and for tests alike.
    """
    fallback = 0
    for i in range(np.uint64(out.shape[0])):  # unsigned: no negative-index wraparound (above)
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


@njit(_FINISH_SIG, cache=True, fastmath=_FM, error_model="numpy")
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
        fallback = _solve_rows(price, f, k, t, r, call, out, reason)
        return _finish(price, f, k, t, r, call, out, reason, fallback)
    chunks = (n + CHUNK - 1) // CHUNK
    counter = np.zeros(1, dtype=np.int64)
    fallback = 0
    for _ in prange(workers):
        mine = 0
        c: int = _fetch_add(counter)  # type: ignore[call-arg]
        while c < chunks:
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            mine += _solve_rows(
                price[lo:hi],
                f[lo:hi],
                k[lo:hi],
                t[lo:hi],
                r[lo:hi],
                call[lo:hi],
                out[lo:hi],
                reason[lo:hi],
            )
            c = _fetch_add(counter)
        fallback += mine
    return _finish(price, f, k, t, r, call, out, reason, fallback)
