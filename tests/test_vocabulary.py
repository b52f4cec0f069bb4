"""Instruments, currencies, error hierarchy, market rules: checked against their sources."""

from __future__ import annotations

import datetime as dt

import pytest

from carbonfin.errors import (
    CarbonfinError,
    InvalidInputError,
    MissingDataError,
    UnknownInstrumentError,
)
from carbonfin.instruments import Currency, Instrument, Product, parse_product
from carbonfin.rules import market_rules


def test_instrument_parse_accepts_case_and_whitespace() -> None:
    assert Instrument.parse(" shea ") is Instrument.SHEA
    assert Instrument.CEA.has_vintage
    assert not Instrument.CCER.has_vintage


@pytest.mark.parametrize("bad", ["EUA", "", "SHEA2"])
def test_unknown_instrument_is_a_specific_error(bad: str) -> None:
    with pytest.raises(UnknownInstrumentError, match="instrument"):
        Instrument.parse(bad)


def test_product_codes_round_trip() -> None:
    product = parse_product("SHEA24")
    assert product == Product(Instrument.SHEA, 2024)
    assert product.code == "SHEA24"
    assert parse_product("CCER").vintage is None


def test_iso_4217_minor_units_and_numeric_codes() -> None:
    # ISO 4217 list one (SIX, 2024): JPY has 0 minor units, KWD 3, the others 2.
    assert Currency.JPY.minor_units == 0
    assert Currency.KWD.minor_units == 3
    assert Currency.USD.value.numeric == "840"
    assert Currency.CNY.value.numeric == "156"
    assert not Currency.CNH.is_iso  # CNH is a market code, not in ISO 4217
    assert Currency.parse("cnh") is Currency.CNH
    with pytest.raises(InvalidInputError):
        Currency.parse("XYZ")


def test_error_hierarchy_keeps_builtin_bases() -> None:
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(MissingDataError, LookupError)
    assert issubclass(UnknownInstrumentError, CarbonfinError)


def test_market_rules_match_published_values() -> None:
    rules = market_rules()
    cea = rules[Instrument.CEA]
    # 全国碳排放权交易市场: listed ±10%, block ±30%; first trade 2021-07-16 at 52.78 CNY/t.
    assert cea.price_limit.listed_frac == pytest.approx(0.10)
    assert cea.price_limit.block_frac == pytest.approx(0.30)
    assert not cea.price_limit.assumed
    assert cea.first_trade_date == dt.date(2021, 7, 16)
    assert cea.first_trade_price_cny_per_t == pytest.approx(52.78)
    # SHEA's limit is not yet sourced from the SEEE rules: it must say so.
    assert rules[Instrument.SHEA].price_limit.assumed
    assert rules[Instrument.SHEA].compliance_deadline_month == 6
    for rule in rules.values():
        assert rule.price_limit.source
    # issue 10: each market trades on its own China calendar (carbonfin.calendars)
    assert rules[Instrument.SHEA].calendar == "China.SEEE"
    assert rules[Instrument.CEA].calendar == "China.CEA"
    assert rules[Instrument.CCER].calendar == "China.SSE"
