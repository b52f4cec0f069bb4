"""Write and read transactions with bounded waits: the one way the service layer touches the
database.

A write is committed when :func:`write_transaction`'s block exits, before the caller answers
anyone (the API returns its 2xx only after the workflow returned). Waits are bounded:

- SQLite (the embedded database) has one writer at a time. Writers of this process queue on a
  process-wide lock per engine, taken with a timeout (never before the caller authenticated:
  the API calls this from the workflow, after authentication); a writer in another process (the
  CLI) is waited for by SQLite's ``busy_timeout``, and "database is locked" becomes
  :class:`BusyError`.
- PostgreSQL serialises conflicting writes with row locks; ``lock_timeout`` and
  ``statement_timeout`` are set for the transaction, and waiting for a pooled connection is
  bounded by the pool's timeout.

Whatever the wait that ran out (lock, pool, a serialisation failure or a deadlock victim), the
caller gets :class:`BusyError`, with the seconds after which a retry is sensible; the API turns
it into 503 with ``Retry-After``. Nothing is half-written: the transaction rolled back.

A data version (table ``data_versions``) is bumped by every write workflow in its own
transaction (:func:`bump_data_version`); caches of derived results (book valuations, score
cards) key on :func:`read_data_version`, so writes by another worker or the CLI are seen at
once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.errors import CarbonfinError
from carbonfin.store.models import DataVersion

__all__ = [
    "DEFAULT_LOCK_TIMEOUT_S",
    "DOMAINS",
    "BusyError",
    "bump_data_version",
    "read_data_version",
    "read_data_versions",
    "read_transaction",
    "write_transaction",
]

DEFAULT_LOCK_TIMEOUT_S = 5.0
_PG_BUSY_SQLSTATES = {"55P03", "40001", "40P01", "57014"}  # lock n/a, serialisation, deadlock,
# statement timeout (PostgreSQL Appendix A, "Error codes")
_sqlite_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


class BusyError(CarbonfinError):
    """The database stayed busy (locked, pool exhausted, serialisation conflict) for longer than
    the bounded wait; nothing was written. Retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _engine_of(sessions: sessionmaker[Any]) -> Engine:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):  # pragma: no cover - every factory here is bound
        raise TypeError("the session factory must be bound to an Engine")
    return bind


def _sqlite_lock(engine: Engine) -> threading.Lock:
    with _guard:
        lock = _sqlite_locks.get(engine)
        if lock is None:
            lock = _sqlite_locks[engine] = threading.Lock()
        return lock


def _is_busy(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeoutError):
        return True
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code in _PG_BUSY_SQLSTATES
    return False


@contextmanager
def _busy_as_error(what: str, timeout_s: float) -> Iterator[None]:
    try:
        yield
    except BusyError:
        raise
    except Exception as exc:
        if _is_busy(exc):
            raise BusyError(
                f"the database is busy ({what} waited more than {timeout_s:g} s); nothing was "
                "written, retry later",
                retry_after_s=max(1, round(timeout_s)),
            ) from exc
        raise


def _begin_immediate(session: Session) -> None:
    """Open the SQLite transaction now, with the database's write lock (``BEGIN IMMEDIATE``).

    pysqlite (Python < 3.12) begins a transaction only at its first INSERT, UPDATE or DELETE, so
    the reads a write checks first ("is this quantity still free?", "is the loan's outstanding
    enough?") ran outside it, and the process-wide lock above holds this process only: two
    ``serve`` workers, or the CLI beside the server, each pledged the same allowances (found by
    a fresh-clone attack on ``serve --workers 2``: two 201s for 8 concurrent pledges of 5,760 t
    against 9,600 t free, and a 500 from the outstanding's CHECK for concurrent repayments).
    With the write lock taken first, another process's writer waits (``busy_timeout``, then
    :class:`BusyError`) and the reads see the data the write goes over. Reads elsewhere keep
    pysqlite's statement-by-statement view, as PostgreSQL's READ COMMITTED gives them."""
    session.connection().exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_transaction(
    sessions: sessionmaker[Any], *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[Session]:
    """A session in a write transaction, committed when the block exits normally and rolled
    back if it raises. Every wait inside is bounded by ``timeout_s``; running out raises
    :class:`BusyError` (nothing written)."""
    engine = _engine_of(sessions)
    if engine.url.get_backend_name() == "sqlite":
        lock = _sqlite_lock(engine)
        if not lock.acquire(timeout=timeout_s):
            raise BusyError(
                f"another write holds the database (waited {timeout_s:g} s); nothing was "
                "written, retry later",
                retry_after_s=max(1, round(timeout_s)),
            )
        try:
            with _busy_as_error("the write", timeout_s), sessions() as session:
                try:
                    _begin_immediate(session)
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            lock.release()
        return
    with _busy_as_error("the write", timeout_s), sessions() as session:
        try:
            ms = int(timeout_s * 1000)
            session.execute(text(f"SET LOCAL lock_timeout = {ms}"))
            session.execute(text(f"SET LOCAL statement_timeout = {ms * 6}"))
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_transaction(
    sessions: sessionmaker[Any], *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[Session]:
    """A session for reading (rolled back at the end); a pool or lock wait beyond ``timeout_s``
    raises :class:`BusyError`."""
    with _busy_as_error("the read", timeout_s), sessions() as session:
        try:
            yield session
        finally:
            session.rollback()


#: The data domains with a version: ``lending`` (loans, ledger, pledges: bumped by every
#: lending workflow) and ``market`` (prices, fixings, firms and their accounts: bumped by
#: ``carbonfin db seed`` and any other writer of market data).
DOMAINS = ("lending", "market")


def bump_data_version(session: Session, name: str = "lending") -> int:
    """Increment the data version of domain ``name`` in the caller's write transaction (the row
    is created at 1 on first use); return it."""
    if name not in DOMAINS:
        raise ValueError(f"data domain must be one of {', '.join(DOMAINS)}; got {name!r}")
    done = session.execute(
        update(DataVersion).where(DataVersion.name == name).values(version=DataVersion.version + 1)
    )
    if not getattr(done, "rowcount", 1):
        session.add(DataVersion(name=name, version=1))
        session.flush()
    return read_data_version(session, name)


def read_data_version(session: Session, name: str = "lending") -> int:
    """The data version of domain ``name`` (0 before any write)."""
    version = session.scalar(select(DataVersion.version).where(DataVersion.name == name))
    return int(version or 0)


def read_data_versions(session: Session) -> dict[str, int]:
    """Every domain's data version in one query (0 for a domain never written)."""
    # dict() of the Result itself would take it for a mapping (it has keys()): pairs of a list
    pairs = session.execute(select(DataVersion.name, DataVersion.version)).all()
    rows: dict[str, int] = {str(name): int(version) for name, version in pairs}
    return {name: int(rows.get(name) or 0) for name in DOMAINS}
