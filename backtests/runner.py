"""Run a backtest: a list of independent jobs (instrument × model × horizon × window), locally or
on a Dask cluster, with the same results either way.

Every job carries its own seed (derived from its key, :func:`backtests.engine.job_seed`) and
runs with one BLAS thread, so a result never depends on which worker ran it or in which order.
Locally the jobs run one after the other in this process; given a scheduler address
(``tcp://host:8786``) they are submitted to that cluster, the price histories scattered to every
worker once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtests.engine import HORIZONS, MODELS, ForecastSeries, HaircutSeries, JobSpec, run_job
from carbonfin.collateral.market_risk import business_day_log_marks
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import InvalidInputError
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "STANDARD_MODELS",
    "Dataset",
    "RunResult",
    "run",
    "split_windows",
    "standard_jobs",
]

#: the standard suite: every model at every horizon, and the haircut at the policy defaults
STANDARD_MODELS = MODELS
Result = ForecastSeries | HaircutSeries


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """A price history and where it came from (printed in every report)."""

    name: str
    history: PriceHistory
    source: str

    @property
    def first_date(self) -> dt.date:
        return self.history.dates[0]

    @property
    def last_date(self) -> dt.date:
        return self.history.dates[-1]


@dataclass(frozen=True, slots=True, eq=False)
class RunResult:
    """The jobs of a run, their results (in job order), and how the run was made."""

    jobs: tuple[JobSpec, ...]
    results: tuple[Result, ...]
    datasets: tuple[Dataset, ...]
    mode: str
    elapsed_s: float
    parameters: dict[str, Any] = field(default_factory=dict)
    errors: tuple[tuple[str, str], ...] = ()


def split_windows(start: dt.date, end: dt.date, n: int) -> list[tuple[dt.date, dt.date]]:
    """``n`` consecutive test windows of about equal length covering ``[start, end]``."""
    if n < 1:
        raise InvalidInputError(f"`windows` must be >= 1; got {n}")
    span = (end - start).days + 1
    edges = [start + dt.timedelta(days=round(i * span / n)) for i in range(n + 1)]
    return [(edges[i], edges[i + 1] - dt.timedelta(days=1)) for i in range(n)]


def standard_jobs(
    datasets: Iterable[Dataset],
    *,
    models: Sequence[str] = STANDARD_MODELS,
    horizons: Sequence[int] = HORIZONS,
    start: dt.date | None = None,
    end: dt.date | None = None,
    windows: int = 1,
    haircut: bool = True,
    **spec: Any,
) -> list[JobSpec]:
    """Jobs of the standard suite: every dataset × model × horizon × window, plus one haircut
    backtest per dataset (policy defaults, several pledge sizes) when ``haircut`` is true.
    ``spec`` passes further :class:`JobSpec` fields (refit_every, n_paths, lookback_days …)."""
    jobs: list[JobSpec] = []
    hc_fields = {k: v for k, v in spec.items() if k in ("quantities_t", "haircut_step_days")}
    var_fields = {k: v for k, v in spec.items() if k not in hc_fields}
    lookback = spec.get("lookback_days") or collateral_policy().lookback_days
    for ds in datasets:
        # test windows split the dates that have a full lookback before them
        days, marks = business_day_log_marks(ds.history)
        first_test = days[min(int(np.argmax(np.isfinite(marks))) + lookback, len(days) - 1)]
        lo = max(start or first_test, first_test)
        hi = min(end or ds.last_date, ds.last_date)
        if hi < lo:
            raise InvalidInputError(
                f"{ds.name}: no test dates between {lo} and {hi} (quotes {ds.first_date} to "
                f"{ds.last_date}, lookback {lookback} business days)"
            )
        for w_start, w_end in split_windows(lo, hi, windows):
            for model in models:
                for h in horizons:
                    jobs.append(JobSpec(ds.name, model, h, w_start, w_end, **var_fields))
        if haircut:
            extra = {"lookback_days": spec["lookback_days"]} if "lookback_days" in spec else {}
            jobs.append(JobSpec(ds.name, "hs", 20, lo, hi, kind="haircut", **extra, **hc_fields))
    return jobs


def _run_one(history: PriceHistory, spec: JobSpec, source: str) -> Result:
    # One BLAS thread per job, here and on every worker: Dask workers start with one
    # (OMP_NUM_THREADS=1) and a multi-threaded BLAS sums in another order, which moved GARCH
    # fits by ~1e-6 between a local run and a cluster run. Jobs are the unit of parallelism.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return run_job(history, spec, source)


def run(
    datasets: Sequence[Dataset],
    jobs: Sequence[JobSpec],
    *,
    scheduler: str | None = None,
    progress: bool = False,
    on_done: Callable[[JobSpec], None] | None = None,
    parameters: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``jobs`` over ``datasets`` (matched by ``JobSpec.instrument`` = ``Dataset.name``)
    locally, or on the Dask cluster at ``scheduler``; a Rich progress bar on stderr if asked.
    A job that fails with the engine's error is reported in ``errors`` (and its result left
    out), never silently."""
    by_name = {ds.name: ds for ds in datasets}
    missing = sorted({j.instrument for j in jobs} - set(by_name))
    if missing:
        raise InvalidInputError(f"jobs name datasets {missing} that the run was not given")
    t0 = time.perf_counter()
    bar = _Bar(len(jobs), progress)
    with bar:
        if scheduler is None:
            outcomes = []
            for spec in jobs:
                ds = by_name[spec.instrument]
                outcomes.append(_safe(ds.history, spec, ds.source))
                bar.advance(spec, on_done)
            mode = "local (this process)"
        else:
            outcomes, mode = _run_dask(by_name, jobs, scheduler, bar, on_done)
    results = tuple(o for o in outcomes if not isinstance(o, str))
    errors = tuple((j.key, o) for j, o in zip(jobs, outcomes, strict=True) if isinstance(o, str))
    done = tuple(j for j, o in zip(jobs, outcomes, strict=True) if not isinstance(o, str))
    return RunResult(
        done,
        results,
        tuple(datasets),
        mode,
        time.perf_counter() - t0,
        dict(parameters or {}),
        errors,
    )


def _safe(history: PriceHistory, spec: JobSpec, source: str) -> Result | str:
    from carbonfin.errors import CarbonfinError

    try:
        return _run_one(history, spec, source)
    except CarbonfinError as exc:
        return f"{type(exc).__name__}: {exc}"


def _run_dask(
    by_name: dict[str, Dataset],
    jobs: Sequence[JobSpec],
    scheduler: str,
    bar: _Bar,
    on_done: Callable[[JobSpec], None] | None,
) -> tuple[list[Result | str], str]:
    from dask.distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout="5s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise InvalidInputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        names = sorted(by_name)
        scattered = client.scatter(  # type: ignore[no-untyped-call]
            [by_name[n].history for n in names], broadcast=True
        )
        remote = dict(zip(names, scattered, strict=True))
        futures = {
            client.submit(
                _safe,
                remote[spec.instrument],
                spec,
                by_name[spec.instrument].source,
                key=f"backtest-{i}-{spec.key}",
                pure=False,
            ): i
            for i, spec in enumerate(jobs)
        }
        outcomes: list[Result | str | None] = [None] * len(jobs)
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            i = futures[future]
            outcomes[i] = future.result()
            bar.advance(jobs[i], on_done)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return [o for o in outcomes if o is not None], f"Dask cluster {scheduler} ({workers} workers)"


class _Bar:
    """A Rich progress bar (or nothing)."""

    def __init__(self, total: int, show: bool) -> None:
        self.progress: Any = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.task = self.progress.add_task("backtest jobs", total=total)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, spec: JobSpec, on_done: Callable[[JobSpec], None] | None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=spec.key[:48])
        if on_done is not None:
            on_done(spec)
