"""``carbonfin db ...``: migrate the database, load the sample market, manage API clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, fail
from carbonfin.store import credentials, repositories
from carbonfin.store.database import (
    current_revision,
    head_revision,
    make_engine,
    require_current,
    session_scope,
    upgrade,
)

db_app = typer.Typer(
    help="The database: migrations, sample data, API clients.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@clean_errors
def upgrade_cmd() -> None:
    """Create or migrate the database named by CARBONFIN_DATABASE_URL to the newest schema."""
    engine = make_engine()
    before = current_revision(engine)
    reached = upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == reached:
        console.print(f"{url}: already at migration {reached}")
    else:
        console.print(f"{url}: migrated from {before or 'empty'} to {reached}")


@db_app.command("current")
@clean_errors
def current_cmd() -> None:
    """Print the database's migration and the newest one this carbonfin ships."""
    engine = make_engine()
    console.print(f"database at {current_revision(engine) or 'empty'}; newest is {head_revision()}")


@db_app.command("seed")
@clean_errors
def seed_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="directory of sample CSV files (default: the shipped sample market)"),
    ] = None,
) -> None:
    """Load the sample market into the database. Seeding twice inserts nothing the second time."""
    engine = make_engine()
    require_current(engine)
    with Progress(
        TextColumn("[bold]seeding[/] {task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(table: str, done: int, total: int) -> None:
            bar.update(task, description=table, completed=done, total=total)

        with session_scope(engine) as session:
            report = repositories.seed(session=session, directory=data_dir, progress=progress)
    table = Table(title="Seeded")
    table.add_column("table")
    table.add_column("inserted", justify="right")
    table.add_column("already present", justify="right")
    for name, n in report.inserted.items():
        table.add_row(name, f"{n:,}", f"{report.skipped[name]:,}")
    console.print(table)


@db_app.command("create-client")
@clean_errors
def create_client_cmd(
    client_id: Annotated[str, typer.Argument(help="new client id, e.g. bank-01-risk")],
    institution_id: Annotated[str, typer.Argument(help="institution id, e.g. BANK-01 or PBOC-SH")],
) -> None:
    """Create an API client for an institution and print its secret once (it is stored hashed)."""
    engine = make_engine()
    require_current(engine)
    with session_scope(engine) as session:
        secret = credentials.create_api_client(
            session=session, client_id=client_id, institution_id=institution_id
        )
        repositories.record_audit(
            session=session,
            actor="cli",
            action="create_api_client",
            entity="api_clients",
            entity_id=client_id,
            detail={"institution_id": institution_id},
        )
    console.print(f"client {client_id} for {institution_id} created; its secret (shown once):")
    typer.echo(secret)


__all__ = ["fail", "register"]
