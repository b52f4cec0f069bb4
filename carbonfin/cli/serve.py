"""``carbonfin serve``: the HTTP API on the configured database (``make run`` uses it).

With ``--demo`` it first migrates the database, seeds the sample market if the database holds no
prices, and creates demo keys for one bank (BANK-01), the regulator (PBOC-SH) and an admin of the
platform operator (OPERATOR), expiring after 30 days, printed once and written to the
git-ignored file ``.carbonfin-demo-keys`` (readable by the owner only); once one has expired or
been revoked, the next ``serve --demo`` creates a new set.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from carbonfin.cli._common import command, console

DEMO_KEYS = Path(".carbonfin-demo-keys")
#: Demo keys expire after this many days; the next ``serve --demo`` then makes new ones.
DEMO_KEY_DAYS = 30


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def _prepare_demo(*, history: bool = True) -> None:
    from sqlalchemy import func, select

    from carbonfin.store import credentials, repositories
    from carbonfin.store.database import make_engine, session_scope, upgrade
    from carbonfin.store.models import ApiClient, Price

    engine = make_engine()
    upgrade(engine)
    seeded = False
    with session_scope(engine) as session:
        if not session.scalar(select(func.count()).select_from(Price)):
            console.print("seeding the sample market (first run only)")
            repositories.seed(session=session)
            seeded = True
    if seeded and history:
        from carbonfin.cli.snapshot import backfill_history

        console.print("storing the exposure history of the sample's last year (weekly)")
        console.print(backfill_history(engine, quiet=True))
    with session_scope(engine) as session:
        active = {
            c.client_id
            for c in session.scalars(select(ApiClient))
            if credentials.key_state(c) == "active"
        }
        if DEMO_KEYS.exists():
            names = {
                line.split("=", 1)[1].split(".")[1]
                for line in DEMO_KEYS.read_text().splitlines()
                if "=" in line and line.split("=", 1)[1].count(".") == 2
            }
            if names and names <= active:
                console.print(f"demo keys: see {DEMO_KEYS} (created on an earlier run)")
                return
        lines = []
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=DEMO_KEY_DAYS)
        for who, institution, role in (
            ("BANK", "BANK-01", "bank"),
            ("REGULATOR", "PBOC-SH", "regulator"),
            ("ADMIN", "OPERATOR", "admin"),
        ):
            _, key = credentials.create_api_key(
                session=session,
                institution_id=institution,
                role=role,
                label="make run demo",
                expires_at=expires,
            )
            lines.append(f"CARBONFIN_{who}_KEY={key}")
    DEMO_KEYS.write_text("\n".join(lines) + "\n")
    os.chmod(DEMO_KEYS, 0o600)
    console.print(f"demo keys (shown once; also in {DEMO_KEYS}, git-ignored):")
    for line in lines:
        typer.echo(f"  {line}")


@command(json=False)
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="migrate, seed if empty and create demo keys first")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="worker processes (each with its own thread and connection pools; caches "
            "follow the database's data versions, so every worker sees every write at once)",
        ),
    ] = 1,
    history: Annotated[
        bool,
        typer.Option(
            help="with --demo, on the first seed: store the weekly exposure history of the "
            "sample's last year (about a minute)"
        ),
    ] = True,
) -> None:
    """Serve the HTTP API in the foreground until Ctrl-C (or SIGTERM)."""
    import uvicorn

    if demo:
        _prepare_demo(history=history)
        from carbonfin.cli.status import info

        info()
    console.print(f"carbonfin API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    console.print(f"dashboard on http://{host}:{port}/dashboard  (sign in with an API key)")
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        http="api.transport:NoDelayH11Protocol",  # TCP_NODELAY with any worker count
        log_level="info",
        timeout_graceful_shutdown=10,
    )
