"""Engine and session factory from one setting, ``CARBONFIN_DATABASE_URL``, and the migrations.

The default is ``sqlite:///carbonfin.db`` (the embedded database, in the working directory);
production runs PostgreSQL (``postgresql+psycopg://user@host:5432/db``). The database is created by
the Alembic migrations (:func:`upgrade`), never by ``create_all``; :func:`require_current`
refuses to work on a database whose schema is missing or behind, saying what to run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ENV_VAR",
    "current_revision",
    "database_url",
    "head_revision",
    "known_revisions",
    "make_engine",
    "parse_url",
    "require_current",
    "session_scope",
    "upgrade",
]

ENV_VAR = "CARBONFIN_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///carbonfin.db"
_SUPPORTED = ("sqlite", "postgresql")


def database_url() -> str:
    """The configured database URL: ``CARBONFIN_DATABASE_URL`` or the embedded default."""
    return os.environ.get(ENV_VAR, "").strip() or DEFAULT_DATABASE_URL


def parse_url(url: str | URL) -> URL:
    """Parse and check a database URL; raise :class:`ConfigurationError` saying what is wrong."""
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise ConfigurationError(
                f"{ENV_VAR}={_redact(url)!r} is not a database URL "
                f"(expected e.g. {DEFAULT_DATABASE_URL!r} or "
                "'postgresql+psycopg://user@host:5432/dbname')"
            ) from exc
    if parsed.get_backend_name() not in _SUPPORTED:
        raise ConfigurationError(
            f"database backend {parsed.get_backend_name()!r} is not supported; "
            f"use one of {', '.join(_SUPPORTED)}"
        )
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        raise ConfigurationError(f"{_redact(str(parsed))!r} names no database")
    return parsed


def _redact(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"


def make_engine(
    url: str | URL | None = None,
    *,
    schema: str | None = None,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout_s: float | None = None,
) -> Engine:
    """An engine for ``url`` (default: :func:`database_url`).

    ``schema`` (PostgreSQL only) puts every table in that schema via the connection's
    ``search_path``; the test suite uses it to give each run its own schema.
    SQLite connections enforce foreign keys. ``pool_size``, ``max_overflow`` and
    ``pool_timeout_s`` size the connection pool (the API sizes it to its thread pool; a wait
    beyond the timeout raises SQLAlchemy's ``TimeoutError``, which the service reports as busy).
    """
    parsed = parse_url(url if url is not None else database_url())
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and schema:
        if not schema.replace("_", "").isalnum():
            raise ConfigurationError(f"schema name {schema!r} must be alphanumeric/underscore")
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    for name, value in (
        ("pool_size", pool_size),
        ("max_overflow", max_overflow),
        ("pool_timeout", pool_timeout_s),
    ):
        if value is not None:
            kwargs[name] = value
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigurationError(
            f"cannot use {parsed.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on; write-ahead logging so readers never block the writer (the API serves
    reads while it writes audit entries), with ``synchronous=NORMAL``, which in WAL mode keeps
    the database consistent on a crash and may lose only the last commits on a power cut
    (SQLite documentation, "Write-Ahead Logging", section 5; PostgreSQL is the production
    database)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    if dbapi_connection.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transactional session: committed if the block succeeds, rolled back if it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        yield session


def _alembic_config(engine: Engine) -> Config:
    script_location = Path(str(resources.files("carbonfin.store").joinpath("migrations")))
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of carbonfin."""
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise ConfigurationError("carbonfin ships no migrations; the installation is broken")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or ``None`` for an empty database."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise ConfigurationError(f"cannot connect to {_engine_name(engine)}: {exc.orig}") from exc
    except DatabaseError as exc:  # e.g. a file that is not a SQLite database
        raise ConfigurationError(
            f"cannot read {_engine_name(engine)}: {exc.orig} (is it a carbonfin database? check "
            f"{ENV_VAR})"
        ) from exc


def known_revisions() -> frozenset[str]:
    """Every migration shipped with this version of carbonfin."""
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    return frozenset(rev.revision for rev in script.walk_revisions())


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the newest); return the revision reached."""
    try:
        command.upgrade(_alembic_config(engine), revision)
    except CommandError as exc:
        raise ConfigurationError(
            f"cannot migrate {_engine_name(engine)} to {revision!r}: {exc} (is the database from a "
            "newer carbonfin, or is the installation missing a migration file?)"
        ) from exc
    except OperationalError as exc:
        raise ConfigurationError(f"cannot migrate {_engine_name(engine)}: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"migration failed on {_engine_name(engine)}: {exc}") from exc
    reached = current_revision(engine)
    assert reached is not None
    return reached


def require_current(engine: Engine) -> None:
    """Raise :class:`ConfigurationError` unless the database is migrated to the newest revision."""
    current = current_revision(engine)
    head = head_revision()
    known = known_revisions()
    if current is not None and current not in known:
        raise ConfigurationError(
            f"{_engine_name(engine)} is at migration {current!r}, which this carbonfin does "
            "not ship (a newer version migrated it, or a migration file is missing)"
        )
    if current is None:
        raise ConfigurationError(
            f"{_engine_name(engine)} has no carbonfin schema; run `carbonfin db upgrade` first"
        )
    if current != head:
        raise ConfigurationError(
            f"{_engine_name(engine)} is at migration {current}, this carbonfin needs {head}; "
            "run `carbonfin db upgrade`"
        )


def public_name(url: URL) -> str:
    """The database as results name it where others may read them: its kind and its name,
    e.g. ``postgresql://…/carbonfin`` or ``sqlite://…/carbonfin.db``.

    Never the host, port, user or folder: a source line is stored with the runs it describes
    and served to every bank and the supervisor as provenance, and the server's address and
    account are nobody's business there (``carbonfin status`` shows the operator the full URL).
    """
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        name = Path(name).name if name and name != ":memory:" else "in-memory"
    return f"{url.get_backend_name()}://…/{name}"


def _engine_name(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
