"""`carbonfin pledge ...` on a seeded database (SQLite and PostgreSQL): releases through the
lending workflow, the state on a date before and after, tenancy, bad input."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, func, select

from carbonfin.store.models import AuditEntry
from tests.cli.conftest import assert_one_line_error, invoke
from tests.store import tiny


def _show(as_of: str) -> dict[str, object]:
    result = invoke(
        ["pledge", "show", "PL-0000001", "--bank", "BANK-01", "--as-of", as_of, "--json"]
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_pledge_release_and_history(seeded: str) -> None:
    args = ["pledge", "release", "PL-0000001", "--bank", "bank-01", "--date", "2025-01-02"]
    result = invoke([*args, "--reason", "repayment", "--quantity", "1000", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["quantity_t"], out["reason"]) == (1000, "repayment")
    assert out["pledge"]["status"] == "partially_released"
    assert out["pledge"]["quantity_in_force_t"] == 299_000
    # the book before the release still holds the whole pledge
    assert _show("2025-01-01")["quantity_in_force_t"] == 300_000
    assert _show("2025-01-02")["quantity_in_force_t"] == 299_000
    engine = create_engine(seeded)
    with engine.connect() as c:
        n = c.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "pledge.release", AuditEntry.entity_id == "PL-0000001")
        )
    engine.dispose()
    assert n == 1
    # another bank: no such pledge (exit 3); more than is left, both flags, a bad reason (2)
    assert_one_line_error(
        invoke([*args[:3], "--bank", "BANK-02", "--date", "2025-01-02", "--reason", "other",
                "--full"]),
        3,
        "no pledge PL-0000001",
    )  # fmt: skip
    assert_one_line_error(
        invoke([*args, "--reason", "other", "--quantity", "299001"]), 2, "cannot release"
    )
    assert_one_line_error(
        invoke([*args, "--reason", "other", "--quantity", "5", "--full"]), 2, "either"
    )
    assert_one_line_error(invoke([*args, "--reason", "gift", "--full"]), 2, "--reason")


def test_pledge_guarantor(seeded: str) -> None:
    base = ["pledge", "guarantor", "LN-0000001", tiny.FIRM_B, "--bank", "BANK-01"]
    result = invoke([*base, "--consent-ref", "DOC-7", "--consent-date", "2025-01-01", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["guarantor_uscc"] == tiny.FIRM_B
    again = invoke([*base, "--consent-ref", "DOC-7", "--consent-date", "2025-01-01"])
    assert_one_line_error(again, 2, "already recorded")
