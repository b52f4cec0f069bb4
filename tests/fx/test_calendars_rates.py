"""China calendars against the State Council's 2026 schedule; spot dates; rates and conversion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from carbonfin._quantlib import business_days, is_business_day
from carbonfin.errors import (
    InvalidInputError,
    MissingDataError,
    ProvisionalCalendarWarning,
    StaleDataError,
    UnknownCurrencyError,
    UnknownInstrumentError,
)
from carbonfin.fx import (
    RateStore,
    check_pairs,
    convert,
    modified_following,
    round_money,
    spot_date,
    tenor_end,
)

D = dt.date

# State Council General Office notice on the 2026 holiday arrangements (国办发明电〔2025〕7号):
# New Year 1-3 Jan (work Sun 4 Jan); Spring Festival 15-23 Feb (work Sat 14 Feb, Sat 28 Feb);
# Qingming 4-6 Apr; Labour Day 1-5 May (work Sat 9 May); Dragon Boat 19-21 Jun;
# Mid-Autumn 25-27 Sep; National Day 1-7 Oct (work Sun 20 Sep, Sat 10 Oct).
HOLIDAY_WEEKDAYS_2026 = [
    D(2026, 1, 1),
    D(2026, 1, 2),
    D(2026, 2, 16),
    D(2026, 2, 17),
    D(2026, 2, 18),
    D(2026, 2, 19),
    D(2026, 2, 20),
    D(2026, 2, 23),
    D(2026, 4, 6),
    D(2026, 5, 1),
    D(2026, 5, 4),
    D(2026, 5, 5),
    D(2026, 6, 19),
    D(2026, 9, 25),
    D(2026, 10, 1),
    D(2026, 10, 2),
    D(2026, 10, 5),
    D(2026, 10, 6),
    D(2026, 10, 7),
]
WORKING_WEEKENDS_2026 = [
    D(2026, 1, 4),
    D(2026, 2, 14),
    D(2026, 2, 28),
    D(2026, 5, 9),
    D(2026, 9, 20),
    D(2026, 10, 10),
]


def _weekday_holidays(calendar: str) -> list[dt.date]:
    open_days = set(business_days(D(2026, 1, 1), D(2026, 12, 31), calendar))
    days = (D(2026, 1, 1) + dt.timedelta(i) for i in range(365))
    return [d for d in days if d.weekday() < 5 and d not in open_days]


def test_2026_interbank_calendar_matches_the_state_council_schedule() -> None:
    assert _weekday_holidays("China.IB") == HOLIDAY_WEEKDAYS_2026
    # the interbank market works the official weekend working days; the exchange does not
    for day in WORKING_WEEKENDS_2026:
        assert is_business_day(day, "China.IB")
        assert not is_business_day(day, "China.SSE")
    assert _weekday_holidays("China.SSE") == HOLIDAY_WEEKDAYS_2026


def test_spot_dates_across_chinese_and_us_holidays() -> None:
    # across National Day: traded Tue 29 Sep; 30 Sep is T+1; 1-7 Oct closed; Sat 10 Oct is an
    # interbank working day but not a US one -> spot Thu 8 Oct
    assert spot_date(D(2026, 9, 29), "USD/CNY") == D(2026, 10, 8)
    # across Thanksgiving (Thu 26 Nov 2026, a Federal Reserve holiday): T+2 from Tue 24 Nov
    assert spot_date(D(2026, 11, 24), "USD/CNY") == D(2026, 11, 27)
    # EUR/CNY counts on the EUR and CNY calendars, then moves off the US holiday
    assert spot_date(D(2026, 11, 24), "EUR/CNY") == D(2026, 11, 27)
    # Columbus Day (Mon 12 Oct 2026) for a trade on Fri 9 Oct
    assert spot_date(D(2026, 10, 9), "USD/CNY") == D(2026, 10, 14)
    assert spot_date(D(2026, 3, 2), "USD/CNY", lag=0) == D(2026, 3, 2)
    assert spot_date(D(2026, 3, 2), "USD/CAD") == D(2026, 3, 3)  # T+1 pair


def test_spot_date_into_2027_is_answered_provisionally() -> None:
    # issue 10: spot_date(2026-12-30, USD/CNY) raised "beyond the holiday data". Wed 30 Dec:
    # T+1 Thu 31 Dec; Fri 1 Jan 2027 is New Year in China (provisional) and the US; Mon 4 Jan
    # 2027 (New Year on a Friday is a single day off under the 2024 调休 principles) is T+2.
    with pytest.warns(ProvisionalCalendarWarning, match=r"China\.IB: 2027"):
        assert spot_date(D(2026, 12, 30), "USD/CNY") == D(2027, 1, 4)
    # 2027 Spring Festival, provisionally 除夕 5 Feb to 正月初七 12 Feb (8 days from the eve):
    # Wed 3 Feb, T+1 Thu 4 Feb, T+2 Mon 15 Feb -- Presidents' Day in the US -> Tue 16 Feb
    with pytest.warns(ProvisionalCalendarWarning):
        assert spot_date(D(2027, 2, 3), "USD/CNY") == D(2027, 2, 16)


def test_calendar_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="BASE/QUOTE"):
        spot_date(D(2026, 3, 2), "USDCNY")
    with pytest.raises(UnknownCurrencyError, match="unknown currency code 'XYZ'") as err:
        spot_date(D(2026, 3, 2), "USD/XYZ")
    # issue 9 item 13: an unknown currency is not an unknown instrument
    assert not isinstance(err.value, UnknownInstrumentError)
    assert isinstance(err.value, InvalidInputError)


def test_forward_end_dates_roll_modified_following_on_the_joint_calendar() -> None:
    # National Day: 1-7 Oct 2026 closed in China; Thu 8 Oct is good in CNY and USD
    assert modified_following(D(2026, 10, 1), "USD/CNY") == D(2026, 10, 8)
    # Sun 31 May 2026: the following good day (Mon 1 Jun) is in June -> back to Fri 29 May
    assert modified_following(D(2026, 5, 31), "USD/CNY") == D(2026, 5, 29)
    # Sat 14 Feb 2026 is an interbank working day but not a US one -> Tue 17 Feb is the
    # Spring Festival; the next day good in both is Tue 24 Feb
    assert modified_following(D(2026, 2, 14), "USD/CNY") == D(2026, 2, 24)
    # end-of-month rule: Fri 30 Jan 2026 is the last good day of January, so "1M" ends on the
    # last good day of February (Sat 28 Feb is a CIBM working day, not a US one) -> Fri 27 Feb
    assert tenor_end(D(2026, 1, 30), "1M", "USD/CNY") == D(2026, 2, 27)
    # an ordinary date: 5 Jan + 6M = 5 Jul 2026 (Sunday) -> Mon 6 Jul
    assert tenor_end(D(2026, 1, 5), "6M", "USD/CNY") == D(2026, 7, 6)
    with pytest.raises(InvalidInputError, match="malformed tenor 'soon'"):
        tenor_end(D(2026, 1, 5), "soon", "USD/CNY")


STORE = RateStore.from_records(
    [
        (D(2026, 9, 30), "USD/CNY", "7.1200"),
        (D(2026, 10, 2), "USD/CNY", "7.1300"),  # not a China fixing day: for the staleness tests
        (D(2026, 9, 30), "EUR/CNY", "8.3565"),
        (D(2026, 9, 30), "JPY/CNY", "0.045823"),
        (D(2026, 9, 30), "USD/CNH", "7.1345"),
    ]
)


def test_triangulation_through_cny() -> None:
    q = STORE.rate("EUR", "USD", D(2026, 9, 30))
    # 8.3565 / 7.1200 = 1.17366573033707865168539325842696(6) to 34 digits (long division)
    assert q.rate == Decimal("1.173665730337078651685393258426966")
    assert q.route == ("EUR/CNY", "1/USD/CNY")
    inverse = STORE.rate("CNY", "JPY", D(2026, 9, 30))
    assert inverse.rate == Decimal("21.82310193570914169740086855945704")  # 1 / 0.045823
    # EUR -> JPY: EUR/CNY x 1/(JPY/CNY), worked by hand:
    # 1000 x 8.3565 = 8356.5 CNY; 8356.5 / 0.045823 = 182 364.7513... JPY -> 182 365 (JPY has
    # no minor unit)
    c = convert("1000", "EUR", "JPY", on=D(2026, 9, 30), store=STORE)
    assert c.converted == Decimal("182365")
    assert c.converted.as_tuple().exponent == 0


def test_rounding_is_half_up_where_half_even_would_differ() -> None:
    # 0.125 CNY at 0.05 CNY per JPY = exactly 2.5 JPY: half up gives 3 (half even would give 2)
    store = RateStore.from_records([(D(2026, 9, 30), "JPY/CNY", "0.05")])
    assert convert("0.125", "CNY", "JPY", on=D(2026, 9, 30), store=store).converted == Decimal(3)
    # 0.5 JPY -> 1 (half even: 0); 0.0125 CNY at 2 minor units -> 0.01 either way, 0.015 -> 0.02
    assert round_money(Decimal("0.5"), "JPY") == Decimal(1)
    assert round_money(Decimal("0.025"), "CNY") == Decimal("0.03")  # half even: 0.02


def test_weekend_conversion_returns_the_friday_fixing_and_says_so() -> None:
    store = RateStore.from_records([(D(2026, 3, 6), "USD/CNY", "7.0500")])  # Friday
    c = convert(Decimal("250.00"), "USD", "CNY", on=D(2026, 3, 8), store=store)  # Sunday
    assert c.converted == Decimal("1762.50")
    assert c.quote.fixing_date == D(2026, 3, 6)
    assert c.quote.substituted
    assert (
        c.quote.reason
        == "2026-03-08 is a Sunday; used the last fixing, of 2026-03-06 (2 days earlier)"
    )


def test_holiday_conversion_names_the_holiday() -> None:
    c = convert(1_000_000, "USD", "CNY", on=D(2026, 10, 1), store=STORE)
    assert c.converted == Decimal("7120000.00")
    assert c.quote.fixing_date == D(2026, 9, 30)
    assert "holiday of the China interbank market" in c.quote.reason


def test_stale_rate_beyond_the_limit_raises() -> None:
    with pytest.raises(StaleDataError, match="from 2026-10-02, 13 days old \\(limit 10 days\\)"):
        STORE.rate("USD", "CNY", D(2026, 10, 15))
    assert STORE.rate("USD", "CNY", D(2026, 10, 15), max_age_days=14).fixing_date == D(2026, 10, 2)
    with pytest.raises(MissingDataError, match="no USD/CNY fixing on or before 2026-01-01"):
        STORE.rate("USD", "CNY", D(2026, 1, 1))
    with pytest.raises(MissingDataError, match="no rate from GBP to CNY: no chain"):
        STORE.rate("GBP", "CNY", D(2026, 9, 30))


def test_minor_units_and_bad_amounts() -> None:
    assert round_money(Decimal("1.005"), "CNY") == Decimal("1.01")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")
    with pytest.raises(InvalidInputError, match="`amount` must be >= 0; got -5"):
        convert(-5, "USD", "CNY", on=D(2026, 9, 30), store=STORE)
    with pytest.raises(InvalidInputError, match="`amount` must be finite"):
        convert(float("nan"), "USD", "CNY", on=D(2026, 9, 30), store=STORE)
    with pytest.raises(UnknownCurrencyError, match="unknown currency code 'RMB'"):
        convert(5, "USD", "RMB", on=D(2026, 9, 30), store=STORE)


def test_pair_sets_must_be_exactly_determined() -> None:
    check_pairs(["USD", "CNY", "EUR"], ["USD/CNY", "EUR/CNY"])
    with pytest.raises(InvalidInputError, match="over-specified: pair EUR/USD closes a cycle"):
        check_pairs(["USD", "CNY", "EUR"], ["USD/CNY", "EUR/CNY", "EUR/USD"])
    with pytest.raises(InvalidInputError, match="under-specified: 1 pairs leave 2 unconnected"):
        check_pairs(["USD", "CNY", "EUR"], ["USD/CNY"])
    STORE.check()  # the sample's pair set is a spanning tree


def test_settlement_currency_is_onshore_cny() -> None:
    from carbonfin.fx import settlement_currency
    from carbonfin.instruments import Currency

    assert settlement_currency("cny") is Currency.CNY
    with pytest.raises(InvalidInputError, match="CNH is the offshore renminbi market rate"):
        settlement_currency("CNH")
    with pytest.raises(InvalidInputError, match="convert USD amounts before settlement"):
        settlement_currency("USD")


# --- routing over the pair graph, a fixing date per leg, a fixed decimal context (issue 9.5, 9.19)


def test_a_spanning_set_without_the_pivot_routes_every_cross() -> None:
    # {USD/CNY, EUR/USD} is a spanning tree: check() accepts it, and EUR -> CNY must work
    # (it failed before: the router only tried one hop through CNY)
    store = RateStore.from_records(
        [(D(2026, 9, 30), "USD/CNY", "7.1200"), (D(2026, 9, 30), "EUR/USD", "1.1736")]
    )
    store.check()
    q = store.rate("EUR", "CNY", D(2026, 9, 30))
    assert q.route == ("EUR/USD", "USD/CNY")
    assert q.rate == Decimal("8.35603200")  # 1.1736 x 7.1200, by hand
    inverse = store.rate("CNY", "EUR", D(2026, 9, 30))
    assert inverse.route == ("1/USD/CNY", "1/EUR/USD")


def test_cny_to_cnh_goes_through_usd_and_names_both_legs() -> None:
    store = RateStore.from_records(
        [(D(2026, 9, 30), "USD/CNY", "7.1200"), (D(2026, 9, 30), "USD/CNH", "7.1345")]
    )
    c = convert("1000", "CNY", "CNH", on=D(2026, 9, 30), store=store)
    # 1000 CNY / 7.1200 = 140.4494... USD; x 7.1345 = 1002.0365... CNH -> 1002.04
    assert c.converted == Decimal("1002.04")
    assert c.quote.route == ("1/USD/CNY", "USD/CNH")
    assert [leg.pair.code for leg in c.quote.legs] == ["USD/CNY", "USD/CNH"]
    assert [leg.inverted for leg in c.quote.legs] == [True, False]


def test_each_leg_keeps_its_own_fixing_date() -> None:
    # 2 Oct 2026: China's interbank market is closed (National Day) but the ECB fixes EUR/USD.
    store = RateStore.from_records(
        [
            (D(2026, 9, 30), "USD/CNY", "7.1200"),
            (D(2026, 9, 30), "EUR/USD", "1.1700"),
            (D(2026, 10, 2), "EUR/USD", "1.1736"),
        ]
    )
    q = store.rate("EUR", "CNY", D(2026, 10, 2))
    eur_usd, usd_cny = q.legs
    assert eur_usd.fixing_date == D(2026, 10, 2)
    assert eur_usd.rate == Decimal("1.1736")
    assert eur_usd.reason == "fixing of 2026-10-02"
    assert usd_cny.fixing_date == D(2026, 9, 30)
    assert "holiday of the China interbank market" in usd_cny.reason
    assert q.fixing_dates == (D(2026, 10, 2), D(2026, 9, 30))
    assert q.substituted
    assert "EUR/USD: fixing of 2026-10-02" in q.reason


def test_rates_do_not_depend_on_the_callers_decimal_context() -> None:
    import decimal

    expected = STORE.rate("EUR", "USD", D(2026, 9, 30)).rate
    amount = convert("1234567.89", "EUR", "USD", on=D(2026, 9, 30), store=STORE).converted
    # 8.3565 / 7.1200 to 34 significant digits (decimal128), by long division
    assert expected == Decimal("1.173665730337078651685393258426966")
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        ctx.rounding = decimal.ROUND_DOWN
        assert STORE.rate("EUR", "USD", D(2026, 9, 30)).rate == expected
        assert convert("1234567.89", "EUR", "USD", on=D(2026, 9, 30), store=STORE).converted == (
            amount
        )
    assert amount == Decimal("1448970.02")  # 1 234 567.89 x 1.17366573... = 1 448 970.0242...
