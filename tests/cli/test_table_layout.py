"""Tables at the width they are printed at: identifiers, states and numbers are never cut.

The fresh-clone user check piped ``carbonfin book value --sample`` (80 columns): Rich narrowed
the margin-call table's loan-id and state columns to nothing and cut the amounts ("61,111,1…").
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from carbonfin.cli import _common, app
from carbonfin.cli._report import Column, table

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def _render(renderable: object, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, highlight=False).print(renderable)
    return out.getvalue()


def test_a_narrow_table_keeps_ids_states_and_numbers_whole_and_names_what_it_left_out() -> None:
    rows = [
        {"loan_id": f"LN-00{i:05d}", "state": "liquidation", "amount": 61_111_111.0 * i,
         "note": "a long free text that may fold over lines", "extra": 1234567.0}
        for i in range(1, 4)
    ]  # fmt: skip
    columns = [
        Column("loan_id", "loan"),
        Column("state", keep=True),
        Column("amount", "loan CNY", fmt="{:,.0f}"),
        Column("note"),
        Column("extra", "extra figure", fmt="{:,.0f}", optional=True),
    ]
    for width in (40, 50, 60, 80):
        text = _render(table(rows, columns, title="t"), width)
        flat = " ".join(text.split())
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width
        for r in rows:
            assert r["loan_id"] in text
            # a number is whole, or its whole column is named as left out
            assert f"{r['amount']:,.0f}" in text or "columns: loan CNY" in flat
        assert text.count("liquidation") == 3
    # loan 10 + state 11 + amount 11 + the note wrapped at its spaces 5 characters, and 13 of
    # borders, fit in 50: the optional column goes, the note wraps
    narrow = " ".join(_render(table(rows, columns), 50).split())
    assert "left out at 50 columns: extra figure (" in narrow
    assert "61,111,111" in narrow
    assert "fold" in narrow
    wide = _render(table(rows, columns), 160)
    assert "left out" not in wide
    assert "1,234,567" in wide


@pytest.mark.parametrize("width", [80, 120])
def test_book_value_margin_calls_keep_loan_ids_and_states(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common.console, "_width", width)
    args = ["book", "value", "--bank", "BANK-01", "--as-of", "2026-10-30", "--sample"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 5, shown.output  # margin calls are due in the sample
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    rows = data["at_or_above_warning"]
    assert rows
    lines = shown.stdout.splitlines()
    for r in rows:
        # the id and the state whole, on one line of the table
        assert any(re.search(rf"│ {r['loan_id']} +│ {r['state']} +│", line) for line in lines), (
            r,
            shown.stdout,
        )
        assert f"{float(r['outstanding']['amount']):,.0f}" in shown.stdout
    assert "…" not in shown.stdout
    assert max(len(line) for line in lines if "━" in line) <= width


@pytest.mark.parametrize(
    "args",
    [
        ["stress", "--scenario", "drop-30", "--bank", "BANK-01", "--sample"],
        ["financed", "BANK-01", "--year", "2025", "--sample"],
        ["haircut", "SHEA", "--quantity", "20000", "--sample"],
    ],
    ids=["stress", "financed", "haircut"],
)
def test_other_wide_tables_cut_nothing_at_80_columns(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common.console, "_width", 80)
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 5), result.output
    assert "…" not in result.stdout


def test_room_left_unfolds_values_before_headers() -> None:
    # a stored valuation's timestamp was folded over two lines while "margin calls" took the
    # room to sit on one line; values come first, a header may wrap at its space
    rows = [{"date": "2026-01-09", "computed": "2026-12-04T20:44:27Z", "calls": 73}]
    columns = [Column("date"), Column("computed"), Column("calls", "margin calls")]
    # date 10 + computed folded to 12 + "margin" 6 + 10 of borders = 38: 8 characters to spare
    text = _render(table(rows, columns), 46)
    assert "2026-12-04T20:44:27Z" in text
    assert "margin calls" not in text  # wrapped at its space
