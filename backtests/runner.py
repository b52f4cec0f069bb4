"""Run a backtest: a list of independent jobs (instrument × model × horizon × window), locally or
on a Dask cluster, with the same results either way.

Every job carries its own seed (derived from its key, :func:`backtests.engine.job_seed`) and
runs with one BLAS thread, so a result never depends on which worker ran it or in which order.

Jobs that fit the same model on the same dates (one instrument, model and window at several
horizons; ``fhs`` and its alias ``gjr-t``) form one *unit* and share their fits
(:func:`backtests.engine.run_var_jobs`); each job still simulates with its own seed, so its
results are those it gives alone. Units run most expensive first (longest-processing-time
order) in this process, on ``workers`` local processes (the CLI: one per core), or,
given a scheduler address (``tcp://host:8786``), on that cluster with the price histories
scattered to every worker once and the units fed in the same order, one per worker thread.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtests.engine import (
    HORIZONS,
    MODELS,
    ForecastSeries,
    HaircutSeries,
    JobSpec,
    group_key,
    run_haircut_job,
    run_job,
    run_var_jobs,
)
from backtests.evaluation import TestRow, evaluate
from carbonfin.collateral.market_risk import business_day_log_marks
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import InvalidInputError
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "STANDARD_MODELS",
    "Dataset",
    "RunResult",
    "default_workers",
    "merge_haircut",
    "run",
    "split_windows",
    "standard_jobs",
    "units",
]

#: the standard suite: every model at every horizon, and the haircut at the policy defaults
STANDARD_MODELS = MODELS
Result = ForecastSeries | HaircutSeries


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """A price history and where it came from (printed in every report); ``adv_t`` is a daily
    volume (t) the user states for a series without volume (its haircut job uses it)."""

    name: str
    history: PriceHistory
    source: str
    adv_t: float | None = None

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
    #: the test table (:func:`backtests.evaluation.evaluate` of ``results``) when the run was
    #: asked to evaluate each result where it was computed (``run(..., evaluate=True)``)
    rows: tuple[TestRow, ...] | None = None


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
            jobs.append(JobSpec(ds.name, "hs", 20, lo, hi, kind="haircut", adv_t=ds.adv_t,
                                **extra, **hc_fields))  # fmt: skip
    return jobs


#: relative cost of a job's date by model (a GARCH refit ~ 40 simulated path-days of 2,000
#: paths); only the order of the units depends on it, never a result
_FIT_COST = {"t": 8.0, "fhs": 40.0, "garch-t": 30.0, "garch-n": 20.0}
_JOB_COST = {"hs": 1.0, "ewma": 0.2, "hs-vw": 3.0}
_HAIRCUT_COST = 60.0


#: a haircut job's dates are cut into this many blocks, each its own unit (the dates are
#: independent, and one job is a large share of the standard suite)
HAIRCUT_PARTS = 4


def units(jobs: Sequence[JobSpec]) -> list[list[int]]:
    """The jobs (by index) grouped into units that share their fits, most expensive first."""
    return [u for u, _ in _plan(jobs)]


def _plan(jobs: Sequence[JobSpec]) -> list[tuple[list[int], int]]:
    """Units with the part of the job's dates they compute (haircut jobs: one of
    :data:`HAIRCUT_PARTS` blocks; others: -1, all), most expensive first."""
    groups: dict[Any, list[int]] = {}
    for i, spec in enumerate(jobs):
        key = group_key(spec)
        groups.setdefault(("one", i) if key is None else key, []).append(i)
    plan: list[tuple[list[int], int]] = []
    for unit in groups.values():
        if jobs[unit[0]].kind == "haircut":
            plan += [(unit, p) for p in range(HAIRCUT_PARTS)]
        else:
            plan.append((unit, -1))
    return sorted(plan, key=lambda u: -_cost([jobs[i] for i in u[0]]) / (
        HAIRCUT_PARTS if u[1] >= 0 else 1))  # fmt: skip


def merge_haircut(parts: Sequence[HaircutSeries]) -> HaircutSeries:
    """One haircut series from its consecutive blocks of dates (in order)."""
    first = parts[0]
    skipped: dict[str, int] = {}
    for p in parts:
        for k, v in p.skipped.items():
            skipped[k] = skipped.get(k, 0) + v
    # each block keeps its 20 first notes in order; the 20 first of their union are the whole's
    notes = tuple(sorted({n for p in parts for n in p.notes}))[:20]
    return HaircutSeries(
        spec=first.spec,
        dates=np.concatenate([p.dates for p in parts]),
        quantities_t=first.quantities_t,
        haircut_frac=np.concatenate([p.haircut_frac for p in parts]),
        liquidation_days=np.concatenate([p.liquidation_days for p in parts]),
        loss_frac=np.concatenate([p.loss_frac for p in parts]),
        skipped=skipped,
        notes=notes,
        data_source=first.data_source,
    )


def _cost(specs: Sequence[JobSpec]) -> float:
    """A rough cost per test date of a unit: the shared fits once, each job's simulation."""
    from carbonfin.collateral.models import get_model

    first = specs[0]
    if first.kind == "haircut":
        per_date = _HAIRCUT_COST / first.haircut_step_days
    else:
        name = get_model(first.model).name
        per_date = _FIT_COST.get(name, 0.0) / first.refit_every + sum(
            _JOB_COST.get(name, 1.0) + (s.horizon_days * s.n_paths / 2_000 if name in _FIT_COST
                                        and name != "t" else 0.0)
            for s in specs
        )  # fmt: skip
    days = ((first.end or dt.date(2100, 1, 1)) - (first.start or dt.date(1900, 1, 1))).days
    return per_date * days


def _run_unit(
    history: PriceHistory, specs: Sequence[JobSpec], source: str, part: int = -1
) -> list[Result | str]:
    """A unit's results in order, a failed job's error (the engine's) as text in its place.

    One BLAS thread per job, here and on every worker: Dask workers start with one
    (OMP_NUM_THREADS=1) and a multi-threaded BLAS sums in another order, which moved GARCH fits
    by ~1e-6 between a local run and a cluster run. Units are the unit of parallelism."""
    from threadpoolctl import threadpool_limits

    from carbonfin.errors import CarbonfinError

    def text(exc: CarbonfinError) -> str:
        return f"{type(exc).__name__}: {exc}"

    with threadpool_limits(limits=1):
        if len(specs) > 1:
            return [o if not isinstance(o, CarbonfinError) else text(o)
                    for o in run_var_jobs(history, specs, source)]  # fmt: skip
        try:
            if part >= 0:
                return [run_haircut_job(history, specs[0], source, part, HAIRCUT_PARTS)]
            return [run_job(history, specs[0], source)]
        except CarbonfinError as exc:
            return [text(exc)]


#: a result with its test rows (or the error its evaluation raised), None before evaluation
Evaluated = tuple[Result | str, list[TestRow] | InvalidInputError | None]


def _rows_of(result: Result | str) -> list[TestRow] | InvalidInputError | None:
    """The test rows of a finished job's result (``evaluate`` of it alone), or the error."""
    if isinstance(result, str):
        return None
    try:
        return evaluate((result,))
    except InvalidInputError as exc:
        return exc


def _run_unit_evaluated(
    history: PriceHistory, specs: Sequence[JobSpec], source: str, part: int = -1
) -> list[Evaluated]:
    """:func:`_run_unit` with each result's test rows computed where it ran (a block of a
    haircut job is evaluated once merged, in the caller)."""
    results = _run_unit(history, specs, source, part)
    return [(r, _rows_of(r) if part < 0 else None) for r in results]


def default_workers() -> int:
    """One local process per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(
    datasets: Sequence[Dataset],
    jobs: Sequence[JobSpec],
    *,
    scheduler: str | None = None,
    workers: int = 1,
    progress: bool = False,
    on_done: Callable[[JobSpec], None] | None = None,
    parameters: dict[str, Any] | None = None,
    with_rows: bool = False,
) -> RunResult:
    """Run ``jobs`` over ``datasets`` (matched by ``JobSpec.instrument`` = ``Dataset.name``)
    on ``workers`` local processes (1, the default: in this process; the CLI uses
    :func:`default_workers`), or
    on the Dask cluster at ``scheduler``; a Rich progress bar on stderr if asked. Results come
    in job order whatever ran where. A job that fails with the engine's error is reported in
    ``errors`` (and its result left out), never silently. ``with_rows``: each result is also
    evaluated where it ran, in parallel with the other units (``RunResult.rows``, equal to
    :func:`backtests.evaluation.evaluate` of the results; the Z2 simulations are its cost)."""
    by_name = {ds.name: ds for ds in datasets}
    missing = sorted({j.instrument for j in jobs} - set(by_name))
    if missing:
        raise InvalidInputError(f"jobs name datasets {missing} that the run was not given")
    if workers < 1:
        raise InvalidInputError(f"`workers` must be >= 1; got {workers}")
    t0 = time.perf_counter()
    bar = _Bar(len(jobs), progress)
    plan = _plan(jobs)
    outcomes: list[Result | str | None] = [None] * len(jobs)
    row_of: list[list[TestRow] | InvalidInputError | None] = [None] * len(jobs)
    blocks: dict[int, dict[int, Result | str]] = {}

    def done(unit: list[int], part: int, results: list[Any]) -> None:
        pairs: list[Evaluated] = results if with_rows else [(o, None) for o in results]
        if part >= 0:  # a block of a haircut job's dates: merged when all are in
            got = blocks.setdefault(unit[0], {})
            got[part] = pairs[0][0]
            if len(got) < HAIRCUT_PARTS:
                return
            pieces = [got[p] for p in range(HAIRCUT_PARTS)]
            errors = [p for p in pieces if isinstance(p, str)]
            whole = errors[0] if errors else merge_haircut(pieces)  # type: ignore[arg-type]
            pairs = [(whole, _rows_of(whole) if with_rows else None)]
        for i, (o, rows) in zip(unit, pairs, strict=True):
            outcomes[i], row_of[i] = o, rows
            bar.advance(jobs[i], on_done)

    task = _run_unit_evaluated if with_rows else _run_unit
    with bar:
        if scheduler is not None:
            mode = _run_dask(by_name, jobs, plan, scheduler, done, task)
        else:
            n = max(1, min(workers, len(plan)))
            mode = _run_local(by_name, jobs, plan, n, done, task)
    final = [o for o in outcomes if o is not None]
    results = tuple(o for o in final if not isinstance(o, str))
    errors = tuple((j.key, o) for j, o in zip(jobs, final, strict=True) if isinstance(o, str))
    ok = tuple(j for j, o in zip(jobs, final, strict=True) if not isinstance(o, str))
    return RunResult(
        ok, results, tuple(datasets), mode, time.perf_counter() - t0, dict(parameters or {}),
        errors, _table(row_of, final) if with_rows else None,
    )  # fmt: skip


def _table(
    row_of: Sequence[list[TestRow] | InvalidInputError | None], final: Sequence[Result | str]
) -> tuple[TestRow, ...]:
    """The rows of every result in job order, as ``evaluate(results)`` gives them (and its
    first error, in job order, raised as it raises it)."""
    rows: list[TestRow] = []
    for outcome, got in zip(final, row_of, strict=True):
        if isinstance(outcome, str):
            continue
        if isinstance(got, InvalidInputError):
            raise InvalidInputError(str(got)) from None
        rows += got or []
    return tuple(rows)


def _run_local(
    by_name: dict[str, Dataset],
    jobs: Sequence[JobSpec],
    plan: list[tuple[list[int], int]],
    n: int,
    done: Callable[[list[int], int, list[Any]], None],
    task: Callable[..., list[Any]] = _run_unit,
) -> str:
    def args(unit: list[int], part: int) -> tuple[PriceHistory, list[JobSpec], str, int]:
        ds = by_name[jobs[unit[0]].instrument]
        return ds.history, [jobs[i] for i in unit], ds.source, part

    if n == 1:
        for unit, part in plan:
            done(unit, part, task(*args(unit, part)))
        return "local (this process)"
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: the parent may hold threads (the progress bar, BLAS pools)
    with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(task, *args(*u)): u for u in plan}  # LPT: in this order
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done(*pending.pop(future), future.result())
    return f"local ({n} processes)"


def _run_dask(
    by_name: dict[str, Dataset],
    jobs: Sequence[JobSpec],
    plan: list[tuple[list[int], int]],
    scheduler: str,
    done: Callable[[list[int], int, list[Any]], None],
    task: Callable[..., list[Any]] = _run_unit,
) -> str:
    from dask.distributed import Client

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

        def submit(rank: int) -> Any:
            unit, part = plan[rank]
            first = jobs[unit[0]]
            return client.submit(
                task,
                remote[first.instrument],
                [jobs[i] for i in unit],
                by_name[first.instrument].source,
                part,
                key=f"backtest-{unit[0]}-{part}-{first.key}",
                pure=False,
                priority=len(plan) - rank,
            )

        trimming = _trimming_workers(client)
        _feed(client, plan, submit, done)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return f"Dask cluster {scheduler} ({workers} workers){trimming}"


def _trim_setting() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _trimming_workers(client: Any) -> str:
    """A note when the workers run with ``MALLOC_TRIM_THRESHOLD_`` set ("" when none does).

    Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
    ``distributed.nanny.pre-spawn-environ``), and any such setting turns off glibc's adaptive
    ``mmap`` threshold: every array over 128 KB is then a fresh mapping, faulted in page by page
    and unmapped when freed. On the standard suite (2 workers, 2 cores, 2026-12-04) that was
    3.5-4.2 million page faults and 9-11 s of system time per worker, 55 CPU-s each against 42
    CPU-s and ~50,000 faults with the setting removed (docs/backtests.md). The runner does not
    change a cluster's workers (others may share them); it says so and how to start them.
    """
    try:
        settings = client.run(_trim_setting)
    except Exception:  # a worker that cannot answer is not this run's business
        return ""
    values = sorted({v for v in settings.values() if v is not None})
    if not values:
        return ""
    return (
        f"; its workers run with MALLOC_TRIM_THRESHOLD_={', '.join(values)} (Dask's default), "
        "which costs this suite ~30% more CPU in page faults: start them with "
        "'distributed: nanny: pre-spawn-environ: MALLOC_TRIM_THRESHOLD_: null' in their Dask "
        "configuration (docs/backtests.md)"
    )


def _feed(
    client: Any,
    plan: list[tuple[list[int], int]],
    submit: Callable[[int], Any],
    done: Callable[[list[int], int, list[Any]], None],
) -> None:
    """Submit the units in ``plan`` order, never more at a time than the cluster has threads,
    the next one as soon as one finishes (as a local process pool takes them from its queue).

    Submitted all at once, the units were each placed on a worker when submitted (they depend
    on the scattered histories, so the scheduler does not hold them back): the split between
    workers was fixed before any duration was known, and a worker could sit behind a long
    unit with the next-longest queued on it while the other worker ran short ones."""
    from dask.distributed import as_completed

    def slots() -> int:  # re-read: workers may join or leave during the run
        return max(1, int(sum(client.nthreads().values())))

    ranks = iter(range(len(plan)))
    futures = {submit(r): plan[r] for r in itertools.islice(ranks, slots())}
    pending = as_completed(futures)  # type: ignore[no-untyped-call]
    for future in pending:
        done(*futures.pop(future), future.result())
        for r in itertools.islice(ranks, max(0, slots() - len(futures))):
            nxt = submit(r)
            futures[nxt] = plan[r]
            pending.add(nxt)  # type: ignore[no-untyped-call]


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
