"""Shared schema pieces: identifiers with their formats, dates and timestamps, pages,
provenance.

Request bodies are strict: a JSON boolean, number or string is accepted only where the schema
says so (``"book_share": false``, ``"call": 0`` and ``"quantity_t": "100"`` are refused), dates
only as ``YYYY-MM-DD`` strings (never a number read as a Unix time), money only as a decimal
string or number. Response timestamps are aware UTC, written with ``Z``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "LOAN_CURRENCIES",
    "USCC",
    "USCC_PATTERN",
    "Currency",
    "Day",
    "Instant",
    "InstrumentCode",
    "LoanCurrency",
    "Page",
    "Provenance",
    "StrictModel",
    "UtcDateTime",
    "utc_timestamp",
]

T = TypeVar("T")
R = TypeVar("R")

#: GB 32100-2015 unified social credit code: position 1 the registration authority
#: (1-9, A, N, Y), position 2 the category, 3-8 the administrative-division code (digits), 9-17
#: the organisation code, 18 the check character; the alphabet is 0-9 and A-Z without I, O, S, V,
#: Z. The check character (position 18, ISO 7064 MOD 31-3 as GB 32100-2015 defines it) cannot be
#: written as a pattern: the server checks it and answers 422 naming the expected character.
USCC_PATTERN = r"^[1-9ANY][0-9A-HJ-NPQRTUWXY][0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
USCC = Annotated[
    str,
    StringConstraints(pattern=USCC_PATTERN),
    Field(
        description="unified social credit code (GB 32100-2015), upper case, 18 characters; "
        "position 18 is a check character (ISO 7064 MOD 31-3) that the server verifies",
        json_schema_extra={"format": "uscc"},
    ),
]
#: Every currency the engine knows (carbonfin.conventions.Currency).
Currency = Literal[
    "CNY", "CNH", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "CHF", "AUD", "CAD", "KWD"
]
#: Currencies a loan may be booked in: those with daily fixings to CNY in the FX data
#: (carbonfin/data/sample/fx_fixings.csv: USD, EUR, HKD, JPY against CNY; CNH through USD/CNH).
#: The schema lists them as an enum; the server checks the code's form here and its coverage
#: against the stored fixings when it books (422 naming the covered currencies).
LOAN_CURRENCIES = ("CNY", "CNH", "USD", "EUR", "HKD", "JPY")
LoanCurrency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(json_schema_extra={"enum": list(LOAN_CURRENCIES)}),
]
InstrumentCode = Literal["SHEA", "CEA", "CCER"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: object) -> object:
    """A date is a ``YYYY-MM-DD`` string (or a date): never a number read as a Unix time."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError(f"a date is written YYYY-MM-DD; got {value!r}")


#: A calendar date, ``YYYY-MM-DD`` only (``start=0`` is refused, not read as 1970-01-01).
Day = Annotated[dt.date, Strict(False), BeforeValidator(_iso_date_only)]


_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def _iso_instant_only(value: object) -> object:
    """An instant is an RFC 3339 string with its zone (``Z`` or an offset)."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_INSTANT.fullmatch(value)):
        return value
    raise ValueError(
        f"an instant is written YYYY-MM-DDTHH:MM:SSZ (or with an offset); got {value!r}"
    )


def utc_timestamp(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime; a naive one (SQLite drops the zone) is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _write_utc(value: dt.datetime) -> str:
    return utc_timestamp(value).isoformat().replace("+00:00", "Z")


#: An instant, answered as RFC 3339 UTC with ``Z`` (``2026-10-30T08:15:00.123456Z``).
UtcDateTime = Annotated[
    dt.datetime,
    AfterValidator(utc_timestamp),
    PlainSerializer(_write_utc, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-10-30T08:15:00Z"]},
        mode="serialization",
    ),
]

#: An instant in a request (``since``): RFC 3339 with a zone, read as UTC.
Instant = Annotated[
    dt.datetime,
    Strict(False),
    BeforeValidator(_iso_instant_only),
    AfterValidator(utc_timestamp),
]

#: ``Idempotency-Key``: 1 to 255 visible ASCII characters (no spaces at either end).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"


#: Money at the API boundary: a positive decimal (JSON number or decimal string) with at most 2
#: decimal places; a boolean is refused.
Money = Annotated[
    Decimal,
    Strict(False),
    Field(gt=0, le=Decimal("1e13"), max_digits=17, decimal_places=2),
]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields (a misspelt field is an error, not ignored) and
    values of the wrong JSON type (no ``"100"`` for 100, no ``0`` for false)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Provenance(BaseModel):
    """Where an answer came from."""

    source: str = Field(examples=["database postgresql://…/carbonfin"])
    as_of: dt.date | None = Field(default=None, examples=["2026-10-30"])
    notes: list[str] = Field(default_factory=list)


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(
        cls, rows: Sequence[R], limit: int, item: Callable[[R], T], cursor: Callable[[R], str]
    ) -> Page[T]:
        """The page from ``rows`` fetched with ``limit + 1``: the extra row only says that a
        next page exists, and the cursor is the last shown row's key."""
        shown = rows[:limit]
        more = len(rows) > limit and bool(shown)
        return cls(items=[item(r) for r in shown], next_cursor=cursor(shown[-1]) if more else None)
