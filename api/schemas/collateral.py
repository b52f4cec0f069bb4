"""Haircuts (ad hoc), and — with the registry — pledges, valuations and margin calls."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas import patterns
from api.schemas.common import (
    USCC,
    Currency,
    Day,
    InstrumentCode,
    Provenance,
    RegistryDay,
    StrictModel,
)
from api.schemas.lending import NotValuedPublic


class HaircutRequest(StrictModel):
    instrument: InstrumentCode = Field(examples=["SHEA"])
    quantity_t: int = Field(gt=0, le=1_000_000_000, examples=[200_000], description="tonnes")
    as_of: Day = Field(examples=["2026-10-30"])
    loan_currency: Currency = Field(default="CNY", examples=["USD"])
    model: Literal["hs", "fhs", "t"] | None = Field(
        default=None, description="default: the model chosen out of sample (docs/collateral.md)"
    )
    measure: Literal["var", "es"] = "var"
    confidence: float | None = Field(default=None, ge=0.9, le=0.9999)
    holding_days: int | None = Field(default=None, ge=1, le=250)
    remargin_days: int | None = Field(default=None, ge=1, le=60)
    anti_procyclicality: Literal["buffer", "stressed", "floor", "none"] | None = None
    liquidation: Literal["schedule", "block"] = "schedule"
    pledgor_covered: bool = False
    book_share: float = Field(
        default=0.0, ge=0, le=1,
        description="the position's share of the bank's whole position in the instrument",
    )  # fmt: skip
    other_position_t: float = Field(
        default=0.0, ge=0, le=1e10,
        description="tonnes of the instrument the same pledgor has pledged at the bank in other "
        "pledges (any loan): the liquidation horizon, impact and market share are the position's",
    )  # fmt: skip


class ComponentPublic(BaseModel):
    name: str
    frac: float = Field(description="fraction of market value")
    method: str
    inputs: dict[str, Any]
    source: str


class HaircutPublic(BaseModel):
    instrument: str
    as_of: dt.date
    quantity_t: float
    mark_price_cny_per_t: float
    mark_date: dt.date
    model: str
    measure: str
    confidence: float
    holding_days: int
    remargin_days: int
    liquidation_days: int
    loan_currency: str
    total: float = Field(ge=0, le=1, examples=[0.42])
    market_value_cny: float
    lendable_value_cny: float
    components: list[ComponentPublic]
    rule: str
    notes: list[str]
    policy_version: str
    provenance: Provenance


class PledgeCreate(StrictModel):
    loan_id: str = Field(pattern=patterns.LOAN_ID, examples=["LN-0000003"])
    instrument: InstrumentCode = Field(examples=["SHEA"])
    vintage: int | None = Field(default=None, ge=2013, le=2100, examples=[2025])
    quantity_t: int = Field(gt=0, le=1_000_000_000, examples=[150_000])
    pledgor_uscc: USCC | None = Field(
        default=None, description="the firm whose holding is pledged (default: the borrower)"
    )
    registration_no: str = Field(
        min_length=4,
        max_length=40,
        pattern=patterns.REGISTRATION_NO,
        examples=["SHEA-ZY-2026-009001"],
    )
    registration_date: RegistryDay = Field(
        examples=["2026-10-30"], description="the registry's date; not after today"
    )

    @model_validator(mode="after")
    def _registered_in_the_past(self) -> PledgeCreate:
        if self.registration_date > dt.date.today():
            raise ValueError(
                f"registration_date {self.registration_date} is in the future: a pledge is "
                "recorded once the registry has registered it"
            )
        if self.registration_date < dt.date(2013, 11, 26):
            raise ValueError(
                f"registration_date {self.registration_date} precedes the Shanghai market "
                "(first SHEA trade 2013-11-26)"
            )
        return self


class RulePublic(BaseModel):
    rule: str
    outcome: str
    reason: str
    source: str


class EligibilityPublic(BaseModel):
    decision: str = Field(examples=["eligible"])
    quantity_t: int
    eligible_quantity_t: int
    rules: list[RulePublic]
    rules_version: str


class PledgePublic(BaseModel):
    pledge_id: str = Field(examples=["PL-0000001"])
    loan_id: str
    bank_id: str
    instrument: str
    vintage: int | None
    quantity_t: int
    pledgor_uscc: str | None
    registration_no: str
    registration_date: dt.date | None
    status: str = Field(
        description="on `as_of`: pending (not registered yet), active, partially_released, "
        "released (or enforced)"
    )
    as_of: dt.date | None = Field(default=None, description="the date the state refers to")
    quantity_in_force_t: int | None = Field(
        default=None, description="registered quantity less the releases dated on or before as_of"
    )
    released_t: int = Field(default=0, description="tonnes released on or before as_of")
    release_dates: list[dt.date] = Field(default_factory=list)


class PledgeCreated(PledgePublic):
    eligibility: EligibilityPublic
    haircut: HaircutPublic


class MarginCallPublic(BaseModel):
    loan_id: str
    bank_id: str
    state: str = Field(examples=["margin_call"])
    ltv: float | None
    target_ltv: float | None
    utilisation: float | None
    loan_outstanding_cny: float
    collateral_value_cny: float
    lendable_value_cny: float
    topup_cash_cny: float | None
    topup_quantity_t: float | None
    instrument: str | None


class MarginCallsPublic(BaseModel):
    as_of: dt.date
    calls: list[MarginCallPublic]
    states: dict[str, int]
    not_valued: list[NotValuedPublic] = Field(
        default_factory=list, description="loans that could not be valued on the date, with why"
    )
    provenance: Provenance


class ExposureTotal(BaseModel):
    """Exposure figures of a group or of the whole book (CNY)."""

    pledges: int = Field(ge=0)
    pledges_not_valued: int = Field(
        ge=0, description="pledges without a value on the date (no mark, stale, refused)"
    )
    loans: int = Field(ge=0, description="distinct loans (a loan secured in two groups is in both)")
    loans_outstanding_unknown: int = Field(
        ge=0, description="loans whose outstanding has no CNY amount (no FX fixing): not summed"
    )
    collateral_value_cny: float = Field(description="valued pledges only")
    lendable_value_cny: float = Field(description="valued pledges only, after haircuts")
    loan_outstanding_cny: float = Field(
        description="the loans' outstanding allocated to the group's pledges (docs/api.md)"
    )
    outstanding_by_quantity_cny: float = Field(
        description="part of loan_outstanding_cny allocated by pledged tonnes instead of value "
        "(a loan with a pledge not valued, or collateral worth zero)"
    )


class ExposureRow(ExposureTotal):
    key: str


class ExposuresPublic(BaseModel):
    as_of: dt.date
    group_by: str
    rows: list[ExposureRow]
    total: ExposureTotal = Field(description="the whole book; the rows add up to it")
    provenance: Provenance


class ConcentrationPublic(BaseModel):
    as_of: dt.date
    pledgors: int
    top_shares: dict[str, float] = Field(
        description="share of collateral value held by the largest 1, 5 and 10 pledgors"
    )
    herfindahl: float = Field(ge=0, le=1, description="Σ share² over pledgors")
    by_instrument_herfindahl: dict[str, float]
    provenance: Provenance


class LtvPublic(BaseModel):
    as_of: dt.date
    loans: int
    quantiles: dict[str, float]
    histogram: list[dict[str, Any]]
    states: dict[str, int]
    provenance: Provenance


class StressPublic(BaseModel):
    scenario: str
    description: str
    as_of: dt.date
    moves: dict[str, float]
    value_before_cny: float
    value_after_cny: float
    loss_cny: float
    loans_called_before: int
    loans_called_after: int
    topup_cash_cny: float
    uncovered_cny: float
    states_after: dict[str, int]
    by_bank: list[dict[str, Any]]
    by_instrument: list[dict[str, Any]]
    by_industry: list[dict[str, Any]]
    both_sides: list[dict[str, Any]] | None = Field(
        default=None,
        description="with both_sides=true: per bank, the pledged collateral and the borrowers' "
        "carbon cost (compliance year as_of.year) before and after the moves, in CNY",
    )
    source: str
    notes: list[str]
    run_id: int = Field(
        description="the stored run (table stress_runs; listed by GET /v1/regulator/stress-runs)"
    )
    replaced: bool = Field(
        description="the same run (scenario, as-of, scope, seed) was stored before and is replaced"
    )


class StressRunBankPublic(BaseModel):
    """One bank's result in one stored stress run (money in CNY)."""

    run_id: int
    scenario: str = Field(examples=["shea-2015"])
    as_of: dt.date
    scope: str = Field(description="the book the run stressed: 'all' banks or one bank id")
    seed: int = Field(description="seed of a simulated scenario (0 for a fixed one)")
    bank_id: str = Field(examples=["BANK-01"])
    loans: int = Field(ge=0, description="the bank's secured loans in the run")
    loans_called_before: int | None = Field(
        ge=0, description="at margin call or liquidation before the shock (null: not stored)"
    )
    loans_called_after: int = Field(ge=0, description="at margin call or liquidation after it")
    outstanding_cny: float
    value_before_cny: float | None = Field(description="collateral value (null: not stored)")
    value_after_cny: float | None
    loss_cny: float | None
    topup_cash_cny: float
    uncovered_cny: float
    moves: dict[str, float] = Field(
        description="price move of each instrument (fraction); only for a run of the asking "
        "bank's own book (a whole-book run's moves would name what other banks hold)"
    )
    model_versions: dict[str, Any] = Field(
        description="haircut model and version, collateral policy, scenario source"
    )
    data_source: str


class StressRunsPublic(BaseModel):
    """Stored stress results per run and bank, newest as-of first, then by bank."""

    scenario: str | None
    as_of: dt.date | None
    rows: list[StressRunBankPublic]
