"""The pledge eligibility rules themselves: their versioned, sourced data
(``carbonfin/collateral/data/eligibility.toml``), the inputs they take from a pledgor's account
(its open compliance need, the national-market carry-over schedule), and how each outcome is
worded, in full for the registry and the supervisor, or *for a lender* (:func:`lender_reason`),
without the pledgor's holdings or what other pledges take of them.

:mod:`carbonfin.collateral.eligibility` evaluates these rules over pledges; its public names
include this module's, so ``from carbonfin.collateral.eligibility import eligibility_rules``
keeps working.
"""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.rules import market_rules

__all__ = [
    "NOT_FREE",
    "RULES",
    "CarryoverRule",
    "Decision",
    "EligibilityRules",
    "InstrumentRule",
    "Outcome",
    "carried_over_frac",
    "carryover_entries",
    "compliance_need",
    "eligibility_rules",
    "lender_reason",
    "parse_eligibility_rules",
    "reason",
]

RULES = (
    "instrument accepted",
    "vintage valid",
    "pledge registered",
    "pledgor holds the quantity",
    "compliance need",
    "national-market carry-over",
)


class Outcome(enum.StrEnum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"


class Decision(enum.StrEnum):
    ELIGIBLE = "eligible"
    PARTIALLY_ELIGIBLE = "partially eligible"
    INELIGIBLE = "ineligible"


# --- rules as data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstrumentRule:
    instrument: Instrument
    accepted: bool
    min_vintage: int | None
    expiry_years: int | None
    source: str


@dataclass(frozen=True, slots=True)
class CarryoverRule:
    """Clause 5: the surplus of a firm entering the national market is carried over in
    ``tranches`` equal parts, on entry and on each following anniversary."""

    instrument: Instrument
    tranches: int
    assumed: bool
    source: str


@dataclass(frozen=True, slots=True)
class EligibilityRules:
    """One version of the eligibility rules, read-only."""

    version: str
    instruments: MappingProxyType[Instrument, InstrumentRule]
    latest_vintage_offset_years: int
    carryover: CarryoverRule
    sources: MappingProxyType[str, str]

    def source(self, rule: str) -> str:
        return self.sources[rule]


def parse_eligibility_rules(raw: Mapping[str, Any]) -> EligibilityRules:
    """Build :class:`EligibilityRules` from parsed TOML; raise naming what is missing."""
    try:
        inst = raw["instruments"]
        vintage = raw["vintage"]
        expiry = {Instrument.parse(k): int(v) for k, v in vintage.get("expiry_years", {}).items()}
        instruments = {
            Instrument.parse(code): InstrumentRule(
                Instrument.parse(code),
                bool(spec["accepted"]),
                None if spec.get("min_vintage") is None else int(spec["min_vintage"]),
                expiry.get(Instrument.parse(code)),
                f"{inst['source']}; {spec['source']}",
            )
            for code, spec in inst.items()
            if code != "source"
        }
        carry = raw["carryover"]
        tranches = int(carry["tranches"])
        if tranches < 1:
            raise ValueError(f"carryover.tranches must be >= 1; got {tranches}")
        sources = {
            "instrument accepted": str(inst["source"]),
            "vintage valid": str(vintage["source"]),
            "pledge registered": str(raw["registration"]["source"]),
            "pledgor holds the quantity": str(raw["holding"]["source"]),
            "compliance need": str(raw["compliance_need"]["source"]),
            "national-market carry-over": str(carry["source"]),
        }
        rules = EligibilityRules(
            version=str(raw["version"]),
            instruments=MappingProxyType(instruments),
            latest_vintage_offset_years=int(vintage["latest_vintage_offset_years"]),
            carryover=CarryoverRule(
                Instrument.parse(carry["instrument"]),
                tranches,
                bool(carry.get("assumed", False)),
                str(carry["source"]),
            ),
            sources=MappingProxyType(sources),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"eligibility rules are missing or malformed: {exc!r}") from exc
    missing = set(Instrument) - set(instruments)
    if missing:
        raise DataIntegrityError(
            f"eligibility rules say nothing about {sorted(m.value for m in missing)}"
        )
    return rules


@cache
def eligibility_rules() -> EligibilityRules:
    """The shipped rules (parsed once; the result is immutable)."""
    try:
        text = (
            resources.files("carbonfin.collateral")
            .joinpath("data/eligibility.toml")
            .read_text("utf-8")
        )
        raw = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataIntegrityError(f"eligibility rules are missing or malformed: {exc!r}") from exc
    return parse_eligibility_rules(raw)


# --- inputs derived from the account: compliance need and carry-over ----------------------------


def _deadline(instrument: Instrument, year: int) -> dt.date:
    month = market_rules()[instrument].compliance_deadline_month
    last = (dt.date(year + 1 + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year + 1, month, last)


def compliance_need(compliance: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Allowances each firm must still surrender at the end of ``as_of``, per instrument.

    A compliance year counts once it is over (``year < as_of.year``) until its surrender is
    recorded on or before ``as_of``; its need is its verified emissions. Columns: ``uscc``,
    ``instrument``, ``need_t`` (int64), ``years`` (the compliance years counted, as text) and
    ``next_deadline`` (the earliest surrender deadline among them; an overdue one is in the
    past). ``compliance`` has the columns of the sample file ``compliance.csv``.
    """
    _require_columns(
        compliance,
        ("uscc", "year", "instrument", "verified_emissions_tco2e", "surrender_date"),
        "compliance",
    )
    years = compliance["year"].to_numpy(dtype=np.int64)
    surrendered = np.array(
        [isinstance(d, dt.date) and d <= as_of for d in compliance["surrender_date"]], dtype=bool
    )
    open_ = (years < as_of.year) & ~surrendered
    rows = compliance.loc[open_, ["uscc", "instrument", "year", "verified_emissions_tco2e"]]
    if rows.empty:
        return pd.DataFrame(
            {
                "uscc": pd.Series(dtype=object),
                "instrument": pd.Series(dtype=object),
                "need_t": pd.Series(dtype="int64"),
                "years": pd.Series(dtype=object),
                "next_deadline": pd.Series(dtype=object),
            }
        )
    rows = rows.assign(
        deadline=[
            _deadline(Instrument.parse(i), int(y))
            for i, y in zip(rows["instrument"], rows["year"], strict=True)
        ]
    )
    grouped = rows.groupby(["uscc", "instrument"], sort=True)
    out = pd.DataFrame(
        {
            "need_t": grouped["verified_emissions_tco2e"].sum().astype("int64"),
            "years": grouped["year"].agg(lambda y: ", ".join(str(int(v)) for v in sorted(y))),
            "next_deadline": grouped["deadline"].min(),
        }
    ).reset_index()
    return out


def carryover_entries(compliance: pd.DataFrame) -> pd.DataFrame:
    """Firms that moved from the Shanghai market into the national one: ``uscc``,
    ``entry_date`` (1 January of the first national compliance year) and ``last_shea_year``
    (the last Shanghai compliance year, whose surrender precedes the carry-over)."""
    _require_columns(compliance, ("uscc", "year", "instrument"), "compliance")
    shea = compliance[compliance["instrument"] == Instrument.SHEA.value]
    cea = compliance[compliance["instrument"] == Instrument.CEA.value]
    first_cea = cea.groupby("uscc")["year"].min()
    last_shea = shea.groupby("uscc")["year"].max()
    both = first_cea.index.intersection(last_shea.index)
    moved = [u for u in both if last_shea[u] < first_cea[u]]
    return pd.DataFrame(
        {
            "uscc": pd.Series(moved, dtype=object),
            "entry_date": pd.Series(
                [dt.date(int(first_cea[u]), 1, 1) for u in moved], dtype=object
            ),
            "last_shea_year": pd.Series([int(last_shea[u]) for u in moved], dtype="int64"),
        }
    )


def carried_over_frac(
    entry_date: dt.date, as_of: dt.date, rules: EligibilityRules | None = None
) -> float:
    """Fraction of a moving firm's surplus carried over by ``as_of`` (clause 5 schedule):
    0 before entry, then one tranche on entry and one on each anniversary, 1 after the last."""
    n = (rules or eligibility_rules()).carryover.tranches
    if as_of < entry_date:
        return 0.0
    return min(_anniversaries(entry_date, as_of) + 1, n) / n


def _anniversaries(start: dt.date, end: dt.date) -> int:
    years = end.year - start.year
    try:
        anniversary = start.replace(year=end.year)
    except ValueError:  # 29 February
        anniversary = dt.date(end.year, 3, 1)
    return years - 1 if end < anniversary else years


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"`{what}` must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"`{what}` lacks the columns {missing}")


# --- reasons ----------------------------------------------------------------------------------


def _t(x: float) -> str:
    return f"{x:,.0f} t"


def _product(d: Mapping[str, Any]) -> str:
    v = int(d["vintage"])
    return str(d["instrument"]) + ("" if v < 0 else f" vintage {v}")


def reason(rule: str, outcome: Outcome, d: Mapping[str, Any], as_of: dt.date) -> str:
    """The full wording of ``rule``'s ``outcome`` for one pledge (``d``: the evaluation's detail
    of that pledge), with the pledgor's holdings and what other pledges lock: for the registry,
    the supervisor and a book's own records, never for a lender about another bank's pledges."""
    match rule:
        case "instrument accepted":
            if not d["accepted"]:
                return f"{d['instrument']} is not on the accepted list"
            if outcome is Outcome.FAIL:
                return f"{_product(d)} is older than the accepted vintage {int(d['min_vintage'])}"
            return f"{_product(d)} is accepted"
        case "vintage valid":
            return _vintage_reason(outcome, d)
        case "pledge registered":
            return _registration_reason(outcome, d, as_of)
        case "pledgor holds the quantity":
            return _holding_reason(outcome, d)
        case "compliance need":
            return _need_reason(outcome, d)
        case _:
            return _carry_reason(outcome, d, as_of)


#: What a lender is told when a pledge does not fit in the pledgor's free holding. No figure:
#: the free quantity is the holding less every bank's pledges in force, so any figure would let
#: a bank difference out other banks' pledged quantities or the firm's whole holding.
NOT_FREE = "the pledge of {quantity} exceeds the quantity free to pledge"


def lender_reason(rule: str, outcome: Outcome, d: Mapping[str, Any], as_of: dt.date) -> str:
    """The wording of ``rule``'s ``outcome`` that a lender may read: as :func:`reason`, but
    without the pledgor's holdings, its SHEA surplus, or the quantities other pledges take
    (other banks' positions). It names only the pledge's own figures and the pledgor's
    compliance obligation (its verified emissions still to surrender), which a lender to the
    pledgor is entitled to know."""
    q = float(d["quantity_t"])
    match rule:
        case "pledgor holds the quantity":
            if outcome is Outcome.FAIL:
                return NOT_FREE.format(quantity=_t(q))
            return f"the pledge of {_t(q)} fits in the quantity free to pledge"
        case "compliance need":
            if outcome is Outcome.NOT_APPLICABLE or float(d["need_t"]) <= 0:
                return _need_reason(outcome, d)
            head = (
                f"the pledgor must still surrender {_t(float(d['need_t']))} {d['instrument']} "
                f"for {d['need_years']} (next deadline {d['next_deadline']})"
            )
            if outcome is Outcome.PASS:
                return f"{head}: the pledge is free of the need"
            return f"{head}: only {_t(float(d['after_need_t']))} of {_t(q)} is beyond the need"
        case "national-market carry-over" if (
            outcome is not Outcome.NOT_APPLICABLE
            and not d["carry_unknown"]
            and d["carry_entry"] <= as_of
        ):
            head = (
                f"moved into the national market on {d['carry_entry']}: "
                f"{float(d['carry_frac']):.0%} of its SHEA surplus carried over by {as_of}"
            )
            if outcome is Outcome.PASS:
                return f"{head}; the pledge is within what is free"
            return f"{head}; only {_t(float(d['after_carry_t']))} of the pledge counts"
        case _:
            return reason(rule, outcome, d, as_of)


def _vintage_reason(outcome: Outcome, d: Mapping[str, Any]) -> str:
    v = int(d["vintage"])
    if Instrument(d["instrument"]).has_vintage:
        if v < 0:
            return f"{d['instrument']} pledges must name a vintage"
        if v > int(d["latest_vintage"]):
            return f"vintage {v} is not issued yet (latest issued: {int(d['latest_vintage'])})"
        if outcome is Outcome.FAIL:
            return f"vintage {v} expired after {int(d['expiry_years'])} years"
        return f"vintage {v} is issued and has no expiry"
    if v >= 0:
        return f"{d['instrument']} has no vintage; got {v}"
    return f"{d['instrument']} is not vintaged"


def _registration_reason(outcome: Outcome, d: Mapping[str, Any], as_of: dt.date) -> str:
    reg = d["registration_date"]
    if not d["has_registration_no"] or np.isnat(reg):
        missing = [
            name
            for name, absent in (
                ("registration number", not d["has_registration_no"]),
                ("registration date", bool(np.isnat(reg))),
            )
            if absent
        ]
        return f"not registered: no {' and no '.join(missing)}"
    if not d["registered"]:
        return f"registered only on {reg} (after {as_of})"
    if outcome is Outcome.FAIL:
        return f"released on {d['release_date']}"
    return f"registered as {d['registration_no']} on {reg}"


def _holding_reason(outcome: Outcome, d: Mapping[str, Any]) -> str:
    held, upto = float(d["holding_t"]), float(d["locked_upto_t"])
    what = f"{d['pledgor']} holds {_t(held)} of {_product(d)}"
    if outcome is Outcome.FAIL:
        return (
            f"over-pledged: {what}, but the pledges on it up to this one lock {_t(upto)} "
            f"({_t(upto - held)} more than held)"
        )
    return f"{what}; pledges up to this one lock {_t(upto)}"


def _need_reason(outcome: Outcome, d: Mapping[str, Any]) -> str:
    if outcome is Outcome.NOT_APPLICABLE:
        return "no compliance records given: the pledgor's surrender need is unknown"
    need, held = float(d["need_t"]), float(d["instrument_holding_t"])
    before, q = float(d["pledged_before_t"]), float(d["quantity_t"])
    if need <= 0:
        return f"no surrender outstanding for {d['instrument']}"
    head = (
        f"must still surrender {_t(need)} {d['instrument']} for {d['need_years']} "
        f"(next deadline {d['next_deadline']}); holds {_t(held)}, earlier pledges take "
        f"{_t(before)}"
    )
    kept = float(d["after_need_t"])
    if outcome is Outcome.PASS:
        return f"{head}: the pledge is free of the need"
    return f"{head}: only {_t(kept)} of {_t(q)} is beyond the need"


def _carry_reason(outcome: Outcome, d: Mapping[str, Any], as_of: dt.date) -> str:
    entry = d["carry_entry"]
    if outcome is Outcome.NOT_APPLICABLE:
        if str(d["instrument"]) != Instrument.SHEA.value:
            return f"applies to SHEA only; this is {d['instrument']}"
        return "the pledgor has not moved into the national market"
    if d["carry_unknown"]:
        return f"moved into the national market on {entry}, but its SHEA surplus is unknown"
    if entry > as_of:
        return f"moves into the national market on {entry}; until then its SHEA is fully usable"
    base, frac, locked = (
        float(d["carry_base_t"]),
        float(d["carry_frac"]),
        float(d["carry_locked_t"]),
    )
    head = (
        f"moved into the national market on {entry}: {frac:.0%} of its {_t(base)} SHEA surplus "
        f"carried over by {as_of}, {_t(locked)} not yet"
    )
    if outcome is Outcome.PASS:
        return f"{head}; the pledge is within what is free"
    return f"{head}; only {_t(float(d['after_carry_t']))} of the pledge counts"
