"""``carbonfin info``: what the engine knows — instruments, market rules, loaded data."""

from __future__ import annotations

import typer
from rich.table import Table

from carbonfin import __version__
from carbonfin.cli._common import clean_errors, console
from carbonfin.rules import market_rules


def register(app: typer.Typer) -> None:
    app.command("info")(info)


@clean_errors
def info() -> None:
    """Print the instruments, their market rules and a summary of the loaded data."""
    console.print(f"[bold]carbonfin {__version__}[/bold]")
    table = Table(title="Instruments and market rules")
    for col in (
        "instrument",
        "name",
        "calendar",
        "first trade",
        "limit (listed/block)",
        "deadline",
    ):
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
