"""``carbonfin apikey create|revoke|list``: API keys for client institutions.

A key is shown once, when it is created; only a salted scrypt hash is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from carbonfin.cli._common import Column, Report, command, fail, table, upper

apikey_app = typer.Typer(help="API keys for banks, the regulator and admins.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(apikey_app, name="apikey")


def _engine() -> Any:
    from carbonfin.cli.db import _migrated_engine

    return _migrated_engine()


@apikey_app.command("create")
@command(json=False)
def create_cmd(
    institution: Annotated[str, typer.Option(help="institution id, e.g. BANK-01 or PBOC-SH")],
    role: Annotated[
        str | None,
        typer.Option(
            help="bank | regulator | admin: follows the institution (bank for a bank, "
            "regulator for PBOC-SH, admin for OPERATOR); another role is refused"
        ),
    ] = None,
    expires_days: Annotated[
        int, typer.Option(min=1, max=3650, help="days until the key expires")
    ] = 365,
    label: Annotated[str | None, typer.Option(help="a note on what the key is for")] = None,
) -> None:
    """Create an API key and print it once (store it now: it cannot be shown again)."""
    from carbonfin.store import credentials, repositories
    from carbonfin.store.database import session_scope

    if role is not None and role.lower() not in credentials.ROLES:
        raise fail(f"--role must be one of {', '.join(credentials.ROLES)}; got {role!r}")
    engine = _engine()
    institution = upper(institution)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days)
    with session_scope(engine) as session:
        client_id, key = credentials.create_api_key(
            session=session,
            institution_id=institution.upper(),
            role=role.lower() if role else None,
            expires_at=expires,
            label=label,
        )
        repositories.record_audit(
            session=session,
            actor="cli",
            action="create_api_key",
            entity="api_clients",
            entity_id=client_id,
            detail={"institution_id": institution.upper(), "role": role or "default"},
        )
    err = typer.echo
    err(
        f"key {client_id} for {institution.upper()} created, expires {expires:%Y-%m-%d}; "
        "shown once:",
        err=True,
    )
    typer.echo(key)


@apikey_app.command("revoke")
@command()
def revoke_cmd(client_id: Annotated[str, typer.Argument(help="the key's client id")]) -> Report:
    """Revoke a key: the API refuses it from its next call on."""
    from carbonfin.store import credentials, repositories
    from carbonfin.store.database import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        client = credentials.revoke_api_client(session=session, client_id=client_id)
        repositories.record_audit(
            session=session,
            actor="cli",
            action="revoke_api_key",
            entity="api_clients",
            entity_id=client_id,
        )
    return Report(
        {"client_id": client.client_id, "institution_id": client.institution_id, "revoked": True},
        [f"key {client.client_id} of {client.institution_id} revoked"],
    )


@apikey_app.command("list")
@command()
def list_cmd() -> Report:
    """Every key's client id, institution, role and state (never a secret)."""
    from sqlalchemy import select

    from carbonfin.store import credentials
    from carbonfin.store.database import session_scope
    from carbonfin.store.models import ApiClient

    engine = _engine()
    rows: list[dict[str, Any]] = []
    with session_scope(engine) as session:
        for c in session.scalars(select(ApiClient).order_by(ApiClient.client_id)):
            rows.append(
                {
                    "client_id": c.client_id,
                    "institution_id": c.institution_id,
                    "role": c.role,
                    "created": c.created_at.date(),
                    "expires": c.expires_at.date() if c.expires_at else None,
                    "state": credentials.key_state(c),
                }
            )
    human: list[Any] = (
        [
            table(
                rows,
                [
                    Column("client_id", "client id"),
                    Column("institution_id", "institution"),
                    Column("role"),
                    Column("created"),
                    Column("expires", fmt=lambda d: str(d) if d else "never"),
                    Column("state"),
                ],
                title="API keys",
            )
        ]
        if rows
        else ["no API keys"]
    )
    return Report({"keys": rows}, human)
