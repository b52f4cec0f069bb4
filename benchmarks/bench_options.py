"""Black-76 throughput: carbonfin's numba kernels against QuantLib loops and plain numpy/scipy.

Like is compared with like, at equal thread counts as well as at all threads:

* pricing: ``carbonfin.pricing.black76`` (price) and ``black76_greeks`` (price and five greeks)
  against a Python loop over QuantLib's ``blackFormula`` (price only; plain floats, the stdev and
  discount computed per option with ``math`` — the fastest way to write that loop) and against a
  vectorised numpy/scipy Black-76 (``scipy.stats.norm.cdf``, the formula as a textbook writes it);
* implied volatility: ``carbonfin.pricing.implied_vol`` against a Python loop over QuantLib's
  solver ``blackFormulaImpliedStdDev`` (safeguarded Newton, accuracy 1e-15 on σ√T — carbonfin
  solves to about 1e-15 relative in σ√T), both given the same carbonfin prices.

The QuantLib loops and numpy/scipy are single-threaded; the numba kernels run once with
``numba.set_num_threads(1)`` (a plain vectorised loop on the calling thread, no parallel region)
and once with every thread (chunks of 8,192 rows handed out through atomic counters, so a thread
whose core is busy takes fewer; for pricing each thread starts on its own contiguous part). The
OpenMP workers wait passively between calls (``OMP_WAIT_POLICY=PASSIVE``, set by carbonfin unless
the environment sets it): spinning workers slowed this script's QuantLib loop. The QuantLib
loops are timed on a 20,000-option sample and scaled. Each round runs every method once (so a
load spike on the shared machine hits all of them alike); the table gives the median over 5
rounds, after warm-up calls.
Each vectorised call is made as a caller makes it: the result is dropped before the next call,
so carbonfin's output cache (``carbonfin.pricing._output_cache``) hands the next call the memory
the dropped result held. Two rows beside the default, never instead of it: ``cold`` clears that
cache before each call (the timed call faults in a fresh 48 MB block, as a first call does; the
clearing unmaps the old block inside the timing, so the row errs on the slow side), and ``out=``
writes into a block the caller keeps and passes in.

Before timing, the results are checked: prices against QuantLib and numpy/scipy, implied vols
against QuantLib's where the price carries the volatility (time value >= 1e-8·F). A disagreement
beyond the stated tolerance exits with status 1.

Every ratio is the median over the rounds of the ratio measured within one round (both methods
timed back to back, so a load change between rounds moves both); the range follows it.

Run: ``python benchmarks/bench_options.py`` (or ``make bench``); about 30 s on two quiet cores.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from functools import partial

import numba
import numpy as np
import QuantLib as ql  # noqa: N813
from scipy.stats import norm

from carbonfin.pricing import _output_cache, black76, black76_greeks, implied_vol

N = 1_000_000  # vectorised pricing calls
N_IV = 1_000_000  # vectorised implied-vol calls (the "1M implied volatilities")
LOOP_SAMPLE = 20_000  # QuantLib loops, scaled to options/s
ROUNDS = 5  # the "median of 5 runs": every method once per round, ratios per round
WARMUP = 2
QL_IV_ACCURACY = 1e-15  # absolute, on the total standard deviation σ√T
PRICE_RTOL = 1e-9  # where price > 1e-6·F (measured ~4e-11: QuantLib's normal CDF)
IV_ATOL = 1e-9  # vol points as decimals, where time value >= 1e-8·F (measured ~3e-11)
TIME_VALUE_FLOOR = 1e-8  # fraction of F below which the price carries too few digits of σ

Arrays = tuple[np.ndarray, ...]


def inputs(n: int, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    f = rng.uniform(40.0, 120.0, n)
    k = f * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.02, 3.0, n)
    v = rng.uniform(0.1, 1.0, n)
    r = rng.uniform(-0.005, 0.05, n)
    call = rng.random(n) < 0.5
    return f, k, t, v, r, call


def scipy_black76(f, k, t, v, r, call):  # type: ignore[no-untyped-def]
    """Textbook vectorised Black-76 (Black 1976; Hull, ch. 18): numpy + scipy.stats.norm."""
    s = v * np.sqrt(t)
    d1 = np.log(f / k) / s + 0.5 * s
    d2 = d1 - s
    w = np.where(call, 1.0, -1.0)
    return np.exp(-r * t) * w * (f * norm.cdf(w * d1) - k * norm.cdf(w * d2))


def scipy_black76_greeks(f, k, t, v, r, call):  # type: ignore[no-untyped-def]
    """The same with delta, gamma, vega, theta and rho (Hull, ch. 18-19), as carbonfin returns."""
    sqrt_t = np.sqrt(t)
    s = v * sqrt_t
    d1 = np.log(f / k) / s + 0.5 * s
    d2 = d1 - s
    w = np.where(call, 1.0, -1.0)
    df = np.exp(-r * t)
    price = df * w * (f * norm.cdf(w * d1) - k * norm.cdf(w * d2))
    pdf = norm.pdf(d1)
    delta = df * w * norm.cdf(w * d1)
    gamma = df * pdf / (f * s)
    vega = df * f * pdf * sqrt_t
    theta = r * price - df * f * pdf * v / (2.0 * sqrt_t)
    return price, delta, gamma, vega, theta, -t * price


def ql_price_loop(f, k, t, v, r, call) -> list[float]:  # type: ignore[no-untyped-def]
    bf, c_type, p_type, sqrt, exp = (
        ql.blackFormula,
        ql.Option.Call,
        ql.Option.Put,
        math.sqrt,
        math.exp,
    )
    return [
        bf(c_type if ci else p_type, ki, fi, vi * sqrt(ti), exp(-ri * ti))
        for fi, ki, ti, vi, ri, ci in zip(f, k, t, v, r, call, strict=True)
    ]


def ql_iv_loop(price, f, k, t, r, call) -> list[float]:  # type: ignore[no-untyped-def]
    solve, c_type, p_type = ql.blackFormulaImpliedStdDev, ql.Option.Call, ql.Option.Put
    sqrt, exp, null, acc = math.sqrt, math.exp, ql.nullDouble(), QL_IV_ACCURACY
    out = []
    for pi, fi, ki, ti, ri, ci in zip(price, f, k, t, r, call, strict=True):
        try:
            sd = solve(c_type if ci else p_type, ki, fi, pi, exp(-ri * ti), 0.0, null, acc, 100)
            out.append(sd / sqrt(ti))
        except RuntimeError:  # QuantLib's solver gives up: counted as NaN by the check
            out.append(math.nan)
    return out


def cold_greeks(*args: np.ndarray) -> object:
    """``black76_greeks`` into fresh memory: the output cache emptied first (inside the timing)."""
    _output_cache.clear()
    return black76_greeks(*args)


def with_threads(fn: Callable[..., object], threads: int) -> Callable[..., object]:
    def run(*args: object) -> object:
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            return fn(*args)
        finally:
            numba.set_num_threads(before)

    return run


def fail(message: str) -> None:
    print(f"AGREEMENT CHECK FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check_agreement(big: Arrays, small: Arrays, iv_in: Arrays) -> list[str]:
    """Exit 1 unless carbonfin agrees with QuantLib and numpy/scipy; return the report lines."""
    f, k, t, v, r, call = small
    ours = black76(f, k, t, v, r, call)
    ql_prices = np.asarray(ql_price_loop(*(a.tolist() for a in small)))
    sp = scipy_black76(*big)[:LOOP_SAMPLE]
    priced = ours > 1e-6 * f
    ql_rel = float(np.max(np.abs(ours[priced] - ql_prices[priced]) / ql_prices[priced]))
    sp_rel = float(np.max(np.abs(ours[priced] - sp[priced]) / sp[priced]))
    if not ql_rel <= PRICE_RTOL:
        fail(f"black76 vs QuantLib blackFormula: max relative difference {ql_rel:.2e}")
    if not sp_rel <= PRICE_RTOL:
        fail(f"black76 vs numpy/scipy Black-76: max relative difference {sp_rel:.2e}")

    price, fi, ki, ti, ri, ci = (a[:LOOP_SAMPLE] for a in iv_in)
    vi = v  # the same options: the input σ the solvers should recover
    ours_iv = implied_vol(price, fi, ki, ti, ri, ci)
    ql_iv = np.asarray(ql_iv_loop(*(a.tolist() for a in (price, fi, ki, ti, ri, ci))))
    intrinsic = np.exp(-ri * ti) * np.where(ci, np.maximum(fi - ki, 0), np.maximum(ki - fi, 0))
    determined = (price - intrinsic) >= TIME_VALUE_FLOOR * fi
    if np.isnan(ours_iv[determined]).any() or np.isnan(ql_iv[determined]).any():
        fail(
            f"implied vol NaN where the price carries the vol: carbonfin "
            f"{int(np.isnan(ours_iv[determined]).sum())}, QuantLib "
            f"{int(np.isnan(ql_iv[determined]).sum())}"
        )
    iv_diff = float(np.max(np.abs(ours_iv[determined] - ql_iv[determined])))
    if not iv_diff <= IV_ATOL:
        fail(f"implied_vol vs QuantLib blackFormulaImpliedStdDev: max |Δσ| {iv_diff:.2e}")
    recovered = float(np.max(np.abs(ours_iv[determined] - vi[determined])))
    rest = int((~determined).sum())
    return [
        f"prices (price > 1e-6·F, {int(priced.sum()):,} of {LOOP_SAMPLE:,}): max relative "
        f"difference vs QuantLib {ql_rel:.1e}, vs numpy/scipy {sp_rel:.1e} "
        f"(limit {PRICE_RTOL:.0e})",
        f"implied vol (time value >= {TIME_VALUE_FLOOR:.0e}·F, {int(determined.sum()):,} of "
        f"{LOOP_SAMPLE:,}): max |Δσ| vs QuantLib {iv_diff:.1e} (limit {IV_ATOL:.0e}); input σ "
        f"recovered to {recovered:.1e}",
        f"  {rest} options with less time value (σ carries few digits) are timed, not compared; "
        f"carbonfin gives NaN with a reason for {int(np.isnan(ours_iv).sum())} of them",
    ]


#: (section, label, threads) pairs compared at equal thread counts
EQUAL_THREADS = [
    (
        ("price", "carbonfin black76_greeks (+5 greeks)", 1),
        ("price", "numpy/scipy Black-76 + 5 greeks", 1),
    ),
    (("price", "carbonfin black76", 1), ("price", "numpy/scipy Black-76 (norm.cdf)", 1)),
]


def _row(
    rows: list[tuple[str, str, int, Callable[..., object], tuple[object, ...], int]],
    section: str,
    label: str,
    threads: int,
) -> int:
    return next(i for i, r in enumerate(rows) if r[:3] == (section, label, threads))


def _ratio_text(
    times: list[list[float]],
    rows: list[tuple[str, str, int, Callable[..., object], tuple[object, ...], int]],
    i: int,
    base: int,
) -> str:
    """Throughput ratio of row i over row base: median over rounds of the per-round ratio."""
    per_round = [
        (rows[i][5] / ti) / (rows[base][5] / tb)
        for ti, tb in zip(times[i], times[base], strict=True)
    ]
    return f"{float(np.median(per_round)):12.1f}x   {min(per_round):5.1f}-{max(per_round):5.1f}x"


def streaming_ratio(iv_in: Arrays) -> list[float]:
    """Time of one vectorised implied-vol pass over all rows per the same rows in 8,192-row
    slices (three rounds back to back). About 1 when the pass streams; a pass indexed so that
    numba keeps its negative-index wraparound reads by gathers and writes by scatters, ~4x
    slower from memory than from L2 (617 ms vs 153 ms per 1M rows at load 7, AMD EPYC)."""
    from carbonfin.pricing import _lbr

    out = np.empty(iv_in[0].size)
    codes = np.empty(iv_in[0].size, dtype=np.int8)
    arrays = (*iv_in, out, codes)
    ratios = []
    for _ in range(3):
        t0 = time.perf_counter()
        _lbr._solve_rows(*arrays)
        t1 = time.perf_counter()
        for lo in range(0, out.size, 8192):
            _lbr._solve_rows(*(a[lo : lo + 8192] for a in arrays))
        ratios.append((t1 - t0) / (time.perf_counter() - t1))
    return ratios


Row = tuple[str, str, int, Callable[..., object], tuple[object, ...], int]


def timed_rows(
    big: Arrays,
    ql_small: tuple[object, ...],
    iv_in: Arrays,
    ql_iv_small: tuple[object, ...],
    all_threads: int,
) -> list[Row]:
    """The methods timed, in order: (section, label, threads, function, args, options per call)."""
    rows: list[Row] = [
        ("price", "QuantLib blackFormula loop", 1, ql_price_loop, ql_small, LOOP_SAMPLE),
        ("price", "numpy/scipy Black-76 (norm.cdf)", 1, scipy_black76, big, N),
        ("price", "numpy/scipy Black-76 + 5 greeks", 1, scipy_black76_greeks, big, N),
    ]
    for threads in sorted({1, all_threads}):
        rows.append(("price", "carbonfin black76", threads, with_threads(black76, threads), big, N))
    for threads in sorted({1, all_threads}):
        label = "carbonfin black76_greeks (+5 greeks)"
        rows.append(("price", label, threads, with_threads(black76_greeks, threads), big, N))
    for threads in sorted({1, all_threads}):
        label = "  same, cold (output cache emptied first)"
        rows.append(("price", label, threads, with_threads(cold_greeks, threads), big, N))
    block = np.empty((6, N))  # reused by every call of the out= row
    for threads in sorted({1, all_threads}):
        label = "  same, out= a reused block (opt-in)"
        fn = with_threads(partial(black76_greeks, out=block), threads)
        rows.append(("price", label, threads, fn, big, N))
    rows.append(
        ("iv", "QuantLib blackFormulaImpliedStdDev loop", 1, ql_iv_loop, ql_iv_small, LOOP_SAMPLE)
    )
    for threads in sorted({1, all_threads}):
        fn = with_threads(implied_vol, threads)
        rows.append(("iv", "carbonfin implied_vol", threads, fn, iv_in, N_IV))

    return rows


def main() -> None:
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    all_threads = numba.config.NUMBA_NUM_THREADS
    big = inputs(N, seed=1)
    f, k, t, v, r, call = big
    small = tuple(a[:LOOP_SAMPLE] for a in big)
    prices = black76(f, k, t, v, r, call)
    iv_in = tuple(a[:N_IV] for a in (prices, f, k, t, r, call))
    ql_small = tuple(a.tolist() for a in small)
    ql_iv_small = tuple(a[:LOOP_SAMPLE].tolist() for a in iv_in)

    checks = check_agreement(big, small, iv_in)

    rows = timed_rows(big, ql_small, iv_in, ql_iv_small, all_threads)

    for _, _, _, fn, args, _ in rows:
        for _ in range(WARMUP):
            fn(*args)
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(ROUNDS):
        for i, (_, _, _, fn, args, _) in enumerate(rows):
            t0 = time.perf_counter()
            fn(*args)
            times[i].append(time.perf_counter() - t0)

    load_end = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, numba threads {all_threads}; load average (1 min) "
        f"{load_start:.1f} at start, {load_end:.1f} at end"
    )
    print(
        f"pricing {N:,} options, implied vol {N_IV:,}; QuantLib loops on {LOOP_SAMPLE:,}, scaled; "
        f"median of {ROUNDS} rounds"
    )
    print("agreement (checked before timing; exit 1 if beyond the limit):")
    for line in checks:
        print(f"  {line}")
    header = (
        f"{'method':42s}{'threads':>8s}{'time per 1M':>13s}{'options/s':>13s}"
        f"{'vs QuantLib':>13s}{'(range)':>15s}"
    )
    for section, title in (
        ("price", "Pricing (ratio vs the QuantLib blackFormula loop; it prices only)"),
        ("iv", "Implied volatility (ratio vs the QuantLib blackFormulaImpliedStdDev loop)"),
    ):
        print(f"\n{title}\n{header}")
        members = [i for i, row in enumerate(rows) if row[0] == section]
        base = members[0]
        for i in members:
            _, label, threads, _, _, n = rows[i]
            rate = n / float(np.median(times[i]))
            print(
                f"{label:42s}{threads:8d}{1e6 / rate:12.3f}s{rate:13,.0f}"
                f"{_ratio_text(times, rows, i, base)}"
            )
    print("\nratios at equal threads (median of the per-round ratios, range):")
    for num, den in EQUAL_THREADS:
        i, j = _row(rows, *num), _row(rows, *den)
        print(f"  {num[1]} / {den[1]} ({num[2]} thread): {_ratio_text(times, rows, i, j).strip()}")
    stream = streaming_ratio(iv_in)
    print(
        f"  implied-vol pass, one call over {N_IV:,} rows / 8,192-row slices: "
        f"{float(np.median(stream)):.2f}x (rounds {', '.join(f'{x:.2f}' for x in stream)}; "
        "about 1 when the pass streams, ~4 when it gathers and scatters)"
    )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
