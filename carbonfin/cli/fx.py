"""`carbonfin` commands of the fx domain."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
