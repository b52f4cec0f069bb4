"""Parsing the user's language (issue 11, items 3 and 4): --version, negative numbers as values,
flags named in messages, bounds, case-insensitive identifiers, warnings for inputs in the wrong
unit, and a complete example participant file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonfin import __version__
from carbonfin.cli._common import ExitCode, _protect_negative_numbers
from tests.cli.conftest import assert_one_line_error, invoke


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"carbonfin {__version__}"


def test_negative_number_is_a_value_not_an_option(no_database: Path) -> None:
    # was: "No such option: -1"; now the engine's own rule answers, naming the argument
    result = invoke(["fx", "convert", "-1000", "USD", "CNY", "--on", "2026-10-01", "--sample"])
    assert_one_line_error(result, ExitCode.BAD_INPUT, "`AMOUNT` must be >= 0; got '-1000'")


def test_negative_numbers_keep_options_and_their_values_in_place() -> None:
    from typer.main import get_command

    from carbonfin.cli import app

    root = get_command(app)
    args = ["fx", "convert", "--on", "2026-10-01", "-1e3", "USD", "CNY", "--max-age-days", "5"]
    assert _protect_negative_numbers(root, args) == [
        "fx", "convert", "--on", "2026-10-01", "--max-age-days", "5", "--", "-1e3", "USD", "CNY",
    ]  # fmt: skip
    plain = ["price", "option", "--forward", "-80", "--strike", "85"]
    assert _protect_negative_numbers(root, plain) == plain  # an option's value: untouched


def test_flags_not_python_parameters_in_messages(no_database: Path) -> None:
    result = invoke(["price", "mark", "SHEA", "--on", "2026-10-30", "--window", "100000"])
    assert_one_line_error(result, ExitCode.BAD_INPUT, "`--window`")
    assert "window_days" not in result.stderr
    bad_date = invoke(["price", "history", "SHEA", "--start", "2026-02-30", "--sample"])
    assert_one_line_error(bad_date, ExitCode.BAD_INPUT, "`--start` must be a date YYYY-MM-DD")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["fx", "convert", "1", "USD", "CNY", "--on", "2026-10-01", "--max-age-days", "-3"],
         "--max-age-days"),
        (["financed", "BANK-01", "--top", "-5", "--sample"], "--top"),
        (["vol", "scenarios", "SHEA", "--paths", "5", "--sample"], "--paths"),
        (["price", "american", "--spot", "50", "--strike", "50", "--expiry", "500", "--vol", "0.4",
          "--rate", "0.1"], "--expiry"),
    ],
    ids=["max-age", "top", "paths", "expiry"],
)  # fmt: skip
def test_out_of_range_is_refused_naming_the_flag(
    args: list[str], flag: str, no_database: Path
) -> None:
    assert_one_line_error(invoke(args), ExitCode.BAD_INPUT, f"`{flag}` must be")


def test_identifiers_in_any_case(no_database: Path) -> None:
    upper = invoke(["price", "history", "SHEA", "--sample", "--json"])
    lower = invoke(["price", "history", "shea", "--sample", "--json"])
    assert upper.exit_code == lower.exit_code == 0
    assert json.loads(upper.stdout) == json.loads(lower.stdout)
    fx = invoke(["fx", "convert", "100", "usd", "Cny", "--on", "2026-10-30", "--sample", "--json"])
    assert json.loads(fx.stdout)["converted"]["currency"] == "CNY"
    spot = invoke(["fx", "spot-date", "2026-09-29", "usd/cny"])
    assert spot.exit_code == 0, spot.output


@pytest.mark.parametrize(
    ("flag", "value", "hint"),
    [("--vol", "45", "did you mean 0.45? volatility is a decimal"),
     ("--rate", "1.8", "did you mean 0.018? the rate is a decimal")],
)  # fmt: skip
def test_percent_instead_of_decimal_warns(flag: str, value: str, hint: str) -> None:
    inputs = {"--forward": "80", "--strike": "85", "--expiry": "0.5", "--vol": "0.45"}
    inputs["--rate"] = "0.018"
    inputs[flag] = value
    args = ["price", "option", *(x for kv in inputs.items() for x in kv), "--json"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert f"warning: {flag} {value}: {hint}" in result.stderr
    assert any(hint in w for w in json.loads(result.stdout)["warnings"])


def test_sensible_inputs_do_not_warn() -> None:
    args = "price option --forward 80 --strike 85 --expiry 0.5 --vol 0.45 --rate 0.018"
    result = invoke(args.split())
    assert result.exit_code == 0
    assert "warning" not in result.stderr


def test_example_participant_file_is_complete_and_matches_the_documented_schema() -> None:
    from carbonfin.fx.eligibility import Participant

    result = invoke(["eligibility", "check", "--example"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    Participant.from_mapping(data)  # every required field, valid
    schema = (Path(__file__).resolve().parents[2] / "docs" / "fx.md").read_text(encoding="utf-8")
    for field in data:
        assert f"`{field}`" in schema, f"docs/fx.md does not document `{field}`"


def test_no_arguments_prints_help() -> None:
    result = invoke([])
    assert "Usage" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["financed", "BANK-01", "--year", "2025", "--top", "5", "--sample"],
        ["score", "--all", "--year", "2025", "--as-of", "2026-11-26", "--sample"],
        ["coverage", "--year", "2028", "--sample"],
    ],
    ids=["financed", "score-all", "coverage"],
)
def test_wide_tables_fold_instead_of_cutting_names(args: list[str], no_database: Path) -> None:
    """At 80 columns (a pipe, a CI log) a long USCC or sector name wraps; it is never cut."""
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    if args[0] == "financed":
        data = json.loads(invoke([*args, "--json"]).stdout)
        flat = result.stdout.replace("│", "").replace(" ", "").replace("\n", "")
        for leader in data["top_borrowers"]:
            assert leader["borrower_uscc"][:9] in flat  # present, if folded over two lines


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nan", "`--quantity` must be a finite number; got nan"),
        ("inf", "`--quantity` must be a finite number; got inf"),
        ("2e9", "`--quantity` must be at most 1,000,000,000; got 2e9"),
        ("ten", "`--quantity` must be a number; got 'ten'"),
    ],
    ids=["nan", "inf", "above-the-bound", "not-a-number"],
)
def test_option_bounds_in_words_not_pydantics(value: str, message: str) -> None:
    """Typer checks ``--quantity``'s maximum with pydantic: ``--quantity nan`` read "Input should
    be less than or equal to 1000000000" (a NaN fails every bound). It says what the API says
    (api/wording.py): a finite number; a bound as a plain number."""
    result = invoke(["haircut", "SHEA", "--quantity", value, "--sample"])
    assert_one_line_error(result, ExitCode.BAD_INPUT, message)
