"""``carbonfin book snapshot`` (issue 20, point 3) on SQLite and PostgreSQL: one stored valuation
per SEEE business day of the period, kept when current, valued again with --force; bad
arguments are one-line errors."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_one_line_error, invoke


def _runs(args: list[str]) -> list[dict[str, object]]:
    result = invoke(["book", "snapshot", *args, "--json"])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout)["runs"])


def test_snapshot_stores_one_valuation_per_business_day(seeded: str) -> None:
    # 2024-01-01 is New Year's Day (closed); the 2nd to the 5th are business days
    first = _runs(["--from", "2024-01-01", "--to", "2024-01-05"])
    assert [r["as_of"] for r in first] == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    again = _runs(["--from", "2024-01-01", "--to", "2024-01-05"])
    assert [r["run_id"] for r in again] == [r["run_id"] for r in first]  # current: kept
    forced = _runs(["--as-of", "2024-01-03", "--force"])
    assert forced[0]["run_id"] not in {r["run_id"] for r in first}
    weekly = _runs(["--from", "2024-01-01", "--to", "2024-01-12", "--weekly"])
    assert [r["as_of"] for r in weekly] == ["2024-01-05", "2024-01-12"]


def test_snapshot_refuses_unclear_dates(seeded: str) -> None:
    both = invoke(["book", "snapshot", "--as-of", "2024-01-03", "--from", "2024-01-01"])
    assert_one_line_error(both, 2, "either --as-of or --from/--to")
    backwards = invoke(["book", "snapshot", "--from", "2024-01-05", "--to", "2024-01-01"])
    assert_one_line_error(backwards, 2, "is after `--to`")
