"""`carbonfin fx convert` and `carbonfin eligibility check` on the shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonfin.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def test_convert_on_a_chinese_holiday_says_which_fixing() -> None:
    result = runner.invoke(
        app, ["fx", "convert", "1000000", "usd", "cny", "--on", "2026-10-01", "--sample"]
    )
    assert result.exit_code == 0, result.output
    assert "fixing date used: 2026-09-30 (requested 2026-10-01)" in result.output
    assert "holiday of the China interbank market" in result.output
    assert "CNY per USD" in result.output


def test_eligibility_check_prints_the_decision_table(tmp_path: Path) -> None:
    participant = {
        "name": "Test Fund",
        "institution_type": "fund_manager",
        "jurisdiction": "SG",
        "channel": "cips",
        "cips_participant_bic": "TESTSGSG",
        "settlement_currency": "CNY",
        "funding_currency": "CNH",
        "kyc_status": "verified",
        "kyc_expiry": "2027-01-31",
    }
    path = tmp_path / "participant.json"
    path.write_text(json.dumps(participant), encoding="utf-8")
    result = runner.invoke(app, ["eligibility", "check", str(path), "--on", "2026-11-25"])
    assert result.exit_code == 4, result.output  # evaluated: ineligible
    assert "ineligible" in result.output  # the market is not open by default
    assert "market switch" in result.output
    opened = runner.invoke(
        app, ["eligibility", "check", str(path), "--on", "2026-11-25", "--assume-open"]
    )
    assert opened.exit_code == 0, opened.output
    assert "Test Fund: eligible on 2026-11-25" in opened.output
    # 25 Nov 2026: the newest FATF list on file (19 Jun 2026) is beyond its 140-day maximum age
    assert "FATF list of 2026-06-19" in " ".join(opened.output.split())
    assert "STALE:" in opened.output


def test_convert_cny_to_cnh_names_both_legs() -> None:
    result = runner.invoke(
        app, ["fx", "convert", "1000", "CNY", "CNH", "--on", "2026-10-02", "--sample"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "via 1/USD/CNY x USD/CNH" in out
    assert "1/USD/CNY 7.12 fixed 2026-09-30" in out  # China closed: the 30 Sep fixing
    assert "USD/CNH 7.134 fixed 2026-10-02" in out


def test_forward_reads_each_rate_on_its_convention() -> None:
    args = ["fx", "forward", "USD/CNY", "--spot", "7.1", "--base-rate", "0.04"]
    args += ["--quote-rate", "0.015", "--start", "2026-01-05", "--end", "6M"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    # 7.10 x 362.73 / 367.28 (USD and CNY both ACT/360 over 182 days)
    assert "2026-01-05..2026-07-06: 7.012043" in out
    assert "CNY money market: ACT/360, simple" in out
    fr007 = runner.invoke(app, [*args[:-2], "--end", "6M", "--quote-index", "FR007"])
    assert "FR007 ACT/365F, simple" in " ".join(fr007.output.split())


def test_spot_date_into_a_provisional_year_works_and_says_so() -> None:
    # issue 10: this raised "beyond the holiday data of calendar China.IB" before.
    result = runner.invoke(app, ["fx", "spot-date", "2026-12-30", "USD/CNY"])
    assert result.exit_code == 0, result.output
    assert "spot 2027-01-04" in result.output
    assert "provisional calendar:" in result.output
    assert "China.IB: 2027 is not yet covered" in result.output
