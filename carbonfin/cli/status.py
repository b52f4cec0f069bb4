"""``carbonfin info``: what the engine knows — instruments, market rules, loaded data."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from carbonfin import __version__, calendars
from carbonfin.cli._common import clean_errors, console
from carbonfin.rules import market_rules
from carbonfin.store import repositories
from carbonfin.store.database import (
    current_revision,
    head_revision,
    make_engine,
    session_scope,
)


def register(app: typer.Typer) -> None:
    app.command("info")(info)


@clean_errors
def info() -> None:
    """Print the instruments, their market rules and a summary of the loaded data."""
    console.print(f"[bold]carbonfin {__version__}[/bold]")
    table = Table(title="Instruments and market rules")
    for col in ("instrument", "name", "calendar", "first trade", "limit listed/block", "deadline"):
        table.add_column(col)
    for instrument, rule in market_rules().items():
        limit = rule.price_limit
        flag = " (assumed)" if limit.assumed else ""
        table.add_row(
            instrument.value,
            instrument.name_zh,
            rule.calendar,
            rule.first_trade_date.isoformat(),
            f"±{limit.listed_frac:.0%} / ±{limit.block_frac:.0%}{flag}",
            f"month {rule.compliance_deadline_month}",
        )
    console.print(table)
    _calendar_summary(dt.date.today())  # the edge reads the clock; the core takes it as input
    _database_summary()


def _calendar_summary(today: dt.date) -> None:
    last = calendars.last_published_year()
    console.print(
        f"China calendars ({', '.join(calendars.CALENDAR_NAMES)}): State Council notices on file "
        f"{calendars.FIRST_YEAR}-{last}; {last + 1}-{calendars.LAST_PROJECTED_YEAR} provisional "
        f"(projected; answers there warn)",
        soft_wrap=True,
    )
    gap = calendars.calendar_horizon_gap(today)
    if gap is not None:
        console.print(f"[yellow]calendar horizon:[/] {gap.message}", soft_wrap=True)


def _database_summary() -> None:
    engine = make_engine()
    url = engine.url.render_as_string(hide_password=True)
    revision = current_revision(engine)
    if revision is None:
        console.print(f"database {url}: empty — run `carbonfin db upgrade` and `carbonfin db seed`")
        return
    console.print(f"database {url}: migration {revision} (newest {head_revision()})")
    if revision != head_revision():
        console.print("run `carbonfin db upgrade` to migrate it")
        return
    with session_scope(engine) as session:
        summary = repositories.data_summary(session=session)
    prices = Table(title="Prices loaded")
    for col in ("instrument", "first day", "last day", "business days", "days traded"):
        prices.add_column(col, justify="right" if "days" in col else "left")
    for instrument, (first, last, n, traded) in sorted(summary["price_ranges"].items()):
        prices.add_row(instrument, str(first), str(last), f"{n:,}", f"{traded:,}")
    console.print(prices)
    counts = summary["counts"]
    rows = Table(title="Sample market")
    rows.add_column("what")
    rows.add_column("rows", justify="right")
    rows.add_row("banks", f"{summary['banks']:,}")
    for name in ("firms", "facilities", "facility_emissions", "firm_years", "compliance"):
        rows.add_row(name.replace("_", " "), f"{counts[name]:,}")
    for name in ("loans", "pledges", "fx_fixings"):
        rows.add_row(name.replace("_", " "), f"{counts[name]:,}")
    console.print(rows)
