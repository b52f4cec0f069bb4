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
import typing
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
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.schemas import patterns
from carbonfin.scoring.ids import uscc_problems

__all__ = [
    "FIRST_DAY",
    "IDEMPOTENCY_KEY_PATTERN",
    "LAST_DAY",
    "LOAN_CURRENCIES",
    "MARKET_OPEN",
    "MONEY_PATTERN",
    "USCC",
    "USCC_PATTERN",
    "Currency",
    "Day",
    "Instant",
    "InstrumentCode",
    "LoanCurrency",
    "Page",
    "Provenance",
    "RegistryDay",
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
#: written as a pattern: the document states the pattern, the server checks the whole code.
USCC_PATTERN = patterns.described(
    r"^[1-9ANY][0-9A-HJ-NPQRTUWXY][0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
    "a unified social credit code (GB 32100-2015): 18 digits or capital letters other than I, "
    "O, S, V and Z, with a valid check character",
)


def _valid_uscc(value: str) -> str:
    """The one check of a USCC at the API boundary, for every route and field that takes one:
    :func:`carbonfin.scoring.ids.uscc_problems` (the pattern's structure and the check
    character), refused as a 422 of type ``uscc`` that names each problem, the expected check
    character among them (:mod:`api.wording`)."""
    problems = uscc_problems(value)
    if problems:
        raise PydanticCustomError("uscc", "{problems}", {"problems": "; ".join(problems)})
    return value


#: A USCC in a path, a query or a body, checked whole (check character included) before any
#: route runs: a malformed code is the same 422 everywhere, whatever the data hold.
USCC = Annotated[
    str,
    AfterValidator(_valid_uscc),
    Field(
        description="unified social credit code (GB 32100-2015), upper case, 18 characters; "
        "position 18 is a check character (ISO 7064 MOD 31-3) that the server verifies",
        json_schema_extra={"format": "uscc", "pattern": USCC_PATTERN},
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
    StringConstraints(pattern=patterns.LOAN_CURRENCY),
    Field(json_schema_extra={"enum": list(LOAN_CURRENCIES)}),
]
InstrumentCode = Literal["SHEA", "CEA", "CCER"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Dates the API takes: the Shanghai pilot market opened in 2013 (first SHEA trade 2013-11-26)
#: and the exchange calendars cover 2013-01-01 to 2099-12-31 (carbonfin/rules/calendars).
FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
_MONTH = "(?:0[1-9]|1[0-2])"
_DAY = "(?:0[1-9]|[12][0-9]|3[01])"


def _two_digits(lo: int, hi: int) -> str:
    """A regular expression for the two-digit numbers ``lo`` to ``hi`` (``07`` for 7)."""
    (t_lo, u_lo), (t_hi, u_hi) = divmod(lo, 10), divmod(hi, 10)
    if t_lo == t_hi:
        return f"{t_lo}[{u_lo}-{u_hi}]"
    parts = [f"{t_lo}[{u_lo}-9]"]
    if t_hi - t_lo > 1:
        parts.append(f"[{t_lo + 1}-{t_hi - 1}][0-9]")
    parts.append(f"{t_hi}[0-{u_hi}]")
    return "(?:" + "|".join(parts) + ")"


def date_pattern(first: dt.date, last: dt.date = LAST_DAY) -> str:
    """A pattern for ``YYYY-MM-DD`` dates from ``first`` to ``last`` (both in 20xx, ``last`` a
    31 December), exact on the bounds; which days a month has is left to ``format: date``."""
    if not (2000 <= first.year <= last.year <= 2099 and (last.month, last.day) == (12, 31)):
        raise ValueError(f"date_pattern takes 20xx bounds ending on 31 December; got {last}")
    y, m, d = first.year, first.month, first.day
    parts = [f"{y}-{m:02d}-{_two_digits(d, 31)}"]
    if m < 12:
        parts.append(f"{y}-{_two_digits(m + 1, 12)}-{_DAY}")
    if y < last.year:
        parts.append(f"20{_two_digits(y % 100 + 1, last.year % 100)}-{_MONTH}-{_DAY}")
    return "^(?:" + "|".join(parts) + ")$"


def date_between(first: dt.date, last: dt.date) -> Callable[[object], object]:
    def check(value: object) -> object:
        """A date is a ``YYYY-MM-DD`` string (or a date), never a number read as a Unix time,
        between ``first`` and ``last``."""
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a calendar date") from None
        if not isinstance(value, dt.date):
            raise ValueError(f"a date is written YYYY-MM-DD; got {value!r}")
        if not first <= value <= last:
            raise ValueError(f"a date here is from {first} to {last}; got {value}")
        return value

    return check


def day_schema(first: dt.date, last: dt.date = LAST_DAY, *, why: str = "") -> WithJsonSchema:
    """The OpenAPI schema of a date from ``first`` to ``last``: JSON Schema has no date bounds,
    so they are stated as a pattern (and in words)."""
    text = f"from {first} to {last}" + (f" ({why})" if why else "")
    words = f"a date YYYY-MM-DD from {first} to {last}"
    pattern = patterns.described(date_pattern(first, last), words)
    return WithJsonSchema(
        {"type": "string", "format": "date", "pattern": pattern,
         "description": f"a date YYYY-MM-DD {text}"}
    )  # fmt: skip


#: A calendar date, ``YYYY-MM-DD`` only (``start=0`` is refused, not read as 1970-01-01), from
#: 2013-01-01 to 2099-12-31, the exchange calendars' coverage.
Day = Annotated[
    dt.date,
    Strict(False),
    BeforeValidator(date_between(FIRST_DAY, LAST_DAY)),
    day_schema(FIRST_DAY, why="the calendars' coverage"),
]
#: The first SHEA trade on the Shanghai Environment and Energy Exchange (no pledge of
#: allowances is registered before the market opened).
MARKET_OPEN = dt.date(2013, 11, 26)
#: A registry date (a pledge's registration): from the Shanghai market's opening.
RegistryDay = Annotated[
    dt.date,
    Strict(False),
    BeforeValidator(date_between(MARKET_OPEN, LAST_DAY)),
    day_schema(MARKET_OPEN, why="the Shanghai market opened on 2013-11-26"),
]


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
IDEMPOTENCY_KEY_PATTERN = patterns.IDEMPOTENCY_KEY


#: Decimals money may carry at the boundary: the most ISO 4217 minor-unit digits of any currency
#: the engine knows (KWD: 3, ``carbonfin.conventions.Currency``). Whether an amount fits *its*
#: currency (JPY 0, CNY 2) is the workflow's check (``carbonfin.conventions.check_minor_units``),
#: a 422 naming the currency.
MONEY_DECIMALS = 3

#: A money amount written as a decimal string: greater than 0, at most 10,000,000,000,000, at most
#: three decimals, no leading zeros, no exponent, no sign.
MONEY_PATTERN = patterns.described(
    r"^(?:[1-9][0-9]{0,12}(?:\.[0-9]{1,3})?|0\.(?:[1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9])"
    r"|10000000000000(?:\.0{1,3})?)$",
    "an amount greater than 0 and at most 10,000,000,000,000 written with digits and at most 3 "
    "decimals (no sign, exponent or leading zero; and no more decimals than the currency's "
    "ISO 4217 minor units: JPY none, CNY 2), e.g. 1234.50",
)
MONEY_MAX = Decimal("1e13")


def _money_text(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(MONEY_PATTERN, value):
        raise ValueError(
            "money is a decimal string like '1234.50' (greater than 0, at most "
            f"{MONEY_MAX:,.0f} and {MONEY_DECIMALS} decimals, no exponent or leading zeros); "
            f"got {value!r}"
        )
    return value


#: Money at the API boundary: a JSON number that is a multiple of 0.001, or a decimal string
#: (:data:`MONEY_PATTERN`); greater than 0, at most 1e13; a boolean is refused. The currency's
#: own minor units are checked where the currency is known (the lending workflow).
Money = Annotated[
    Decimal,
    Strict(False),
    BeforeValidator(_money_text),
    Field(gt=0, le=MONEY_MAX, max_digits=17, decimal_places=MONEY_DECIMALS),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 10**13, "multipleOf": 0.001},
                {"type": "string", "pattern": MONEY_PATTERN},
            ],
            "description": "greater than 0, at most 10,000,000,000,000; a JSON number or a "
            "decimal string with no more decimals than the currency's ISO 4217 minor units "
            "(JPY 0, CNY/USD/EUR/HKD 2; a larger one is a 422 naming the currency)",
        }
    ),
]


def _int_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that take an integer (and not a float)."""
    out = set()
    for name, info in model.model_fields.items():
        kinds = typing.get_args(info.annotation) or (info.annotation,)
        if int in kinds and float not in kinds:
            out.add(info.alias or name)
    return frozenset(out)


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields (a misspelt field is an error, not ignored) and
    values of the wrong JSON type (no ``"100"`` for 100, no ``0`` for false).

    An integer field takes a JSON number without a fractional part, ``100.0`` as well as ``100``:
    JSON Schema's ``integer`` is any number whose fraction is zero (JSON itself does not tell
    them apart, and a JavaScript client cannot), so the document and the server agree."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        ints = _INT_FIELDS.get(cls)
        if ints is None:
            ints = _INT_FIELDS[cls] = _int_fields(cls)
        return {
            k: int(v) if k in ints and type(v) is float and v.is_integer() else v
            for k, v in data.items()
        }


_INT_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


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
