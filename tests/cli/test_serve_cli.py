"""`carbonfin serve --demo` (what `make run` runs): migrate, seed if empty, demo keys once."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from carbonfin.store import credentials
from carbonfin.store.database import make_engine, session_scope

runner = CliRunner()


def test_serve_demo_prepares_the_database_and_keys_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    served: list[dict[str, Any]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append({"args": a, **k}))
    # --no-history: the weekly exposure history (a minute of valuations) is tested with
    # `carbonfin book snapshot` (tests/cli/test_snapshot_cli.py)
    first = runner.invoke(app, ["serve", "--demo", "--port", "8123", "--no-history"])
    assert first.exit_code == 0, first.output
    assert served[0]["args"] == ("api.main:app",)
    assert (served[0]["host"], served[0]["port"]) == ("127.0.0.1", 8123)
    keys_file = tmp_path / ".carbonfin-demo-keys"
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    keys = dict(line.split("=", 1) for line in keys_file.read_text().splitlines())
    assert set(keys) == {"CARBONFIN_BANK_KEY", "CARBONFIN_REGULATOR_KEY", "CARBONFIN_ADMIN_KEY"}
    with session_scope(make_engine()) as session:
        roles = {
            who: credentials.verify_api_key(session=session, key=key) for who, key in keys.items()
        }
    assert roles["CARBONFIN_BANK_KEY"].role == "bank"  # type: ignore[union-attr]
    assert roles["CARBONFIN_REGULATOR_KEY"].role == "regulator"  # type: ignore[union-attr]
    assert "docs: http://127.0.0.1:8123/docs" in first.output
    second = runner.invoke(app, ["serve", "--demo", "--port", "8123"])
    assert second.exit_code == 0, second.output
    assert "created on an earlier run" in second.output
    assert keys_file.read_text().splitlines() == [f"{k}={v}" for k, v in keys.items()]
