"""``--json`` on every result command (issue 11, item 4): the output parses, names its source,
and carries the numbers the human table shows (numbers as numbers, money as strings in the
currency's minor units)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carbonfin.cli._common import ExitCode
from tests.cli.conftest import invoke


@pytest.fixture(autouse=True)
def _no_db(no_database: Path) -> None:
    """No database: data commands read the shipped sample on purpose (--sample)."""


def both(args: list[str], code: int = 0) -> tuple[dict[str, Any], str]:
    """The JSON payload and the human text of the same command."""
    as_json = invoke([*args, "--json"])
    assert as_json.exit_code == code, as_json.output
    human = invoke(args)
    assert human.exit_code == code, human.output
    return json.loads(as_json.stdout), " ".join(_BOX.sub(" ", human.stdout).split())


_BOX = re.compile(r"[\u2500-\u257f]")  # box-drawing characters of the tables


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text)]


def test_price_option() -> None:
    args = "price option --forward 80 --strike 85 --expiry 0.5 --vol 0.45 --rate 0.018"
    data, text = both(args.split())
    assert data["command"] == "price option"
    assert "source" not in data  # inputs only: no data read
    for key, name in [("price_cny_per_t", "price"), ("delta", "delta"), ("vega_per_point", "vega")]:
        assert isinstance(data[key], float)
        assert f"{name} {data[key]:.6f}" in text
    assert data["warnings"] == []


def test_implied_vol_round_trips() -> None:
    data, text = both(
        [
            "price",
            "implied-vol",
            "--price",
            "8.04",
            "--forward",
            "80",
            "--strike",
            "85",
            "--expiry",
            "0.5",
            "--rate",
            "0.018",
        ]
    )
    assert f"{data['implied_vol']:.6%}" in text


def test_price_history_counts_and_flags() -> None:
    data, text = both(["price", "history", "SHEA", "--sample"])
    assert data["source"][0]["kind"] == "sample"
    assert data["source"][0]["as_of"] == data["last_date"]
    assert f"{data['rows']} rows, {data['first_date']} to {data['last_date']}" in text
    assert f"closes on {data['close_days']} days" in text
    assert f"last close {data['last_close_per_t']:.2f}" in text
    for flag, count in data["flags"].items():
        assert f"{flag} {count}" in text


def test_price_mark() -> None:
    data, text = both(
        ["price", "mark", "SHEA", "--on", "2026-10-30", "--method", "vwap", "--sample"]
    )
    assert f"{data['price_per_t']:.4f} CNY/t by vwap over {data['window_days']}" in text
    assert isinstance(data["volume_t"], float)
    assert f"{data['volume_t']:,.0f} t" in text


def test_fx_convert_money_is_a_string_in_minor_units() -> None:
    data, text = both(["fx", "convert", "1000000", "usd", "cny", "--on", "2026-10-01", "--sample"])
    assert data["amount"] == {"amount": "1000000.00", "currency": "USD"}
    converted = data["converted"]
    assert converted["currency"] == "CNY"
    assert re.fullmatch(r"\d+\.\d\d", converted["amount"])  # two minor-unit digits, a string
    assert f"{Decimal(converted['amount']):,} CNY" in text
    assert Decimal(converted["amount"]) == (
        Decimal("1000000") * Decimal(str(data["rate"]))
    ).quantize(Decimal("0.01"))
    assert data["fixing_date"] == "2026-09-30"


def test_fx_convert_jpy_has_no_minor_units() -> None:
    data, _ = both(["fx", "convert", "1000", "cny", "jpy", "--on", "2026-10-30", "--sample"])
    assert re.fullmatch(r"\d+", data["converted"]["amount"])  # ISO 4217: JPY has 0 decimals


def test_fx_convert_shows_the_amount_as_given_not_rounded_to_its_minor_units() -> None:
    # "1,001 JPY = 45.85 CNY" before: the input rounded to whole yen beside a result from
    # 1000.5; /v1/fx/convert answers "amount": "1000.5" (a quote, not money that is stored)
    data, text = both(["fx", "convert", "1000.5", "jpy", "cny", "--on", "2026-10-30", "--sample"])
    assert data["amount"] == {"amount": "1000.5", "currency": "JPY"}
    assert f"1,000.5 JPY = {Decimal(data['converted']['amount']):,} CNY" in text
    assert Decimal(data["converted"]["amount"]) == (
        Decimal("1000.5") * Decimal(str(data["rate"]))
    ).quantize(Decimal("0.01"))
    data, _ = both(["fx", "convert", "1000.125", "usd", "cny", "--on", "2026-10-30", "--sample"])
    assert data["amount"]["amount"] == "1000.125"


def test_score_card_factors() -> None:
    from carbonfin.data import load_table

    uscc = str(load_table("firms")["uscc"].iloc[5])
    data, text = both(["score", uscc, "--year", "2024", "--as-of", "2026-11-26", "--sample"])
    assert f"score {data['score']:.1f}/100" in text
    assert data["source"][0]["what"] == "carbon account"
    # it was the integer 2025: an as-of is an ISO date everywhere in the JSON; the account is
    # annual, so its last reporting year is named as such beside it
    assert data["source"][0]["as_of"] == "2025-12-31"
    assert data["source"][0]["reporting_year"] == 2025
    assert "carbon account to reporting year 2025" in text
    for f in data["factors"]:
        assert isinstance(f["points"], float)
        assert f"{f['factor']}" in text
        assert f"{f['contribution']:.2f}" in text
    total = sum(f["contribution"] for f in data["factors"])
    assert abs(total - data["score"]) < 1e-9


def test_score_population_counts() -> None:
    data, text = both(["score", "--all", "--year", "2025", "--as-of", "2026-11-26", "--sample"])
    everyone = data["by_sector"][-1]
    assert everyone["sector"] == "all"
    assert everyone["firms"] == 640
    assert sum(r["firms"] for r in data["by_sector"][:-1]) == 640
    assert f"{everyone['mean_score']:.1f} {everyone['firms']}" in text


def test_financed_totals() -> None:
    data, text = both(["financed", "BANK-01", "--year", "2025", "--top", "3", "--sample"])
    covered = Decimal(data["covered_outstanding"]["amount"])
    assert data["covered_outstanding"]["currency"] == "CNY"
    assert f"{covered:,.0f} CNY outstanding" in text
    assert f"{data['total_financed_tco2e']:,.0f} tCO2e" in text
    by_sector = sum(Decimal(r["outstanding"]["amount"]) for r in data["by_sector"])
    assert abs(by_sector - covered) < 1  # the table's rows add up to the summary
    assert len(data["top_borrowers"]) == 3


def test_coverage() -> None:
    data, text = both(["coverage", "--year", "2028", "--sample"])
    for row in data["by_sector"]:
        # a long sector name folds onto two lines in an 80-column table: match its start
        assert f"{row['covered']} {row['not_covered']} {row['no_data']}" in text
        assert row["sector"][:12] in text


def test_vol_fit_and_scenarios() -> None:
    data, text = both(["vol", "fit", "CEA", "--model", "gjr", "--sample"])
    assert data["model"] == "gjr"
    assert f"log-likelihood {data['loglikelihood']:.2f}" in text
    assert isinstance(data["params"]["omega"], float)
    sim, text = both(["vol", "scenarios", "CEA", "--paths", "2000", "--method", "t", "--sample"])
    assert f"99% VaR {sim['var_99']:.2%}" in text
    assert f"1% {sim['horizon_return_quantiles']['0.01']:+.2%}" in text


def test_eligibility_decision_and_exit_code(tmp_path: Path) -> None:
    example = invoke(["eligibility", "check", "--example"])
    assert example.exit_code == 0
    path = tmp_path / "p.json"
    path.write_text(example.stdout, encoding="utf-8")
    data, _ = both(["eligibility", "check", str(path), "--on", "2026-11-25"], ExitCode.INELIGIBLE)
    assert data["decision"] == "ineligible"  # the market switch is closed by default
    assert any(r["outcome"] == "fail" and r["rule"] == "market switch" for r in data["rules"])
    opened, _ = both(["eligibility", "check", str(path), "--on", "2026-11-25", "--assume-open"])
    assert opened["decision"] == "eligible"
    assert all(r["outcome"] == "pass" for r in opened["rules"])


def test_fx_haircut_holding_period_defaults_to_20_business_days() -> None:
    data, text = both(["fx", "haircut", "CNY", "USD"])
    assert data["holding_days"] == 20  # secured lending, Basel CRE22.54 (docs/fx.md)
    # Basel scaling from the 10-day supervisory 8%: 8% x sqrt(20/10)
    assert data["haircut_frac"] == pytest.approx(0.08 * (20 / 10) ** 0.5, rel=1e-12)
    assert f"{data['haircut_frac']:.4%}" in text


def test_book_value_exit_code_says_margin_call() -> None:
    result = invoke(
        ["book", "value", "--bank", "BANK-03", "--as-of", "2026-10-30", "--sample", "--json"]
    )
    data = json.loads(result.stdout)
    due = data["states"]["margin_call"] + data["states"]["liquidation"]
    assert data["margin_calls_due"] == due
    assert result.exit_code == (ExitCode.MARGIN_CALL if due else ExitCode.OK)


def test_info_json(no_database: Path) -> None:
    data, _ = both(["info"])
    assert data["database"]["state"] == "missing"
    assert {i["instrument"] for i in data["instruments"]} == {"SHEA", "CEA", "CCER"}


def test_every_result_command_offers_json() -> None:
    """Every command reachable from the root, except those that print no result."""
    import typer.main

    from carbonfin.cli import app
    from carbonfin.cli._common import _core  # the click Typer builds on

    root = typer.main.get_command(app)
    ctx = _core.Context(root)
    # print a secret once (never to a JSON log), or serve in the foreground
    without = {"db create-client", "apikey create", "serve"}
    missing = []

    def walk(cmd: Any, path: list[str]) -> None:
        if callable(getattr(cmd, "get_command", None)):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])
            return
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--json" not in opts and " ".join(path) not in without:
            missing.append(" ".join(path))

    walk(root, [])
    assert missing == []


def test_a_mark_and_a_conversion_on_a_holiday_name_the_data_they_used() -> None:
    # the source said "SHEA prices to 2026-10-30" / "FX fixings to 2026-10-30" (the end of the
    # data read) for a date in the 2026 National Day holiday (fresh-clone user check)
    mark, text = both(["price", "mark", "SHEA", "--on", "2026-10-05", "--sample"])
    assert mark["source"][0]["as_of"] == mark["last_date"] == "2026-09-29"
    assert "SHEA prices to 2026-09-29 (the mark for 2026-10-05; quotes held to 2026-10-30)" in text
    fx, text = both(["fx", "convert", "1000", "usd", "cny", "--on", "2026-10-05", "--sample"])
    assert fx["source"][0]["as_of"] == fx["fixing_date"] == "2026-09-30"
    assert "FX fixings to 2026-09-30" in text
