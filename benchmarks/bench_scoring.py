"""Batch scoring throughput: 100,000 firm-years through methodology v1.1 (target >= 200,000/s).

The panel is the sample market's 4,480 firm-years replicated (with fresh identities and jittered
inputs) to 100,000 rows; benchmarks are computed once from the panel, as in production batch
runs. The time includes the per-row BLAKE2b input hash (a Python loop over rows, about 1.5 µs
each), reported separately. Run: ``python benchmarks/bench_scoring.py`` (or ``make bench``).
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from carbonfin.data import load_table
from carbonfin.scoring import build_panel, industry_benchmarks, load_methodology, score_panel
from carbonfin.scoring.methodology import DEFAULT_VERSION
from carbonfin.scoring.score import _HASH_COLUMNS, _row_hash

N = 100_000
REPEATS = 5
AS_OF = dt.date(2026, 11, 26)


def population(n: int) -> pd.DataFrame:
    base = build_panel(
        {
            name: load_table(name)
            for name in ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
        }
    )
    reps = int(np.ceil(n / len(base)))
    panel = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    rng = np.random.default_rng(0)
    jitter = rng.lognormal(0.0, 0.1, n)
    panel["emissions_tco2e"] = panel["emissions_tco2e"] * jitter
    panel["uscc"] = panel["uscc"].str[:10] + pd.Series(np.arange(n)).astype(str).str.zfill(8)
    return panel


def main() -> None:
    panel = population(N)
    m = load_methodology(DEFAULT_VERSION)
    bench = industry_benchmarks(panel, m)
    score_panel(panel.iloc[:1000], benchmarks=bench, as_of=AS_OF)  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        scores = score_panel(panel, benchmarks=bench, as_of=AS_OF)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    score_panel(panel, as_of=AS_OF)
    with_bench = time.perf_counter() - start
    hashed = panel.assign(benchmark_intensity=1.0, compliance_state=0.0)
    start = time.perf_counter()
    _row_hash(hashed, _HASH_COLUMNS, m)
    hash_s = time.perf_counter() - start
    best, median = min(times), float(np.median(times))
    print(f"{N:,} firm-years, methodology {m.version} ({len(scores.columns)} output columns)")
    print(
        f"  scoring (benchmarks given):    best {N / best:12,.0f}/s   median {N / median:12,.0f}/s"
    )
    print(f"  scoring incl. benchmarks:      {N / with_bench:12,.0f}/s")
    print(f"  of which the input hash alone: {N / hash_s:12,.0f}/s")
    print(f"  target 200,000/s: {'met' if N / median >= 200_000 else 'NOT met'} (median)")


if __name__ == "__main__":
    main()
