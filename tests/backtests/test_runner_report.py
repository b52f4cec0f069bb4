"""Runner (local and Dask: identical results), the report (opens, plots non-empty) and the CLI."""

from __future__ import annotations

import base64
import csv as csv_module
import datetime as dt
import itertools
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backtests.engine import ForecastSeries, HaircutSeries, JobSpec
from backtests.report import write_report
from backtests.runner import Dataset, RunResult, run, split_windows, standard_jobs
from carbonfin.cli import app
from tests.collateral.synthetic import history_from_returns

START = dt.date(2015, 1, 5)


def _returns(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out, h = np.empty(n), 4e-4
    for t in range(n):
        out[t] = np.sqrt(h) * rng.standard_t(6) * np.sqrt(4 / 6)
        h = 2e-5 + 0.08 * out[t] ** 2 + 0.87 * h
    return out


@pytest.fixture(scope="module")
def datasets() -> list[Dataset]:
    return [
        Dataset("SHEA", history_from_returns(_returns(330, 1), start=START), "synthetic A"),
        Dataset("CEA", history_from_returns(_returns(330, 2), instrument="CEA", start=START),
                "synthetic B"),
    ]  # fmt: skip


def _jobs(datasets: list[Dataset]):  # type: ignore[no-untyped-def]
    return standard_jobs(datasets, models=("hs", "ewma", "garch-t"), horizons=(1, 5), windows=2,
                         lookback_days=250, refit_every=5, n_paths=300,
                         quantities_t=(1_000.0, 200_000.0), haircut_step_days=10)  # fmt: skip


@pytest.fixture(scope="module")
def local(datasets: list[Dataset]) -> RunResult:
    return run(datasets, _jobs(datasets), parameters={"test": True})


def _same(a: ForecastSeries | HaircutSeries, b: ForecastSeries | HaircutSeries) -> None:
    assert a.spec == b.spec
    np.testing.assert_array_equal(a.dates, b.dates)
    if isinstance(a, ForecastSeries) and isinstance(b, ForecastSeries):
        np.testing.assert_array_equal(a.realised, b.realised)
        np.testing.assert_array_equal(a.es, b.es)
        for c in a.var:
            np.testing.assert_array_equal(a.var[c], b.var[c])
    else:
        assert isinstance(a, HaircutSeries)
        assert isinstance(b, HaircutSeries)
        np.testing.assert_array_equal(a.haircut_frac, b.haircut_frac)
        np.testing.assert_array_equal(a.loss_frac, b.loss_frac)


def test_jobs_cover_instrument_model_horizon_window(local: RunResult) -> None:
    # 2 datasets x 3 models x 2 horizons x 2 windows + one haircut job per dataset
    assert len(local.jobs) == 2 * 3 * 2 * 2 + 2
    assert not local.errors
    keys = {j.key for j in local.jobs}
    assert len(keys) == len(local.jobs)


def test_dask_cluster_gives_the_local_results(datasets: list[Dataset], local: RunResult) -> None:
    distributed = pytest.importorskip("dask.distributed")
    # worker processes, as on a real cluster: they start with one BLAS thread, which once moved
    # GARCH fits by 1e-6 against a local run (the runner now pins one thread per job)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        remote = run(datasets, _jobs(datasets), scheduler=cluster.scheduler_address,
                     with_rows=True)  # fmt: skip
    assert "2 workers" in remote.mode
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: the run says what it costs
    assert "MALLOC_TRIM_THRESHOLD_=65536 (Dask's default)" in remote.mode
    assert "pre-spawn-environ: MALLOC_TRIM_THRESHOLD_: null" in remote.mode
    assert len(remote.results) == len(local.results)
    for a, b in zip(local.results, remote.results, strict=True):
        _same(a, b)
    assert _rows(remote) == _rows(local)  # evaluated on the workers: the same table


def _rows(result: RunResult) -> list[str]:
    """The run's test table (computed by the run if it was asked to, else evaluated here), as
    text: NaN statistics compare equal."""
    from backtests.evaluation import evaluate

    rows = result.rows if result.rows is not None else evaluate(result.results)
    return [repr(r) for r in rows]


def test_rows_evaluated_by_the_run_are_evaluate_of_its_results(
    datasets: list[Dataset], local: RunResult
) -> None:
    # in this process: the haircut's blocks merged first, then evaluated; job order kept
    mine = run(datasets, _jobs(datasets), with_rows=True)
    assert local.rows is None
    assert mine.rows is not None
    assert _rows(mine) == _rows(local)
    assert any("kind='haircut'" in r for r in _rows(mine))  # merged blocks evaluated too


def test_unreachable_scheduler_is_a_clear_error(datasets: list[Dataset]) -> None:
    from carbonfin.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cannot reach the Dask scheduler"):
        run(datasets[:1], _jobs(datasets[:1])[:1], scheduler="tcp://127.0.0.1:1")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_report_is_self_contained_with_non_empty_plots(local: RunResult, tmp_path: Path) -> None:
    path = write_report(local, tmp_path / "rep", title="test run")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # no external resources: every image is inline, no scripts, no links out
    for external in ("http://", "https://", "<script", "<link"):
        assert external not in page
    pngs = sorted(path.parent.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"var_SHEA_h1.png", "var_CEA_h5.png", "haircut_SHEA.png",
            "exceptions_by_year_SHEA_h1.png", "model_comparison.png"} <= names  # fmt: skip
    for png in pngs:
        w, h = _png_size(png)
        assert w > 400, png.name
        assert h > 200, png.name
        assert png.stat().st_size > 10_000, png.name
        # the page embeds exactly this file
        assert base64.b64encode(png.read_bytes()).decode() in page
        # a plot with content: many distinct colours, not a blank canvas
        import matplotlib.image as mpimg

        pixels = mpimg.imread(png)[..., :3]
        ink = (pixels < 0.9).any(axis=-1).mean()  # share of pixels that are not near-white
        assert 0.01 < ink < 0.9, png.name
    data = json.loads((path.parent / "results.json").read_text())
    assert {d["name"] for d in data["datasets"]} == {"SHEA", "CEA"}
    assert "trade to trade" in data["thin_trading"]
    assert "non-overlapping" in data["overlap"]
    assert any(t["kind"] == "haircut" for t in data["tests"])
    zones = {t["zone"] for t in data["tests"]}
    # a subsample so small that no exception at all would already be "yellow" has no zone
    assert {z for z in zones if not z.startswith("n/a (")} <= {"green", "yellow", "red"}
    assert "green" in zones
    assert "background:#c8e6c9" in page or "background:#fff59d" in page
    csv = (path.parent / "tests.csv").read_text().splitlines()
    assert len(csv) == len(data["tests"]) + 1


def test_split_windows() -> None:
    w = split_windows(dt.date(2020, 1, 1), dt.date(2020, 12, 31), 4)
    assert w[0][0] == dt.date(2020, 1, 1)
    assert w[-1][1] == dt.date(2020, 12, 31)
    assert all(a[1] + dt.timedelta(days=1) == b[0] for a, b in itertools.pairwise(w))


def test_cli_backtest_on_a_csv(tmp_path: Path, datasets: list[Dataset]) -> None:
    quotes = datasets[0].history.quotes.reset_index()[["date", "close"]]
    csv = tmp_path / "market.csv"
    quotes.to_csv(csv, index=False)
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["backtest", "--csv", str(csv), "--name", "SHEA",
                                      "--models", "hs,ewma",
                                      "--horizons", "1", "--no-haircut", "--lookback", "250",
                                      "--workers", "1",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "market.csv" in result.output
    # it says which calendar and limit it applied (issue 19, point 5)
    assert "calendar China.SEEE, daily price limit ±10%" in result.output
    assert (out / "index.html").exists()
    tests = json.loads((out / "results.json").read_text())["tests"]
    assert {t["model"] for t in tests} == {"hs", "ewma"}


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["backtest", "--instrument", "SHEA", "--models", "garch-x"])
    assert r.exit_code == 2
    assert "--models" in r.output
    r = CliRunner().invoke(app, ["backtest"])
    assert r.exit_code == 2
    assert "name what to backtest" in r.output


@pytest.mark.slow
def test_two_local_processes_give_the_in_process_results(
    datasets: list[Dataset], local: RunResult
) -> None:
    # units (fits shared across horizons) run on two spawned processes, most expensive first:
    # the same results in job order
    two = run(datasets, _jobs(datasets), workers=2, with_rows=True)
    assert two.mode == "local (2 processes)"
    assert [j.key for j in two.jobs] == [j.key for j in local.jobs]
    for a, b in zip(local.results, two.results, strict=True):
        _same(a, b)
    assert _rows(two) == _rows(local)


def test_jobs_sharing_fits_form_one_unit_most_expensive_first() -> None:
    from backtests.runner import units

    specs = [JobSpec("SHEA", m, h) for m in ("hs", "fhs", "gjr-t", "garch-t") for h in (1, 10)]
    plan = units(specs)
    # fhs and its alias gjr-t at both horizons share one chain of fits; garch-t its own
    assert sorted(map(sorted, plan)) == [[0], [1], [2, 3, 4, 5], [6, 7]]
    assert plan[0] == [2, 3, 4, 5]
    assert plan[-1] in ([0], [1])


def _haircut_run() -> RunResult:
    # hand-made: on 2020-03-02 the 100,000 t pledge lost 15% against a 12% haircut
    dates = np.array([dt.date(2020, 3, 2), dt.date(2020, 3, 3), dt.date(2020, 3, 4)])
    spec = JobSpec("SHEA", "hs", 20, kind="haircut", quantities_t=(10_000.0, 100_000.0))
    series = HaircutSeries(
        spec=spec, dates=dates, quantities_t=(10_000.0, 100_000.0),
        haircut_frac=np.array([[0.10, 0.12], [0.10, 0.12], [0.10, np.nan]]),
        liquidation_days=np.array([[20, 45], [20, 45], [20, 45]]),
        loss_frac=np.array([[0.05, 0.15], [0.02, 0.11], [np.nan, np.nan]]),
        skipped={}, notes=(), data_source="hand-made",
    )  # fmt: skip
    hist = history_from_returns(np.zeros(30), start=dt.date(2020, 2, 3))
    return RunResult((spec,), (series,), (Dataset("SHEA", hist, "hand-made"),), "test", 0.0)


def test_report_lists_haircut_exceptions_and_writes_per_date_haircuts(tmp_path: Path) -> None:
    path = write_report(_haircut_run(), tmp_path)
    page = path.read_text()
    section = page[page.index("<h2>Haircut exceptions</h2>") : page.index("Exceptions by year")]
    assert "<td>2020-03-02</td><td>100,000</td><td>12.00%</td><td>15.00%</td><td>45</td>" in section
    assert "2020-03-03" not in section  # 11% < 12%: covered
    rows = list(csv_module.DictReader((tmp_path / "forecasts.csv").open()))
    hc = [r for r in rows if r["model"] == "haircut (hs, defaults)"]
    assert len(hc) == 3 * 2  # every date and pledge size
    first = next(r for r in hc if r["date"] == "2020-03-02" and r["pledge_t"] == "100000.0")
    assert (float(first["haircut_frac"]), float(first["loss_frac"])) == (0.12, 0.15)
    assert first["covered"] == "NO"
    last = next(r for r in hc if r["date"] == "2020-03-04" and r["pledge_t"] == "100000.0")
    assert (last["haircut_frac"], last["loss_frac"], last["covered"]) == ("", "", "")


def _slow_unit(history: object, specs: list[JobSpec], source: str, part: int = -1) -> list[str]:
    import time

    time.sleep(0.02)
    return [s.key for s in specs]


def test_dask_units_are_fed_in_plan_order_one_per_worker_thread(
    datasets: list[Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Submitted all at once, every unit was placed on a worker when submitted (they depend on
    # the scattered histories): a long unit could wait behind another on one worker while the
    # other worker was idle. Now at most one unit per worker thread is out at a time, the next
    # in the longest-first order as soon as one finishes, like the local process pool.
    distributed = pytest.importorskip("dask.distributed")
    from backtests.runner import _plan, _run_dask

    jobs = _jobs(datasets)
    plan = _plan(jobs)
    submitted: list[str] = []
    out: list[object] = []
    in_flight: list[int] = []
    real_submit = distributed.Client.submit

    def submit(self: object, *args: object, **kwargs: object) -> object:
        in_flight.append(sum(not f.done() for f in out))  # type: ignore[attr-defined]
        submitted.append(str(kwargs["key"]))
        future = real_submit(self, *args, **kwargs)  # type: ignore[arg-type]
        out.append(future)
        return future

    monkeypatch.setattr(distributed.Client, "submit", submit)
    got: list[tuple[list[int], int]] = []
    by_name = {d.name: d for d in datasets}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        _run_dask(by_name, jobs, plan, cluster.scheduler_address,
                  lambda unit, part, results: got.append((unit, part)), _slow_unit)  # fmt: skip
    assert submitted == [f"backtest-{u[0]}-{p}-{jobs[u[0]].key}" for u, p in plan]
    assert max(in_flight) <= 1  # the 2 threads: one out when the next is submitted at most
    assert sorted(map(repr, got)) == sorted(map(repr, plan))


@pytest.mark.parametrize("setting", [None, "65536"])
def test_a_dask_run_says_when_its_workers_trim_memory_at_once(
    monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    """The note is there exactly when the workers run with the setting (an in-process cluster:
    its worker reads this process's environment)."""
    distributed = pytest.importorskip("dask.distributed")
    from backtests.runner import _trimming_workers

    if setting is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", setting)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        note = _trimming_workers(client)
    if setting is None:
        assert note == ""
    else:
        assert note.startswith("; its workers run with MALLOC_TRIM_THRESHOLD_=65536")
