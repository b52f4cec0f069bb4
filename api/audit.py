"""The audit writer of the API's read and refusal entries: one thread, group commits.

Why a writer thread rather than a transaction per call: under load every call's audit insert
took a pooled connection of its own, the pool ran dry and entries were dropped (issue 18,
point 5). Here the middleware hands the entry to :class:`AuditWriter` and *awaits its commit
before the response starts*, so a client never holds an answer whose audit entry is not in the
database (a crash loses no acknowledged call's entry); the thread commits whatever is queued in
one transaction (a group commit on one connection), so a burst of 200 calls costs a handful of
commits, not 200 connections.

Nothing is dropped silently: a batch that still fails after ``retries`` attempts (bounded
backoff) is logged at ERROR with each entry's actor and action, and counted in
``carbonfin_audit_failures_total``; a full queue (``max_queue``) or a commit that does not come
within ``wait_s`` is counted and logged the same way. The response is still sent: an answered
read is not turned into an error because its log line could not be written.

Writes made through :mod:`carbonfin.lending` workflows write their own entry in their own
transaction (all or nothing) and are not queued here (see :mod:`api.middleware`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.store.repositories import record_audit

__all__ = ["AuditRecord", "AuditWriter"]

log = logging.getLogger("carbonfin.api.audit")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry (no secret: the store refuses keys that look like one)."""

    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


_STOP = object()


class AuditWriter:
    """A bounded queue drained by one thread that inserts entries in batches.

    Parameters
    ----------
    sessions
        The app's session factory.
    failures
        The counter of entries that could not be written.
    max_queue, batch, retries, wait_s
        Queue bound, entries per transaction, attempts per batch, and how long a caller waits
        for its entry's commit.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        failures: Counter,
        *,
        max_queue: int = 10_000,
        batch: int = 500,
        retries: int = 4,
        wait_s: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.failures = failures
        self.batch = batch
        self.retries = retries
        self.wait_s = wait_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="carbonfin-audit", daemon=True
                )
                self._thread.start()

    def submit(self, record: AuditRecord) -> Future[bool]:
        """Queue ``record``; the future says whether it was committed."""
        self._ensure_started()
        done: Future[bool] = Future()
        try:
            self._queue.put_nowait((record, done))
        except queue.Full:
            self._lost([record], "the audit queue is full")
            done.set_result(False)
        return done

    async def write(self, record: AuditRecord) -> bool:
        """Queue ``record`` and wait (bounded by ``wait_s``) until it is committed."""
        done = self.submit(record)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(done), self.wait_s)
        except TimeoutError:
            self._lost([record], f"no commit within {self.wait_s:g} s (the entry may still land)")
            return False

    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until everything queued so far is committed (or has failed)."""
        marker = self.submit(AuditRecord("carbonfin", "audit_flush", "api", None, {"flush": True}))
        marker.result(timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the thread (called at shutdown)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            items = [item]
            stop = False
            while len(items) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                items.append(more)
            self._commit(items)
            if stop:
                return

    def _commit(self, items: list[tuple[AuditRecord, Future[bool]]]) -> None:
        records = [r for r, _ in items if r.action != "audit_flush"]
        ok = True
        for attempt in range(self.retries):
            try:
                with self.sessions.begin() as session:
                    for r in records:
                        record_audit(
                            session=session,
                            actor=r.actor,
                            action=r.action,
                            entity=r.entity,
                            entity_id=r.entity_id,
                            detail=r.detail,
                            at=r.at,
                        )
                break
            except Exception:
                if attempt == self.retries - 1:
                    log.exception("audit batch of %d entries failed", len(records))
                    ok = False
                else:
                    time.sleep(0.05 * 4**attempt)  # 0.05, 0.2, 0.8 s
        if not ok:
            self._lost(records, f"the insert failed {self.retries} times")
        for _, done in items:
            if not done.done():
                done.set_result(ok)

    def _lost(self, records: list[AuditRecord], why: str) -> None:
        if not records:
            return
        self.failures.inc(len(records))
        for r in records:
            log.error(
                "AUDIT ENTRY NOT WRITTEN (%s): actor=%s action=%s entity_id=%s at=%s detail=%s",
                why,
                r.actor,
                r.action,
                r.entity_id,
                r.at.isoformat(),
                r.detail,
            )
