"""Money against the ISO 4217 minor units of the one currency table (carbonfin.conventions)."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonfin import fx
from carbonfin.cli._report import Money, money
from carbonfin.conventions import Currency, check_minor_units, format_money, round_money
from carbonfin.errors import InvalidInputError

# ISO 4217 list one (SIX, 2024): JPY 0 minor-unit digits (no sen in circulation), CNY 2 (fen),
# KWD 3 (fils).


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1000", "JPY"), ("1000.00", "JPY"), ("1000.50", "CNY"), ("1000.5", "CNY"),
     ("1000.505", "KWD"), ("0.001", "KWD")],
    ids=lambda v: str(v),
)  # fmt: skip
def test_whole_minor_units_are_accepted_as_given(amount: str, currency: str) -> None:
    value = Decimal(amount)
    assert check_minor_units(value, currency, "principal") is value


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1000.50", "JPY", "`principal` in JPY must be a whole number of Japanese yen "
         "(ISO 4217 list one (SIX, 2024): JPY has 0 minor-unit digits); got 1000.50"),
        ("1000.505", "CNY", "`principal` in CNY must have at most 2 decimals (ISO 4217 list one "
         "(SIX, 2024): CNY has 2 minor-unit digits); got 1000.505"),
        ("0.0001", "KWD", "`principal` in KWD must have at most 3 decimals"),
    ],
    ids=["jpy-sen", "cny-3", "kwd-4"],
)  # fmt: skip
def test_finer_amounts_are_refused_with_the_rule(amount: str, currency: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_minor_units(Decimal(amount), currency, "principal")
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [("1000", "JPY", "1000"), ("1000.00", "JPY", "1000"), ("1000.5", "CNY", "1000.50"),
     ("1234567.505", "KWD", "1234567.505"), ("1E+3", "CNY", "1000.00"),
     ("1000.50", "JPY", "1000.5")],
    ids=lambda v: str(v),
)  # fmt: skip
def test_format_writes_the_minor_units_and_never_drops_a_digit(
    amount: str, currency: str, text: str
) -> None:
    assert format_money(Decimal(amount), currency) == text


@given(
    amount=st.decimals(min_value=0, max_value=10**13, places=4, allow_nan=False),
    currency=st.sampled_from(list(Currency)),
)
def test_accepted_iff_a_whole_number_of_minor_units_and_format_round_trips(
    amount: Decimal, currency: Currency
) -> None:
    scaled = amount.scaleb(currency.minor_units)
    whole = scaled == scaled.to_integral_value()
    try:
        check_minor_units(amount, currency, "x")
        accepted = True
    except InvalidInputError:
        accepted = False
    assert accepted == whole
    text = format_money(amount, currency)
    assert Decimal(text) == amount
    assert len(text.partition(".")[2]) >= currency.minor_units


# round_money is the one rounding rule: the command line's reports (carbonfin.cli._report.money)
# and FX conversions (carbonfin.fx.round_money, the same function) both use it. Before, the CLI
# had its own copy in the caller's decimal context (28 digits), which raised a bare
# decimal.InvalidOperation for large or infinite amounts and printed "NaN CNY". ARCHITECTURE.md
# (Conventions): bad input gets a specific error, never a wrong number; so the rule is the FX
# one (34 digits, its own context) and a non-finite amount is refused.


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [("0.5", "JPY", "1"), ("1234.5", "JPY", "1235"), ("0.025", "CNY", "0.03"),
     ("1.005", "CNY", "1.01"), ("-1.005", "CNY", "-1.01"), ("1.0005", "KWD", "1.001"),
     ("1E+3", "CNY", "1000.00"),
     ("123456789012345678901234567.125", "CNY", "123456789012345678901234567.13")],
    ids=lambda v: str(v),
)  # fmt: skip
def test_round_money_is_half_up_whatever_the_callers_context(
    amount: str, currency: str, rounded: str
) -> None:
    # Half up (ISO 4217 minor units: JPY 0, CNY 2, KWD 3); banker's rounding would give 0 JPY
    # and 0.02 CNY for the first and third. 30 significant digits: beyond the default
    # context's 28, inside decimal128's 34.
    with decimal.localcontext(decimal.Context(prec=5, rounding=decimal.ROUND_DOWN)):
        out = round_money(Decimal(amount), currency)
        shown = money(Decimal(amount), currency)
    assert str(out) == rounded
    assert shown == Money(Decimal(rounded), currency)
    assert fx.round_money is round_money


@pytest.mark.parametrize(
    ("amount", "message"),
    [("NaN", "amount must be finite; got NaN CNY"),
     ("-Infinity", "amount must be finite; got -Infinity CNY"),
     ("1E+40", "amount 1E+40 CNY has more than 34 significant digits at minor-unit precision")],
    ids=["nan", "infinity", "35-digits"],
)  # fmt: skip
def test_round_money_refuses_what_it_cannot_round(amount: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        round_money(Decimal(amount), "CNY")
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        money(Decimal(amount), "CNY")
