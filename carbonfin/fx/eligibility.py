"""Eligibility of an overseas participant for the Shanghai carbon market, rule by rule.

Rules are dated, sourced data (``carbonfin/fx/data/eligibility.toml``), loaded once into typed,
frozen specs (:func:`eligibility_rules`: tuples, frozensets and read-only mappings, validated at
load). A decision evaluates every rule — it does not stop at the first failure — and is one of
*eligible*, *eligible with enhanced due diligence* or *ineligible*, with each rule's outcome, its
reason and its source. The FATF lists have a maximum age: a decision made with a list older than
that is marked ``stale`` and names the list it used.

Jurisdictions are ISO 3166-1 alpha-2 codes checked against the officially assigned codes
(``data/iso3166_alpha2.toml``); BICs are checked as ISO 9362 (8 or 11 characters with a valid
country code inside).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from carbonfin.conventions import Currency
from carbonfin.errors import DataIntegrityError, InvalidInputError

__all__ = [
    "ChannelSpec",
    "EligibilityDecision",
    "EligibilityRules",
    "FatfList",
    "Outcome",
    "Participant",
    "RuleResult",
    "bic_problem",
    "eligibility_rules",
    "evaluate",
    "fatf_list_on",
    "iso3166_alpha2",
]


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

    def __post_init__(self) -> None:
        if self.jurisdiction not in iso3166_alpha2():
            raise InvalidInputError(
                f"`jurisdiction` must be an officially assigned ISO 3166-1 alpha-2 code (e.g. "
                f"'NO', 'SG'); got {self.jurisdiction!r}"
            )
        if not isinstance(self.details, MappingProxyType):
            object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

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
            MappingProxyType(details),
        )


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    outcome: Outcome
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """The decision with every rule's result.

    ``fatf_list`` is the publication date of the FATF list used; ``stale`` is True when that list
    was older than the rules' maximum age on the decision date (see ``notes``).
    """

    participant: str
    decided_on: dt.date
    decision: Decision
    rules: tuple[RuleResult, ...]
    rules_version: str
    fatf_list: dt.date
    stale: bool
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.outcome is Outcome.FAIL)

    def summary(self) -> str:
        lines = [
            f"{self.participant}: {self.decision.value} on {self.decided_on} "
            f"(rules {self.rules_version}; FATF list of {self.fatf_list})"
        ]
        lines += [f"  STALE: {n}" for n in self.notes] if self.stale else []
        lines += [f"  [{r.outcome.value}] {r.rule}: {r.reason}" for r in self.rules]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Typed, frozen, validated rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcedFlag:
    source: str
    default_open: bool


@dataclass(frozen=True, slots=True)
class InstitutionSpec:
    source: str
    admitted: tuple[str, ...]
    refused_note: str


@dataclass(frozen=True, slots=True)
class FatfList:
    """One dated FATF publication (both lists), with its source."""

    as_of: dt.date
    source: str
    confirmed_by: str
    call_for_action_countermeasures: frozenset[str]
    call_for_action_edd: frozenset[str]
    increased_monitoring: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    source: str
    required: Mapping[str, tuple[str, ...]]
    bic_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class SettlementSpec:
    source: str
    settlement_currency: str
    funding_currencies: frozenset[str]


@dataclass(frozen=True, slots=True)
class KycSpec:
    source: str
    valid_status: frozenset[str]
    warn_within_days: int


@dataclass(frozen=True, slots=True)
class EligibilityRules:
    """The loaded rules file: every part frozen (tuples, frozensets, read-only mappings)."""

    version: str
    market_switch: SourcedFlag
    institution_types: InstitutionSpec
    fatf: tuple[FatfList, ...]
    fatf_max_age_days: int
    fatf_policy_source: str
    fatf_not_on_file: tuple[str, ...]
    channels: ChannelSpec
    settlement: SettlementSpec
    kyc: KycSpec


def _read(name: str) -> dict[str, Any]:
    text = resources.files("carbonfin.fx").joinpath(f"data/{name}").read_text("utf-8")
    return tomllib.loads(text)


@cache
def _iso_tables() -> tuple[frozenset[str], frozenset[str]]:
    try:
        raw = _read("iso3166_alpha2.toml")
        codes = frozenset(raw["codes"])
        bic_only = frozenset(raw["bic_only"])
        raw["source"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise DataIntegrityError(f"ISO 3166-1 table is missing or malformed: {exc!r}") from exc
    bad = sorted(c for c in codes | bic_only if not re.fullmatch(r"[A-Z]{2}", c))
    if bad or len(codes) < 249:
        raise DataIntegrityError(f"ISO 3166-1 table: bad codes {bad} or only {len(codes)} codes")
    return codes, bic_only


def iso3166_alpha2() -> frozenset[str]:
    """The officially assigned ISO 3166-1 alpha-2 codes (source in the data file)."""
    return _iso_tables()[0]


_BIC = re.compile(r"^([A-Z0-9]{4})([A-Z]{2})([A-Z0-9]{2})([A-Z0-9]{3})?$")


def bic_problem(bic: str) -> str | None:
    """Why ``bic`` is not a valid ISO 9362 BIC, or None.

    ISO 9362: 4 alphanumeric party prefix, 2-letter ISO 3166-1 alpha-2 country code (or SWIFT's
    XK), 2 alphanumeric location suffix, optionally 3 alphanumeric branch characters: 8 or 11.
    """
    text = bic.strip().upper() if isinstance(bic, str) else ""
    if len(text) not in (8, 11):
        return f"{bic!r} has {len(text)} characters; an ISO 9362 BIC has 8 or 11"
    match = _BIC.match(text)
    if match is None:
        return f"{bic!r} is not prefix(4) + country(2 letters) + location(2) [+ branch(3)]"
    codes, bic_only = _iso_tables()
    country = match.group(2)
    if country not in codes | bic_only:
        return f"{bic!r} holds country code {country!r}, which is not an ISO 3166-1 alpha-2 code"
    return None


def _codes(entry: Mapping[str, Any], key: str, valid: frozenset[str]) -> frozenset[str]:
    out = frozenset(str(c) for c in entry[key])
    bad = sorted(out - valid)
    if bad:
        raise DataIntegrityError(
            f"FATF list of {entry['as_of']}: {key} holds {bad}, not ISO 3166-1 alpha-2 codes"
        )
    return out


def _fatf(raw: list[dict[str, Any]]) -> tuple[FatfList, ...]:
    valid = iso3166_alpha2()
    lists = []
    for entry in raw:
        if not isinstance(entry["as_of"], dt.date) or not entry["source"]:
            raise DataIntegrityError(f"FATF list {entry.get('as_of')!r} needs a date and a source")
        fatf = FatfList(
            entry["as_of"],
            str(entry["source"]),
            str(entry.get("confirmed_by", "")),
            _codes(entry, "call_for_action_countermeasures", valid),
            _codes(entry, "call_for_action_edd", valid),
            _codes(entry, "increased_monitoring", valid),
        )
        groups = (
            fatf.call_for_action_countermeasures,
            fatf.call_for_action_edd,
            fatf.increased_monitoring,
        )
        overlap = (groups[0] & groups[1]) | (groups[0] & groups[2]) | (groups[1] & groups[2])
        if overlap:
            raise DataIntegrityError(f"FATF list of {fatf.as_of}: {sorted(overlap)} on two lists")
        lists.append(fatf)
    dates = [f.as_of for f in lists]
    if dates != sorted(dates) or len(set(dates)) != len(dates):
        raise DataIntegrityError(f"FATF lists must be in ascending date order, once each: {dates}")
    return tuple(lists)


def _parse_rules(raw: Mapping[str, Any]) -> EligibilityRules:
    channels = {k: v for k, v in raw["channels"].items() if k not in ("source", "bic_fields")}
    required = MappingProxyType({str(k): tuple(str(f) for f in v) for k, v in channels.items()})
    bic_fields = frozenset(str(f) for f in raw["channels"].get("bic_fields", ()))
    funding = frozenset(str(c) for c in raw["settlement"]["funding_currencies"])
    for code in [*funding, raw["settlement"]["settlement_currency"]]:
        Currency.parse(code)  # raises for a currency the engine does not know
    policy = raw["fatf_policy"]
    max_age = policy["max_age_days"]
    if not isinstance(max_age, int) or max_age <= 0:
        raise DataIntegrityError(
            f"fatf_policy.max_age_days must be a positive integer; got {max_age!r}"
        )
    kyc = raw["kyc"]
    return EligibilityRules(
        version=str(raw["version"]),
        market_switch=SourcedFlag(
            raw["market_switch"]["source"], bool(raw["market_switch"]["default_open"])
        ),
        institution_types=InstitutionSpec(
            raw["institution_types"]["source"],
            tuple(raw["institution_types"]["admitted"]),
            raw["institution_types"]["refused_note"],
        ),
        fatf=_fatf(raw["fatf"]),
        fatf_max_age_days=max_age,
        fatf_policy_source=str(policy["source"]),
        fatf_not_on_file=tuple(str(n) for n in policy.get("not_on_file", ())),
        channels=ChannelSpec(raw["channels"]["source"], required, bic_fields),
        settlement=SettlementSpec(
            raw["settlement"]["source"], str(raw["settlement"]["settlement_currency"]), funding
        ),
        kyc=KycSpec(kyc["source"], frozenset(kyc["valid_status"]), int(kyc["warn_within_days"])),
    )


@cache
def eligibility_rules() -> EligibilityRules:
    """The eligibility rules, loaded once, validated, immutable (shared by every caller)."""
    try:
        return _parse_rules(_read("eligibility.toml"))
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError, InvalidInputError) as exc:
        raise DataIntegrityError(f"eligibility rules are missing or malformed: {exc!r}") from exc


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


def _market(open_: bool | None, rules: EligibilityRules) -> RuleResult:
    spec = rules.market_switch
    is_open = spec.default_open if open_ is None else open_
    if is_open:
        return RuleResult(
            "market switch",
            Outcome.PASS,
            "overseas participation is open (setting)",
            spec.source,
        )
    return RuleResult(
        "market switch",
        Outcome.FAIL,
        "overseas participation in the Shanghai carbon market is not open yet "
        "(setting; the action plan states it as a goal)",
        spec.source,
    )


def _institution(p: Participant, rules: EligibilityRules) -> RuleResult:
    spec = rules.institution_types
    if p.institution_type in spec.admitted:
        return RuleResult(
            "institution type",
            Outcome.PASS,
            f"{p.institution_type} is an admitted QFI institution type",
            spec.source,
        )
    return RuleResult(
        "institution type",
        Outcome.FAIL,
        f"{p.institution_type!r} is not admitted ({spec.refused_note}); admitted: "
        f"{', '.join(spec.admitted)}",
        spec.source,
    )


def fatf_list_on(on: dt.date, rules: EligibilityRules | None = None) -> tuple[FatfList, str | None]:
    """The FATF list in force on ``on`` and, when it is older than the maximum age, why stale."""
    rules = rules or eligibility_rules()
    lists = [f for f in rules.fatf if f.as_of <= on]
    if not lists:
        raise InvalidInputError(
            f"no FATF list on or before {on}; the rules hold lists from {rules.fatf[0].as_of}"
        )
    fatf = lists[-1]
    age = (on - fatf.as_of).days
    if age <= rules.fatf_max_age_days:
        return fatf, None
    note = (
        f"the FATF list used is of {fatf.as_of}, {age} days old on {on}: beyond the "
        f"{rules.fatf_max_age_days}-day maximum (FATF publishes after each of its three plenaries "
        "a year), so a newer list probably exists"
    )
    if rules.fatf_not_on_file:
        note += "; not on file: " + "; ".join(rules.fatf_not_on_file)
    return fatf, note


def _jurisdiction(p: Participant, fatf: FatfList, stale: str | None) -> RuleResult:
    src = fatf.source + (f" (confirmed by {fatf.confirmed_by})" if fatf.confirmed_by else "")
    code = p.jurisdiction
    tag = f"list of {fatf.as_of}" + (", STALE" if stale else "")
    if code in fatf.call_for_action_countermeasures:
        return RuleResult(
            "jurisdiction",
            Outcome.FAIL,
            f"{code} is subject to an FATF call for action with countermeasures ({tag})",
            src,
        )
    if code in fatf.call_for_action_edd:
        return RuleResult(
            "jurisdiction",
            Outcome.ENHANCED_DUE_DILIGENCE,
            f"{code} is subject to an FATF call for enhanced due diligence ({tag})",
            src,
        )
    if code in fatf.increased_monitoring:
        return RuleResult(
            "jurisdiction",
            Outcome.ENHANCED_DUE_DILIGENCE,
            f"{code} is under FATF increased monitoring (grey {tag})",
            src,
        )
    return RuleResult("jurisdiction", Outcome.PASS, f"{code} is on no FATF list ({tag})", src)


def _channel(p: Participant, rules: EligibilityRules) -> RuleResult:
    spec = rules.channels
    if p.channel not in spec.required:
        return RuleResult(
            "access channel",
            Outcome.FAIL,
            f"channel {p.channel!r} is not one of {sorted(spec.required)}",
            spec.source,
        )
    fields = spec.required[p.channel]
    missing = [f for f in fields if not p.details.get(f)]
    if missing:
        return RuleResult(
            "access channel", Outcome.FAIL, f"channel {p.channel} needs {missing}", spec.source
        )
    bad = [
        f"`{f}`: {problem}"
        for f in fields
        if f in spec.bic_fields and (problem := bic_problem(p.details[f])) is not None
    ]
    if bad:
        return RuleResult(
            "access channel",
            Outcome.FAIL,
            f"channel {p.channel}: {'; '.join(bad)} (ISO 9362)",
            spec.source,
        )
    return RuleResult(
        "access channel",
        Outcome.PASS,
        f"{p.channel} with {', '.join(f'{f}={p.details[f]}' for f in fields)}",
        spec.source,
    )


def _settlement(p: Participant, rules: EligibilityRules) -> RuleResult:
    spec = rules.settlement
    settle = Currency.parse(p.settlement_currency)
    funding = Currency.parse(p.funding_currency)
    if settle is Currency.CNH:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            "CNH is the offshore renminbi: it can fund the account but Shanghai "
            "allowances settle in onshore CNY",
            spec.source,
        )
    if settle.code != spec.settlement_currency:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            f"settlement in {settle.code} is not possible; settle in CNY",
            spec.source,
        )
    if funding.code not in spec.funding_currencies:
        return RuleResult(
            "settlement currency",
            Outcome.FAIL,
            f"funding in {funding.code} is not accepted",
            spec.source,
        )
    return RuleResult(
        "settlement currency",
        Outcome.PASS,
        f"settles in CNY, funded in {funding.code}",
        spec.source,
    )


def _kyc(p: Participant, on: dt.date, rules: EligibilityRules) -> RuleResult:
    spec = rules.kyc
    if p.kyc_status not in spec.valid_status:
        return RuleResult(
            "KYC", Outcome.FAIL, f"KYC status is {p.kyc_status!r}, not verified", spec.source
        )
    if p.kyc_expiry is None:
        return RuleResult("KYC", Outcome.FAIL, "KYC has no expiry date on file", spec.source)
    if p.kyc_expiry < on:
        return RuleResult("KYC", Outcome.FAIL, f"KYC expired on {p.kyc_expiry}", spec.source)
    left = (p.kyc_expiry - on).days
    note = f" (expires in {left} days: renew)" if left <= spec.warn_within_days else ""
    return RuleResult("KYC", Outcome.PASS, f"verified until {p.kyc_expiry}{note}", spec.source)


def evaluate(
    participant: Participant | Mapping[str, Any],
    on: dt.date,
    *,
    market_open: bool | None = None,
) -> EligibilityDecision:
    """Evaluate every rule for ``participant`` as of ``on``.

    ``market_open`` sets the overseas-participation switch (``None``: the rules' default,
    closed). Any failed rule makes the participant ineligible; otherwise any enhanced-due-
    diligence outcome makes it eligible with enhanced due diligence. A decision that had to use
    an FATF list older than the rules' maximum age is marked ``stale`` (the outcome is not
    changed: the list used is named, and ``notes`` says why it is stale).
    """
    p = (
        participant
        if isinstance(participant, Participant)
        else Participant.from_mapping(participant)
    )
    if not isinstance(on, dt.date):
        raise InvalidInputError(f"`on` must be a date; got {on!r}")
    rules = eligibility_rules()
    fatf, stale = fatf_list_on(on, rules)
    results = (
        _market(market_open, rules),
        _institution(p, rules),
        _jurisdiction(p, fatf, stale),
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
    notes = (stale,) if stale else ()
    return EligibilityDecision(
        p.name, on, decision, results, rules.version, fatf.as_of, stale is not None, notes
    )
