"""The error and warning hierarchy of carbonfin.

Every error raised by the engine derives from :class:`CarbonfinError`. Errors caused by bad input
also derive from :class:`ValueError`, so callers that only know the standard library still catch
them. Messages name the argument and the value, e.g.
``"`haircut_frac` must be in [0, 1); got 1.2"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation


class CarbonfinError(Exception):
    """Base class of every error raised by carbonfin."""


class InvalidInputError(CarbonfinError, ValueError):
    """An argument or a record is malformed, out of range or inconsistent."""


class UnknownInstrumentError(InvalidInputError):
    """An instrument, currency or product code that the engine does not know."""


class MissingDataError(CarbonfinError, LookupError):
    """Data needed for a computation is absent (no price, no fixing, no record)."""


class StaleDataError(MissingDataError):
    """Data exists but is older than the staleness limit allows."""


class ConvergenceError(CarbonfinError, RuntimeError):
    """A numerical fit or solver did not converge to a usable answer."""


class ConfigurationError(CarbonfinError):
    """A setting (database URL, rules file, environment) is missing or malformed."""


class ConflictError(CarbonfinError):
    """The request conflicts with the stored state (a repayment above the balance, an
    idempotency key reused for another request, a loan that is not active, a quantity that is
    not free to pledge); the API answers 409."""


class DataIntegrityError(CarbonfinError):
    """A shipped or stored data file is corrupt or does not match its schema."""


class CarbonfinWarning(UserWarning):
    """Base class of carbonfin's warnings (turned into errors in the test suite)."""


class ConvergenceWarning(CarbonfinWarning):
    """A fit converged only loosely; its result is usable but should be checked."""


class DataQualityWarning(CarbonfinWarning):
    """Input data has a soft problem (stale run, thin trading, limit breach) that was flagged."""


_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
_OVERRIDE_HINT = re.compile(r";? ?pass `([A-Za-z_][A-Za-z0-9_]*)` to override")


def in_callers_terms(message: str, names: Mapping[str, str]) -> str:
    """An engine message reworded for the edge that called the engine.

    Parameters
    ----------
    message
        The engine's message; it names its parameters in backticks (``"`as_of` ..."``).
    names
        Each engine parameter the caller can set, mapped to what the caller types for it
        (``{"as_of": "--on"}`` on the command line, ``{"as_of": "as_of"}`` at the API).

    Returns
    -------
    str
        The message with each mapped name replaced; a hint to pass a parameter the caller
        cannot set (``"; pass `max_age_days` to override"``) is left out, since it would name a
        field the caller has no way to type.
    """
    message = _OVERRIDE_HINT.sub(lambda m: m.group(0) if m.group(1) in names else "", message)
    return _NAME.sub(lambda m: f"`{names.get(m.group(1), m.group(1))}`", message)


#: pydantic's bound errors in words: error type -> (the bound's words, its key in the error's
#: context); the API's 422s (api/wording.py) and the CLI's option errors (Typer checks an
#: option's ``min``/``max`` with pydantic) say a bound the same way: "must be at most 30"
BOUND_WORDS: dict[str, tuple[str, str]] = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}

_DECIMAL_REPR = re.compile(r"^Decimal\('([^']*)'\)$")


def plain_number(value: object) -> str:
    """A number as a message writes it: ``1,000,000,000`` for a large integral one, ``2013``
    (a year) for a small one, ``0.9999`` as it is.

    pydantic gives a ``Decimal`` bound of an error as its ``repr``, a string
    (``"Decimal('1E+13')"``: an API 422 read "must be at most Decimal('1E+13')"); that form and a
    number written as a string are read as the number.
    """
    if isinstance(value, str):
        text = value
        try:
            value = Decimal(_DECIMAL_REPR.sub(r"\1", text.strip()))
        except InvalidOperation:
            return text
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | Decimal) or (isinstance(value, float) and value.is_integer()):
        try:
            if value != int(value):  # a Decimal with a fraction
                return str(value)
            whole = int(value)
        except (OverflowError, ValueError):  # an infinity or a NaN
            return str(value)
        return f"{whole:,}" if abs(whole) >= 10_000 else str(whole)
    return str(value)


def require(condition: bool, message: str) -> None:
    """Raise :class:`InvalidInputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidInputError(message)


class ProvisionalCalendarWarning(CarbonfinWarning):
    """An answer uses a China calendar year whose State Council holiday notice is not on file:
    its business days are a provisional projection (see ``carbonfin.calendars``)."""


class UnknownCurrencyError(InvalidInputError):
    """A currency code that the engine does not know (not an instrument: a separate error)."""


class NonStationaryWarning(ConvergenceWarning):
    """A volatility fit is not covariance-stationary (persistence at or above 1, to within
    1e-6): its long-run variance and long-horizon forecasts are not meaningful. A subclass of
    :class:`ConvergenceWarning`, so filters written for that warning still apply."""


class DataScaleWarning(CarbonfinWarning):
    """Input data look like they are in the wrong unit (e.g. percent returns where decimals are
    expected); the result is computed but is probably not what was meant."""
