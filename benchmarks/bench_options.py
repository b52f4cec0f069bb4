"""Black-76 throughput: the vectorised kernels against a Python loop over QuantLib.

1,000,000 options priced with all greeks (price, delta, gamma, vega, theta, rho) by
``carbonfin.pricing.black76_greeks``, against a Python loop calling QuantLib's ``blackFormula``
(price only) on the same inputs — the fastest way to write that loop: plain floats, the stdev
and discount computed per option with ``math`` — timed on a 20,000-option sample and scaled.
Also prints the agreement with QuantLib on the sample and the implied-vol throughput.
Each vectorised call allocates its output arrays afresh, as a caller would see it; timings are
taken after three full-size warm-up calls (the first large allocations of a process pay page
faults that a long-running service does not) and reported as best and median of 15.

Run: ``python benchmarks/bench_options.py`` (or ``make bench``).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import QuantLib as ql  # noqa: N813

from carbonfin.pricing import black76, black76_greeks, implied_vol

N = 1_000_000
LOOP_SAMPLE = 20_000
REPEATS = 15
WARMUP = 3  # full-size calls first: the allocator settles (glibc's mmap threshold adapts)


def inputs(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    f = rng.uniform(40.0, 120.0, n)
    k = f * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.02, 3.0, n)
    v = rng.uniform(0.1, 1.0, n)
    r = rng.uniform(-0.005, 0.05, n)
    call = rng.random(n) < 0.5
    return f, k, t, v, r, call


def quantlib_loop(f, k, t, v, r, call) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
    bf, c_type, p_type = ql.blackFormula, ql.Option.Call, ql.Option.Put
    rows = zip(
        f.tolist(), k.tolist(), t.tolist(), v.tolist(), r.tolist(), call.tolist(), strict=True
    )
    start = time.perf_counter()
    out = [
        bf(c_type if ci else p_type, ki, fi, vi * math.sqrt(ti), math.exp(-ri * ti))
        for fi, ki, ti, vi, ri, ci in rows
    ]
    return out, time.perf_counter() - start


def best_and_median(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(WARMUP):
        fn(*args)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def main() -> None:
    f, k, t, v, r, call = inputs(N, seed=1)
    black76_greeks(f[:10], k[:10], t[:10], v[:10], r[:10], call[:10])  # load compiled kernels
    implied_vol(np.ones(10), f[:10], k[:10], t[:10], r[:10], call[:10])

    sample_inputs = [a[:LOOP_SAMPLE] for a in (f, k, t, v, r, call)]
    loop_times = []
    for _ in range(REPEATS):
        ql_prices, seconds = quantlib_loop(*sample_inputs)
        loop_times.append(seconds)
    ql_best = LOOP_SAMPLE / min(loop_times)
    ql_median = LOOP_SAMPLE / float(np.median(loop_times))
    best, median = best_and_median(black76_greeks, f, k, t, v, r, call)
    price_best, _ = best_and_median(black76, f, k, t, v, r, call)
    prices = black76(f, k, t, v, r, call)
    iv_best, _ = best_and_median(implied_vol, prices, f, k, t, r, call)

    sample = prices[:LOOP_SAMPLE]
    ref = np.asarray(ql_prices)
    big = ref > 1e-6 * f[:LOOP_SAMPLE]
    max_rel = float(np.max(np.abs(sample[big] - ref[big]) / ref[big]))

    print(f"machine: {os.cpu_count()} cores; {N:,} options; QuantLib loop on {LOOP_SAMPLE:,}")
    print(f"(best and median of {REPEATS} runs each; ratios best/best and median/median)")
    print(f"{'':42s}{'options/s':>14s}{'vs QuantLib':>13s}")
    print(f"{'QuantLib blackFormula loop (best)':42s}{ql_best:14,.0f}{1.0:12.1f}x")
    print(f"{'QuantLib blackFormula loop (median)':42s}{ql_median:14,.0f}{1.0:12.1f}x")
    for label, seconds, ref in (
        ("black76_greeks, price + 5 greeks (best)", best, ql_best),
        ("black76_greeks, price + 5 greeks (median)", median, ql_median),
        ("black76, price only (best)", price_best, ql_best),
        ("implied_vol (best)", iv_best, ql_best),
    ):
        rate = N / seconds
        print(f"{label:42s}{rate:14,.0f}{rate / ref:12.1f}x")
    print(f"max relative difference to QuantLib where price > 1e-6 F: {max_rel:.2e}")


if __name__ == "__main__":
    main()
