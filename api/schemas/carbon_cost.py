"""Carbon cost at risk: a bank's borrowers and the regulator's aggregate."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.common import Provenance


class CarbonCostYear(BaseModel):
    """One compliance year of a borrower's outlook (tonnes; CNY; None = not covered/unknown)."""

    year: int
    covered: bool
    market: str | None = Field(description="SHEA or CEA; null when not covered that year")
    need_t: float = Field(description="projected verified emissions to surrender, t")
    auction_share: float | None = Field(description="paid share after the clause 4 incentive")
    free_t: float = Field(description="free allocation, t")
    purchase_t: float = Field(description="shortfall to buy at the year's price, t")
    carry_sale_t: float = Field(description="clause 5 carry-over tranche sold, t")
    forward_cny_per_t: float | None
    expected_cny: float | None
    car99_cny: float | None
    es99_cny: float | None


class LoanCoverage(BaseModel):
    """Value-added interest coverage of one of the bank's loans after the 99% carbon cost."""

    loan_id: str
    interest_cny: float | None = Field(description="borrower's debt x the loan's rate")
    coverage_before: float | None
    coverage_after: float | None = Field(description="(value added - worst-year CaR99) / interest")
    below_floor: bool | None = Field(description="null when the coverage is unknown")
    floor: float
    reason: str


class BorrowerCarbonCost(BaseModel):
    """A borrower's carbon cost at risk over the years (money in CNY, shares as decimals)."""

    uscc: str
    status: str = Field(description="covered, not covered or unknown")
    reason: str
    expected_cny: float | None
    se_expected_cny: float | None = Field(description="Monte Carlo standard error of the mean")
    car95_cny: float | None
    car99_cny: float | None
    se_car99_cny: float | None = Field(description="standard error of CaR99 (10 batch means)")
    es99_cny: float | None
    car99_share_revenue: float | None = Field(description="a year, of the latest revenue")
    car99_share_value_added: float | None
    v12_premium_bp: float = Field(description="methodology v1.2's carbon premium (v1.1: none)")
    v12_premium_reason: str
    years: list[CarbonCostYear]
    loans: list[LoanCoverage]


class CarbonCostInputs(BaseModel):
    as_of: dt.date
    years: list[int]
    scenarios: str
    n_scenarios: int
    seed: int
    rules_version: str
    price_source: str


class BankCarbonCostPublic(BaseModel):
    """The requesting bank's borrowers with an active loan (only its own)."""

    bank_id: str
    inputs: CarbonCostInputs
    borrowers: list[BorrowerCarbonCost]
    assumptions: list[str]
    provenance: Provenance


class CarbonCostGroup(BaseModel):
    key: str
    borrowers: int
    covered: int
    expected_cny: float
    car99_cny: float = Field(description="sum of the borrowers' CaR99 (not a portfolio quantile)")
    loans_below_floor: int
    loans_coverage_unknown: int


class RegulatorCarbonCostPublic(BaseModel):
    """Borrowers' carbon cost at risk across banks, aggregated by bank and by sector."""

    inputs: CarbonCostInputs
    by_bank: list[CarbonCostGroup]
    by_sector: list[CarbonCostGroup]
    assumptions: list[str]
    provenance: Provenance
