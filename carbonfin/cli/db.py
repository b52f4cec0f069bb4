"""``carbonfin db ...``: migrate the database, load the sample market, manage API clients."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carbonfin.cli._common import Column, Report, command, fail, progress_bar, table
from carbonfin.errors import InvalidInputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = typer.Typer(help="The database: migrations and sample data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _existing_engine() -> Engine:
    """The configured database, without creating a missing SQLite file."""
    from carbonfin.cli._data import (
        DatabaseNotReadyError,
        missing_database_message,
        sqlite_file_missing,
    )
    from carbonfin.store.database import database_url, make_engine, parse_url

    url = parse_url(database_url())
    missing = sqlite_file_missing(url)
    if missing is not None:
        raise DatabaseNotReadyError(
            f"{missing_database_message(missing)}: `carbonfin db upgrade` creates it"
        )
    return make_engine(url)


def _migrated_engine() -> Engine:
    """The configured database at the newest migration, or what to run (exit code 3)."""
    from carbonfin.cli._data import DatabaseNotReadyError
    from carbonfin.errors import ConfigurationError
    from carbonfin.store.database import current_revision, require_current

    engine = _existing_engine()
    current_revision(engine)  # a file that is not a database: a bad setting (exit code 2)
    try:
        require_current(engine)
    except ConfigurationError as exc:
        raise DatabaseNotReadyError(str(exc)) from None
    return engine


@db_app.command("upgrade")
@command()
def upgrade_cmd() -> Report:
    """Create or migrate the database named by CARBONFIN_DATABASE_URL to the newest schema."""
    from carbonfin.store.database import current_revision, make_engine, upgrade

    engine = make_engine()
    before = current_revision(engine)
    reached = upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    text = (
        f"{url}: already at migration {reached}"
        if before == reached
        else f"{url}: migrated from {before or 'empty'} to {reached}"
    )
    return Report({"url": url, "from_revision": before, "revision": reached}, [text])


@db_app.command("current")
@command()
def current_cmd() -> Report:
    """Print the database's migration and the newest one this carbonfin ships."""
    from carbonfin.store.database import current_revision, head_revision

    engine = _existing_engine()
    revision = current_revision(engine)
    head = head_revision()
    return Report(
        {
            "url": engine.url.render_as_string(hide_password=True),
            "revision": revision,
            "newest": head,
            "is_current": revision == head,
        },
        [f"database at {revision or 'empty'}; newest is {head}"],
    )


@db_app.command("seed")
@command()
def seed_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="directory of sample CSV files (default: the shipped sample market)",
            exists=True,
            file_okay=False,
            dir_okay=True,
        ),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="store the exposure history of the market's last year: weekly (the default "
            "for the shipped sample), daily (about five times as long) or none (the default "
            "with --data-dir)"
        ),
    ] = None,
) -> Report:
    """Load the sample market into the database, then value and store the book's history of
    its last year (weekly by default). Seeding twice inserts nothing the second time."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    history = history or ("weekly" if data_dir is None else "none")
    if history not in ("weekly", "daily", "none"):
        raise InvalidInputError(f"`--history` must be weekly, daily or none; got {history!r}")
    engine = _migrated_engine()
    with progress_bar(
        TextColumn("[bold]seeding[/] {task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(table: str, done: int, total: int) -> None:
            bar.update(task, description=table, completed=done, total=total)

        with session_scope(engine) as session:
            report = repositories.seed(session=session, directory=data_dir, progress=progress)
    stored = []
    if history != "none":
        from carbonfin.cli.snapshot import backfill_history

        stored.append(backfill_history(engine, cadence=history))
    rows = [
        {"table": name, "inserted": n, "already_present": report.skipped[name]}
        for name, n in report.inserted.items()
    ]
    return Report(
        {
            "url": engine.url.render_as_string(hide_password=True),
            "tables": rows,
            "history": stored[0] if stored else None,
        },
        [
            table(
                rows,
                [
                    Column("table"),
                    Column("inserted", fmt="{:,}"),
                    Column("already_present", "already present", fmt="{:,}"),
                ],
                title="Seeded",
            ),
            *stored,
        ],
    )


__all__ = ["fail", "register"]
