"""CIP forwards worked by hand; eligibility rule by rule; the Basel currency-mismatch haircut."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import QuantLib as ql

from carbonfin.collateral import currency_mismatch_haircut, scale_haircut
from carbonfin.conventions import MoneyMarketRate
from carbonfin.errors import InvalidInputError, ProvisionalCalendarWarning
from carbonfin.fx import evaluate, forward_points, forward_rate

D = dt.date


SOFR = MoneyMarketRate.fixing("SOFR", 0.04)
SHIBOR = MoneyMarketRate.fixing("SHIBOR", 0.015)


def test_cip_forward_worked_by_hand() -> None:
    # USD/CNY spot 7.10; SOFR 4% and SHIBOR 1.5%, both simple ACT/360 (NY Fed; CFETS);
    # Mon 5 Jan -> Mon 6 Jul 2026 = 26 weeks = 182 days.
    #   USD: 1 + 0.04  x 182/360 = (360 + 7.28)/360 = 367.28/360
    #   CNY: 1 + 0.015 x 182/360 = (360 + 2.73)/360 = 362.73/360
    #   F = 7.10 x 362.73 / 367.28 = 2575.383 / 367.28 = 7.01204258...
    q = forward_rate("USD/CNY", 7.10, SOFR, SHIBOR, D(2026, 1, 5), D(2026, 7, 6))
    assert q.forward == pytest.approx(7.0120425833, abs=1e-10)
    assert q.points == pytest.approx(-879.574167, abs=1e-5)  # (7.01204258 - 7.10) x 1e4
    assert q.regime == "money market"
    assert "182 days" in q.method
    assert forward_points("USD/JPY", 150.0, 149.5) == pytest.approx(-50.0)
    # before, CNY was read ACT/365F: 7.10 x (1 + 0.015 x 182/365) / (367.28/360) = 7.01132
    assert round(q.forward, 4) == 7.0120


def test_forward_end_is_rolled_and_a_tenor_is_counted_from_spot() -> None:
    # 1 Oct 2026 (National Day) -> Thu 8 Oct; the quote keeps what was asked
    q = forward_rate("USD/CNY", 7.10, SOFR, SHIBOR, D(2026, 7, 6), D(2026, 10, 1))
    assert q.end == D(2026, 10, 8)
    assert q.requested_end == D(2026, 10, 1)
    assert q.end_rolled
    assert forward_rate("USD/CNY", 7.10, SOFR, SHIBOR, D(2026, 1, 5), "6M").end == D(2026, 7, 6)


def test_beyond_one_year_the_forward_is_curve_based_and_says_so() -> None:
    # EUR/USD over 2 years (730 days): the simple fixings are read as annually compounded zero
    # rates on ACT/360, exactly as QuantLib's FlatForward(r, Actual360, Compounded, Annual)
    estr = MoneyMarketRate.fixing("ESTR", 0.02)
    q = forward_rate("EUR/USD", 1.17, estr, SOFR, D(2026, 1, 5), D(2028, 1, 5))
    start, end = ql.Date(5, 1, 2026), ql.Date(5, 1, 2028)

    def df(rate: float) -> float:
        ir = ql.InterestRate(rate, ql.Actual360(), ql.Compounded, ql.Annual)
        return float(ir.discountFactor(start, end))

    assert q.forward == pytest.approx(1.17 * df(0.02) / df(0.04), rel=1e-14)
    assert q.regime == "curve"
    assert q.method.startswith("beyond one year (730 days)")
    assert "read as a zero rate compounded annually on ACT/360" in q.method
    # exactly one year is still money market; a day more is not
    assert forward_rate("EUR/USD", 1.17, estr, SOFR, D(2026, 1, 5), D(2027, 1, 5)).regime == (
        "money market"
    )


def test_a_usd_cny_forward_into_2028_works_and_says_the_calendar_is_provisional() -> None:
    # issue 10: beyond the last published State Council notice the China calendar is a
    # provisional projection; the forward still answers, and says so
    with pytest.warns(ProvisionalCalendarWarning):
        q = forward_rate("USD/CNY", 7.10, SOFR, SHIBOR, D(2026, 1, 5), D(2028, 1, 5))
    assert q.provisional_calendar
    assert "the China calendar for 2028 is a provisional projection" in q.method
    # 730 days: both legs read as annually compounded zero rates on ACT/360 (SOFR, SHIBOR)
    assert q.forward == pytest.approx(7.10 * 1.04 ** (-730 / 360) / 1.015 ** (-730 / 360))
    assert not forward_rate("USD/CNY", 7.10, SOFR, SHIBOR, D(2026, 1, 5), "6M").provisional_calendar


def test_rates_must_carry_their_convention() -> None:
    with pytest.raises(InvalidInputError, match="`base_rate` must carry its convention"):
        forward_rate("USD/CNY", 7.1, 0.04, SHIBOR, D(2026, 1, 5), D(2026, 7, 6))  # type: ignore[arg-type]
    # a SHIBOR fixing cannot price the offshore leg, nor a USD leg
    with pytest.raises(
        InvalidInputError, match="SHIBOR is a CNY index, but the leg's currency is CNH"
    ):
        forward_rate("USD/CNH", 7.1, SOFR, SHIBOR, D(2026, 1, 5), D(2026, 7, 6))
    with pytest.raises(InvalidInputError, match="`base_rate`: SHIBOR is a CNY index"):
        forward_rate("USD/CNY", 7.1, SHIBOR, SHIBOR, D(2026, 1, 5), D(2026, 7, 6))


def test_forward_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="`end`"):
        forward_rate("USD/CNY", 7.1, SOFR, SHIBOR, D(2026, 7, 6), D(2026, 1, 5))
    with pytest.raises(InvalidInputError, match="`spot` must be finite and > 0"):
        forward_rate("USD/CNY", -7.1, SOFR, SHIBOR, D(2026, 1, 5), D(2026, 7, 6))


GOOD = {
    "name": "Nordic Pension Fund",
    "institution_type": "pension_fund",
    "jurisdiction": "NO",
    "channel": "qfi_custody",
    "custodian_bank": "Bank of China Shanghai",
    "qfi_licence_no": "QF2021-0042",
    "settlement_currency": "CNY",
    "funding_currency": "EUR",
    "kyc_status": "verified",
    "kyc_expiry": "2027-06-30",
}
ON = D(2026, 11, 25)


def _outcomes(decision) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.rule: r.outcome.value for r in decision.rules}


def test_an_eligible_participant_passes_every_rule() -> None:
    decision = evaluate(GOOD, ON, market_open=True)
    assert decision.decision.value == "eligible"
    assert set(_outcomes(decision).values()) == {"pass"}
    assert all(r.source for r in decision.rules)


@pytest.mark.parametrize(
    ("change", "rule", "outcome", "decision"),
    [
        ({}, "market switch", "fail", "ineligible"),  # the default: not open yet
        ({"institution_type": "individual"}, "institution type", "fail", "ineligible"),
        ({"jurisdiction": "KP"}, "jurisdiction", "fail", "ineligible"),
        ({"jurisdiction": "IR"}, "jurisdiction", "fail", "ineligible"),
        (
            {"jurisdiction": "MM"},
            "jurisdiction",
            "enhanced due diligence",
            "eligible with enhanced due diligence",
        ),
        (
            {"jurisdiction": "VN"},
            "jurisdiction",
            "enhanced due diligence",
            "eligible with enhanced due diligence",
        ),
        ({"channel": "swift_only"}, "access channel", "fail", "ineligible"),
        ({"channel": "ftn"}, "access channel", "fail", "ineligible"),  # no FT bank given
        ({"settlement_currency": "CNH"}, "settlement currency", "fail", "ineligible"),
        ({"settlement_currency": "USD"}, "settlement currency", "fail", "ineligible"),
        ({"kyc_status": "pending"}, "KYC", "fail", "ineligible"),
        ({"kyc_expiry": "2026-11-24"}, "KYC", "fail", "ineligible"),
    ],
    ids=[
        "market-closed",
        "individual",
        "dprk",
        "iran",
        "myanmar-edd",
        "grey-list",
        "channel",
        "ftn-incomplete",
        "cnh-settlement",
        "usd-settlement",
        "kyc-pending",
        "kyc-expired",
    ],
)
def test_each_rule_can_fail_and_is_named(
    change: dict[str, str], rule: str, outcome: str, decision: str
) -> None:
    market_open = None if rule == "market switch" else True
    result = evaluate({**GOOD, **change}, ON, market_open=market_open)
    assert _outcomes(result)[rule] == outcome
    assert result.decision.value == decision
    if outcome == "fail":
        assert rule in {r.rule for r in result.failed}
    # every rule is still evaluated and reported
    assert len(result.rules) == 6


def test_fatf_list_as_of_the_decision_date() -> None:
    # Croatia left the grey list on 13 June 2025; Bolivia joined it
    before = evaluate({**GOOD, "jurisdiction": "HR"}, D(2025, 3, 1), market_open=True)
    after = evaluate({**GOOD, "jurisdiction": "HR"}, D(2025, 7, 1), market_open=True)
    assert _outcomes(before)["jurisdiction"] == "enhanced due diligence"
    assert _outcomes(after)["jurisdiction"] == "pass"
    with pytest.raises(InvalidInputError, match="no FATF list on or before 2020-01-01"):
        evaluate(GOOD, D(2020, 1, 1))


def test_cnh_funding_is_fine_and_ftn_with_its_bank_passes() -> None:
    ftn = {
        **GOOD,
        "channel": "ftn",
        "ft_bank": "SPDB FT unit",
        "ftn_account_no": "FTN-1",
        "funding_currency": "CNH",
    }
    assert evaluate(ftn, ON, market_open=True).decision.value == "eligible"


def test_malformed_participants() -> None:
    with pytest.raises(InvalidInputError, match=r"lacks the fields \['kyc_status'\]"):
        evaluate({k: v for k, v in GOOD.items() if k != "kyc_status"}, ON)
    with pytest.raises(InvalidInputError, match="ISO 3166-1 alpha-2"):
        evaluate({**GOOD, "jurisdiction": "Norway"}, ON)
    with pytest.raises(InvalidInputError, match="`kyc_expiry` must be a date"):
        evaluate({**GOOD, "kyc_expiry": "next year"}, ON)


def test_supervisory_haircut_scaling() -> None:
    # Basel: 8% at 10 business days with daily remargining; H = 8% x sqrt((N_R + T_M - 1)/10)
    assert currency_mismatch_haircut("CNY", "USD").haircut_frac == pytest.approx(0.08)
    secured = currency_mismatch_haircut("CNY", "USD", holding_days=20, remargin_days=1)
    assert secured.haircut_frac == pytest.approx(0.08 * math.sqrt(2.0))
    weekly = currency_mismatch_haircut("CNY", "EUR", holding_days=20, remargin_days=5)
    assert weekly.haircut_frac == pytest.approx(0.08 * math.sqrt(24 / 10))
    assert currency_mismatch_haircut("CNY", "CNY").haircut_frac == 0.0
    assert currency_mismatch_haircut("CNY", "CNH").haircut_frac == pytest.approx(0.08)
    assert scale_haircut(0.08, 10, 5, 1) == pytest.approx(0.08 * math.sqrt(0.5))
    with pytest.raises(InvalidInputError, match="`holding_days` must be an integer >= 1"):
        currency_mismatch_haircut("CNY", "USD", holding_days=0)


def test_own_estimate_from_the_pair_volatility() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.003, 1000)
    h = currency_mismatch_haircut("CNY", "USD", daily_log_returns=r, holding_days=10)
    expected = 2.3263478740408408 * np.std(r, ddof=1) * math.sqrt(10)  # z(99%) x sigma x sqrt(10)
    assert h.haircut_frac == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InvalidInputError, match="at least 250"):
        currency_mismatch_haircut("CNY", "USD", daily_log_returns=r[:100])
