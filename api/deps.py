"""Request dependencies: authentication first, then a database session, then roles.

Order matters (issue 18, point 2): every route that needs a client authenticates before it gets
a session, a connection or a lock. :func:`current_client` is ``async``: a missing or malformed
key, or a client address or id over its failed-authentication limit, is refused on the event
loop without touching the database or a worker thread. Only a well-formed key is checked, in a
worker thread, against the client's row (one short read; see
:func:`carbonfin.store.credentials.authenticate_client` for why unknown and revoked ids take
the same time).

Sessions are function-scoped dependencies (FastAPI ``Depends(scope="function")``): their exit
code (commit or rollback, connection back to the pool, lock released) runs when the route
returns, before the response is sent. Write routes call :mod:`carbonfin.lending` workflows,
which open their own :func:`carbonfin.store.transactions.write_transaction`;
:data:`WriteSessionDep` remains for routes not yet converted: it authenticates first and opens a
``write_transaction`` whose enter and exit run on a thread limiter of their own, so requests
queued on SQLite's write lock never take the threads the lock holder needs to finish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from types import UnionType
from typing import Annotated, Any, NoReturn, Union, get_args, get_origin

import anyio
from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.problems import ApiProblemError
from api.schemas.common import IDEMPOTENCY_KEY_PATTERN
from carbonfin.lending.idempotency import MAX_KEY
from carbonfin.store.credentials import AuthOutcome, ClientIdentity, authenticate_client
from carbonfin.store.credentials import parse_api_key as parse_api_key
from carbonfin.store.repositories import require_bank
from carbonfin.store.transactions import read_data_version, read_transaction, write_transaction

__all__ = [
    "AdminClient",
    "AuditReaderClient",
    "CurrentClient",
    "IdemKey",
    "MarketReaderClient",
    "PageLimit",
    "ReaderClient",
    "SessionDep",
    "SupervisorClient",
    "WriteSessionDep",
    "WriterClient",
    "authenticate_key",
    "bank_scope",
    "get_session",
    "no_unknown_query",
    "own_institution",
]

_BEARER = {"WWW-Authenticate": 'Bearer realm="carbonfin"'}

#: The ``Idempotency-Key`` header of a write: 1-255 visible ASCII characters, no space at either
#: end (anything else is a 422, like any malformed parameter). The write's workflow keeps the key
#: in its own transaction (:mod:`carbonfin.lending.idempotency`).
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="retry-safe write: a retry with the same key and body gets the first "
        "answer; the same key with another body is a 409",
    ),
]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse(request: Request, reason: str, client_id: str | None) -> ApiProblemError:
    """Count a failed authentication, note it for the audit log, and build the 401."""
    guard = request.app.state.auth_guard
    address = _address(request)
    guard.record(f"addr:{address}")
    if client_id is not None:
        guard.record(f"client:{client_id}")
    request.state.auth_failure = {"client_id": client_id, "address": address, "reason": reason}
    if reason in ("missing", "malformed"):
        detail = "send an API key as `Authorization: Bearer <key>`"
        if reason == "malformed":
            detail = "the API key is malformed (expected `cfk.<client id>.<secret>`)"
        return ApiProblemError(401, detail, headers=_BEARER)
    return ApiProblemError(401, "the API key is unknown, revoked or expired", headers=_BEARER)


def _too_many(request: Request, key: str, retry_after: int, client_id: str | None) -> NoReturn:
    guard = request.app.state.auth_guard
    request.app.state.metrics.auth_refused.inc()
    if guard.first_refusal(key):  # audit the first refusal of a window, not the whole flood
        request.state.auth_failure = {
            "client_id": client_id,
            "address": _address(request),
            "reason": "rate_limited",
        }
    raise ApiProblemError(
        429,
        f"too many failed authentications from this "
        f"{'address' if key.startswith('addr:') else 'client id'}; "
        f"retry after {retry_after} s",
        headers={"Retry-After": str(retry_after), **_BEARER},
    )


async def current_client(request: Request) -> ClientIdentity:
    """The client behind ``Authorization: Bearer cfk.<client>.<secret>``; 401 otherwise, 429
    with ``Retry-After`` when its address or client id failed too often recently.

    While an address or a client id is over its limit, a missing or malformed key is refused
    on the event loop, and a well-formed one is checked against the worker's verified-key cache
    only (no scrypt): a bank's already-verified key keeps working behind an address (or under
    a client id) that someone else is hammering, and the attacker's guesses cost nothing.
    """
    return await authenticate_key(request, _bearer(request))


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authenticate_key(
    request: Request, key: str, *, market_version: bool = False
) -> ClientIdentity:
    """Check an API key exactly as :func:`current_client` does (rate limits, audit of failures,
    verified-key cache); ``key`` empty means none was sent. The dashboard's login calls it with
    the key typed into its form.

    With ``market_version``, an accepted key's check also reads the database's ``market`` data
    version in the same read transaction and leaves it in ``request.state.market_version``
    (one round trip to a worker thread and one session for both reads)."""
    guard = request.app.state.auth_guard
    address_key = f"addr:{_address(request)}"
    address_retry = guard.retry_after(address_key)
    parsed = parse_api_key(key) if key else None
    if parsed is None:
        if address_retry is not None:
            _too_many(request, address_key, address_retry, None)
        raise _refuse(request, "malformed" if key else "missing", None)
    client_id, secret = parsed
    client_key = f"client:{client_id}"
    client_retry = guard.retry_after(client_key)
    limited = address_retry is not None or client_retry is not None
    app = request.app

    def check() -> tuple[AuthOutcome, int | None]:
        with read_transaction(app.state.sessions) as session:
            outcome = authenticate_client(
                session=session,
                client_id=client_id,
                secret=secret,
                cache=app.state.key_cache,
                cache_only=limited,
            )
            if market_version and outcome.identity is not None:
                return outcome, read_data_version(session, "market")
            return outcome, None

    outcome, version = await anyio.to_thread.run_sync(check)
    if outcome.identity is None:
        if outcome.reason == "rate_limited":
            if address_retry is not None:
                _too_many(request, address_key, address_retry, client_id)
            _too_many(request, client_key, client_retry or 1, client_id)
        raise _refuse(request, outcome.reason, client_id)
    request.state.identity = outcome.identity
    if version is not None:
        request.state.market_version = version
    return outcome.identity


CurrentClient = Annotated[ClientIdentity, Depends(current_client)]


def get_session(request: Request, _who: CurrentClient) -> Iterator[Session]:
    """A read session for an authenticated route (authentication runs first, whatever the order
    of the route's parameters), closed before the response is sent; a pool wait beyond the
    configured timeout is answered 503 with ``Retry-After``."""
    with read_transaction(request.app.state.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def _in_write_thread(request: Request, fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args, limiter=request.app.state.write_limiter)


async def get_write_session(request: Request, _who: CurrentClient) -> AsyncIterator[Session]:
    """A write transaction for a route not yet converted to a :mod:`carbonfin.lending`
    workflow: opened only after authentication, committed before the response is sent, every
    wait bounded (:class:`~carbonfin.store.transactions.BusyError` -> 503 + Retry-After)."""
    manager = write_transaction(request.app.state.sessions)
    session: Session = await _in_write_thread(request, manager.__enter__)
    try:
        yield session
    except BaseException as exc:
        suppressed = await _in_write_thread(
            request, manager.__exit__, type(exc), exc, exc.__traceback__
        )
        if not suppressed:
            raise
    else:
        await _in_write_thread(request, manager.__exit__, None, None, None)


WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


async def reader(identity: CurrentClient) -> ClientIdentity:
    """Banks and the regulator read (what they read is filtered by tenancy in the route); the
    platform operator's admins manage clients and read the audit log, not lending data."""
    if identity.role == "admin":
        raise ApiProblemError(
            403, "role 'admin' manages API clients and reads the audit log, not lending data"
        )
    return identity


async def writer(identity: CurrentClient) -> ClientIdentity:
    """Banks write their own objects; the regulator reads only; admins manage clients only."""
    if identity.role != "bank":
        raise ApiProblemError(403, f"role {identity.role!r} may not write lending data")
    return identity


async def admin(identity: CurrentClient) -> ClientIdentity:
    if identity.role != "admin":
        raise ApiProblemError(403, "this route is for administrators")
    return identity


async def audit_reader(identity: CurrentClient) -> ClientIdentity:
    if identity.role not in ("regulator", "admin"):
        raise ApiProblemError(403, "the audit log is for the regulator and administrators")
    return identity


async def supervisor(identity: CurrentClient) -> ClientIdentity:
    """The regulator's routes (every bank's positions): the regulator only, not admins."""
    if identity.role != "regulator":
        raise ApiProblemError(403, "this route is for the regulator")
    return identity


async def market_reader(request: Request) -> ClientIdentity:
    """:func:`reader` for a route answered from market data: the key check also reads the
    ``market`` data version (``request.state.market_version``, see :func:`authenticate_key`),
    so the route can look up its version-keyed cache without another thread hop."""
    return await reader(await authenticate_key(request, _bearer(request), market_version=True))


ReaderClient = Annotated[ClientIdentity, Depends(reader)]
MarketReaderClient = Annotated[ClientIdentity, Depends(market_reader)]
WriterClient = Annotated[ClientIdentity, Depends(writer)]
AdminClient = Annotated[ClientIdentity, Depends(admin)]
SupervisorClient = Annotated[ClientIdentity, Depends(supervisor)]
AuditReaderClient = Annotated[ClientIdentity, Depends(audit_reader)]


def own_institution(identity: ClientIdentity) -> str | None:
    """The institution whose rows a client may see: its own for a bank, ``None`` (all) for the
    regulator."""
    return identity.institution_id if identity.role == "bank" else None


def bank_scope(session: Session, identity: ClientIdentity, bank_id: str | None) -> str | None:
    """The bank whose rows a request reads, from the caller and its ``bank_id`` query parameter.

    The regulator: the bank named (any case), or ``None`` for every bank; an id that names no
    bank (an unknown one, the central bank's) is a 404 "unknown bank", not an empty page or a
    book of zeros (:func:`carbonfin.store.repositories.require_bank`: unknown is not zero). A
    bank key: its own institution, whether ``bank_id`` is left out or names that institution
    (any case); any other ``bank_id`` is a 422 naming the parameter, worded the same whether or
    not the bank named exists (it was silently ignored, so a bank could believe it had filtered
    on another bank).
    """
    owner = own_institution(identity)
    if owner is None:
        if not bank_id:
            return None
        bank = bank_id.strip().upper()
        require_bank(session, bank)
        return bank
    if bank_id and bank_id.strip().upper() != owner:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "bank_id"),
                    "msg": "a bank key reads its own institution's rows only: leave `bank_id` "
                    "out or give your own institution's id",
                    "type": "value_error",
                }
            ]
        )
    return owner


def page_limit(
    request: Request,
    limit: Annotated[
        int,
        Query(ge=1, description="items per page, at most the service's `page_size_max`"),
    ] = 50,
) -> int:
    """The page size asked for, refused with 422 above ``page_size_max`` (the OpenAPI document
    states the same maximum, see :func:`api.main.create_app`)."""
    most = request.app.state.settings.page_size_max
    if limit > most:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "limit"),
                    "msg": f"`limit` must be at most page_size_max={most}; got {limit}",
                    "type": "less_than_equal",
                }
            ]
        )
    return limit


PageLimit = Annotated[int, Depends(page_limit)]


#: Per route: each declared query parameter and whether it takes several values (a list).
_QUERY_NAMES: dict[int, dict[str, bool]] = {}


def _takes_many(annotation: Any) -> bool:
    """Whether a parameter's type is a list, tuple or set (``str | None`` is one value)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_takes_many(a) for a in get_args(annotation))
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    return origin in (list, tuple, set, frozenset, Sequence)


def _query_names(dependant: Any) -> dict[str, bool]:
    """The query parameters a route declares, its dependencies' included."""
    names: dict[str, bool] = {}
    stack = [dependant]
    while stack:
        current = stack.pop()
        for p in current.query_params:
            names[p.alias] = _takes_many(getattr(p.field_info, "annotation", None))
        stack.extend(current.dependencies)
    return names


async def no_unknown_query(request: Request) -> None:
    """A query parameter that the route does not declare is a 422, as an unknown body field is:
    a misspelt ``as_of`` would otherwise be ignored and the answer given for today. So is a
    one-value parameter given twice (``?as_of=A&as_of=B`` took the last value silently).

    ``async``: a few dictionary lookups, run on the event loop rather than costing every call
    of every route a hop to a worker thread and back (FastAPI runs a sync dependency there)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        known = _QUERY_NAMES[id(route)] = _query_names(dependant)
    given = request.query_params
    unknown = sorted(set(given.keys()) - set(known))
    repeated = sorted(
        name for name, many in known.items() if not many and len(given.getlist(name)) > 1
    )
    errors = [
        {"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"}
        for name in unknown
    ] + [
        {
            "loc": ("query", name),
            "msg": f"`{name}` takes one value; give it once (got {len(given.getlist(name))})",
            "type": "repeated_parameter",
        }
        for name in repeated
    ]
    if errors:
        raise RequestValidationError(errors)
