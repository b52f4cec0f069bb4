"""FX conversion and participant eligibility."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator

from api.schemas import patterns
from api.schemas.common import LAST_DAY, Currency, Day, StrictModel, date_between, day_schema
from carbonfin.fx.eligibility import eligibility_rules, iso3166_alpha2


class ConvertPublic(BaseModel):
    amount: str = Field(examples=["1000000.00"])
    from_currency: str
    to_currency: str
    converted: str = Field(examples=["7105000.00"])
    rate: str
    fixing_date: dt.date
    route: list[str]
    notes: list[str]


#: ISO 3166-1 alpha-2 codes officially assigned (the rules' list, data/iso3166_alpha2.toml).
JURISDICTIONS: list[Any] = sorted(iso3166_alpha2())
_TEXT = Field(min_length=1, max_length=200)


class ParticipantIn(BaseModel):
    """An overseas participant's file (as ``carbonfin eligibility check --example`` prints it):
    the named fields, plus further text fields the rules read (a BIC per channel, e.g.
    ``cips_participant_bic``)."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, str] = Field(init=False)

    name: str = _TEXT
    institution_type: str = Field(min_length=1, max_length=200, examples=["fund_manager"])
    jurisdiction: str = Field(
        json_schema_extra={"enum": JURISDICTIONS},
        pattern=patterns.JURISDICTION,
        examples=["SG"],
        description="ISO 3166-1 alpha-2, upper case, officially assigned",
    )
    channel: str = Field(min_length=1, max_length=200, examples=["cips"])
    settlement_currency: Currency = Field(examples=["CNY"])
    funding_currency: Currency = Field(examples=["CNH"])
    kyc_status: str = Field(min_length=1, max_length=200, examples=["verified"])
    kyc_expiry: Day | None = None

    @field_validator("jurisdiction")
    @classmethod
    def _assigned(cls, value: str) -> str:
        if value not in JURISDICTIONS:
            raise ValueError(f"not an officially assigned ISO 3166-1 alpha-2 code: {value!r}")
        return value

    def as_mapping(self) -> dict[str, str | None]:
        """The file as :meth:`carbonfin.fx.Participant.from_mapping` reads it."""
        data = self.model_dump(exclude={"kyc_expiry"})
        data["kyc_expiry"] = self.kyc_expiry.isoformat() if self.kyc_expiry else None
        return data


#: The oldest FATF list the eligibility rules hold: no decision is dated before it.
FATF_FIRST = min(f.as_of for f in eligibility_rules().fatf)
DecisionDay = Annotated[
    dt.date,
    Strict(False),
    BeforeValidator(date_between(FATF_FIRST, LAST_DAY)),
    day_schema(FATF_FIRST, why="the oldest FATF list of the eligibility rules"),
]


class EligibilityRequest(StrictModel):
    participant: ParticipantIn = Field(
        description="the participant file as in `carbonfin eligibility check --example`"
    )
    on: DecisionDay | None = Field(default=None, description="default: today")
    assume_open: bool = False


class EligibilityPublic(BaseModel):
    eligible: bool
    rules: list[dict[str, Any]]
    notes: list[str]


__all__ = ["ConvertPublic", "Currency", "EligibilityPublic", "EligibilityRequest", "ParticipantIn"]
