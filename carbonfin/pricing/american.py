"""American options on spot allowances through QuantLib (for completeness; listed carbon options
are European on futures, see :mod:`carbonfin.pricing.options`).

The spot allowance carries at ``r + c − y`` (see :mod:`carbonfin.pricing.forward`), which in the
Black-Scholes-Merton setting is a dividend yield ``q = y − c = −net_carry``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _ql_adapter

__all__ = ["AmericanPrice", "american_option"]


@dataclass(frozen=True, slots=True)
class AmericanPrice:
    """An American option's price with its European counterpart and the early-exercise premium."""

    price: float
    european_price: float
    method: str
    expiry_days: int

    @property
    def early_exercise_premium(self) -> float:
        return self.price - self.european_price


def american_option(
    spot: float,
    strike: float,
    expiry_years: float,
    vol: float,
    rate: float,
    *,
    net_carry: float = 0.0,
    call: bool = True,
    method: Literal["baw", "binomial"] = "baw",
    steps: int = 801,
) -> AmericanPrice:
    """Price an American option on a spot allowance.

    Parameters
    ----------
    spot, strike
        CNY per tonne, > 0.
    expiry_years
        ACT/365F; rounded to whole days (QuantLib prices between dates), at least one day.
    vol, rate
        Annualised volatility and continuously compounded rate, decimals.
    net_carry
        ``c − y`` of the allowance (decimal per year); the dividend yield is ``−net_carry``.
    method
        ``"baw"``: Barone-Adesi and Whaley (1987) quadratic approximation;
        ``"binomial"``: Cox-Ross-Rubinstein tree with ``steps`` steps (Hull, ch. 21).
    """
    for name, value in (("spot", spot), ("strike", strike)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InvalidInputError(f"`{name}` must be finite and > 0; got {value!r}")
    if not (math.isfinite(expiry_years) and expiry_years > 0):
        raise InvalidInputError(f"`expiry_years` must be finite and > 0; got {expiry_years!r}")
    if not (math.isfinite(vol) and vol > 0):
        raise InvalidInputError(f"`vol` must be finite and > 0; got {vol!r}")
    for name, value in (("rate", rate), ("net_carry", net_carry)):
        if not math.isfinite(value):
            raise InvalidInputError(f"`{name}` must be finite; got {value!r}")
    if method not in ("baw", "binomial"):
        raise InvalidInputError(f"`method` must be 'baw' or 'binomial'; got {method!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise InvalidInputError(f"`steps` must be an integer >= 1; got {steps!r}")
    days = max(1, round(expiry_years * 365))
    price, european = _ql_adapter.american_vanilla(
        float(spot),
        float(strike),
        days,
        float(vol),
        float(rate),
        -float(net_carry),
        call,
        method,
        steps,
    )
    return AmericanPrice(price, european, method, days)
