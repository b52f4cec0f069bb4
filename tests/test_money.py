"""Money against the ISO 4217 minor units of the one currency table (carbonfin.conventions)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonfin.conventions import Currency, check_minor_units, format_money
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
