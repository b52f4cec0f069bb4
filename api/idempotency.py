"""``Idempotency-Key`` for POSTs that create: a retry with the same key and the same body gets
the first response; the same key with another body is a 409 conflict.

The create and the idempotency record are written in one savepoint of the request's
transaction. Two concurrent requests with one key: the database's primary key lets one insert
win; the other rolls its savepoint back and answers with the winner's stored response.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.problems import ApiProblemError
from api.schemas.common import IDEMPOTENCY_KEY_PATTERN
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import IdempotencyRecord

__all__ = ["IdemKey", "idempotent_create"]

MAX_KEY = 255
#: The ``Idempotency-Key`` header of a create: 1-255 visible ASCII characters, no space at either
#: end (a key outside this is a 422, like any other malformed parameter).
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="retry-safe creation: a retry with the same key and body gets the first "
        "response; the same key with another body is a 409",
    ),
]


def _body_hash(body: BaseModel) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def _replay(record: IdempotencyRecord, body_hash: str, route: str) -> JSONResponse:
    if record.body_sha256 != body_hash or record.route != route:
        raise ApiProblemError(
            409,
            "this Idempotency-Key was used with a different request; use a new key for a new "
            "request",
        )
    return JSONResponse(
        record.response, status_code=record.status_code, headers={"Idempotent-Replayed": "true"}
    )


def idempotent_create(
    *,
    request: Request,
    session: Session,
    identity: ClientIdentity,
    key: str | None,
    body: BaseModel,
    create: Callable[[], BaseModel],
    status_code: int = 201,
) -> Any:
    """Run ``create`` once per (client, key); return the model or a replayed response."""
    route = request.scope.get("route")
    route_path = str(getattr(route, "path", request.url.path))
    if key is None:
        return create()
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ApiProblemError(422, f"Idempotency-Key must be 1-{MAX_KEY} visible ASCII characters")
    body_hash = _body_hash(body)
    existing = session.get(IdempotencyRecord, (identity.client_id, key))
    if existing is not None:
        return _replay(existing, body_hash, route_path)
    try:
        with session.begin_nested():
            result = create()
            session.add(
                IdempotencyRecord(
                    client_id=identity.client_id,
                    key=key,
                    method=request.method,
                    route=route_path,
                    body_sha256=body_hash,
                    status_code=status_code,
                    response=result.model_dump(mode="json"),
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            session.flush()
    except IntegrityError:
        session.expire_all()
        winner = session.get(IdempotencyRecord, (identity.client_id, key))
        if winner is None:
            raise
        return _replay(winner, body_hash, route_path)
    return result
