"""`carbonfin loan ...` on a seeded database (SQLite and PostgreSQL): a repayment through the
lending workflow is one ledger entry, the balance on a date before it is unchanged, bad input
and another bank's loan are refused."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_one_line_error, invoke


def _show(as_of: str) -> dict[str, object]:
    result = invoke(["loan", "show", "LN-0000001", "--bank", "BANK-01", "--as-of", as_of, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_loan_repay_show_and_ledger(seeded: str) -> None:
    args = ["loan", "repay", "LN-0000001", "--bank", "bank-01"]
    result = invoke([*args, "--amount", "1000000.00", "--date", "2025-06-30", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["loan"]["outstanding"] == "41000000.00"
    assert _show("2025-06-29")["outstanding"] == "42000000.00"
    assert _show("2025-06-30")["outstanding"] == "41000000.00"
    ledger = invoke(["loan", "ledger", "LN-0000001", "--bank", "BANK-01", "--json"])
    assert ledger.exit_code == 0, ledger.output
    kinds = [(e["kind"], e["balance_after"]) for e in json.loads(ledger.stdout)["entries"]]
    assert kinds[-1] == ("repayment", "41000000.00")
    # the future, above the balance, malformed amounts, another bank's loan
    assert_one_line_error(invoke([*args, "--amount", "1.00", "--date", "2099-01-01"]), 2, "2099")
    assert_one_line_error(
        invoke([*args, "--amount", "99000000.00", "--date", "2025-07-01"]), 2, "exceeds"
    )
    assert_one_line_error(
        invoke([*args, "--amount", "1.001", "--date", "2025-07-01"]),
        2,
        "`--amount` in CNY must have at most 2 decimals",
    )
    # exponent notation was accepted (1e3 = 1000.00 recorded): amounts are plain decimals
    assert_one_line_error(
        invoke([*args, "--amount", "1e3", "--date", "2025-07-01"]), 2, "`--amount` must be a plain"
    )
    assert_one_line_error(
        invoke(["loan", "ledger", "LN-0000001", "--bank", "BANK-02"]), 3, "no loan LN-0000001"
    )


def test_a_malformed_loan_id_is_a_usage_error(seeded: str) -> None:
    # exit 3 ("no loan GARBAGE", as for a loan that does not exist) before: a malformed id is
    # bad input (2), and is refused before the database is read
    for cmd in (["loan", "show"], ["loan", "ledger"], ["pledge", "guarantor"]):
        extra = ["91310000132149237G", "--consent-ref", "c", "--consent-date", "2025-01-01"]
        args = [*cmd, "garbage", *(extra[:1] if cmd[0] == "pledge" else []), "--bank", "BANK-01"]
        args += extra[1:] if cmd[0] == "pledge" else []
        assert_one_line_error(invoke(args), 2, "LOAN_ID")
    for cmd in (["pledge", "show"], ["pledge", "release"]):
        args = [*cmd, "PL-1", "--bank", "BANK-01"]
        args += (
            ["--date", "2025-01-02", "--reason", "other", "--full"] if cmd[1] == "release" else []
        )
        assert_one_line_error(invoke(args), 2, "PLEDGE_ID")


def test_a_malformed_loan_id_needs_no_database(no_database: object) -> None:
    assert_one_line_error(invoke(["loan", "show", "garbage", "--bank", "BANK-01"]), 2, "LN-")
