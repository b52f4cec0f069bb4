"""The ``carbonfin`` command (Typer). Each domain adds its commands in its own module."""

from __future__ import annotations

import typer

from carbonfin.cli import backtest, collateral, db, fx, pricing, sample, scoring, status

app = typer.Typer(
    name="carbonfin",
    help="Green-finance risk and carbon-asset collateral engine for the Shanghai carbon market.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Green-finance risk and carbon-asset collateral engine for the Shanghai carbon market."""


status.register(app)
db.register(app)
sample.register(app)
pricing.register(app)
scoring.register(app)
fx.register(app)
collateral.register(app)
backtest.register(app)


def main() -> None:
    """Entry point of the ``carbonfin`` console script."""
    app()
