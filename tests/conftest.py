"""Fixtures shared by the whole suite: databases on SQLite and PostgreSQL.

PostgreSQL tests read ``CARBONFIN_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test gets its own schema, dropped
afterwards. Where the URL is unset or the server does not answer they skip with the reason, unless
``CARBONFIN_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where that is a failure.

Parallel runs (pytest-xdist, ``-n 2 --dist loadfile``: ``make test``'s default): each
PostgreSQL test or fixture works in a schema of its own (a random name), SQLite files live in
each test's ``tmp_path``, real servers take a free port, and the numba kernels are compiled once
by the controller before the workers start (:func:`pytest_sessionstart`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from carbonfin.store.database import make_engine

PG_ENV = "CARBONFIN_TEST_POSTGRES_URL"
REQUIRE_ENV = "CARBONFIN_REQUIRE_POSTGRES"


def _postgres_unavailable() -> str | None:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        return f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    try:
        with create_engine(url).connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        return f"PostgreSQL at {url} does not answer: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = _postgres_unavailable()
    if reason is not None:
        _skip_or_fail(reason)
    return os.environ[PG_ENV].strip()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(url, schema=schema)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


REAL_REQUIRE_ENV = "CARBONFIN_REQUIRE_REAL_DATA"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Real-data tests (marker ``realdata``) skip where the real SHEA quotes are absent, unless
    ``CARBONFIN_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where that is a failure."""
    if item.get_closest_marker("realdata") is None:
        return
    from tests.realdata import REAL_SHEA

    if not REAL_SHEA.exists() and os.environ.get(REAL_REQUIRE_ENV) == "1":
        pytest.fail(
            f"real SHEA quotes are required ({REAL_REQUIRE_ENV}=1) but {REAL_SHEA} is absent; "
            "point CARBONFIN_REAL_DATA at shared/data/real"
        )


def _run_lock_path() -> Path | None:
    """The file the xdist workers of this run lock (None outside a parallel run)."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        return None
    import tempfile

    return Path(tempfile.gettempdir()) / f"carbonfin-pytest-{uid}.lock"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Under pytest-xdist, a test marked ``serial`` (it measures time or load: a server under a
    flood, timing side channels, a soak) runs while no other test runs: it holds an exclusive
    lock on the run's lock file for its call, every other test a shared one. Setup and teardown
    (seeding, starting servers) still overlap."""
    path = _run_lock_path()
    if path is None:
        return (yield)
    import fcntl

    with path.open("a") as handle:
        exclusive = item.get_closest_marker("serial") is not None
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            return (yield)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist (``-n 2``), compile the numba kernels once in the controller before
    the workers start: each worker would otherwise compile them itself into the same cache
    (about a minute of CPU each with an empty cache, as on CI)."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    import subprocess
    import sys

    code = "from carbonfin.pricing import _jit; _jit.load_kernels()"
    subprocess.run([sys.executable, "-c", code], check=True)
