"""Pledge history and pledgor rights: releases, substitutions, loan guarantors."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import patterns
from api.schemas.collateral import PledgeCreated, PledgePublic
from api.schemas.common import USCC, Day, InstrumentCode, RegistryDay, StrictModel, UtcDateTime

__all__ = [
    "GuarantorCreate",
    "GuarantorPublic",
    "ReleaseCreate",
    "ReleasePublic",
    "Replacement",
    "SubstitutionCreate",
    "SubstitutionPublic",
]


#: ``full`` xor ``quantity_t``, stated in the document as JSON Schema can (``oneOf``).
_ONE_QUANTITY: list[Any] = [
    {"required": ["quantity_t"], "properties": {"quantity_t": {"type": "integer"},
                                                 "full": {"const": False}}},
    {"required": ["full"], "properties": {"full": {"const": True}, "quantity_t": {"type": "null"}}},
]  # fmt: skip


class ReleaseCreate(StrictModel):
    """A release recorded by the registry: ``full: true`` (all that is left in force) or a
    ``quantity_t`` (a partial release), exactly one of them."""

    model_config = ConfigDict(json_schema_extra={"oneOf": _ONE_QUANTITY})

    quantity_t: int | None = Field(default=None, gt=0, le=1_000_000_000)
    full: bool = False
    release_date: Day = Field(
        examples=["2026-10-30"],
        description="not before the pledge's registration, not after today (else 422)",
    )
    reason: Literal["repayment", "substitution", "other"]

    @model_validator(mode="after")
    def _one_quantity(self) -> ReleaseCreate:
        if self.full == (self.quantity_t is not None):
            raise ValueError("give either `quantity_t` (a partial release) or `full: true`")
        return self


class ReleasePublic(BaseModel):
    release_id: int
    pledge_id: str
    release_date: dt.date
    quantity_t: int
    reason: str
    substitute_pledge_id: str | None
    pledge: PledgePublic = Field(description="the pledge's state on the release date")


class Replacement(StrictModel):
    """The pledge that replaces the released one, on the same loan."""

    instrument: InstrumentCode = Field(examples=["CEA"])
    vintage: int | None = Field(default=None, ge=2013, le=2100)
    quantity_t: int = Field(gt=0, le=1_000_000_000)
    pledgor_uscc: USCC | None = None
    registration_no: str = Field(min_length=4, max_length=40, pattern=patterns.REGISTRATION_NO)
    registration_date: RegistryDay = Field(description="the registry's date; not after today")


class SubstitutionCreate(StrictModel):
    release_quantity_t: int | None = Field(
        default=None, gt=0, le=1_000_000_000, description="default: all that is in force"
    )
    replacement: Replacement


class SubstitutionPublic(BaseModel):
    release: ReleasePublic
    pledge: PledgeCreated


class GuarantorCreate(StrictModel):
    guarantor_uscc: USCC
    consent_ref: str = Field(
        min_length=1,
        max_length=64,
        pattern=patterns.CONSENT_REF,
        description="reference of the guarantor's documented consent (a document id)",
        examples=["CONSENT-2026-0042"],
    )
    consent_date: Day


class GuarantorPublic(BaseModel):
    loan_id: str
    guarantor_uscc: str
    consent_ref: str
    consent_date: dt.date
    recorded_at: UtcDateTime
