"""Client management (the platform operator's admins) and the audit log (admins and the
regulator).

Admins belong to the institution OPERATOR, not to a bank: they create keys for any institution,
list and revoke them (never the last active admin), and read the audit log; they read no bank's
loans, pledges or margin calls (:func:`api.deps.reader`). Banks do not manage their own keys
(no ``key_manager`` capability): a key is issued by the operator, or by the ``carbonfin apikey``
command on the server, so a stolen bank key can never mint more keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import AdminClient, AuditReaderClient, PageLimit, SessionDep
from api.problems import problem_responses
from api.schemas import patterns
from api.schemas.admin import AuditPublic, ClientCreate, ClientCreated, ClientPublic
from api.schemas.common import Instant, Page
from carbonfin.store import credentials
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import ApiClient, AuditEntry
from carbonfin.store.repositories import record_audit
from carbonfin.store.transactions import write_transaction

router = APIRouter(prefix="/v1", tags=["admin"])


def _public(c: ApiClient) -> ClientPublic:
    return ClientPublic(
        client_id=c.client_id,
        institution_id=c.institution_id,
        role=c.role,
        created_at=c.created_at,
        expires_at=c.expires_at,
        revoked_at=c.revoked_at,
        label=c.label,
        state=credentials.key_state(c),
    )


@router.post(
    "/admin/clients",
    response_model=ClientCreated,
    status_code=201,
    responses=problem_responses(401, 403, 404, 422),
)
def create_client(body: ClientCreate, request: Request, admin: AdminClient) -> ClientCreated:
    """Create an API key for an institution; the key is in this response only."""
    days = body.expires_in_days or credentials.DEFAULT_KEY_LIFETIME_DAYS  # null: the default
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    with write_transaction(request.app.state.sessions) as session:
        client_id, key = credentials.create_api_key(
            session=session,
            institution_id=body.institution_id,
            role=body.role,
            expires_at=expires,
            label=body.label,
        )
        row = session.get(ApiClient, client_id)
        assert row is not None
        created = ClientCreated(**_public(row).model_dump(), api_key=key)
        _audit(session, admin, "api_client.create", row)
    request.state.audit_entity_id = client_id
    request.state.audit_written = True  # in the write's own transaction (api.middleware)
    return created


@router.get(
    "/admin/clients", response_model=list[ClientPublic], responses=problem_responses(401, 403)
)
def list_clients(_admin: AdminClient, session: SessionDep) -> list[ClientPublic]:
    """Every API client (never a secret)."""
    return [_public(c) for c in session.scalars(select(ApiClient).order_by(ApiClient.client_id))]


@router.delete(
    "/admin/clients/{client_id}",
    response_model=ClientPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def revoke_client(
    client_id: Annotated[str, Path(pattern=patterns.CLIENT_ID)],
    admin: AdminClient,
    request: Request,
) -> ClientPublic:
    """Revoke a client's key: refused from its next call on. Revoking the last active admin is
    a 409 (no one could manage keys any more)."""
    request.state.audit_entity_id = client_id
    with write_transaction(request.app.state.sessions) as session:
        row = credentials.revoke_api_client(session=session, client_id=client_id)
        _audit(session, admin, "api_client.revoke", row)
        public = _public(row)
    request.state.audit_written = True  # in the write's own transaction (api.middleware)
    return public


def _audit(session: Session, admin: ClientIdentity, action: str, row: ApiClient) -> None:
    record_audit(
        session=session,
        actor=admin.client_id,
        action=action,
        entity="api_clients",
        entity_id=row.client_id,
        detail={
            "role": admin.role,
            "institution": admin.institution_id,
            "client_institution": row.institution_id,
            "client_role": row.role,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        },
        at=dt.datetime.now(dt.UTC),
    )


@router.get("/audit", response_model=Page[AuditPublic], responses=problem_responses(401, 403, 422))
def audit_log(
    _who: AuditReaderClient,
    session: SessionDep,
    limit: PageLimit,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Page[AuditPublic]:
    """The audit log, newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.entry_id.desc()).limit(limit + 1)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if cursor is not None:
        stmt = stmt.where(AuditEntry.entry_id < cursor)
    return Page[AuditPublic].of(
        list(session.scalars(stmt)),
        limit,
        lambda r: AuditPublic(
            entry_id=r.entry_id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            entity=r.entity,
            entity_id=r.entity_id,
            detail=r.detail,
        ),
        lambda r: str(r.entry_id),
    )
