"""What a command returns and how its values are written: :class:`ExitCode`, :class:`Report`,
:class:`Money`, :class:`DataSource`, Rich tables and plain JSON values.

Part of the command line's shared machinery (:mod:`carbonfin.cli._common` re-exports every name
here): the human rendering and the ``--json`` payload are built from the same values.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from carbonfin.cli._table import FitColumn, FitTable
from carbonfin.errors import InvalidInputError

__all__ = ["Column", "DataSource", "ExitCode", "Money", "Report", "money", "table", "to_jsonable"]


class ExitCode(enum.IntEnum):
    """The exit codes of ``carbonfin`` (documented in the README)."""

    OK = 0
    INTERNAL = 1  # an unexpected error: a bug, please report it (CARBONFIN_DEBUG=1 for details)
    BAD_INPUT = 2  # a malformed, out-of-range or unknown input; a bad setting
    DATA = 3  # data missing, stale, corrupt, or the database not migrated/seeded
    INELIGIBLE = 4  # evaluated: the participant/asset is not eligible
    MARGIN_CALL = 5  # evaluated: a margin call is due
    NO_ANSWER = 6  # a fit or solver did not converge; no implied volatility for a valid price
    BROKEN_PIPE = 141  # the output pipe closed early (`| head`): 128 + SIGPIPE, as a Unix tool


@dataclass(frozen=True)
class Money:
    """An amount of money in a currency, rounded half up to the currency's ISO 4217 minor units.

    Rendered ``"1,234.50 CNY"`` for people and ``{"amount": "1234.50", "currency": "CNY"}`` in
    JSON (a string, so no precision is lost to binary floating point).
    """

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"

    def to_json(self) -> dict[str, str]:
        return {"amount": str(self.amount), "currency": self.currency}


def money(amount: float | Decimal | int, currency: object) -> Money:
    """A :class:`Money` from a float (its shortest repr) or Decimal, rounded to the currency's
    minor units by the engine's one rule (:func:`carbonfin.conventions.round_money`)."""
    from carbonfin.conventions import round_money
    from carbonfin.instruments import Currency

    ccy = Currency.parse(str(getattr(currency, "code", currency)))
    if isinstance(amount, float):
        if not math.isfinite(amount):
            raise InvalidInputError(f"amount must be finite; got {amount!r}")
        value = Decimal(repr(amount))
    else:
        value = Decimal(amount)
    return Money(round_money(value, ccy), ccy.code)


@dataclass(frozen=True)
class Column:
    """A column of a :func:`table`: the row key, its header and how to format its values.

    ``keep``: a row's identifier or state, never folded, cut or left out on a narrow terminal
    (default: the table's first column); ``optional``: among the first left out when the table
    cannot fit (:mod:`carbonfin.cli._table`)."""

    key: str
    header: str | None = None
    fmt: str | Callable[[Any], str] | None = None  # a format spec ("{:,.0f}") or a function
    numeric: bool | None = None  # right-justified; default: guessed from the first value
    keep: bool | None = None
    optional: bool = False

    def text(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if callable(self.fmt):
            return self.fmt(value)
        if self.fmt is not None:
            return self.fmt.format(value)
        return str(value)


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column | str] | None = None,
    *,
    title: str | None = None,
) -> FitTable:
    """A table of ``rows`` laid out for the width it is printed at: identifiers, states and
    numbers never cut, text folded, and any column left out named in its caption
    (:class:`carbonfin.cli._table.FitTable`)."""
    cols = [c if isinstance(c, Column) else Column(c) for c in (columns or list(rows[0]))]
    fitted: list[FitColumn] = []
    for i, c in enumerate(cols):
        first = next((r[c.key] for r in rows if r.get(c.key) is not None), None)
        numeric = c.numeric
        if numeric is None:
            numeric = isinstance(first, int | float | Decimal | Money) and not isinstance(
                first, bool
            )
        fitted.append(
            FitColumn(
                header=c.header or c.key,
                cells=tuple(c.text(r.get(c.key)) for r in rows),
                numeric=bool(numeric),
                keep=(i == 0) if c.keep is None else c.keep,
                optional=c.optional,
            )
        )
    return FitTable(fitted, title=title)


@dataclass
class Report:
    """What a command found: the JSON payload and the same values rendered for people.

    ``data`` is the ``--json`` payload (stable snake_case names; the rendering adds ``command``,
    ``source`` and ``warnings``); ``human`` the renderables printed otherwise (strings are printed
    as plain text, Rich objects as themselves); ``exit_code`` lets a script branch on the
    outcome (:attr:`ExitCode.INELIGIBLE`, :attr:`ExitCode.MARGIN_CALL`).
    """

    data: dict[str, Any]
    human: list[Any] = field(default_factory=list)
    exit_code: int = ExitCode.OK


@dataclass(frozen=True)
class DataSource:
    """Where a command's data came from: the database (its URL) or the shipped sample."""

    kind: str  # "database", "sample" or "file"
    location: str  # the URL without password, or the sample folder
    what: str  # "SHEA prices", "FX fixings", "carbon account", "loans"
    as_of: dt.date | None  # last date of the data read, or of the data used (restate_source)
    #: an annual source (the carbon account): its last reporting year; ``as_of`` is that year's
    #: last day
    reporting_year: int | None = None
    note: str | None = None  # what the as-of date is, where it is not the end of the data read

    def describe(self) -> str:
        where = {
            "database": f"database {self.location}",
            "sample": "shipped sample market (--sample)",
        }.get(self.kind, f"{self.kind} {self.location}")
        if self.reporting_year is not None:
            when = f" to reporting year {self.reporting_year}"
        else:
            when = f" to {self.as_of}" if self.as_of is not None else ""
        return f"{where}: {self.what}{when}" + (f" ({self.note})" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "location": self.location,
            "what": self.what,
            "as_of": self.as_of,
        }
        if self.reporting_year is not None:
            out["reporting_year"] = self.reporting_year
        if self.note is not None:
            out["note"] = self.note
        return out


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numbers as numbers (NaN/inf as null), money and Decimal as strings."""
    import numpy as np

    if isinstance(value, Money | DataSource):
        return value.to_json()
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
