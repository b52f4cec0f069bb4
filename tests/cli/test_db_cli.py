"""``carbonfin db ...`` and ``carbonfin info`` end to end on a temporary SQLite database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonfin import calendars
from carbonfin.cli import app
from tests.store import tiny

runner = CliRunner()


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{path}")
    return path


def test_upgrade_seed_twice_and_info(db_env: Path, tmp_path: Path) -> None:
    data = tiny.write(tmp_path / "tiny")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "migrated from empty" in result.output
    first = runner.invoke(app, ["db", "seed", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["db", "seed", "--data-dir", str(data)])
    assert second.exit_code == 0, second.output
    info = runner.invoke(app, ["info"])
    assert info.exit_code == 0, info.output
    assert "SHEA" in info.output
    assert "2024-01-02" in info.output
    assert "State Council notices on file 2013-" in info.output


def test_info_reports_the_calendar_horizon_for_a_given_day() -> None:
    from carbonfin.cli import status

    _data, lines = status._calendar_summary(dt.date(2026, 11, 25))
    text = "\n".join(lines)
    if calendars.last_published_year() == 2026:  # the 2027 notice is not on file yet
        assert "calendar horizon:" in text
        assert "2027" in text
    _data, lines = status._calendar_summary(dt.date(calendars.last_published_year(), 3, 1))
    assert "calendar horizon:" not in "\n".join(lines)


def test_seed_before_upgrade_says_what_to_run(db_env: Path) -> None:
    result = runner.invoke(app, ["db", "seed"])
    assert result.exit_code == 3
    assert "carbonfin db upgrade" in result.stderr
    assert "Traceback" not in result.output
    assert not db_env.exists()  # nothing created by a refused seed


@pytest.mark.parametrize("url", ["nonsense", "oracle://u@h/db"])
def test_malformed_url_is_a_clear_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_corrupt_sample_is_a_clear_error(db_env: Path, tmp_path: Path) -> None:
    data = tiny.write(tmp_path / "tiny")
    (data / "prices.csv").write_text("garbage\n", encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "seed", "--data-dir", str(data)])
    assert result.exit_code == 3
    assert "prices.csv is corrupt" in result.stderr


def test_apikey_create_prints_the_key_once_and_revoke_refuses_it(
    db_env: Path, tmp_path: Path
) -> None:
    from carbonfin.store import credentials
    from carbonfin.store.database import make_engine, session_scope

    data = tiny.write(tmp_path / "tiny")
    runner.invoke(app, ["db", "upgrade"])
    runner.invoke(app, ["db", "seed", "--data-dir", str(data)])
    result = runner.invoke(app, ["apikey", "create", "--institution", "bank-01"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("cfk.bank-01-")
    client_id = key.split(".")[1]
    with session_scope(make_engine()) as session:
        who = credentials.verify_api_key(session=session, key=key)
    assert who is not None
    assert (who.institution_id, who.role) == ("BANK-01", "bank")
    listed = runner.invoke(app, ["apikey", "list"])
    assert client_id in listed.output
    assert key.split(".")[2] not in listed.output
    assert runner.invoke(app, ["apikey", "revoke", client_id]).exit_code == 0
    with session_scope(make_engine()) as session:
        assert credentials.verify_api_key(session=session, key=key) is None
    again = runner.invoke(app, ["apikey", "revoke", client_id])
    assert again.exit_code == 2
    assert "already revoked" in again.stderr
    bad = runner.invoke(app, ["apikey", "create", "--institution", "BANK-01", "--role", "root"])
    assert bad.exit_code == 2
    assert "--role" in bad.stderr


def test_sample_generate_reproduces_the_shipped_manifest(tmp_path: Path) -> None:
    import json

    from carbonfin.data import sample_dir

    result = runner.invoke(app, ["sample", "generate", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    made = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    shipped = json.loads((sample_dir() / "manifest.json").read_text(encoding="utf-8"))
    assert made == shipped
