"""Firms, their carbon records and score cards."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.common import USCC, Day, Provenance, StrictModel


class FirmPublic(BaseModel):
    uscc: str = Field(examples=["91310105GN93T2369N"])
    name: str
    name_zh: str
    sector: str
    industry_code: str
    district: str
    listed: bool
    discloses_emissions: bool


class FirmYearRecord(BaseModel):
    year: int
    scope1_tco2e: float | None
    scope2_tco2e: float | None
    output_qty: float | None
    output_unit: str
    revenue_cny: str | None
    disclosed: bool


class ComplianceRecord(BaseModel):
    year: int
    instrument: str
    allocated_t: int
    verified_emissions_tco2e: int
    surrendered_t: int
    ccer_used_t: int
    shortfall_t: int
    surrender_date: dt.date | None


class FirmRecords(BaseModel):
    firm: FirmPublic
    years: list[FirmYearRecord]
    compliance: list[ComplianceRecord]
    provenance: Provenance


class FactorPublic(BaseModel):
    name: str
    points: float
    max_points: float
    contribution: float
    status: str
    value: float | None
    source: str


class ScorePublic(BaseModel):
    uscc: str
    year: int
    sector: str
    score: float = Field(ge=0, le=100, examples=[71.4])
    colour_grade: str = Field(examples=["light_green"])
    efficiency_grade: int | None
    confidence: float
    loan_adjustment_bp: float
    methodology_version: str = Field(examples=["v1"])
    input_hash: str
    factors: list[FactorPublic]
    reasons: list[str]
    provenance: Provenance


class BatchScoreRequest(StrictModel):
    usccs: list[USCC] = Field(min_length=1, max_length=500)
    year: int | None = Field(default=None, ge=2013, le=2100)
    as_of: Day | None = None


class BatchScoreResponse(BaseModel):
    scores: list[ScorePublic]
    errors: dict[str, str] = Field(
        default_factory=dict, description="USCC -> why it could not be scored"
    )
