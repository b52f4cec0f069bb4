"""The exposure history (stored valuations over time) and a bank's exposure summary."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.collateral import ExposureRow, ExposureTotal
from api.schemas.common import Provenance, UtcDateTime


class HistoryPointPublic(BaseModel):
    """The book's totals on one stored valuation date (CNY)."""

    as_of: dt.date
    loans: int = Field(ge=0, description="loans of the book on the date (not valued included)")
    loan_outstanding_cny: float = Field(
        description="outstanding of the loans with a CNY amount (ledger balance on the date)"
    )
    collateral_value_cny: float = Field(description="valued loans' collateral (eligible x mark)")
    lendable_value_cny: float = Field(description="valued loans' collateral after haircuts")
    warnings: int = Field(ge=0, description="loans at the warning level")
    margin_calls: int = Field(ge=0, description="loans at the margin-call or liquidation level")
    liquidations: int = Field(ge=0, description="loans at the liquidation level")
    loans_not_valued: int = Field(ge=0, description="loans set aside (no mark, no FX, …)")
    loans_outstanding_unknown: int = Field(ge=0, description="loans without a CNY amount")
    run_id: int = Field(description="the stored valuation run")
    kind: str = Field(description="on_demand, snapshot or benchmark")
    computed_at: UtcDateTime = Field(description="when the valuation was computed")
    stale: bool = Field(
        description="lending or market data changed after this valuation was computed"
    )


class ExposureHistoryPublic(BaseModel):
    """A series of the exposure totals and the margin-call count, from stored valuations only
    (a date never valued has no point)."""

    start: dt.date
    end: dt.date
    bank_id: str | None = Field(description="the bank's book, or null for every bank")
    points: list[HistoryPointPublic]
    provenance: Provenance


class ExposureSummaryPublic(BaseModel):
    """A book's exposure on a date, grouped four ways, from its stored valuation."""

    as_of: dt.date
    bank_id: str | None
    groups: dict[str, list[ExposureRow]] = Field(
        description="bank, instrument, vintage, industry -> groups (each adds up to total)"
    )
    total: ExposureTotal
    states: dict[str, int] = Field(description="loans by state, not_valued included")
    margin_calls: int = Field(ge=0, description="loans at the margin-call or liquidation level")
    provenance: Provenance
