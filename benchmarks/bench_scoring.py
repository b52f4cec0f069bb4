"""Batch scoring throughput: 100,000 firm-years through methodology v1.1 (target >= 500,000/s,
issue 21, including the input hash).

The panel is the sample market's 4,480 firm-years replicated (with fresh identities and jittered
inputs) to 100,000 rows; benchmarks are computed once from the panel, as in production batch
runs. The time includes the BLAKE2b-256 input hash of every row. The reference, timed in the
same run and interleaved with it, is the same ``score_panel`` with the input hash computed as
before issue 21 (:func:`reference_row_hash`: hashlib, one ``copy()`` and four ``update`` calls
per row in a Python loop); both give the same hashes (checked here). Prints the load average
and the process's memory policy (:mod:`carbonfin._memory`, set when carbonfin is imported), and
the median again in a child process with glibc's defaults (``CARBONFIN_MALLOC=system``).
Run: ``python benchmarks/bench_scoring.py`` (or ``make bench``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from typing import cast
from unittest import mock

import numpy as np
import pandas as pd

from carbonfin._memory import memory_policy
from carbonfin.data import load_table
from carbonfin.scoring import build_panel, industry_benchmarks, load_methodology, score_panel
from carbonfin.scoring import score as score_module
from carbonfin.scoring.input_hash import _as_float, header, row_hash
from carbonfin.scoring.methodology import DEFAULT_VERSION, Methodology
from carbonfin.scoring.score import _HASH_COLUMNS

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


def reference_row_hash(frame: pd.DataFrame, columns: list[str], m: Methodology) -> list[str]:
    """The input hash as computed before issue 21: a Python loop over rows with hashlib."""
    base = hashlib.blake2b(header(columns, m), digest_size=32)
    text_cols = [
        c for c in columns if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)
    ]
    num_cols = [c for c in columns if c not in text_cols]
    x = np.column_stack([_as_float(frame[c]) for c in num_cols]) + 0.0
    x[np.isnan(x)] = np.nan
    raw = np.ascontiguousarray(x.astype("<f8"))
    numeric = cast("list[bytes]", raw.view(np.dtype((np.void, 8 * len(num_cols)))).ravel().tolist())
    texts = []
    for c in text_cols:
        missing = frame[c].isna().to_numpy(dtype=bool)
        col = []
        for value, absent in zip(frame[c].to_numpy(dtype=object), missing, strict=True):
            if absent:
                col.append(b"\xff\xff\xff\xff")
            else:
                data = str(value).encode("utf-8")
                col.append(len(data).to_bytes(4, "little") + data)
        texts.append(col)
    out = []
    for i in range(len(frame)):
        h = base.copy()
        for col in texts:
            h.update(col[i])
        h.update(numeric[i])
        out.append(h.hexdigest())
    return out


def reference_start(frame: pd.DataFrame, columns: list[str], m: Methodology) -> object:
    """:func:`reference_row_hash` in the place of ``score_panel``'s ``_start_row_hash``."""
    hashes = reference_row_hash(frame, columns, m)
    return lambda: hashes


def _time(fn: object, *args: object, **kwargs: object) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start, out


def median_only() -> float:
    """The median time of :data:`REPEATS` calls, nothing else (the child process's work)."""
    panel = population(N)
    bench = industry_benchmarks(panel, load_methodology(DEFAULT_VERSION))
    score_panel(panel.iloc[:1000], benchmarks=bench, as_of=AS_OF)
    return float(np.median([_time(score_panel, panel, benchmarks=bench, as_of=AS_OF)[0]
                            for _ in range(REPEATS)]))  # fmt: skip


def glibc_defaults_median() -> str:
    """:func:`median_only` in a child process with ``CARBONFIN_MALLOC=system``, in words."""
    env = os.environ | {"CARBONFIN_MALLOC": "system"}
    done = subprocess.run([sys.executable, __file__, "--median-only"], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return f"{N / float(done.stdout):12,.0f}/s"


def main() -> None:
    if sys.argv[1:] == ["--median-only"]:
        print(median_only())
        return
    load_before = os.getloadavg()
    panel = population(N)
    m = load_methodology(DEFAULT_VERSION)
    bench = industry_benchmarks(panel, m)
    score_panel(panel.iloc[:1000], benchmarks=bench, as_of=AS_OF)  # warm-up (loads the kernels)
    times, ref_times = [], []
    for _ in range(REPEATS):  # interleaved, so both see the same load
        elapsed, scores = _time(score_panel, panel, benchmarks=bench, as_of=AS_OF)
        times.append(elapsed)
        with mock.patch.object(score_module, "_start_row_hash", reference_start):
            elapsed, ref_scores = _time(score_panel, panel, benchmarks=bench, as_of=AS_OF)
        ref_times.append(elapsed)
    pd.testing.assert_frame_equal(scores, ref_scores)  # every score and hash identical
    with_bench, _ = _time(score_panel, panel, as_of=AS_OF)
    hashed = panel.assign(benchmark_intensity=1.0, compliance_state=0.0)
    hash_s = min(_time(row_hash, hashed, _HASH_COLUMNS, m)[0] for _ in range(3))
    ref_hash_s = min(_time(reference_row_hash, hashed, _HASH_COLUMNS, m)[0] for _ in range(3))
    median, ref_median = float(np.median(times)), float(np.median(ref_times))
    system = glibc_defaults_median()
    load_after = os.getloadavg()
    print(f"{N:,} firm-years, methodology {m.version} ({len(scores.columns)} output columns)")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(f"  memory policy: {memory_policy()}")
    print(
        f"  scoring incl. hash:  best {N / min(times):10,.0f}/s   median {N / median:10,.0f}/s"
        f"   ({REPEATS} runs)"
    )
    print(
        f"  reference (per-row hashlib hash): median {N / ref_median:10,.0f}/s"
        f"   ratio {ref_median / median:.2f}x"
    )
    print(f"  scoring incl. benchmarks:      {N / with_bench:12,.0f}/s")
    print(
        f"  input hash alone: {N / hash_s:12,.0f}/s   reference {N / ref_hash_s:12,.0f}/s"
        f"   ratio {ref_hash_s / hash_s:.2f}x   (best of 3)"
    )
    print(f"  scoring incl. hash, glibc's defaults (CARBONFIN_MALLOC=system): median {system}")
    print(f"  target 500,000/s: {'met' if N / median >= 500_000 else 'NOT met'} (median)")


if __name__ == "__main__":
    main()
