"""Loans and repayments (pledges join when the collateral module lands)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import USCC, Day, LoanCurrency, Money, StrictModel, UtcDateTime

#: The Shanghai pilot market opened in 2013 (first SHEA trade 2013-11-26): no carbon-secured loan
#: of this engine predates it.
FIRST_DATE = dt.date(2013, 1, 1)
#: Longest term accepted (30 years), well beyond carbon-pledge loans (1-3 years in the
#: Shanghai pledge guideline's practice); longer is almost surely a typing error.
MAX_TERM_DAYS = 30 * 366


class LoanCreate(StrictModel):
    borrower_uscc: USCC = Field(
        examples=["91310105GN93T2369N"],
        description="a firm the service knows (`GET /v1/firms`); another is a 422",
    )
    currency: LoanCurrency = Field(
        examples=["CNY"], description="a currency with daily fixings to CNY in the FX data"
    )
    principal: Money = Field(examples=["50000000.00"])
    origination_date: Day = Field(
        examples=["2026-11-02"], description="at most one year after today (else 422)"
    )
    maturity_date: Day = Field(
        examples=["2028-11-02"],
        description="after `origination_date`, at most 30 years after it (else 422)",
    )
    rate: float = Field(ge=0, le=0.5, examples=[0.032], description="annual rate, decimal")
    purpose: Literal["green", "transition", "general"] = "green"

    @model_validator(mode="after")
    def _dates(self) -> LoanCreate:
        today = dt.date.today()
        if not (FIRST_DATE <= self.origination_date <= today + dt.timedelta(days=366)):
            raise ValueError(
                f"origination_date {self.origination_date} must be between {FIRST_DATE} and one "
                "year from today"
            )
        if self.maturity_date > self.origination_date + dt.timedelta(days=MAX_TERM_DAYS):
            raise ValueError(
                f"maturity_date {self.maturity_date} is more than 30 years after origination"
            )
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
    status: str = Field(description="active, repaid, defaulted, or pending (not yet originated)")
    as_of: dt.date = Field(description="the date the outstanding amount and status are as of")


class LedgerEntryPublic(BaseModel):
    entry_id: int
    kind: Literal["opening", "draw", "repayment"]
    value_date: dt.date
    amount: str = Field(examples=["1000000.00"], description="in the loan's currency")
    balance_after: str = Field(description="outstanding after this entry, in value-date order")
    recorded_at: UtcDateTime = Field(description="when it was recorded (UTC)")
    recorded_by: str = Field(description="the API client (or migration/seed) that recorded it")


class LoanLedgerPublic(BaseModel):
    loan_id: str
    currency: str
    entries: list[LedgerEntryPublic]


class RepaymentCreate(StrictModel):
    amount: Money = Field(examples=["1000000.00"], description="in the loan's currency")
    on: Day = Field(
        examples=["2026-11-20"],
        description="value date: not before origination, not after today (UTC)",
    )


class NotValuedPublic(BaseModel):
    """A loan of the caller's book that could not be valued on the date, and why; it is
    counted in ``states["not_valued"]``, never as ``ok``."""

    loan_id: str
    bank_id: str
    currency: str
    outstanding: float = Field(description="in the loan's currency, from the ledger")
    outstanding_cny: float | None = Field(description="null when the FX rate is what is missing")
    pledges: int = Field(ge=1)
    reason: str = Field(
        examples=["no usable GBP/CNY FX rate on 2026-10-30: no rate from GBP to CNY ..."]
    )
