"""``carbonfin backtest`` at the terminal (issue 21): a summary table before the report path,
errors that name the flag, a percentage confidence refused with the decimal it meant, and
``--instrument`` with ``--suite`` honoured (never ignored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli.conftest import assert_one_line_error, invoke
from tests.collateral.synthetic import history_from_returns


@pytest.fixture(scope="module")
def quotes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    history = history_from_returns(0.02 * rng.standard_t(5, 1000))  # 750 days for the haircut
    path = tmp_path_factory.mktemp("bt") / "quotes.csv"
    history.quotes.reset_index().to_csv(path, index=False)  # closes and volumes
    return path


def _csv_args(path: Path, out: Path) -> list[str]:
    return ["backtest", "--csv", str(path), "--name", "SHEA", "--lookback", "250",
            "--workers", "1", "--out", str(out)]  # fmt: skip


def test_summary_table_comes_before_the_report_path(
    quotes_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbonfin.cli import _common

    # 120 columns: each header on one line (at 80 "Kupiec p" wraps at its space; the layout at
    # narrow widths is tests/cli/test_table_layout.py's)
    monkeypatch.setattr(_common.console, "_width", 120)
    r = invoke([*_csv_args(quotes_csv, tmp_path / "rep"), "--models", "hs",
                "--horizons", "1", "--haircut-step", "20"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "Backtest summary" in out
    for header in ("model", "days", "level", "exc.", "exp.", "Kupiec p", "Christ. p", "zone"):
        assert header in out
    assert out.index("Backtest summary") < out.index("report: ")
    assert "99.0%" in out
    # the JSON carries the same lines as the table
    j = invoke([*_csv_args(quotes_csv, tmp_path / "rep2"), "--models", "hs", "--horizons", "1",
                "--haircut-step", "20", "--json"])  # fmt: skip
    summary = json.loads(j.stdout)["summary"]
    tests = json.loads((tmp_path / "rep2" / "results.json").read_text())["tests"]
    assert [(s["model"], s["exceptions"], s["zone"]) for s in summary] == [
        (t["model"].replace(", defaults", ""), t["exceptions"], t["zone"]) for t in tests
    ]
    # the haircut's lines too, one per pledge size, with Christoffersen's p on its
    # non-overlapping outcomes
    haircut = [s for s in summary if s["model"] == "haircut (hs)"]
    assert [s["level"] for s in haircut] == ["10,000 t", "100,000 t", "1,000,000 t"][: len(haircut)]
    assert haircut
    assert haircut[0]["christoffersen_p"] is not None


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--horizons", "0"], "`--horizons` must be an integer >= 1; got 0"),
        (["--confidences", "99"], "got 99 (did you mean 0.99?)"),
        (["--confidences", "97.5"], "(did you mean 0.975?)"),
        (["--confidences", "0.3"], "`--confidences` must be in [0.5, 1); got 0.3"),
        (["--es-level", "97.5"], "`--es-level` must be in [0.5, 1); got 97.5 (did you mean"),
        (["--optimizer", "bfgs"], "`--optimizer` must be one of ['compiled', 'arch']; got 'bfgs'"),
    ],
    ids=[
        "horizon-0",
        "confidence-99",
        "confidence-97.5",
        "confidence-0.3",
        "es-level-97.5",
        "optimizer",
    ],
)
def test_errors_name_the_flag(quotes_csv: Path, tmp_path: Path, args: list[str],
                              fragment: str) -> None:  # fmt: skip
    r = invoke([*_csv_args(quotes_csv, tmp_path / "rep"), "--models", "hs", *args])
    assert_one_line_error(r, 2, fragment)
    assert "horizon_days" not in r.stderr


@pytest.mark.parametrize("flag", ["--models", "--horizons"])
def test_suite_refuses_models_or_horizons_it_would_ignore(flag: str) -> None:
    r = invoke(["backtest", "--suite", "standard", "--sample", flag, "1"])
    assert_one_line_error(r, 2, f"{flag} cannot be combined with --suite standard")


def test_instrument_with_suite_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import backtests.runner as runner

    seen: dict[str, Any] = {}
    original = runner.standard_jobs

    def small(datasets: Any, **kw: Any) -> Any:  # the suite's jobs, cut to a cheap few
        seen["datasets"] = [d.name for d in datasets]
        seen["models"] = list(kw["models"])
        last = datasets[0].last_date
        kw |= {"models": ("hs",), "horizons": (1,), "haircut": False,
               "start": last.replace(day=1)}  # fmt: skip
        return original(datasets, **kw)

    monkeypatch.setattr(runner, "standard_jobs", small)
    r = invoke(["backtest", "--suite", "standard", "--instrument", "CEA", "--sample",
                "--workers", "1", "--out", str(tmp_path / "rep")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert seen["datasets"] == ["CEA"]
    assert "hs-vw" in seen["models"]  # the suite's models
    assert "--suite standard on CEA only (--instrument)" in r.stdout
