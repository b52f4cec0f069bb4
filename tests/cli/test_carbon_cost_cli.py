"""`carbonfin carbon-cost` on the shipped sample: a firm's card with its inputs and assumptions,
a firm not covered says why, the population by sector with a progress bar, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from carbonfin.data import load_table
from tests.cli.conftest import assert_one_line_error

runner = CliRunner()
ARGS = ["--as-of", "2026-10-30", "--years", "2026-2027", "--paths", "200", "--sample"]


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def _firm(sector: str) -> str:
    firms = load_table("firms")
    return str(firms.loc[firms["sector"] == sector, "uscc"].iloc[0])


def test_card_of_a_covered_firm_in_json() -> None:
    uscc = _firm("steel")
    result = runner.invoke(
        app, ["carbon-cost", uscc.lower(), *ARGS, "--scenarios", "merton", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["uscc"] == uscc
    assert body["status"] == "covered"
    assert body["years"] == [2026, 2027]
    assert body["car99_cny"] >= body["car95_cny"]
    assert body["inputs"]["n_scenarios"] == 200
    assert any("8%以内" in a for a in body["assumptions"])
    assert len(body["by_year"]) == 2
    assert "sample" in json.dumps(body["source"]) or body["inputs"]["data_source"]


def test_firm_not_covered_says_why() -> None:
    # an 'other' firm with no compliance record: no coverage rule names its sector
    firms, comp = load_table("firms"), load_table("compliance")
    outside = firms[(firms["sector"] == "other") & ~firms["uscc"].isin(comp["uscc"])]
    uscc = str(outside["uscc"].iloc[0])
    result = runner.invoke(app, ["carbon-cost", uscc, *ARGS, "--scenarios", "merton"])
    assert result.exit_code == 0, result.output
    assert "carbon cost 2026-2027: none" in result.output
    assert "no coverage rule for sector other" in result.output


@pytest.mark.slow
def test_population_by_sector() -> None:
    result = runner.invoke(
        app, ["carbon-cost", "--all", "--year", "2027", *ARGS, "--scenarios", "merton", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    sectors = {r["sector"]: r for r in body["by_sector"]}
    assert sectors["other"]["covered"] < sectors["other"]["firms"]
    assert sectors["steel"]["covered"] > 0
    assert len(body["top_car99"]) == 10


def test_bad_input_is_one_line() -> None:
    uscc = _firm("steel")
    bad = runner.invoke(app, ["carbon-cost", uscc, *ARGS, "--scenarios", "garch"])
    assert_one_line_error(bad, 2, "`--scenarios` must be fhs, t or merton")
    years = runner.invoke(app, ["carbon-cost", uscc, "--years", "2030-2026", "--sample"])
    assert_one_line_error(years, 2, "YYYY-YYYY")
    both = runner.invoke(app, ["carbon-cost", uscc, "--all", "--sample"])
    assert_one_line_error(both, 2, "either a USCC or --all")


@pytest.mark.slow
def test_stress_shows_both_sides_per_bank() -> None:
    result = runner.invoke(
        app,
        ["stress", "--scenario", "spike-50", "--bank", "BANK-01", "--as-of", "2026-10-30",
         "--sample", "--carbon-cost", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["both_sides"][0]
    assert row["bank_id"] == "BANK-01"
    # +50%: the pledged collateral and the borrowers' carbon cost both rise by half
    assert row["collateral_change_cny"] == pytest.approx(0.5 * row["collateral_before_cny"])
    assert row["carbon_cost_change_cny"] == pytest.approx(0.5 * row["carbon_cost_before_cny"])
    assert row["carbon_cost_before_cny"] > 0
