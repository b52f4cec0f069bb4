"""Benchmark ``carbonfin backtest --suite standard`` (issue 21: under 60 s on 2 cores).

The standard suite on the shipped sample (every model at 1, 10 and 20 days, confidence 0.99,
ES 0.975, daily warm-started refits, 2,000 FHS paths, the haircut at the policy defaults), run

* as the CLI runs it: units of jobs that share their fits, longest first, on one local process
  per core (``run(..., workers=N)``), GARCH models fitted by the compiled likelihood with analytic
  gradients (``optimizer="compiled"``, the default);
* the reference in the same run (``--reference arch``, the default): the same suite on the same
  processes with arch's GARCH optimiser (finite-difference gradients, ftol 1e-6: the fits before
  the compiled likelihood), with the agreement of the two (largest relative difference of the
  GARCH models' VaR/ES, exception flags that differ); ``--reference one-by-one``: every job alone
  in this process, as the runner scheduled them before any sharing (slow);
* on a 2-worker local Dask cluster (processes), with a check that it gives the local results;
  its workers start without Dask's default ``MALLOC_TRIM_THRESHOLD_=65536``, as
  docs/backtests.md advises (with it the workers spent ~30% more CPU in page faults).

The load average is printed before and after each run: the machine is shared, and a figure
taken under load says little on its own; the ratio of two runs taken minutes apart says more.
The other speed-ups of issue 21 (compiled FHS paths, calendar and likelihood fast paths) give
identical results and are in both runs; ``git stash``/an older checkout times the code before.

    python benchmarks/bench_backtest.py [--instruments SHEA,CEA,CCER] [--from 2016-01-01]
                                        [--reference arch|one-by-one|none] [--skip-dask]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from dataclasses import replace

import numpy as np

from backtests.engine import MODELS, ForecastSeries, HaircutSeries
from backtests.runner import Dataset, RunResult, default_workers, run, standard_jobs
from carbonfin.data import load_table
from carbonfin.pricing.history import PriceHistory


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _datasets(names: list[str]) -> list[Dataset]:
    prices = load_table("prices")
    out = []
    for name in names:
        frame = prices[prices["instrument"] == name].drop(columns="instrument")
        out.append(Dataset(name, PriceHistory.from_frame(frame.reset_index(drop=True), name),
                           "shipped sample"))  # fmt: skip
    return out


def _same(a: RunResult, b: RunResult) -> bool:
    if [j.key for j in a.jobs] != [j.key for j in b.jobs]:
        return False
    for x, y in zip(a.results, b.results, strict=True):
        if isinstance(x, ForecastSeries) and isinstance(y, ForecastSeries):
            arrays = [(x.es, y.es), (x.var_es, y.var_es)] + [(x.var[c], y.var[c]) for c in x.var]
        elif isinstance(x, HaircutSeries) and isinstance(y, HaircutSeries):
            arrays = [(x.haircut_frac, y.haircut_frac), (x.loss_frac, y.loss_frac)]
        else:
            return False
        if not all(np.array_equal(p, q, equal_nan=True) for p, q in arrays):
            return False
    return True


def _agreement(a: RunResult, b: RunResult) -> tuple[float, int, int]:
    """(largest relative VaR/ES difference, exception flags that differ, flags compared)."""
    worst, differ, flags = 0.0, 0, 0
    for x, y in zip(a.results, b.results, strict=True):
        if not (isinstance(x, ForecastSeries) and isinstance(y, ForecastSeries)):
            continue
        for c in x.var:
            p, q = x.var[c], y.var[c]
            ok = np.isfinite(q) & (q != 0)
            if ok.any():
                worst = max(worst, float(np.max(np.abs(p[ok] - q[ok]) / np.abs(q[ok]))))
            differ += int((x.hits(c) != y.hits(c)).sum())
            flags += len(p)
        ok = np.isfinite(y.es) & (y.es != 0)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(x.es[ok] - y.es[ok]) / np.abs(y.es[ok]))))
    return worst, differ, flags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instruments", default="SHEA,CEA,CCER")
    ap.add_argument("--from", dest="start", default=None, help="first test date (default: all)")
    ap.add_argument("--reference", choices=("arch", "one-by-one", "none"), default="arch")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    datasets = _datasets(args.instruments.split(","))
    start = dt.date.fromisoformat(args.start) if args.start else None
    usable = []
    for ds in datasets:  # CCER's sample is shorter than the lookback: the CLI reports it failed
        try:
            standard_jobs([ds], models=("hs",), horizons=(1,), start=start, haircut=False)
            usable.append(ds)
        except Exception as exc:
            print(f"{ds.name}: left out ({exc})")
    jobs = standard_jobs(usable, models=MODELS, horizons=(1, 10, 20), start=start)
    n = default_workers()
    print(f"standard suite on {', '.join(d.name for d in usable)}: {len(jobs)} jobs; "
          f"{n} cores; load average {_load()}")  # fmt: skip

    t0 = time.perf_counter()
    new = run(usable, jobs, workers=n)
    t_new = time.perf_counter() - t0
    print(f"units on {n} local processes:   {t_new:7.1f} s   (target < 60 s: "
          f"{'met' if t_new < 60 else 'NOT met'})   load {_load()}")  # fmt: skip
    if args.reference == "arch":
        old_jobs = [replace(j, optimizer="arch") for j in jobs]
        print(f"reference (arch's optimiser), load average {_load()}")
        t0 = time.perf_counter()
        ref = run(usable, old_jobs, workers=n)
        t_ref = time.perf_counter() - t0
        worst, differ, flags = _agreement(new, ref)
        print(f"arch's GARCH optimiser:        {t_ref:7.1f} s   compiled is {t_ref / t_new:.2f}x "
              f"faster   load {_load()}")  # fmt: skip
        print(f"compiled vs arch: largest relative VaR/ES difference {worst:.2e}; exception "
              f"flags that differ: {differ} of {flags}")  # fmt: skip
    elif args.reference == "one-by-one":
        from threadpoolctl import threadpool_limits

        from backtests.engine import run_job

        t0 = time.perf_counter()
        with threadpool_limits(limits=1):
            for spec in jobs:  # each job alone, as the runner scheduled them before
                run_job(next(d for d in usable if d.name == spec.instrument).history, spec)
        t_ref = time.perf_counter() - t0
        print(f"reference, jobs one by one:    {t_ref:7.1f} s   speed-up {t_ref / t_new:.2f}x"
              f"   load {_load()}")  # fmt: skip
    if not args.skip_dask:
        import dask
        from dask.distributed import LocalCluster

        # the workers as docs/backtests.md advises starting them: without Dask's default
        # MALLOC_TRIM_THRESHOLD_=65536 (~30% more CPU in page faults on this suite); the run's
        # mode line says so when a cluster has it
        with (
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
        ):  # fmt: skip
            run(usable, jobs[:1], scheduler=cluster.scheduler_address)  # warm the imports
            t0 = time.perf_counter()
            remote = run(usable, jobs, scheduler=cluster.scheduler_address)
            t_dask = time.perf_counter() - t0
        print(f"2-worker local Dask cluster:   {t_dask:7.1f} s   (target < 60 s: "
              f"{'met' if t_dask < 60 else 'NOT met'})   load {_load()}")  # fmt: skip
        print(f"  workers without MALLOC_TRIM_THRESHOLD_ (Dask sets 65536 by default); mode: "
              f"{remote.mode}")  # fmt: skip
        print(f"results identical local vs Dask: {_same(new, remote)}")


if __name__ == "__main__":
    main()
