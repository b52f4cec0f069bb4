"""``carbonfin apikey create|revoke|list``: API keys for client institutions.

A key is shown once, when it is created; only a salted scrypt hash is stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, fail
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, require_current, session_scope

apikey_app = typer.Typer(help="API keys for banks, the regulator and admins.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
@clean_errors
def create_cmd(
    institution: Annotated[str, typer.Option(help="institution id, e.g. BANK-01 or PBOC-SH")],
    role: Annotated[
        str | None,
        typer.Option(help="bank | regulator | admin (default: bank, or regulator for PBOC-SH)"),
    ] = None,
    expires_days: Annotated[
        int, typer.Option(min=1, max=3650, help="days until the key expires")
    ] = 365,
    label: Annotated[str | None, typer.Option(help="a note on what the key is for")] = None,
) -> None:
    """Create an API key and print it once (store it now: it cannot be shown again)."""
    if role is not None and role.lower() not in credentials.ROLES:
        raise fail(f"--role must be one of {', '.join(credentials.ROLES)}; got {role!r}")
    engine = make_engine()
    require_current(engine)
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
@clean_errors
def revoke_cmd(client_id: Annotated[str, typer.Argument(help="the key's client id")]) -> None:
    """Revoke a key: the API refuses it from its next call on."""
    engine = make_engine()
    require_current(engine)
    with session_scope(engine) as session:
        client = credentials.revoke_api_client(session=session, client_id=client_id)
        repositories.record_audit(
            session=session,
            actor="cli",
            action="revoke_api_key",
            entity="api_clients",
            entity_id=client_id,
        )
    console.print(f"key {client.client_id} of {client.institution_id} revoked")


@apikey_app.command("list")
@clean_errors
def list_cmd() -> None:
    """Every key's client id, institution, role and state (never a secret)."""
    from sqlalchemy import select

    from carbonfin.store.models import ApiClient

    engine = make_engine()
    require_current(engine)
    table = Table(title="API keys")
    for col in ("client id", "institution", "role", "created", "expires", "state"):
        table.add_column(col)
    with session_scope(engine) as session:
        for c in session.scalars(select(ApiClient).order_by(ApiClient.client_id)):
            state = "revoked" if c.revoked_at or not c.active else "active"
            table.add_row(
                c.client_id,
                c.institution_id,
                c.role,
                f"{c.created_at:%Y-%m-%d}",
                f"{c.expires_at:%Y-%m-%d}" if c.expires_at else "never",
                state,
            )
    console.print(table)
