"""Money amounts against their currency's ISO 4217 minor units.

The minor units are the ``minor_units`` column of the one currency table
(:class:`~carbonfin.conventions.Currency`, source :data:`ISO_4217`): JPY 0, CNY 2, KWD 3. An
amount that enters the system (a loan's principal, a repayment) must be a whole number of the
currency's minor unit: ``1000.50`` JPY is refused, never rounded. Amounts are compared by value,
so ``1000.00`` JPY is the whole number 1000.

An amount the engine computes (a conversion, a value shown in a report) is rounded to the minor
units by the one rule here, :func:`round_money`: half up, in a context of its own.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from carbonfin.conventions.currencies import ISO_4217, Currency
from carbonfin.errors import InvalidInputError

__all__ = [
    "ROUNDING_CONTEXT",
    "check_minor_units",
    "format_money",
    "minor_unit_quantum",
    "round_money",
]

#: The decimal context of :func:`round_money`, whatever the caller's ``decimal.getcontext()``:
#: 34 significant digits (IEEE 754 decimal128), and invalid operations, division by zero and
#: overflow raised rather than turned into NaN or infinity.
ROUNDING_CONTEXT = decimal.Context(
    prec=34,
    rounding=ROUND_HALF_UP,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def minor_unit_quantum(currency: Currency | str) -> Decimal:
    """The currency's smallest unit as a Decimal exponent: ``1`` for JPY, ``0.01`` for CNY."""
    return Decimal(1).scaleb(-Currency.parse(currency).minor_units)


def check_minor_units(amount: Decimal, currency: Currency | str, name: str) -> Decimal:
    """``amount`` unchanged if it is a whole number of ``currency``'s ISO 4217 minor unit.

    Parameters
    ----------
    amount
        The amount in ``currency`` (a finite Decimal).
    currency
        The currency (a :class:`Currency` or its code, any case).
    name
        The argument's name, for the message (``"principal"``).

    Returns
    -------
    Decimal
        ``amount`` as given (never rounded).

    Raises
    ------
    InvalidInputError
        ``amount`` has more decimals than the currency's minor units (its value, so
        ``1000.00`` JPY passes and ``1000.50`` JPY does not); an unknown currency
        (:class:`~carbonfin.errors.UnknownCurrencyError`).

    Examples
    --------
    >>> check_minor_units(Decimal("1000.50"), "CNY", "principal")
    Decimal('1000.50')
    """
    ccy = Currency.parse(currency)
    if not amount.is_finite():
        raise InvalidInputError(f"`{name}` must be a finite amount; got {amount}")
    digits = ccy.minor_units
    if amount == amount.quantize(minor_unit_quantum(ccy)):
        return amount
    if digits == 0:
        must = f"must be a whole number of {ccy.value.name}"
    else:
        must = f"must have at most {digits} decimals"
    raise InvalidInputError(
        f"`{name}` in {ccy.code} {must} ({ISO_4217}: {ccy.code} has {digits} minor-unit "
        f"digits); got {amount}"
    )


def format_money(amount: Decimal, currency: Currency | str, *, grouped: bool = False) -> str:
    """``amount`` written with its currency's minor-unit digits (``"1000"`` JPY, ``"1000.50"``
    CNY), or with more digits where it has them: a digit is never rounded away. ``grouped``
    adds thousands separators (``"1,000.50"``) for people."""
    exponent = amount.normalize().as_tuple().exponent
    own = -exponent if isinstance(exponent, int) else 0  # NaN and infinity have no digits
    places = max(Currency.parse(currency).minor_units, own)
    spec = f"{',' if grouped else ''}.{places}f"
    return format(amount, spec)


def round_money(amount: Decimal, currency: Currency | str) -> Decimal:
    """``amount`` rounded to ``currency``'s ISO 4217 minor units, half up.

    The one rounding rule for money the engine computes (FX conversions, the command line's
    reports). Half up (``0.125`` CNY -> ``0.13``, ``0.5`` JPY -> ``1``), not banker's rounding;
    the result does not depend on the caller's decimal context (:data:`ROUNDING_CONTEXT`).

    Raises
    ------
    InvalidInputError
        ``amount`` is NaN or infinite, or has more than 34 significant digits at minor-unit
        precision; an unknown currency (:class:`~carbonfin.errors.UnknownCurrencyError`).

    Examples
    --------
    >>> round_money(Decimal("1.005"), "CNY")
    Decimal('1.01')
    """
    ccy = Currency.parse(currency)
    if not amount.is_finite():
        raise InvalidInputError(f"amount must be finite; got {amount} {ccy.code}")
    try:
        return amount.quantize(
            Decimal(1).scaleb(-ccy.minor_units, context=ROUNDING_CONTEXT),
            rounding=ROUND_HALF_UP,
            context=ROUNDING_CONTEXT,
        )
    except InvalidOperation:
        raise InvalidInputError(
            f"amount {amount} {ccy.code} has more than {ROUNDING_CONTEXT.prec} significant "
            "digits at minor-unit precision"
        ) from None
