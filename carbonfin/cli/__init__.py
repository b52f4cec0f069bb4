"""The ``carbonfin`` command (Typer). Each domain adds its commands in its own module.

The machinery every command shares (one error handler, exit codes, ``--json``, ``--sample``,
data-source headers) is in :mod:`carbonfin.cli._common`; its docstring says how to wrap a new
command. Modules here import the heavy libraries (pandas, SQLAlchemy, numba, arch) inside the
commands that need them, so ``carbonfin --help`` and ``--version`` start quickly.
"""

from __future__ import annotations

from typing import Annotated

import typer

from carbonfin import __version__
from carbonfin.cli import (
    apikey,
    backtest,
    carbon_cost,
    collateral,
    db,
    fx,
    loan,
    pledge,
    pricing,
    sample,
    scoring,
    serve,
    snapshot,
    status,
)
from carbonfin.cli._common import CarbonfinGroup

app = typer.Typer(
    name="carbonfin",
    cls=CarbonfinGroup,
    help="Green-finance risk and carbon-asset collateral engine for the Shanghai carbon market.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    epilog="Exit codes: 0 done; 1 internal error; 2 bad input; 3 data missing, stale or not "
    "loaded; 4 evaluated: ineligible; 5 margin call due; 6 no answer (no convergence, "
    "no implied volatility). "
    "CARBONFIN_DEBUG=1 shows tracebacks.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"carbonfin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="print the version and exit",
            show_default=False,
        ),
    ] = False,
) -> None:
    """Green-finance risk and carbon-asset collateral engine for the Shanghai carbon market."""


status.register(app)
db.register(app)
sample.register(app)
pricing.register(app)
scoring.register(app)
carbon_cost.register(app)
fx.register(app)
collateral.register(app)
snapshot.register(app)
loan.register(app)
pledge.register(app)
backtest.register(app)
apikey.register(app)
serve.register(app)


def main() -> None:
    """Entry point of the ``carbonfin`` console script."""
    app()
