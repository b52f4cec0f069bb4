"""Parsing command-line values: dates, decimal numbers, identifiers.

Each helper names the argument or flag in its error (``InvalidInputError``, exit code 2); the
names are re-exported by :mod:`carbonfin.cli._common`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal

from carbonfin.errors import InvalidInputError

__all__ = ["parse_date", "parse_decimal", "upper"]


def parse_date(text: str, name: str) -> dt.date:
    """An ISO date from a command-line argument, or a clear error naming the argument."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"`{name}` must be a date YYYY-MM-DD; got {text!r}") from None


def parse_decimal(text: str, name: str, *, max_abs: Decimal = Decimal("1e15")) -> Decimal:
    """A finite decimal number from the command line, at most ``max_abs`` in size."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except decimal.InvalidOperation:
        raise InvalidInputError(f"`{name}` must be a decimal number; got {text!r}") from None
    if not value.is_finite():
        raise InvalidInputError(f"`{name}` must be finite; got {text!r}")
    if abs(value) > max_abs:
        raise InvalidInputError(f"`{name}` must be at most {max_abs:,.0f} in size; got {text}")
    return value


def upper(text: str) -> str:
    """An identifier (USCC, instrument, currency, pair, bank id) normalised to upper case."""
    return text.strip().upper()
