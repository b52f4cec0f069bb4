"""FX conversion and participant eligibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import Currency, Day, StrictModel


class ConvertPublic(BaseModel):
    amount: str = Field(examples=["1000000.00"])
    from_currency: str
    to_currency: str
    converted: str = Field(examples=["7105000.00"])
    rate: str
    fixing_date: dt.date
    route: list[str]
    notes: list[str]


class EligibilityRequest(StrictModel):
    participant: dict[str, Any] = Field(
        description="the participant file as in `carbonfin eligibility check --example`"
    )
    on: Day | None = None
    assume_open: bool = False


class EligibilityPublic(BaseModel):
    eligible: bool
    rules: list[dict[str, Any]]
    notes: list[str]


__all__ = ["ConvertPublic", "Currency", "EligibilityPublic", "EligibilityRequest"]
