"""`carbonfin score`, `coverage` and `financed` on the shipped sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from carbonfin.data import load_table

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def test_score_card_with_factor_table() -> None:
    uscc = load_table("firms")["uscc"].iloc[5]
    result = runner.invoke(app, ["score", uscc.lower(), "--year", "2024", "--sample"])
    assert result.exit_code == 0, result.output
    assert uscc in result.output
    for name in ("efficiency", "intensity_change", "data_quality", "compliance", "green_power"):
        assert name in result.output
    assert "suggested loan-rate adjustment" in result.output


def test_score_card_as_of_a_date() -> None:
    """Issue 9 item 14: the README's example firm, 2025, before and after CEA's deadline."""
    before = runner.invoke(
        app,
        ["score", "91310105GN93T2369N", "--year", "2025", "--as-of", "2026-11-26", "--sample"],
    )
    assert before.exit_code == 0, before.output
    assert "as of 2026-11-26" in before.output
    assert "not yet due" in before.output
    after = runner.invoke(
        app,
        ["score", "91310105GN93T2369N", "--year", "2025", "--as-of", "2027-01-04", "--sample"],
    )
    assert "not yet due" not in after.output
    bad = runner.invoke(app, ["score", "91310105GN93T2369N", "--as-of", "26/11/2026", "--sample"])
    assert bad.exit_code == 2
    assert "`--as-of` must be a date YYYY-MM-DD" in bad.output


def test_score_all_prints_the_distribution_by_industry() -> None:
    result = runner.invoke(
        app, ["score", "--all", "--year", "2025", "--as-of", "2026-11-26", "--sample"]
    )
    assert result.exit_code == 0, result.output
    assert "grade distribution by industry, 2025" in result.output
    assert "compliance not yet due: 60 firms" in result.output
    assert "steel" in result.output
    assert "640" in result.output  # every firm scored


def test_score_all_lists_the_firms_with_their_input_hash_after_the_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the fresh-clone user check: `score --all` printed the distribution only; the per-firm
    # rows and their input hash were reached through --save, the API or score_panel
    import json

    from carbonfin.cli import _common

    monkeypatch.setattr(_common.console, "_width", 120)
    args = ["score", "--all", "--year", "2025", "--as-of", "2026-11-26", "--sample"]
    data = json.loads(runner.invoke(app, [*args, "--limit", "3", "--json"]).stdout)
    firms = data["firms"]
    total = next(r["firms"] for r in data["by_sector"] if r["sector"] == "all")
    assert (len(firms), data["firms_listed"], data["firms_left_out"]) == (3, 3, total - 3)
    assert [f["score"] for f in firms] == sorted(f["score"] for f in firms)  # lowest first
    lowest = min(r["mean_score"] for r in data["by_sector"])
    assert firms[0]["score"] <= lowest
    # each row is the firm's own score card: same score, grade and input hash
    for f in firms:
        card = json.loads(
            runner.invoke(
                app, ["score", f["uscc"], "--year", "2025", "--as-of", "2026-11-26",
                      "--sample", "--json"],
            ).stdout
        )  # fmt: skip
        assert (card["score"], card["colour_grade"], card["input_hash"]) == (
            f["score"], f["colour_grade"], f["input_hash"]
        )  # fmt: skip
    shown = runner.invoke(app, [*args, "--limit", "3"])
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.index("grade distribution by industry") < out.index("firms, lowest score first")
    for f in firms:
        assert f["uscc"] in out
        assert f["input_hash"] in out
    assert f"{total - 3} more firms not listed: --limit N lists N, --limit 0 every firm" in out
    every = json.loads(runner.invoke(app, [*args, "--limit", "0", "--json"]).stdout)
    assert (every["firms_listed"], every["firms_left_out"]) == (total, 0)
    assert len({f["uscc"] for f in every["firms"]}) == total


def test_save_needs_a_seeded_database() -> None:
    result = runner.invoke(app, ["score", "--all", "--year", "2025", "--save", "--sample"])
    assert result.exit_code == 3
    assert "no database at" in result.stderr
    assert "carbonfin db upgrade" in result.stderr


def test_coverage_and_financed() -> None:
    cov = runner.invoke(app, ["coverage", "--year", "2028", "--sample"])
    assert cov.exit_code == 0, cov.output
    assert "public_institution" in cov.output
    fin = runner.invoke(app, ["financed", "bank-01", "--year", "2025", "--top", "3", "--sample"])
    assert fin.exit_code == 0, fin.output
    assert "PCAF data quality" in fin.output
    assert "top 3 borrowers" in fin.output
    # issue 9 item 1: the EUR, HKD and USD loans are converted, not filtered out
    text = " ".join(fin.output.split())
    for pair in ("EUR/CNY", "HKD/CNY", "USD/CNY"):
        assert f"FX {pair}" in text
    assert "FX at the fixings of 2025-12-31" in text
    assert "not included: 2 loans in EUR" in text
