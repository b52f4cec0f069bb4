"""FX forwards by covered interest parity, on rates that carry their conventions.

``F = S · DF_base(start, end) / DF_quote(start, end)`` for a pair BASE/QUOTE quoted as units of
QUOTE per 1 BASE (e.g. USD/CNY = CNY per USD), ``start`` the spot date.

Each leg's rate is a :class:`~carbonfin.conventions.MoneyMarketRate` (it knows its day count and
compounding: ``MoneyMarketRate.fixing("SHIBOR", 0.0165)`` is ACT/360 simple) or a
:class:`~carbonfin.pricing.forward.DiscountCurve`. A bare float is refused: the engine will not
guess on which basis a fixing was quoted.

* Up to one year (*money market*): a simple rate gives ``DF = 1 / (1 + r·τ)`` on its own day
  count, i.e. ``F = S · (1 + r_quote·τ_quote) / (1 + r_base·τ_base)``.
* Beyond one year (*curve-based*): money-market deposits do not reach; a simple rate is read as
  a zero rate compounded annually on its day count, ``DF = (1 + r)^−τ`` (as a flat QuantLib
  ``FlatForward(r, dc, Compounded, Annual)`` curve), and the result says so. Annually or
  continuously compounded rates and discount curves are used as given at any tenor.

The end date is rolled Modified Following on the pair's joint calendar (both currencies, and USD
as for spot); a tenor (``"3M"``) is counted from the spot date with the end-of-month rule.
Forward points are ``(F − S)`` in pips (1e-4, or 1e-2 for JPY-quoted pairs).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carbonfin import calendars as china_calendars
from carbonfin.conventions import Compounding, Currency, MoneyMarketRate
from carbonfin.errors import InvalidInputError
from carbonfin.fx.calendars import Pair, modified_following, tenor_end

if TYPE_CHECKING:
    from carbonfin.pricing.forward import DiscountCurve

__all__ = ["ForwardQuote", "LegDiscount", "forward_points", "forward_rate"]


@dataclass(frozen=True, slots=True)
class LegDiscount:
    """One leg's discount factor from ``start`` to ``end`` and how it was obtained."""

    currency: Currency
    discount_factor: float
    basis: str
    how: str


@dataclass(frozen=True, slots=True)
class ForwardQuote:
    """A forward rate with the inputs and conventions that produced it.

    ``regime`` is ``"money market"`` (up to one year on simple money-market rates) or
    ``"curve"`` (beyond one year, or from curves / compounded zero rates); ``method`` states it
    in words, including any reading of a money-market rate as a zero rate beyond one year.
    ``requested_end`` is the date or tenor asked for, ``end`` the rolled value date.
    ``provisional_calendar`` is True when a China settlement calendar was used for a year whose
    State Council holiday notice is not on file (a provisional projection; see
    :mod:`carbonfin.calendars`).
    """

    pair: Pair
    spot: float
    forward: float
    points: float
    start: dt.date
    end: dt.date
    requested_end: dt.date | str
    regime: str
    method: str
    base: LegDiscount
    quote: LegDiscount
    provisional_calendar: bool = False

    @property
    def base_day_count(self) -> str:
        return self.base.basis

    @property
    def quote_day_count(self) -> str:
        return self.quote.basis

    @property
    def end_rolled(self) -> bool:
        return isinstance(self.requested_end, dt.date) and self.requested_end != self.end


def _provisional_years(p: Pair, *dates: dt.date) -> list[int]:
    """Years among ``dates`` answered by a provisional China calendar for this pair."""
    ccys = (p.base, p.quote, Currency.USD)
    if not any(c.settlement_calendar in china_calendars.CALENDAR_NAMES for c in ccys):
        return []
    return sorted({d.year for d in dates if china_calendars.is_provisional(d)})


def _one_year_later(start: dt.date) -> dt.date:
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + 1, day=28)


def _leg(
    name: str,
    ccy: Currency,
    rate: object,
    start: dt.date,
    end: dt.date,
    beyond_one_year: bool,
) -> tuple[LegDiscount, bool]:
    """A leg's discount factor; the flag says whether a money-market rate was read as a zero."""
    from carbonfin.pricing.forward import DiscountCurve

    if isinstance(rate, DiscountCurve):
        df = float(rate.discount(end)) / float(rate.discount(start))
        return LegDiscount(ccy, df, f"curve ({rate.source})", "discount curve"), False
    if not isinstance(rate, MoneyMarketRate):
        raise InvalidInputError(
            f"`{name}` must carry its convention: a MoneyMarketRate (e.g. "
            f"MoneyMarketRate.fixing('SHIBOR', 0.0165) or MoneyMarketRate.for_currency("
            f"'{ccy.code}', 0.02)) or a DiscountCurve; got {rate!r}"
        )
    if rate.currency is not None and rate.currency is not ccy:
        what = (
            f"{rate.index} is a {rate.currency.code} index"
            if rate.index
            else (f"the rate is in {rate.currency.code}")
        )
        raise InvalidInputError(f"`{name}`: {what}, but the leg's currency is {ccy.code}")
    if beyond_one_year and rate.compounding is Compounding.SIMPLE:
        zero = MoneyMarketRate(
            rate.rate, rate.day_count, Compounding.ANNUAL, index=rate.index, currency=ccy
        )
        how = (
            f"{rate.rate:.4%} ({rate.basis}) read as a zero rate compounded annually on "
            f"{rate.day_count.value}"
        )
        return LegDiscount(ccy, zero.discount_factor(start, end), zero.basis, how), True
    df = rate.discount_factor(start, end)
    return LegDiscount(ccy, df, rate.basis, f"{rate.rate:.4%} ({rate.basis})"), False


def forward_rate(
    pair: str | Pair,
    spot: float,
    base_rate: MoneyMarketRate | DiscountCurve,
    quote_rate: MoneyMarketRate | DiscountCurve,
    start: dt.date,
    end: dt.date | str,
    *,
    adjust_end: bool = True,
) -> ForwardQuote:
    """Covered-interest-parity forward of ``pair`` from ``start`` (the spot date) to ``end``.

    ``spot`` is units of QUOTE per 1 BASE; ``base_rate`` and ``quote_rate`` carry their
    conventions (see the module notes). ``end`` is a date (rolled Modified Following on the
    pair's joint calendar unless ``adjust_end=False``) or a tenor such as ``"3M"``. E.g.
    ``forward_rate("USD/CNY", 7.10, MoneyMarketRate.fixing("SOFR", 0.04),
    MoneyMarketRate.fixing("SHIBOR", 0.015), start, "6M")``.
    """
    p = Pair.parse(pair)
    if isinstance(spot, bool) or not (
        isinstance(spot, int | float) and math.isfinite(spot) and spot > 0
    ):
        raise InvalidInputError(f"`spot` must be finite and > 0; got {spot!r}")
    if not isinstance(start, dt.date):
        raise InvalidInputError(f"`start` must be a date; got {start!r}")
    if isinstance(end, str):
        value_end = tenor_end(start, end, p)
    elif isinstance(end, dt.date):
        value_end = modified_following(end, p) if adjust_end else end
    else:
        raise InvalidInputError(f"`end` must be a date or a tenor such as '3M'; got {end!r}")
    if value_end <= start:
        raise InvalidInputError(f"`end` ({value_end}) must be after `start` ({start})")
    beyond = value_end > _one_year_later(start)
    base, read_b = _leg("base_rate", p.base, base_rate, start, value_end, beyond)
    quote, read_q = _leg("quote_rate", p.quote, quote_rate, start, value_end, beyond)
    fwd = float(spot) * base.discount_factor / quote.discount_factor
    days = (value_end - start).days
    simple_mm = not beyond and all(
        isinstance(r, MoneyMarketRate) and r.compounding is Compounding.SIMPLE
        for r in (base_rate, quote_rate)
    )
    if simple_mm:
        regime = "money market"
        method = f"money market (simple interest) over {days} days: {base.how}; {quote.how}"
    else:
        regime = "curve"
        why = (
            f"beyond one year ({days} days): money-market deposits do not reach, curve-based "
            "discount factors"
            if beyond
            else f"curve-based discount factors over {days} days"
        )
        method = f"{why}: {base.how}; {quote.how}"
        if read_b or read_q:
            method += " (pass DiscountCurves or annual/continuous zero rates to choose otherwise)"
    provisional = _provisional_years(p, start, value_end)
    if provisional:
        years = ", ".join(str(y) for y in provisional)
        method += (
            f"; the China calendar for {years} is a provisional projection (no State Council "
            "holiday notice on file): value dates may move"
        )
    return ForwardQuote(
        p,
        float(spot),
        fwd,
        forward_points(p, spot, fwd),
        start,
        value_end,
        end,
        regime,
        method,
        base,
        quote,
        bool(provisional),
    )


def forward_points(pair: str | Pair, spot: float, forward: float) -> float:
    """Forward minus spot in pips: 1e-4 of the quote currency, 1e-2 where it is JPY."""
    p = Pair.parse(pair)
    pip = 0.01 if p.quote == Currency.JPY else 0.0001
    return (forward - spot) / pip
