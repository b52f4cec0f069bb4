"""``carbonfin book snapshot``: value the whole book on each business day of a period and store
it (the stored valuations the exposure history and the regulator's views read), and the seed's
backfill of the sample market's last year."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated

import typer

from carbonfin.cli._common import Column, Report, command, err_console, parse_date, table
from carbonfin.errors import InvalidInputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["backfill_history", "register"]


def register(app: typer.Typer) -> None:
    """Add ``book snapshot`` to the ``book`` group (defined in :mod:`carbonfin.cli.book`)."""
    from carbonfin.cli.book import book_app

    book_app.command("snapshot")(snapshot_cmd)


def _say(day: dt.date, done: int, total: int) -> None:
    err_console.print(f"valued and stored {day} ({done}/{total})", highlight=False)


def backfill_history(engine: Engine, *, cadence: str = "weekly", quiet: bool = False) -> str:
    """Store a year of the sample market's history (weekly by default) up to its last quote;
    return a line saying what was stored and how long it took."""
    from sqlalchemy.orm import sessionmaker

    from carbonfin.lending import exposure

    sessions = sessionmaker(engine, expire_on_commit=False)
    market = exposure.StoredMarket(sessions, source=_source(engine))
    end = market.last_quote()
    start = time.perf_counter()
    runs = exposure.backfill(
        sessions, market, end=end, cadence="daily" if cadence == "daily" else "weekly",
        progress=None if quiet else _say,
    )  # fmt: skip
    took = time.perf_counter() - start
    return (
        f"exposure history: {len(runs)} {cadence} valuations of the book up to {end} stored "
        f"in {took:.0f} s"
    )


def _source(engine: Engine) -> str:
    from carbonfin.store.database import public_name

    return f"database {public_name(engine.url)}"


@command()
def snapshot_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help="one date (YYYY-MM-DD)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first date of a period")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last date of a period")] = None,
    weekly: Annotated[
        bool, typer.Option("--weekly", help="the last business day of each week only")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="value again dates already stored and current")
    ] = False,
) -> Report:
    """Value the whole book (every bank) on each business day (SEEE calendar) of a period, or
    on one date, and store it: the exposure history and the regulator's views read it. A date
    already stored and current is kept (unless --force); one transaction per date."""
    from sqlalchemy.orm import sessionmaker

    from carbonfin.cli._data import seeded_engine
    from carbonfin.lending import exposure

    if as_of is not None and (start or end):
        raise InvalidInputError("give either --as-of or --from/--to, not both")
    if as_of is None and not (start and end):
        raise InvalidInputError("give --as-of, or both --from and --to")
    engine = seeded_engine()
    if as_of is not None:
        dates = [parse_date(as_of, "as_of")]
    else:
        dates = exposure.snapshot_dates(
            parse_date(start or "", "start"),
            parse_date(end or "", "end"),
            "weekly" if weekly else "daily",
        )
    sessions = sessionmaker(engine, expire_on_commit=False)
    market = exposure.StoredMarket(sessions, source=_source(engine))
    begun = time.perf_counter()
    runs = exposure.snapshot(sessions, dates, market, force=force, progress=_say)
    took = time.perf_counter() - begun
    with sessions() as session:
        points = {
            p.as_of: p
            for p in exposure.history(session, min(dates), max(dates)).points
        } if dates else {}  # fmt: skip
    rows = [
        {
            "as_of": r.as_of,
            "run_id": r.run_id,
            "computed_at": r.computed_at.isoformat(timespec="seconds"),
            "loans": points[r.as_of].loans if r.as_of in points else 0,
            "margin_calls": points[r.as_of].margin_calls if r.as_of in points else 0,
            "outstanding_cny": points[r.as_of].loan_outstanding_cny if r.as_of in points else 0.0,
        }
        for r in runs
    ]
    return Report(
        {"dates": len(runs), "seconds": round(took, 1), "runs": rows},
        [
            table(
                rows,
                [
                    Column("as_of", "date"),
                    Column("run_id", "run"),
                    Column("computed_at", "computed"),
                    Column("loans", fmt="{:,}"),
                    Column("margin_calls", "margin calls", fmt="{:,}"),
                    Column("outstanding_cny", "loans CNY", fmt="{:,.2f}"),
                ],
                title=f"stored valuations ({len(runs)} dates, {took:.1f} s)",
            )
        ],
    )
