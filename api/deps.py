"""Request dependencies: a transactional database session, the authenticated client, roles.

Routes are plain ``def`` functions, so FastAPI runs them (and the core's blocking work: model
fits, book valuations) in its thread pool and the event loop keeps serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.problems import ApiProblemError
from carbonfin.store.credentials import ClientIdentity, verify_api_key

__all__ = [
    "AdminClient",
    "CurrentClient",
    "ReaderClient",
    "SessionDep",
    "WriteSessionDep",
    "WriterClient",
    "get_session",
    "own_institution",
]

_BEARER = {"WWW-Authenticate": 'Bearer realm="carbonfin"'}


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back if it raises."""
    factory = request.app.state.sessions
    with factory.begin() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_write_session(request: Request) -> Iterator[Session]:
    """The transaction of a write route. PostgreSQL serialises conflicting writes with row locks
    (``SELECT ... FOR UPDATE`` in the routes); SQLite has none, so on SQLite the app's writes
    take one process-wide lock for the whole transaction (the embedded database serves one
    process)."""
    lock = request.app.state.sqlite_write_lock
    if lock is None:
        yield from get_session(request)
        return
    with lock, request.app.state.sessions.begin() as session:
        yield session


WriteSessionDep = Annotated[Session, Depends(get_write_session)]


def current_client(request: Request) -> ClientIdentity:
    """The client behind ``Authorization: Bearer cfk.<client>.<secret>``; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblemError(
            401, "send an API key as `Authorization: Bearer <key>`", headers=_BEARER
        )
    with request.app.state.sessions() as session:
        identity = verify_api_key(
            session=session, key=token.strip(), cache=request.app.state.key_cache
        )
    if identity is None:
        raise ApiProblemError(401, "the API key is unknown, revoked or expired", headers=_BEARER)
    request.state.identity = identity
    return identity


CurrentClient = Annotated[ClientIdentity, Depends(current_client)]


def reader(identity: CurrentClient) -> ClientIdentity:
    """Any authenticated role may read (what it reads is filtered by tenancy in the route)."""
    return identity


def writer(identity: CurrentClient) -> ClientIdentity:
    """Banks write their own objects; the regulator reads only; admins manage clients only."""
    if identity.role != "bank":
        raise ApiProblemError(403, f"role {identity.role!r} may not write lending data")
    return identity


def admin(identity: CurrentClient) -> ClientIdentity:
    if identity.role != "admin":
        raise ApiProblemError(403, "this route is for administrators")
    return identity


def regulator_or_admin(identity: CurrentClient) -> ClientIdentity:
    if identity.role not in ("regulator", "admin"):
        raise ApiProblemError(403, "this route is for the regulator and administrators")
    return identity


ReaderClient = Annotated[ClientIdentity, Depends(reader)]
WriterClient = Annotated[ClientIdentity, Depends(writer)]
AdminClient = Annotated[ClientIdentity, Depends(admin)]
SupervisorClient = Annotated[ClientIdentity, Depends(regulator_or_admin)]


def own_institution(identity: ClientIdentity) -> str | None:
    """The institution whose rows a client may see: its own for a bank, ``None`` (all) for the
    regulator and admins."""
    return identity.institution_id if identity.role == "bank" else None
