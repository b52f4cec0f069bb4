"""Benchmark the backtest runner: the standard suite over ten years for three instruments and
three models (hs, ewma, garch-t) at the 1-day horizon with daily refits, serial and on a 2-worker
local Dask cluster; and the speed-up of warm-started GARCH refits over cold ones.

The three ten-year histories are synthetic GARCH(1,1)-t closes on every China business day
(seeded), named after the sample instruments: the shipped sample holds ten years only for SHEA
(CEA starts 2021, CCER 2024), and a benchmark should time the same amount of work per series.

    python benchmarks/bench_backtest.py [--years 10] [--windows 2] [--paths 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from backtests.engine import JobSpec, run_var_job
from backtests.runner import Dataset, run, standard_jobs
from carbonfin.calendars import get_calendar
from carbonfin.pricing.history import PriceHistory


def _history(name: str, years: int, seed: int) -> PriceHistory:
    end = dt.date(2025, 12, 31)
    days = get_calendar("China.SEEE").business_days(dt.date(end.year - years, 1, 1), end)
    rng = np.random.default_rng(seed)
    n = len(days)
    r, h = np.empty(n), 4e-4
    for t in range(n):
        r[t] = np.sqrt(h) * rng.standard_t(5) * np.sqrt(3 / 5)
        h = 1.5e-5 + 0.09 * r[t] ** 2 + 0.87 * h
    close = 40.0 * np.exp(np.cumsum(np.clip(r, -0.095, 0.095)))
    frame = pd.DataFrame(
        {"date": days, "close": close, "volume_t": 5_000.0, "amount_cny": 5_000.0 * close}
    )
    return PriceHistory.from_frame(frame, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--paths", type=int, default=2000)
    args = ap.parse_args()
    datasets = [
        Dataset(n, _history(n, args.years, s), "synthetic GARCH-t")
        for n, s in (("SHEA", 1), ("CEA", 2), ("CCER", 3))
    ]
    jobs = standard_jobs(
        datasets,
        models=("hs", "ewma", "garch-t"),
        horizons=(1,),
        windows=args.windows,
        haircut=False,
        refit_every=1,
        n_paths=args.paths,
    )
    n_dates = sum(len(run_var_job(d.history, JobSpec(d.name, "ewma", 1)).dates) for d in datasets)
    print(
        f"{len(datasets)} instruments x 3 models, 1-day horizon, daily refits, "
        f"{args.windows} window(s) each: {len(jobs)} jobs, {n_dates} forecast dates per model"
    )

    t0 = time.perf_counter()
    serial = run(datasets, jobs)
    t_serial = time.perf_counter() - t0
    print(f"serial (this process):        {t_serial:7.1f} s")

    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        run(datasets, jobs[:2], scheduler=cluster.scheduler_address)  # warm the workers' imports
        t0 = time.perf_counter()
        remote = run(datasets, jobs, scheduler=cluster.scheduler_address)
        t_dask = time.perf_counter() - t0
    print(f"2-worker local Dask cluster:  {t_dask:7.1f} s  (speed-up {t_serial / t_dask:.2f}x)")
    same = all(
        np.array_equal(a.var[0.99], b.var[0.99], equal_nan=True)  # type: ignore[union-attr]
        for a, b in zip(serial.results, remote.results, strict=True)
    )
    print(f"results identical serial vs Dask: {same}")

    # warm-started vs cold refits: the GARCH-t job of one instrument over its last two years
    d = datasets[0]
    timings = {}
    last_two = d.last_date - dt.timedelta(days=730)
    for warm in (True, False):
        spec = JobSpec(
            d.name, "garch-t", 1, start=last_two, refit_every=1, warm_start=warm, n_paths=args.paths
        )
        t0 = time.perf_counter()
        res = run_var_job(d.history, spec)
        timings[warm] = (time.perf_counter() - t0, res.fit_log)
    (tw, lw), (tc, lc) = timings[True], timings[False]
    print(f"garch-t daily refits on {d.name} since {last_two} ({lw.refits + lw.failed} refits):")
    print(
        f"  warm-started: {tw:6.1f} s, {lw.iterations / max(lw.refits, 1):5.1f} optimiser "
        f"iterations per refit"
    )
    print(
        f"  cold:         {tc:6.1f} s, {lc.iterations / max(lc.refits, 1):5.1f} optimiser "
        f"iterations per refit"
    )
    print(f"  speed-up of warm over cold: {tc / tw:.2f}x")


if __name__ == "__main__":
    main()
