"""Fused numba kernels for Black-76: price and greeks, element by element (implied vol: _lbr).

These are the hot paths behind :mod:`carbonfin.pricing.options`; that module broadcasts, validates
and documents. Each kernel runs one loop over flat arrays, so a million options cost one pass
over memory instead of the dozen temporaries plain numpy would allocate. The loop is compiled
once per quantity (``_price_rows``, ``_all_rows``) and vectorised; with one worker thread it runs
over all rows on the calling thread (no parallel region; on a machine whose other cores are busy
that is the faster choice, see ``bench_options``), with more the threads run it over chunks of
``CHUNK`` rows handed out through an atomic counter.

Accuracy
--------
The undiscounted value is always computed for the *out-of-the-money* side (the call when F <= K,
the put when F > K) and the in-the-money option follows by put–call parity, adding the intrinsic
value. The out-of-the-money value ``a·N(u) − b·N(l)`` (a <= b, u = ln(a/b)/s + s/2, l = u − s) is
formed without catastrophic cancellation:

* ``u <= 0``: ``½·(a·erfc(−u/√2) − b·erfc(−l/√2))`` — both complementary error functions are
  accurate to full relative precision in the tail (no ``1 − N`` anywhere);
* ``u > 0 > l``: ``½·a·(erf(u/√2) + erf(−l/√2)) + ½·(a − b)·erfc(−l/√2)`` — two positive terms
  and a small negative one.

So far out of the money, where ``1 − Φ`` formulations lose every digit, the price keeps about
13 significant digits until it underflows below 1e-300.

Speed
-----
The fast path (``s = σ√T >= 1e-3``) needs one logarithm, two exponentials and two evaluations of
the scaled complementary error function ``erfcx`` per option: with ``E = exp(−u²/2)`` and the
identity ``a·exp(−u²/2) = b·exp(−l²/2)``,

* tail (``u <= 0``): ``a N(u) − b N(l) = ½·a·E·(erfcx(−u/√2) − erfcx(−l/√2))``,
* middle (``u > 0``): ``a N(u) − b N(l) = a − ½·a·E·(erfcx(u/√2) + erfcx(−l/√2))``,

and the density ``n(d1)`` is ``E/√(2π)`` or ``(a/b)·E/√(2π)``. ``erfcx`` is a table of
piecewise polynomials (``_erfcx_table``, generated in 50-digit arithmetic), accurate to a few
units in the last place and far cheaper than libm's ``erfc``. In the middle region the second
form loses ``ε/s`` relative precision, so ``s < 1e-3`` (and zero strikes or zero ``s``) take the
slower erf-based path above.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from carbonfin.pricing import _jit
from carbonfin.pricing._erfcx_table import COEFFICIENTS, DERIV_COEFFICIENTS, INTERVALS

_jit.configure_cache()  # a writable cache directory for the compiled kernels (see _jit)
_jit.configure_threads()  # OpenMP workers sleep, not spin, between parallel calls (see _jit)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)

# One explicit signature per kernel: contiguous 1-d inputs (read-only or not) and outputs. Without
# it numba would compile a new specialisation for every mix of input layouts and flags (seconds
# each); with it, once, cached on disk. Callers pass C-contiguous inputs (options._broadcast).
_IN = types.Array(types.float64, 1, "C", readonly=True)
_FLAGS = types.Array(types.boolean, 1, "C", readonly=True)
_OUT = types.Array(types.float64, 1, "C")
_CODES = types.Array(types.int8, 1, "C")
_PRICE_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, types.int64)
_ALL_SIG = types.int64(
    _IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, _OUT, _OUT, _OUT, _OUT, _OUT, types.int64
)
_IV_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, _CODES, types.int64)
_PRICE_ROWS_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT)
_ALL_ROWS_SIG = types.int64(_IN, _IN, _IN, _IN, _IN, _FLAGS, _OUT, _OUT, _OUT, _OUT, _OUT, _OUT)

_ERFCX = np.array(COEFFICIENTS)  # (INTERVALS, DEGREE + 1), frozen into the compiled kernels
_ERFCX_DERIV = np.array(DERIV_COEFFICIENTS)  # -erfcx'(z) / y², same layout
_LAST = INTERVALS - 1
_FAST_MIN_S = 1e-3
#: options per work chunk of the threaded loops: a chunk's inputs and outputs (~89 B an option)
#: fit in L2 (1-2 MB), and 1M options make ~120 chunks, so a thread on a busy core takes fewer
CHUNK = 8192
_PAD = 8  # int64 counters a cache line apart (one per thread's part of the chunks)
#: erfcx(z) − erfcx(z + δ) is formed as an integral when δ < (1 + z) / _CANCEL: the plain
#: difference would lose about (1 + z)/δ relative digits (see _tail_diff)
_CANCEL = 1000.0
# 4-point Gauss-Legendre nodes and weights on [-1, 1] (Abramowitz & Stegun, table 25.4)
_GL_X = (0.3399810435848563, 0.8611363115940526)
_GL_W = (0.6521451548625461, 0.3478548451374538)
#: largest |rate · expiry| accepted: a discount factor e^{±700} is still a finite double (e^709.78
#: is the largest); beyond it the price is not representable, so such inputs are refused
MAX_RATE_TIMES_EXPIRY = 700.0

# implied-vol failure codes (see options.IMPLIED_VOL_REASONS)
(
    SOLVED,
    BELOW_INTRINSIC,
    ABOVE_MAXIMUM,
    ZERO_EXPIRY,
    NOT_FINITE,
    NO_CONVERGENCE,
    NO_TIME_VALUE,
) = range(7)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _table_poly(t: Any, z: float) -> tuple[float, float]:
    """(p, y): the piecewise polynomial of table ``t`` at z >= 0, and y = 400/(4 + z).

    The interval is ``j = ⌊y⌋`` (capped at the last), the local variable ``w = 2(y − j) − 1`` in
    [−1, 1], and ``p = t[j, 0] + t[j, 1]·w + … + t[j, 7]·w⁷`` by Horner's rule (scalar loads
    ``t[j, i]``, not a row view: keeps the calling loop vectorisable). The tables hold degree 10;
    the terms in w⁸..w¹⁰ are at most 5.7e-19 (erfcx) and 3.4e-18 (its slope) of the leading
    coefficient on every interval (|w| <= 1; ``test_erfcx_table_terms_left_out_are_negligible``),
    below 0.03 ulp, so they are not evaluated: in a vectorised loop each coefficient is a gather,
    the dearest instruction of the pricing kernels (2 erfcx an option).
    """
    y = 400.0 / (4.0 + z)
    j = min(int(y), _LAST)
    w = 2.0 * (y - j) - 1.0
    p = t[j, 7]
    p = p * w + t[j, 6]
    p = p * w + t[j, 5]
    p = p * w + t[j, 4]
    p = p * w + t[j, 3]
    p = p * w + t[j, 2]
    p = p * w + t[j, 1]
    p = p * w + t[j, 0]
    return p, y


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def erfcx(z: float) -> float:
    """exp(z²)·erfc(z) for z >= 0 (inf gives 0) from the piecewise-polynomial table."""
    p, y = _table_poly(_ERFCX, z)
    return float(p * y)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def erfcx_slope(z: float) -> float:
    """G(z) = −d erfcx/dz = 2/√π − 2z·erfcx(z) for z >= 0, to a few ulp (the table's second part).

    Written out as ``2/√π − 2z·erfcx(z)`` it would lose ``2z²`` relative digits to cancellation.
    """
    p, y = _table_poly(_ERFCX_DERIV, z)
    return float(p * y * y)


@njit(cache=True, inline="always", error_model="numpy")
def _tail_diff(z: float, delta: float) -> float:
    """erfcx(z) − erfcx(z + δ) for z >= 0, δ > 0, to a few ulp relative.

    For δ < (1 + z)/1000 the difference of two nearly equal values would lose up to two digits
    (the loss is about (1 + z)/δ: far out of the money with a small total deviation); there it is
    the integral of ``G = −erfcx'`` over [z, z + δ] by 4-point Gauss-Legendre, whose error
    (~1e-4·(δ/(1+z))^8 relative) is below 1e-19 in that range.
    """
    if delta * _CANCEL >= 1.0 + z:
        return erfcx(z) - erfcx(z + delta)
    m = z + 0.5 * delta
    h = 0.5 * delta
    x0, x1 = _GL_X
    w0, w1 = _GL_W
    inner = erfcx_slope(m - h * x0) + erfcx_slope(m + h * x0)
    outer = erfcx_slope(m - h * x1) + erfcx_slope(m + h * x1)
    return h * (w0 * inner + w1 * outer)


@intrinsic
def _fetch_add(typingctx: Any, counter: Any) -> Any:
    """Atomically add 1 to ``counter[0]`` (an int64 array) and return its previous value.

    The work-sharing counter of the kernels' thread loops (``black76_price``, ``black76_all``,
    ``_lbr.implied_vol``): threads take the next chunk when they are ready, so a thread whose
    core is busy with other work takes fewer.
    """

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        one = ir.Constant(ir.IntType(64), 1)
        return builder.atomic_rmw("add", array.data, one, "monotonic")

    return types.int64(types.Array(types.int64, 1, "C")), codegen


@njit(cache=True, inline="always", error_model="numpy")
def _next_chunk(counters, me, workers, per, chunks, j):  # type: ignore[no-untyped-def]
    """``(chunk, j)``: the next chunk for thread ``me`` of the threaded loops, ``-1`` when none is
    left. Thread ``me`` takes from its own part of the chunks first (``per`` chunks, counter
    ``counters[part * _PAD]``), then from what is left of the others' parts in turn; ``j`` is the
    number of parts it has emptied (start at 0, pass back the ``j`` returned)."""
    while j < workers:
        part = (me + j) % workers
        c: int = _fetch_add(counters[part * _PAD :])  # type: ignore[call-arg]
        if c < per and part * per + c < chunks:
            return part * per + c, j
        j += 1
    return -1, j


@intrinsic
def _bits_to_float(typingctx: Any, bits: Any) -> Any:
    """Reinterpret an int64 as the float64 with the same bits (an LLVM bitcast)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx: Any, value: Any) -> Any:
    """Reinterpret a float64 as the int64 with the same bits (an LLVM bitcast)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact (Cody-Waite)
_LN2_LO = 1.90821492927058770002e-10
_EXP_COEF = tuple(1.0 / math.factorial(k) for k in range(14))


@njit(cache=True, inline="always", fastmath={"contract"}, error_model="numpy")
def vexp(x: float) -> float:
    """exp(x) without a libm call, so loops that use it vectorise (within 1 ulp of libm).

    Cody-Waite reduction ``x = k·ln2 + r`` (|r| <= ln2/2), Taylor polynomial of degree 13 for
    e^r (truncation < 2e-18), then ``2^k`` built from its exponent bits. Results below
    e^-708 (~3e-308, the subnormal range) are flushed to 0; above e^709.78 (the largest double)
    the result saturates to ``inf`` (the argument is clamped to 710 and the top scale built as
    ``2^(k−1)·2``, so the exponent bits never wrap into a wrong finite or negative value).
    """
    xc = min(max(x, -708.0), 710.0)
    k = math.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    c = _EXP_COEF
    p = c[13]
    p = p * r + c[12]
    p = p * r + c[11]
    p = p * r + c[10]
    p = p * r + c[9]
    p = p * r + c[8]
    p = p * r + c[7]
    p = p * r + c[6]
    p = p * r + c[5]
    p = p * r + c[4]
    p = p * r + c[3]
    p = p * r + c[2]
    p = p * r + 1.0
    p = p * r + 1.0
    # for k = 1024 (x in (709.09, 710]) build 2^(k-1) and double: the exponent field stays in
    # range and the doubling overflows to inf exactly when e^x does
    big = k > 1023.0
    kk = k - 1.0 if big else k
    scale: float = _bits_to_float((np.int64(kk) + 1023) << 52)  # type: ignore[call-arg]
    value = p * scale
    value = value * 2.0 if big else value
    return value if x >= -708.0 else 0.0


@njit(cache=True, inline="always", fastmath={"contract"}, error_model="numpy")
def vlog(x: float) -> float:
    """ln(x) for finite x > 0 (normal range) without a libm call (within 2 ulp of libm).

    ``x = m·2^e`` with m in [√½, √2) from the bits; ``ln m = 2·atanh(s)``, ``s = (m−1)/(m+1)``,
    |s| <= 0.172, by its odd series to s^21 (truncation < 1e-17 relative).
    """
    bits: int = _float_to_bits(x)  # type: ignore[call-arg]
    e = (bits >> 52) - 1023
    m: float = _bits_to_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    log_m = 2.0 * s + 2.0 * s * z * p
    ef = float(e)
    return ef * _LN2_HI + (log_m + ef * _LN2_LO)


@njit(cache=True, inline="always", error_model="numpy")
def log_ratio(a: float, b: float) -> float:
    """ln(a/b) for 0 < a <= b, to about 1 ulp of the result itself.

    Where b/2 <= a the difference ``a − b`` is exact (Sterbenz), so ``log1p((a − b)/b)`` carries
    only the rounding of one division: an absolute error of ~ε·|ln(a/b)| instead of the ε of
    ``log(a/b)``. Far out of the money with a small total deviation s the price moves by
    ``|ln(a/b)|/s²`` relative per unit of ln(a/b), so that difference matters there.
    """
    if a + a >= b:
        return math.log1p((a - b) / b)
    return math.log(a / b)


@njit(cache=True, inline="always", error_model="numpy")
def _otm_value(a: float, b: float, s: float) -> float:
    """Undiscounted Black value of the option struck at ``b`` on ``a`` with a <= b, s > 0."""
    x = log_ratio(a, b)
    u = x / s + 0.5 * s
    lo = u - s
    if u <= 0.0:  # a·N(u) − b·N(l) = ½·a·e^{−u²/2}·(erfcx(−u/√2) − erfcx(−l/√2))
        return 0.5 * a * math.exp(-0.5 * u * u) * _tail_diff(-u * _INV_SQRT2, s * _INV_SQRT2)
    return 0.5 * a * (math.erf(u * _INV_SQRT2) + math.erf(-lo * _INV_SQRT2)) + 0.5 * (
        a - b
    ) * math.erfc(-lo * _INV_SQRT2)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _undiscounted(f: float, k: float, s: float, call: bool) -> float:
    """Undiscounted value by the erf-based path (any s >= 0, any k >= 0)."""
    if k == 0.0:
        return f if call else 0.0
    if s <= 0.0:
        return max(f - k, 0.0) if call else max(k - f, 0.0)
    otm = _otm_value(f, k, s) if f <= k else _otm_value(k, f, s)
    return _from_otm(otm, f, k, call)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _fast(f: float, k: float, s: float) -> tuple[float, float, float, float, bool]:
    """Fast path (s >= _FAST_MIN_S, k > 0): (OTM value, N(d1), N(-d1), n(d1), exact), undiscounted.

    Written with selects instead of branches and with :func:`vexp`/:func:`vlog`, so the calling
    loop can be vectorised. ``exact`` says the OTM value lost digits to cancellation (far out of
    the money, small s: see :func:`_tail_diff`) and must be redone by the slow path.
    """
    x = vlog(f / k)
    u = -abs(x) / s + 0.5 * s
    lo = u - s
    low = x <= 0.0
    a = f if low else k
    b = k if low else f
    e_u = vexp(-0.5 * u * u)
    e_l = e_u * (a / b)
    z_u = abs(u) * _INV_SQRT2
    c_u = erfcx(z_u)
    c_l = erfcx(-lo * _INV_SQRT2)
    n_l = 0.5 * c_l * e_l  # N(l)
    tail = u <= 0.0
    half = 0.5 * c_u * e_u  # N(u) in the tail, N(-u) in the middle
    n_u = half if tail else 1.0 - half
    n_mu = 1.0 - half if tail else half
    otm = 0.5 * a * e_u * (c_u - c_l) if tail else a - 0.5 * a * e_u * (c_u + c_l)
    n_d1 = n_u if low else 1.0 - n_l  # d1 = u when F <= K, else d1 = -l
    n_md1 = n_mu if low else n_l
    pdf = _INV_SQRT2PI * (e_u if low else e_l)
    exact = tail and s * _INV_SQRT2 * _CANCEL < 1.0 + z_u
    return otm, n_d1, n_md1, pdf, exact


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _from_otm(otm: float, f: float, k: float, call: bool) -> float:
    """The requested option's undiscounted value from the out-of-the-money one (parity)."""
    if call:
        return otm if f <= k else otm + (f - k)
    return otm if f > k else otm + (k - f)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _is_bad(f: float, k: float, t: float, v: float, r: float) -> bool:
    return not (
        math.isfinite(f)
        and f > 0.0
        and math.isfinite(k)
        and k >= 0.0
        and math.isfinite(t)
        and t >= 0.0
        and math.isfinite(v)
        and v >= 0.0
        and math.isfinite(r)
        and abs(r * t) <= MAX_RATE_TIMES_EXPIRY
    )


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _price_fast(
    fi: float, ki: float, ti: float, vi: float, ri: float, ci: bool
) -> tuple[bool, float]:
    """(slow, discounted price) of one option by the fast path, branch-free.

    Rows that need the slow path (invalid inputs, a zero strike, ``s < 1e-3``, a far
    out-of-the-money value the fast path would form with more than ~3 digits of cancellation,
    see :func:`_tail_diff`) run with harmless stand-in values; their price is NaN and ``slow``
    is True (the fast path never gives NaN, so NaN marks the row for the second pass).
    """
    s = vi * math.sqrt(ti)
    slow = _is_bad(fi, ki, ti, vi, ri) or not s >= _FAST_MIN_S or ki == 0.0
    fi = 1.0 if slow else fi
    ki = 1.0 if slow else ki
    s = 1.0 if slow else s
    otm, _, _, _, exact = _fast(fi, ki, s)
    slow = slow | exact
    value = vexp(-ri * ti) * _from_otm(otm, fi, ki, ci)
    return slow, (np.nan if slow else value)


@njit(_PRICE_ROWS_SIG, cache=True, fastmath={"contract", "arcp"}, error_model="numpy")
def _price_rows(f, k, t, v, r, call, out):  # type: ignore[no-untyped-def]
    """The fast pass over a slice of rows (vectorised); returns how many rows it marked NaN.

    The one compiled loop behind both the single-thread path and the threads' chunks (so they
    give the same bits). Loads and stores stay in the loop body with an unsigned index from 0
    (the row function takes and returns scalars): so LLVM vectorises it, 8 options per AVX-512
    instruction. When the row function indexed the arrays itself, the loop compiled scalar.
    """
    special = 0
    for i in range(np.uint64(out.shape[0])):  # unsigned: no negative-index wraparound
        slow, value = _price_fast(f[i], k[i], t[i], v[i], r[i], call[i])
        out[i] = value
        special += slow
    return special


@njit(cache=True, error_model="numpy")
def _price_marked(f, k, t, v, r, call, out):  # type: ignore[no-untyped-def]
    """Second pass: redo the rows marked NaN by the slow path; return the invalid ones (NaN)."""
    n_bad = 0
    for i in range(out.shape[0]):
        if out[i] == out[i]:
            continue
        fi, ki, ti, vi, ri = f[i], k[i], t[i], v[i], r[i]
        if _is_bad(fi, ki, ti, vi, ri):
            n_bad += 1
        else:
            out[i] = math.exp(-ri * ti) * _undiscounted(fi, ki, vi * math.sqrt(ti), call[i])
    return n_bad


@njit(_PRICE_SIG, cache=True, parallel=True, error_model="numpy")
def black76_price(f, k, t, v, r, call, out, workers):  # type: ignore[no-untyped-def]
    """Discounted Black-76 prices into ``out``; returns the number of invalid input rows.

    Two passes: the vectorised fast pass (:func:`_price_rows`) over every row, then, only if
    it marked any, the slow path for those rows (:func:`_price_marked`). ``workers`` is the
    number of threads: 1 runs the fast pass on the calling thread with no parallel region (the
    fastest choice when the other cores are busy); more share it out in chunks of ``CHUNK`` rows.
    Each thread owns a contiguous part of the chunks and takes them in order through its part's
    atomic counter, then takes what is left of the other parts the same way: a thread whose core
    is busy takes fewer chunks instead of holding up the call (a static split waits for its
    slowest thread), and while all run, each writes its own stretch of the outputs, so fresh
    output pages are faulted in (and zeroed, 2 MB huge pages) by one thread each, not both:
    black76_all into a fresh block, 2 threads, 12.2 ms per 1M with chunks taken in turn from one
    counter against 10.7 ms so (8.9 ms into reused outputs; load 1.2, alternated).
    """
    n = out.shape[0]
    if workers <= 1 or n <= CHUNK:
        special = _price_rows(f, k, t, v, r, call, out)
    else:
        chunks = (n + CHUNK - 1) // CHUNK
        per = (chunks + workers - 1) // workers  # chunks in each thread's own part
        counters = np.zeros(workers * _PAD, dtype=np.int64)  # one cache line per part
        special = 0
        for me in prange(workers):
            mine = 0
            chunk, j = _next_chunk(counters, me, workers, per, chunks, 0)
            while chunk >= 0:
                lo = chunk * CHUNK
                hi = min(lo + CHUNK, n)
                mine += _price_rows(
                    f[lo:hi], k[lo:hi], t[lo:hi], v[lo:hi], r[lo:hi], call[lo:hi], out[lo:hi]
                )
                chunk, j = _next_chunk(counters, me, workers, per, chunks, j)
            special += mine
    if special == 0:
        return 0
    return _price_marked(f, k, t, v, r, call, out)


@njit(cache=True)
def _all_slow(f: float, k: float, t: float, v: float, r: float, call: bool) -> tuple[float, ...]:
    """Price and greeks by the erf-based path, with the limits where no diffusion is left."""
    df = math.exp(-r * t)
    sqrt_t = math.sqrt(t)
    s = v * sqrt_t
    value = df * _undiscounted(f, k, s, call)
    if k == 0.0:  # a zero strike: the call is the discounted forward, the put is worthless
        return value, (df if call else 0.0), 0.0, 0.0, r * value, -t * value
    if s > 0.0:
        d1 = math.log(f / k) / s + 0.5 * s
        pdf = _INV_SQRT2PI * math.exp(-0.5 * d1 * d1)
        delta = df * 0.5 * math.erfc(-d1 * _INV_SQRT2)
        if not call:
            delta = -df * 0.5 * math.erfc(d1 * _INV_SQRT2)
        theta = r * value - df * f * pdf * v / (2.0 * sqrt_t)
        return value, delta, df * pdf / (f * s), df * f * pdf * sqrt_t, theta, -t * value
    # no diffusion left (vol 0 or expiry 0): the limits as s -> 0
    itm = 1.0 if f > k else (0.5 if f == k else 0.0)
    delta = df * itm if call else df * (itm - 1.0)
    atm = f == k
    gamma = np.inf if atm else 0.0
    vega = df * f * _INV_SQRT2PI * sqrt_t if atm else 0.0
    # the time decay of an at-the-money option at expiry is unbounded
    theta = -np.inf if (atm and t == 0.0 and v > 0.0) else r * value
    return value, delta, gamma, vega, theta, -t * value


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def _all_fast(
    fi: float, ki: float, ti: float, vi: float, ri: float, ci: bool
) -> tuple[bool, float, float, float, float, float, float]:
    """(slow, price, delta, gamma, vega, theta, rho) of one option by the fast path.

    As :func:`_price_fast`: a row the fast path cannot vouch for gives ``slow`` True and a NaN
    price (its greeks are stand-ins, overwritten by the second pass).
    """
    sqrt_t = math.sqrt(ti)
    s = vi * sqrt_t
    slow = _is_bad(fi, ki, ti, vi, ri) or not s >= _FAST_MIN_S or ki == 0.0
    fi = 1.0 if slow else fi
    ki = 1.0 if slow else ki
    s = 1.0 if slow else s
    sqrt_t = 1.0 if slow else sqrt_t
    df = vexp(-ri * ti)
    otm, n_d1, n_md1, pdf, exact = _fast(fi, ki, s)
    slow = slow | exact
    value = df * _from_otm(otm, fi, ki, ci)
    return (
        slow,
        np.nan if slow else value,
        df * n_d1 if ci else -df * n_md1,
        df * pdf / (fi * s),
        df * fi * pdf * sqrt_t,
        ri * value - df * fi * pdf * vi / (2.0 * sqrt_t),
        -ti * value,
    )


@njit(_ALL_ROWS_SIG, cache=True, fastmath={"contract", "arcp"}, error_model="numpy")
def _all_rows(f, k, t, v, r, call, price, delta, gamma, vega, theta, rho):  # type: ignore[no-untyped-def]
    """The fast pass of :func:`black76_all` over a slice of rows (vectorised, as _price_rows)."""
    special = 0
    for i in range(np.uint64(price.shape[0])):  # unsigned: no negative-index wraparound
        slow, p, d, g, ve, th, rh = _all_fast(f[i], k[i], t[i], v[i], r[i], call[i])
        price[i] = p
        delta[i] = d
        gamma[i] = g
        vega[i] = ve
        theta[i] = th
        rho[i] = rh
        special += slow
    return special


@njit(cache=True, error_model="numpy")
def _all_marked(f, k, t, v, r, call, price, delta, gamma, vega, theta, rho):  # type: ignore[no-untyped-def]
    """Second pass of :func:`black76_all`: the rows marked NaN; returns the invalid ones."""
    n_bad = 0
    for i in range(price.shape[0]):
        if price[i] == price[i]:
            continue
        fi, ki, ti, vi, ri = f[i], k[i], t[i], v[i], r[i]
        if _is_bad(fi, ki, ti, vi, ri):
            n_bad += 1
            price[i] = delta[i] = gamma[i] = vega[i] = theta[i] = rho[i] = np.nan
        else:
            price[i], delta[i], gamma[i], vega[i], theta[i], rho[i] = _all_slow(
                fi, ki, ti, vi, ri, call[i]
            )
    return n_bad


@njit(_ALL_SIG, cache=True, parallel=True, error_model="numpy")
def black76_all(f, k, t, v, r, call, price, delta, gamma, vega, theta, rho, workers):  # type: ignore[no-untyped-def]
    """Price and the five greeks; returns the number of invalid rows (two passes and the
    threads' chunks as in :func:`black76_price`)."""
    n = price.shape[0]
    if workers <= 1 or n <= CHUNK:
        special = _all_rows(f, k, t, v, r, call, price, delta, gamma, vega, theta, rho)
    else:
        chunks = (n + CHUNK - 1) // CHUNK
        per = (chunks + workers - 1) // workers
        counters = np.zeros(workers * _PAD, dtype=np.int64)
        special = 0
        for me in prange(workers):
            mine = 0
            chunk, j = _next_chunk(counters, me, workers, per, chunks, 0)
            while chunk >= 0:
                lo = chunk * CHUNK
                hi = min(lo + CHUNK, n)
                mine += _all_rows(
                    f[lo:hi], k[lo:hi], t[lo:hi], v[lo:hi], r[lo:hi], call[lo:hi],
                    price[lo:hi], delta[lo:hi], gamma[lo:hi], vega[lo:hi], theta[lo:hi],
                    rho[lo:hi],
                )  # fmt: skip
                chunk, j = _next_chunk(counters, me, workers, per, chunks, j)
            special += mine
    if special == 0:
        return 0
    return _all_marked(f, k, t, v, r, call, price, delta, gamma, vega, theta, rho)


@njit(cache=True, inline="always", fastmath={"contract", "arcp"}, error_model="numpy")
def solve_total_stdev(a: float, b: float, target: float) -> tuple[float, int]:
    """Total standard deviation s with _otm_value(a, b, s) == target (0 < target < a <= b).

    The safeguarded fallback of the implied-vol kernel (``_lbr``) for the rare rows where the
    rational guess and its Householder steps do not confirm convergence. Newton's method on
    ln(value) (concave in s, so iterates approach from below) inside a bracket that shrinks every
    step; a bisection step is taken whenever Newton would leave the bracket.
    """
    lo, hi = 0.0, 1.0
    while _otm_value(a, b, hi) < target:
        lo = hi
        hi *= 2.0
        if hi > 1.0e3:
            return np.nan, ABOVE_MAXIMUM
    log_target = math.log(target)
    # start at the at-the-money guess (Brenner–Subrahmanyam), kept inside the bracket
    s = min(math.sqrt(2.0 * math.pi) * target / a, hi)
    if not lo < s < hi:
        s = 0.5 * (lo + hi)
    for _ in range(200):
        value = _otm_value(a, b, s)
        if value <= 0.0:
            lo = s
            s = 0.5 * (lo + hi)
            continue
        g = math.log(value) - log_target
        if g < 0.0:
            lo = s
        else:
            hi = s
        u = math.log(a / b) / s + 0.5 * s
        slope = a * _INV_SQRT2PI * math.exp(-0.5 * u * u) / value  # d ln(value) / ds
        step = g / slope if slope > 0.0 else np.inf
        s_new = s - step
        if not (lo < s_new < hi) or not math.isfinite(s_new):
            s_new = 0.5 * (lo + hi)
        if abs(s_new - s) <= 4e-16 * s_new or hi - lo <= 4e-16 * hi:
            return s_new, SOLVED
        s = s_new
    return np.nan, NO_CONVERGENCE
