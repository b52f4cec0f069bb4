"""Loans and repayments (pledges join when the collateral module lands)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import USCC, Currency, StrictModel

Money = Annotated[Decimal, Field(gt=0, le=Decimal("1e13"), max_digits=17, decimal_places=2)]


class LoanCreate(StrictModel):
    borrower_uscc: USCC = Field(examples=["91310105GN93T2369N"])
    currency: Currency = Field(examples=["CNY"])
    principal: Money = Field(examples=["50000000.00"])
    origination_date: dt.date = Field(examples=["2026-11-02"])
    maturity_date: dt.date = Field(examples=["2028-11-02"])
    rate: float = Field(ge=0, le=0.5, examples=[0.032], description="annual rate, decimal")
    purpose: Literal["green", "transition", "general"] = "green"

    @model_validator(mode="after")
    def _dates(self) -> LoanCreate:
        if self.maturity_date <= self.origination_date:
            raise ValueError(
                f"maturity_date {self.maturity_date} must be after origination_date "
                f"{self.origination_date}"
            )
        return self


class LoanPublic(BaseModel):
    loan_id: str = Field(examples=["LN-0000003"])
    bank_id: str
    borrower_uscc: str
    currency: str
    principal: str = Field(examples=["50000000.00"])
    outstanding: str
    origination_date: dt.date
    maturity_date: dt.date
    rate: float
    purpose: str
    status: str


class RepaymentCreate(StrictModel):
    amount: Money = Field(examples=["1000000.00"])
    on: dt.date = Field(examples=["2026-11-20"])
