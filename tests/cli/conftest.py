"""Fixtures of the CLI tests: an invoker that keeps stdout and stderr apart, no database, and
seeded databases on SQLite and PostgreSQL (the tiny market of ``tests.store.tiny``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from carbonfin.cli import app
from tests.store import tiny

DB_ENV = "CARBONFIN_DATABASE_URL"


def invoke(args: list[str], **kwargs: Any) -> Result:
    """Run ``carbonfin args`` in-process; ``result.stdout`` and ``result.stderr`` are apart."""
    return CliRunner().invoke(app, args, **kwargs)


def assert_one_line_error(result: Result, code: int, fragment: str) -> None:
    """The command failed with ``code``: one line on stderr holding ``fragment``, no stdout."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()  # not stripped: a stray empty line is a second line
    assert len(lines) == 1, repr(result.stderr)
    assert lines[0].startswith("error: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Input should" not in lines[0], lines[0]  # pydantic's words (Typer's option checks)
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception


@pytest.fixture
def no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``CARBONFIN_DATABASE_URL`` names a SQLite file that does not exist."""
    path = tmp_path / "none.db"
    monkeypatch.setenv(DB_ENV, f"sqlite:///{path}")
    return path


def _seed(url: str, data: Path) -> None:
    import os

    old = os.environ.get(DB_ENV)
    os.environ[DB_ENV] = url
    try:
        assert invoke(["db", "upgrade"]).exit_code == 0
        seeded = invoke(["db", "seed", "--data-dir", str(data)])
        assert seeded.exit_code == 0, seeded.output
    finally:
        if old is None:
            del os.environ[DB_ENV]
        else:
            os.environ[DB_ENV] = old


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def seeded_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of a database seeded with the tiny market, on each backend (once per module)."""
    data = tiny.write(tmp_path_factory.mktemp("tiny"))
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'seeded.db'}"
        _seed(url, data)
        yield url
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        _seed(url, data)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def seeded(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``CARBONFIN_DATABASE_URL`` names a seeded database (SQLite and PostgreSQL)."""
    monkeypatch.setenv(DB_ENV, seeded_url)
    return seeded_url


@pytest.fixture(scope="session", autouse=True)
def _kernels_compiled() -> None:
    """Compile (or load) the numba kernels once, so no command says "compiling kernels"."""
    from carbonfin.pricing import _jit

    _jit.load_kernels()
