"""Shared schema pieces: identifiers with their formats, pages, provenance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["USCC", "Currency", "InstrumentCode", "Page", "Provenance", "StrictModel"]

T = TypeVar("T")
R = TypeVar("R")

#: GB 32100-2015 unified social credit code: 18 characters of 0-9 and A-Z without I, O, S, V, Z.
USCC = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_upper=True, pattern=r"^[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}$"
    ),
]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
InstrumentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2,8}$")
]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


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
