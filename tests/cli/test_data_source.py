"""One data source, always named (issue 11, item 1): the configured database, or the shipped
sample only when asked (``--sample``); an empty, unmigrated or outdated database makes every
data command fail with what to run, instead of quietly reading the sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from carbonfin.cli._common import ExitCode
from carbonfin.store.database import make_engine
from tests.cli.conftest import assert_one_line_error, invoke
from tests.store import tiny

DATA_COMMANDS = [
    ["price", "history", "SHEA"],
    ["price", "mark", "SHEA", "--on", "2026-10-30"],
    ["vol", "fit", "SHEA"],
    ["vol", "select", "SHEA"],
    ["vol", "scenarios", "SHEA", "--paths", "200"],
    ["score", "--all"],
    ["coverage"],
    ["financed", "BANK-01"],
    ["fx", "convert", "100", "USD", "CNY", "--on", "2026-10-01"],
]
IDS = [" ".join(c[:2]) for c in DATA_COMMANDS]


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=IDS)
def test_no_database_file(args: list[str], no_database: Path) -> None:
    result = invoke(args)
    assert_one_line_error(result, ExitCode.DATA, f"no database at {no_database}")
    assert "run `carbonfin db upgrade` and `carbonfin db seed`" in result.stderr
    assert "--sample" in result.stderr
    assert not no_database.exists()  # never created as a side effect


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=IDS)
def test_migrated_but_empty_database(args: list[str], no_database: Path) -> None:
    assert invoke(["db", "upgrade"]).exit_code == 0
    result = invoke(args)
    assert_one_line_error(result, ExitCode.DATA, "holds no")
    assert "run `carbonfin db seed`" in result.stderr


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=IDS)
def test_database_without_schema(args: list[str], no_database: Path) -> None:
    make_engine(f"sqlite:///{no_database}").connect().close()  # an empty SQLite file
    assert_one_line_error(invoke(args), ExitCode.DATA, "run `carbonfin db upgrade`")


def test_database_behind_the_newest_migration(
    no_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import carbonfin.store.database as database

    assert invoke(["db", "upgrade"]).exit_code == 0
    assert invoke(["db", "seed", "--data-dir", str(tiny.write(tmp_path / "t"))]).exit_code == 0
    current = database.head_revision()
    monkeypatch.setattr(database, "head_revision", lambda: "0002_newer")
    monkeypatch.setattr(database, "known_revisions", lambda: frozenset({current, "0002_newer"}))
    result = invoke(["price", "history", "SHEA"])
    assert_one_line_error(
        result,
        ExitCode.DATA,
        f"at revision {current}, newest 0002_newer: run `carbonfin db upgrade`",
    )


def test_database_from_a_newer_carbonfin(no_database: Path) -> None:
    assert invoke(["db", "upgrade"]).exit_code == 0
    with make_engine(f"sqlite:///{no_database}").begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    result = invoke(["price", "history", "SHEA"])
    assert_one_line_error(result, ExitCode.DATA, "does not ship")


@pytest.mark.parametrize("args", DATA_COMMANDS, ids=IDS)
def test_sample_on_purpose_says_so(args: list[str], no_database: Path) -> None:
    result = invoke([*args, "--sample"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("source: shipped sample market (--sample)"), first
    assert not no_database.exists()


def test_seeded_database_is_named_with_its_as_of_date(seeded: str) -> None:
    result = invoke(["price", "history", "SHEA"])
    assert result.exit_code == 0, result.output
    from sqlalchemy.engine import make_url

    from carbonfin.store.database import public_name

    url = make_url(seeded)
    shown = public_name(url)  # kind and name: no folder, host, port or user
    assert shown.endswith(f"/{Path(url.database or '').name}")
    first = result.stdout.splitlines()[0]
    assert first == f"source: database {shown}: SHEA prices to 2024-01-04", first


def test_financed_reads_the_database_not_the_sample(seeded: str) -> None:
    """The issue's case: a database holding a few loans must not report the sample's 210."""
    import json

    result = invoke(["financed", "BANK-01", "--year", "2025", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["source"][0]["kind"] == "database"
    from tests.store.tiny import ROWS

    bank_loans = [r for r in ROWS["loans"] if r[1] == "BANK-01"]
    assert 0 < len(bank_loans) < 10
    n = sum(row["loans"] for row in payload["by_sector"])
    assert n <= len(bank_loans)


def test_info_and_db_current_leave_no_file_behind(no_database: Path) -> None:
    info = invoke(["info"])
    assert info.exit_code == 0, info.output
    assert f"no database at {no_database}" in info.stdout
    current = invoke(["db", "current"])
    assert_one_line_error(current, ExitCode.DATA, f"no database at {no_database}")
    assert not no_database.exists()
