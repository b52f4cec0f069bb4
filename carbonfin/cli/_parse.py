"""Parsing command-line values: dates, decimal numbers, identifiers.

Each helper names the argument or flag in its error (``InvalidInputError``, exit code 2); the
names are re-exported by :mod:`carbonfin.cli._common`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from decimal import Decimal

from carbonfin.errors import InvalidInputError

__all__ = ["parse_date", "parse_decimal", "upper"]


def parse_date(text: str, name: str) -> dt.date:
    """An ISO date from a command-line argument, or a clear error naming the argument."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"`{name}` must be a date YYYY-MM-DD; got {text!r}") from None


#: A plain decimal number: an optional sign, digits (``_`` may group them) and an optional
#: fraction. No exponent (``1e3``), no ``inf`` or ``nan``: an amount is written as it is booked.
_PLAIN_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def parse_decimal(text: str, name: str, *, max_abs: Decimal = Decimal("1e15")) -> Decimal:
    """A plain decimal number from the command line (``1000000.00``; no exponent such as
    ``1e3``), at most ``max_abs`` in size.

    Raises
    ------
    InvalidInputError
        Not a plain decimal number, or larger than ``max_abs``; the message names ``name``.
    """
    plain = text.strip().replace("_", "")
    if _PLAIN_DECIMAL.fullmatch(plain) is None:
        raise InvalidInputError(
            f"`{name}` must be a plain decimal number such as 1000000.00 (no exponent, no "
            f"inf or nan); got {text!r}"
        )
    try:
        value = Decimal(plain)
    except decimal.InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise InvalidInputError(f"`{name}` must be a decimal number; got {text!r}") from None
    if abs(value) > max_abs:
        raise InvalidInputError(f"`{name}` must be at most {max_abs:,.0f} in size; got {text}")
    return value


def upper(text: str) -> str:
    """An identifier (USCC, instrument, currency, pair, bank id) normalised to upper case."""
    return text.strip().upper()
