"""Eligibility of an overseas participant for the Shanghai carbon market, rule by rule.

Rules are dated, sourced data (``carbonfin/fx/data/eligibility.toml``). A decision evaluates
every rule — it does not stop at the first failure — and is one of *eligible*, *eligible with
enhanced due diligence* or *ineligible*, with each rule's outcome, its reason and its source.
"""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Currency

__all__ = ["EligibilityDecision", "Outcome", "Participant", "RuleResult", "evaluate"]


class Outcome(enum.StrEnum):
    PASS = "pass"
    ENHANCED_DUE_DILIGENCE = "enhanced due diligence"
    FAIL = "fail"


class Decision(enum.StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_EDD = "eligible with enhanced due diligence"
    INELIGIBLE = "ineligible"


@dataclass(frozen=True, slots=True)
class Participant:
    """An overseas applicant. ``jurisdiction`` is ISO 3166-1 alpha-2; dates are ISO."""

    name: str
    institution_type: str
    jurisdiction: str
    channel: str
    settlement_currency: str
    funding_currency: str
    kyc_status: str
    kyc_expiry: dt.date | None
    details: Mapping[str, str]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Participant:
        """Build from a JSON-like mapping; missing or malformed fields raise, naming the field."""
        required = (
            "name",
            "institution_type",
            "jurisdiction",
            "channel",
            "settlement_currency",
            "funding_currency",
            "kyc_status",
        )
        missing = [k for k in required if not isinstance(data.get(k), str) or not data.get(k)]
        if missing:
            raise InvalidInputError(f"participant lacks the fields {missing} (strings)")
        jurisdiction = str(data["jurisdiction"]).strip().upper()
        if len(jurisdiction) != 2 or not jurisdiction.isalpha():
            raise InvalidInputError(
                f"`jurisdiction` must be an ISO 3166-1 alpha-2 code; got {data['jurisdiction']!r}"
            )
        expiry = data.get("kyc_expiry")
        try:
            kyc_expiry = None if expiry in (None, "") else dt.date.fromisoformat(str(expiry))
        except ValueError:
            raise InvalidInputError(
                f"`kyc_expiry` must be a date YYYY-MM-DD; got {expiry!r}"
            ) from None
        known = set(required) | {"kyc_expiry"}
        details = {str(k): str(v) for k, v in data.items() if k not in known}
        return cls(
            str(data["name"]),
            str(data["institution_type"]).strip().lower(),
            jurisdiction,
            str(data["channel"]).strip().lower(),
            str(data["settlement_currency"]),
            str(data["funding_currency"]),
            str(data["kyc_status"]).strip().lower(),
            kyc_expiry,
            details,
        )


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    outcome: Outcome
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """The decision with every rule's result."""

    participant: str
    decided_on: dt.date
    decision: Decision
    rules: tuple[RuleResult, ...]
    rules_version: str

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.outcome is Outcome.FAIL)

    def summary(self) -> str:
        lines = [
            f"{self.participant}: {self.decision.value} on {self.decided_on} "
            f"(rules {self.rules_version})"
        ]
        lines += [f"  [{r.outcome.value}] {r.rule}: {r.reason}" for r in self.rules]
        return "\n".join(lines)


@cache
def _rules() -> dict[str, Any]:
    try:
        text = resources.files("carbonfin.fx").joinpath("data/eligibility.toml").read_text("utf-8")
        raw = tomllib.loads(text)
        raw["fatf"] = sorted(raw["fatf"], key=lambda x: x["as_of"])
        for key in ("market_switch", "institution_types", "channels", "settlement", "kyc"):
            raw[key]["source"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise DataIntegrityError(f"eligibility rules are missing or malformed: {exc!r}") from exc
    return raw


def _market(open_: bool | None, rules: Mapping[str, Any]) -> RuleResult:
    spec = rules["market_switch"]
    is_open = spec["default_open"] if open_ is None else open_
    if is_open:
        return RuleResult(
            "market switch",
            Outcome.PASS,
            "overseas participation is open (setting)",
            spec["source"],
        )
    return RuleResult(
        "market switch",
        Outcome.FAIL,
        "overseas participation in the Shanghai carbon market is not open yet "
        "(setting; the action plan states it as a goal)",
        spec["source"],
    )


def _institution(p: Participant, rules: Mapping[str, Any]) -> RuleResult:
    spec = rules["institution_types"]
    if p.institution_type in spec["admitted"]:
        return RuleResult(
            "institution type",
            Outcome.PASS,
            f"{p.institution_type} is an admitted QFI institution type",
            spec["source"],
        )
    return RuleResult(
        "institution type",
        Outcome.FAIL,
        f"{p.institution_type!r} is not admitted ({spec['refused_note']}); admitted: "
        f"{', '.join(spec['admitted'])}",
        spec["source"],
    )


def _jurisdiction(p: Participant, on: dt.date, rules: Mapping[str, Any]) -> RuleResult:
    lists = [f for f in rules["fatf"] if f["as_of"] <= on]
    if not lists:
        raise InvalidInputError(
            f"no FATF list on or before {on}; the rules hold lists from {rules['fatf'][0]['as_of']}"
        )
    fatf = lists[-1]
    src = fatf["source"]
    code = p.jurisdiction
    if code in fatf["call_for_action_countermeasures"]:
        return RuleResult(
            "jurisdiction",
            Outcome.FAIL,
            f"{code} is subject to an FATF call for action with countermeasures "
            f"(list of {fatf['as_of']})",
            src,
        )
    if code in fatf["call_for_action_edd"]:
        return RuleResult(
            "jurisdiction",
            Outcome.ENHANCED_DUE_DILIGENCE,
            f"{code} is subject to an FATF call for enhanced due diligence "
            f"(list of {fatf['as_of']})",
            src,
        )
    if code in fatf["increased_monitoring"]:
        return RuleResult(
            "jurisdiction",
            Outcome.ENHANCED_DUE_DILIGENCE,
            f"{code} is under FATF increased monitoring (grey list of {fatf['as_of']})",
            src,
        )
    return RuleResult(
        "jurisdiction", Outcome.PASS, f"{code} is on no FATF list of {fatf['as_of']}", src
    )


def _channel(p: Participant, rules: Mapping[str, Any]) -> RuleResult:
    spec = rules["channels"]
    channels = {k: v for k, v in spec.items() if k != "source"}
    if p.channel not in channels:
        return RuleResult(
            "access channel",
            Outcome.FAIL,
            f"channel {p.channel!r} is not one of {sorted(channels)}",
            spec["source"],
        )
    missing = [f for f in channels[p.channel] if not p.details.get(f)]
    if missing:
        return RuleResult(
            "access channel", Outcome.FAIL, f"channel {p.channel} needs {missing}", spec["source"]
        )
    return RuleResult(
        "access channel",
        Outcome.PASS,
        f"{p.channel} with {', '.join(f'{f}={p.details[f]}' for f in channels[p.channel])}",
        spec["source"],
    )


def _settlement(p: Participant, rules: Mapping[str, Any]) -> RuleResult:
    spec = rules["settlement"]
    settle = Currency.parse(p.settlement_currency)
    funding = Currency.parse(p.funding_currency)
    if settle is Currency.CNH:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            "CNH is the offshore renminbi: it can fund the account but Shanghai "
            "allowances settle in onshore CNY",
            spec["source"],
        )
    if settle.code != spec["settlement_currency"]:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            f"settlement in {settle.code} is not possible; settle in CNY",
            spec["source"],
        )
    if funding.code not in spec["funding_currencies"]:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            f"funding in {funding.code} is not accepted",
            spec["source"],
        )
    return RuleResult(
        "settlement currency",
        Outcome.PASS,
        f"settles in CNY, funded in {funding.code}",
        spec["source"],
    )


def _kyc(p: Participant, on: dt.date, rules: Mapping[str, Any]) -> RuleResult:
    spec = rules["kyc"]
    if p.kyc_status not in spec["valid_status"]:
        return RuleResult(
            "KYC", Outcome.FAIL, f"KYC status is {p.kyc_status!r}, not verified", spec["source"]
        )
    if p.kyc_expiry is None:
        return RuleResult("KYC", Outcome.FAIL, "KYC has no expiry date on file", spec["source"])
    if p.kyc_expiry < on:
        return RuleResult("KYC", Outcome.FAIL, f"KYC expired on {p.kyc_expiry}", spec["source"])
    left = (p.kyc_expiry - on).days
    note = f" (expires in {left} days: renew)" if left <= spec["warn_within_days"] else ""
    return RuleResult("KYC", Outcome.PASS, f"verified until {p.kyc_expiry}{note}", spec["source"])


def evaluate(
    participant: Participant | Mapping[str, Any],
    on: dt.date,
    *,
    market_open: bool | None = None,
) -> EligibilityDecision:
    """Evaluate every rule for ``participant`` as of ``on``.

    ``market_open`` sets the overseas-participation switch (``None``: the rules' default,
    closed). Any failed rule makes the participant ineligible; otherwise any enhanced-due-
    diligence outcome makes it eligible with enhanced due diligence.
    """
    p = (
        participant
        if isinstance(participant, Participant)
        else Participant.from_mapping(participant)
    )
    if not isinstance(on, dt.date):
        raise InvalidInputError(f"`on` must be a date; got {on!r}")
    rules = _rules()
    results = (
        _market(market_open, rules),
        _institution(p, rules),
        _jurisdiction(p, on, rules),
        _channel(p, rules),
        _settlement(p, rules),
        _kyc(p, on, rules),
    )
    if any(r.outcome is Outcome.FAIL for r in results):
        decision = Decision.INELIGIBLE
    elif any(r.outcome is Outcome.ENHANCED_DUE_DILIGENCE for r in results):
        decision = Decision.ELIGIBLE_WITH_EDD
    else:
        decision = Decision.ELIGIBLE
    return EligibilityDecision(p.name, on, decision, results, str(rules["version"]))
