"""Idempotency keys of write workflows, kept in the write's own transaction.

A client that sends a write with a key and does not hear the answer (a timeout, a dropped
connection) sends it again with the same key: the write is applied once and the retry gets the
first answer. The key's record (client, key, operation, a SHA-256 of the canonical request and
the first answer) is written in the same transaction as the write, so either both are in the
database or neither. The same key with another request is a conflict (:class:`KeyReuseError`,
HTTP 409). Two concurrent first uses of one key: the record's primary key lets one commit; the
other's transaction fails on it and the workflow answers with the winner's record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carbonfin.errors import ConflictError, InvalidInputError
from carbonfin.store.models import IdempotencyRecord

__all__ = [
    "MAX_KEY",
    "IdempotencyKey",
    "KeyReuseError",
    "MalformedKeyError",
    "find",
    "remember",
]

MAX_KEY = 255


class KeyReuseError(ConflictError):
    """An idempotency key was used before with a different request (HTTP 409)."""


class MalformedKeyError(InvalidInputError):
    """An idempotency key that is empty, too long or not printable (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for one write: ``operation`` names the workflow and the object
    (e.g. ``POST /v1/loans/{loan_id}/repayments``), ``request`` its canonical arguments."""

    client_id: str
    key: str
    operation: str
    request_sha256: str

    @classmethod
    def of(
        cls, client_id: str, key: str, operation: str, request: Mapping[str, Any]
    ) -> IdempotencyKey:
        """Check the key (1-255 printable characters) and hash the canonical request."""
        key = key.strip()
        if not key or len(key) > MAX_KEY or not key.isprintable():
            raise MalformedKeyError(
                f"Idempotency-Key must be 1-{MAX_KEY} printable characters; got {len(key)}"
            )
        canonical = json.dumps(dict(request), sort_keys=True, default=str, separators=(",", ":"))
        return cls(client_id, key, operation, hashlib.sha256(canonical.encode()).hexdigest())


def find(session: Session, key: IdempotencyKey) -> dict[str, Any] | None:
    """The first answer stored under ``key`` (``None`` if the key is new); raise
    :class:`KeyReuseError` if it was used for another request."""
    record = session.get(IdempotencyRecord, (key.client_id, key.key), populate_existing=True)
    if record is None:
        return None
    if record.body_sha256 != key.request_sha256 or record.route != key.operation:
        raise KeyReuseError(
            "this Idempotency-Key was used with a different request; use a new key for a new "
            "request"
        )
    return dict(record.response)


def remember(
    session: Session, key: IdempotencyKey, answer: Mapping[str, Any], *, status_code: int
) -> None:
    """Store the first answer under ``key`` in the caller's (write) transaction."""
    method, _, route = key.operation.partition(" ")
    session.add(
        IdempotencyRecord(
            client_id=key.client_id,
            key=key.key,
            method=method[:8] if route else "WRITE",
            route=key.operation[:200],
            body_sha256=key.request_sha256,
            status_code=status_code,
            response=dict(answer),
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    session.flush()
