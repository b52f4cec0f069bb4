"""The values the pledge workflows take and return: a pledge request, a pledge as committed
with its state on a date, a registration with its eligibility, a release; each converts to and
from a JSON record (what an idempotent retry gets back)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carbonfin.collateral.eligibility import EligibilityDecision, Outcome, RuleResult
from carbonfin.collateral.pledge_rules import Decision

__all__ = ["PledgeFacts", "PledgeRegistration", "PledgeRequest", "Release"]


@dataclass(frozen=True, slots=True)
class PledgeRequest:
    """A pledge to register: ``pledgor_uscc`` ``None`` means the loan's borrower."""

    loan_id: str
    instrument: str
    vintage: int | None
    quantity_t: int
    registration_no: str
    registration_date: dt.date
    pledgor_uscc: str | None = None


@dataclass(frozen=True, slots=True)
class PledgeFacts:
    """A pledge as committed, with its state on ``as_of``."""

    pledge_id: str
    loan_id: str
    bank_id: str
    instrument: str
    vintage: int | None
    quantity_t: int
    pledgor_uscc: str
    registration_no: str
    registration_date: dt.date | None
    as_of: dt.date
    status: str
    quantity_in_force_t: int
    released_t: int
    release_dates: tuple[dt.date, ...]


@dataclass(frozen=True, slots=True)
class PledgeRegistration:
    """A registered pledge, its eligibility (reasons worded for its lender), the loan currency
    and the data version its write committed; ``replayed`` when an earlier request with the
    same key made it."""

    pledge: PledgeFacts
    loan_currency: str
    eligibility: EligibilityDecision
    data_version: int
    replayed: bool = False

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record (what an idempotent retry gets back)."""
        record = dataclasses.asdict(self)
        record["replayed"] = False
        return _jsonable(record)  # type: ignore[no-any-return]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PledgeRegistration:
        facts = facts_from(record["pledge"])
        e = dict(record["eligibility"])
        decision = EligibilityDecision(
            e["pledge_id"],
            _date(e["as_of"]),
            Decision(e["decision"]),
            int(e["quantity_t"]),
            int(e["eligible_quantity_t"]),
            tuple(
                RuleResult(r["rule"], Outcome(r["outcome"]), r["reason"], r["source"])
                for r in e["rules"]
            ),
            e["rules_version"],
        )
        return cls(facts, record["loan_currency"], decision, int(record["data_version"]), True)


@dataclass(frozen=True, slots=True)
class Release:
    """A recorded release and the pledge's state after it (on the release date)."""

    release_id: int
    pledge_id: str
    release_date: dt.date
    quantity_t: int
    reason: str
    substitute_pledge_id: str | None
    pledge: PledgeFacts
    data_version: int

    def to_record(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Release:
        r = dict(record)
        return cls(
            int(r["release_id"]),
            r["pledge_id"],
            _date(r["release_date"]),
            int(r["quantity_t"]),
            r["reason"],
            r["substitute_pledge_id"],
            facts_from(r["pledge"]),
            int(r["data_version"]),
        )


def facts_from(record: Mapping[str, Any]) -> PledgeFacts:
    p = dict(record)
    return PledgeFacts(
        **{
            **p,
            "registration_date": _date(p["registration_date"]),
            "as_of": _date(p["as_of"]),
            "release_dates": tuple(_date(d) for d in p["release_dates"]),
        }
    )


def _date(value: Any) -> Any:
    return None if value is None else dt.date.fromisoformat(str(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value
