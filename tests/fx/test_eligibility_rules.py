"""Eligibility rule data: immutable typed rules, ISO 3166-1 jurisdictions, ISO 9362 BICs, FATF
lists after June 2025 and their maximum age (issue 9 items 2 and 18; issue 10 item 5)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from importlib import resources

import pytest

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.fx import Participant, evaluate
from carbonfin.fx.eligibility import (
    _parse_rules,
    bic_problem,
    eligibility_rules,
    fatf_list_on,
    iso3166_alpha2,
)

D = dt.date

GOOD = {
    "name": "Nordic Pension Fund",
    "institution_type": "pension_fund",
    "jurisdiction": "NO",
    "channel": "cips",
    "cips_participant_bic": "DNBANOKK",
    "settlement_currency": "CNY",
    "funding_currency": "EUR",
    "kyc_status": "verified",
    "kyc_expiry": "2027-06-30",
}


def _jurisdiction(code: str, on: dt.date) -> str:
    decision = evaluate({**GOOD, "jurisdiction": code}, on, market_open=True)
    return {r.rule: r.outcome.value for r in decision.rules}["jurisdiction"]


# --- ISO 3166-1 alpha-2 ---------------------------------------------------------------------


@pytest.mark.parametrize("code", ["XX", "EU", "UK", "ZZ", "QQ"])
def test_a_code_that_is_not_an_assigned_country_is_refused(code: str) -> None:
    # "XX" used to be "on no FATF list" and pass; UK is not ISO (the code is GB)
    with pytest.raises(InvalidInputError, match="officially assigned ISO 3166-1 alpha-2"):
        evaluate({**GOOD, "jurisdiction": code}, D(2026, 7, 1), market_open=True)


def test_the_iso_table_holds_the_249_assigned_codes() -> None:
    codes = iso3166_alpha2()
    assert len(codes) == 249  # ISO 3166-1: 249 officially assigned alpha-2 codes
    assert {"CN", "HK", "MO", "TW", "GB", "NO", "VG", "SS", "XK"} - codes == {"XK"}
    with pytest.raises(InvalidInputError, match="ISO 3166-1"):
        Participant("x", "pension_fund", "XX", "cips", "CNY", "EUR", "verified", None, {})


# --- ISO 9362 BICs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bic", "problem"),
    [
        ("DNBANOKK", None),  # DNB Bank, Oslo: 8 characters
        ("BKCHCNBJ300", None),  # Bank of China, with a branch code: 11 characters
        ("X", "has 1 characters; an ISO 9362 BIC has 8 or 11"),
        ("DNBANOKK1", "has 9 characters"),
        ("DNBAQQKK", "country code 'QQ', which is not an ISO 3166-1 alpha-2 code"),
        ("DNBA1OKK", "is not prefix(4) + country(2 letters)"),
        ("ABCDXKPR", None),  # Kosovo: SWIFT's user-assigned XK
    ],
)
def test_bics_are_checked_as_iso_9362(bic: str, problem: str | None) -> None:
    found = bic_problem(bic)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_a_one_character_bic_fails_the_channel_rule() -> None:
    decision = evaluate({**GOOD, "cips_participant_bic": "X"}, D(2026, 7, 1), market_open=True)
    channel = {r.rule: r for r in decision.rules}["access channel"]
    assert channel.outcome.value == "fail"
    assert "ISO 9362" in channel.reason
    assert decision.decision.value == "ineligible"


# --- FATF lists after June 2025 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "on", "outcome"),
    [
        # October 2025: Nigeria, South Africa, Mozambique, Burkina Faso left the grey list
        ("NG", D(2025, 10, 1), "enhanced due diligence"),
        ("NG", D(2025, 10, 24), "pass"),
        ("ZA", D(2025, 11, 1), "pass"),
        # February 2026: Kuwait and Papua New Guinea added
        ("KW", D(2026, 2, 12), "pass"),
        ("KW", D(2026, 2, 13), "enhanced due diligence"),
        ("PG", D(2026, 3, 1), "enhanced due diligence"),
        # June 2026: Bosnia and Herzegovina and Iraq added; Algeria and Namibia removed
        ("DZ", D(2026, 3, 1), "enhanced due diligence"),
        ("DZ", D(2026, 6, 19), "pass"),
        ("NA", D(2026, 7, 1), "pass"),
        ("IQ", D(2026, 7, 1), "enhanced due diligence"),
        ("BA", D(2026, 7, 1), "enhanced due diligence"),
        # the call for action is unchanged throughout
        ("IR", D(2026, 7, 1), "fail"),
        ("MM", D(2026, 7, 1), "enhanced due diligence"),
    ],
    ids=lambda v: str(v),
)
def test_fatf_lists_published_after_june_2025(code: str, on: dt.date, outcome: str) -> None:
    assert _jurisdiction(code, on) == outcome


def test_every_fatf_list_names_its_source_and_a_confirmation() -> None:
    rules = eligibility_rules()
    assert [f.as_of for f in rules.fatf][-3:] == [D(2025, 10, 24), D(2026, 2, 13), D(2026, 6, 19)]
    assert all(f.source for f in rules.fatf)
    assert all(f.confirmed_by for f in rules.fatf[-3:])
    assert len(rules.fatf[-1].increased_monitoring) == 22  # the June 2026 grey list
    # the October 2026 outcome is declared as not confirmed, not guessed
    assert any("October 2026" in note for note in rules.fatf_not_on_file)


# --- maximum age --------------------------------------------------------------------------------


def test_a_decision_with_an_old_fatf_list_is_marked_stale_and_names_the_list() -> None:
    fresh = evaluate(GOOD, D(2026, 7, 1), market_open=True)
    assert not fresh.stale
    assert fresh.fatf_list == D(2026, 6, 19)
    # 2099: 19 Jun 2026 -> 19 Jun 2099 is 73 x 365 + 18 leap days = 26 663 days, less the 169
    # days from 1 Jan to 19 Jun 2099: the June 2026 list is 26 494 days old
    far = evaluate(GOOD, D(2099, 1, 1), market_open=True)
    assert far.stale
    assert far.fatf_list == D(2026, 6, 19)
    assert (
        "of 2026-06-19, 26494 days old on 2099-01-01: beyond the 140-day maximum" in (far.notes[0])
    )
    assert "list of 2026-06-19, STALE" in {r.rule: r for r in far.rules}["jurisdiction"].reason
    assert "STALE" in far.summary()
    # the boundary: 140 days after 19 June 2026 is 6 November; the day after is stale
    assert fatf_list_on(D(2026, 11, 6))[1] is None
    assert fatf_list_on(D(2026, 11, 7))[1] is not None


# --- immutable, validated rules ----------------------------------------------------------------


def test_loaded_rules_cannot_be_changed_in_place() -> None:
    rules = eligibility_rules()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.fatf_max_age_days = 10_000  # type: ignore[misc]
    with pytest.raises(AttributeError):
        rules.fatf[-1].increased_monitoring.add("NO")  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        rules.channels.required["swift_only"] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        rules.institution_types.admitted.append("individual")  # type: ignore[attr-defined]
    p = Participant.from_mapping(GOOD)
    with pytest.raises(TypeError):
        p.details["cips_participant_bic"] = "X"  # type: ignore[index]
    assert eligibility_rules() is rules  # one shared, unchanged object


def _raw() -> dict:  # type: ignore[type-arg]
    text = resources.files("carbonfin.fx").joinpath("data/eligibility.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_rules_are_validated_at_load() -> None:
    raw = _raw()
    raw["fatf"][-1]["increased_monitoring"].append("XX")
    with pytest.raises(DataIntegrityError, match=r"holds \['XX'\], not ISO 3166-1"):
        _parse_rules(raw)
    raw = _raw()
    raw["fatf"] = raw["fatf"][::-1]
    with pytest.raises(DataIntegrityError, match="ascending date order"):
        _parse_rules(raw)
    raw = _raw()
    raw["fatf"][-1]["call_for_action_edd"].append("IQ")
    with pytest.raises(DataIntegrityError, match=r"\['IQ'\] on two lists"):
        _parse_rules(raw)
    raw = _raw()
    raw["fatf_policy"]["max_age_days"] = 0
    with pytest.raises(DataIntegrityError, match="max_age_days must be a positive integer"):
        _parse_rules(raw)
