"""The conventions tables against their sources: QuantLib's day counters, currencies and indices,
published day-count examples, and the import-time completeness check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings

import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin._quantlib import calendar, day_counter
from carbonfin.conventions import (
    INDICES,
    Compounding,
    Currency,
    DayCount,
    MoneyMarketRate,
    check_tables,
    index_convention,
    year_fraction,
)
from carbonfin.errors import (
    DataIntegrityError,
    InvalidInputError,
    UnknownCurrencyError,
    UnknownInstrumentError,
)
from carbonfin.fx import forward_rate
from carbonfin.pricing import bootstrap_curve

D = dt.date


def _ql(d: dt.date) -> ql.Date:
    return ql.Date(d.day, d.month, d.year)


# --- day counts -------------------------------------------------------------------------------


def test_published_day_count_examples() -> None:
    # ISDA, "EMU and market conventions: recent developments" (1998), ACT/ACT ISDA example:
    # 1 Nov 2003 -> 1 May 2004 = 61/365 + 121/366 = 0.497724380567
    assert year_fraction(D(2003, 11, 1), D(2004, 5, 1), "ACT/ACT ISDA") == pytest.approx(
        0.497724380567, abs=5e-13
    )
    # 30/360 Bond Basis (ISDA 2006 4.16(f)): 31 Jan -> 31 Mar: D1 31->30, D2 31->30 (D1 = 30):
    # (30*2 + 0)/360 = 60/360; 28 Feb -> 31 Mar: D2 stays 31: (30 + 3)/360
    assert year_fraction(D(2024, 1, 31), D(2024, 3, 31), DayCount.THIRTY_360) == 60 / 360
    assert year_fraction(D(2023, 2, 28), D(2023, 3, 31), "30/360") == 33 / 360
    # ACT/360 and ACT/365F: 182 days
    assert year_fraction(D(2026, 1, 5), D(2026, 7, 6), "act/360") == 182 / 360
    assert year_fraction(D(2026, 1, 5), D(2026, 7, 6), "ACT/365") == 182 / 365
    assert year_fraction(D(2026, 7, 6), D(2026, 1, 5), "ACT/360") == -182 / 360


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=D(1990, 1, 1), max_value=D(2080, 12, 31)),
    st.integers(min_value=0, max_value=20_000),
    st.sampled_from(list(DayCount)),
)
def test_year_fraction_agrees_with_quantlib(start: dt.date, days: int, dc: DayCount) -> None:
    end = start + dt.timedelta(days=days)
    ref = day_counter(dc).yearFraction(_ql(start), _ql(end))
    assert year_fraction(start, end, dc) == pytest.approx(ref, rel=1e-14, abs=1e-15)


def test_day_count_errors_are_the_engines() -> None:
    with pytest.raises(InvalidInputError, match="unknown day count 'ACT/999'"):
        DayCount("ACT/999")
    with pytest.raises(InvalidInputError, match="unknown compounding 'weekly'"):
        Compounding("weekly")
    with pytest.raises(InvalidInputError, match=r"`start` must be a datetime\.date"):
        year_fraction("2026-01-01", D(2026, 2, 1), "ACT/360")  # type: ignore[arg-type]


# --- currencies: a test per currency that every table holds it --------------------------------


@pytest.mark.parametrize("ccy", list(Currency), ids=[c.code for c in Currency])
def test_every_table_holds_the_currency(ccy: Currency) -> None:
    info = ccy.value
    # ISO 4217 numeric code and minor units: against QuantLib's currency classes
    ql_ccy = getattr(ql, f"{ccy.code}Currency")()
    assert int(info.numeric) == ql_ccy.numericCode()
    assert 10**info.minor_units == ql_ccy.fractionsPerUnit() or ccy is Currency.JPY
    # money-market day count: mapped to QuantLib, and equal to the currency's own index
    assert day_counter(info.money_market_day_count) is not None
    if info.money_market_index is not None:
        assert INDICES[info.money_market_index].currency == ccy.code
        assert INDICES[info.money_market_index].day_count is info.money_market_day_count
    # settlement calendar resolves, spot lag is set, a source is given
    assert calendar(info.settlement_calendar) is not None
    assert info.spot_lag_days == 2
    assert info.source
    # the FX forward reads a plain money-market rate of the currency on this day count
    rate = MoneyMarketRate.for_currency(ccy, 0.03)
    assert rate.day_count is info.money_market_day_count
    # parsing round-trips, in any case
    assert Currency.parse(ccy.code.lower()) is ccy
    assert Currency(ccy.code) is ccy


def test_jpy_has_no_minor_unit_although_quantlib_counts_sen() -> None:
    # ISO 4217: JPY minor unit 0 (QuantLib keeps 100 sen per yen for its own rounding)
    assert Currency.JPY.minor_units == 0
    assert Currency.KWD.minor_units == 3


def test_cny_money_market_is_act_360_like_shibor() -> None:
    # CFETS: CNY interbank deposits and SHIBOR are actual/360 (the FX forwards said ACT/365F)
    assert Currency.CNY.money_market_day_count is DayCount.ACT_360
    assert Currency.CNH.money_market_day_count is DayCount.ACT_365F  # CNH HIBOR, TMA


def test_an_unknown_currency_is_its_own_invalid_input_error() -> None:
    with pytest.raises(UnknownCurrencyError, match="unknown currency code 'XYZ'") as err:
        Currency("XYZ")
    assert isinstance(err.value, InvalidInputError)
    assert not isinstance(err.value, UnknownInstrumentError)
    with pytest.raises(UnknownCurrencyError):
        Currency(156)
    with pytest.raises(UnknownCurrencyError, match="`currency` must be a string"):
        Currency.parse(3.5)  # type: ignore[arg-type]


# --- indices ------------------------------------------------------------------------------------


QL_INDICES = {
    "SHIBOR": lambda: ql.Shibor(ql.Period("3M")),
    "SOFR": lambda: ql.Sofr(),
    "ESTR": lambda: ql.Estr(),
    "SONIA": lambda: ql.Sonia(),
    "TONA": lambda: ql.Tonar(),
    "SARON": lambda: ql.Saron(),
    "CORRA": lambda: ql.Corra(),
    "AONIA": lambda: ql.Aonia(),
}


@pytest.mark.parametrize("name", sorted(QL_INDICES))
def test_index_day_counts_agree_with_quantlib(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref = QL_INDICES[name]()
    conv = INDICES[name]
    assert ref.dayCounter() == day_counter(conv.day_count)
    assert ref.currency().code() == conv.currency


def test_the_requested_index_conventions_and_their_sources() -> None:
    expected = {
        "SHIBOR": DayCount.ACT_360,
        "FR007": DayCount.ACT_365F,
        "SOFR": DayCount.ACT_360,
        "ESTR": DayCount.ACT_360,
        "HIBOR": DayCount.ACT_365F,
    }
    for name, dc in expected.items():
        assert INDICES[name].day_count is dc
        assert INDICES[name].source
    assert index_convention("€STR") is INDICES["ESTR"]
    with pytest.raises(InvalidInputError, match="unknown money-market index 'LIBOR'"):
        index_convention("LIBOR")


# --- rates that carry their convention --------------------------------------------------------


@pytest.mark.parametrize(
    ("compounding", "ql_compounding"),
    [
        (Compounding.SIMPLE, ql.Simple),
        (Compounding.ANNUAL, ql.Compounded),
        (Compounding.CONTINUOUS, ql.Continuous),
    ],
    ids=["simple", "annual", "continuous"],
)
@pytest.mark.parametrize("dc", list(DayCount), ids=[d.value for d in DayCount])
def test_discount_factors_agree_with_quantlib_interest_rates(
    compounding: Compounding, ql_compounding: int, dc: DayCount
) -> None:
    start, end = D(2026, 3, 2), D(2027, 9, 30)
    rate = MoneyMarketRate(0.0325, dc, compounding)
    ref = ql.InterestRate(0.0325, day_counter(dc), ql_compounding, ql.Annual)
    assert rate.discount_factor(start, end) == pytest.approx(
        ref.discountFactor(_ql(start), _ql(end)), rel=1e-14
    )


def test_the_same_shibor_fixing_gives_the_same_discount_factor_in_curve_and_fx_forward() -> None:
    # A 3M SHIBOR fixing of 1.65% on Mon 2 Mar 2026, deposit from the curve date (T+0):
    # the bootstrapped curve and the USD/CNY forward must discount the CNY leg identically.
    as_of = D(2026, 3, 2)
    curve = bootstrap_curve(as_of, {"3M": 0.0165}, convention="SHIBOR")
    end = D(2026, 6, 2)  # 2 Mar + 3M, a business day in China and the US: 92 days
    q = forward_rate(
        "USD/CNY",
        7.10,
        MoneyMarketRate.fixing("SOFR", 0.0430),
        MoneyMarketRate.fixing("SHIBOR", 0.0165),
        as_of,
        "3M",
    )
    assert q.end == end
    assert q.quote.discount_factor == pytest.approx(float(curve.discount(end)), rel=1e-13)
    # by hand: 1 / (1 + 0.0165 x 92/360) = 1 / 1.0042166... = 0.99580110...
    assert q.quote.discount_factor == pytest.approx(1 / (1 + 0.0165 * 92 / 360), rel=1e-15)
    # a FR007 curve (ACT/365F) is a different basis and discounts differently
    fr007 = bootstrap_curve(as_of, {"3M": 0.0165}, convention="FR007")
    assert float(fr007.discount(end)) == pytest.approx(1 / (1 + 0.0165 * 92 / 365), rel=1e-13)
    assert "SHIBOR fixings (ACT/360" in curve.source


# --- the import-time completeness check -------------------------------------------------------


def test_a_half_added_currency_fails_with_a_clear_message() -> None:
    rows = [(m.name, m.value) for m in Currency]
    half = dataclasses.replace(
        Currency.USD.value,
        code="XAU",
        iso_code="XAU",
        numeric="95",
        settlement_calendar="",
        money_market_index="SHIBOR",
        source="",
    )
    with pytest.raises(DataIntegrityError) as err:
        check_tables([*rows, ("XAU", half)])
    message = str(err.value)
    assert "XAU: numeric '95' is not three digits" in message
    assert "XAU: settlement_calendar is empty" in message
    assert "XAU: source is empty" in message
    assert "XAU: index SHIBOR belongs to CNY" in message
    # a row missing fields cannot even be written: the dataclass names them
    with pytest.raises(TypeError, match="settlement_calendar"):
        type(Currency.USD.value)(  # type: ignore[call-arg]
            code="XAG",
            iso_code="XAG",
            numeric="961",
            minor_units=2,
            name="Silver",
            money_market_day_count=DayCount.ACT_360,
            money_market_index=None,
            spot_lag_days=2,
            source="x",
        )
    # an index naming a currency outside the table
    with pytest.raises(DataIntegrityError, match="index TIBOR: currency 'XYZ' is not in the table"):
        check_tables(
            indices={"TIBOR": dataclasses.replace(INDICES["SOFR"], name="TIBOR", currency="XYZ")}
        )
    check_tables()  # the shipped tables are complete
