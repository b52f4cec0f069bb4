"""China calendars, joint calendars of currency pairs and FX spot dates.

Each currency's settlement calendar and spot lag come from the one currency table
(:class:`carbonfin.conventions.Currency`). Calendars come from QuantLib
(``carbonfin._quantlib``): ``China.SSE`` (the exchange: closed on weekends, including the
official weekend working days) and ``China.IB`` (the interbank market: open on those working
weekends). The onshore renminbi (CNY) settles on the interbank calendar,
the offshore renminbi (CNH) in Hong Kong. QuantLib knows China's holidays up to 2026; dates
beyond raise a clear error instead of guessing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from carbonfin._quantlib import is_business_day
from carbonfin.conventions import Currency
from carbonfin.errors import InvalidInputError

__all__ = [
    "Pair",
    "is_joint_business_day",
    "modified_following",
    "spot_date",
    "spot_lag",
    "tenor_end",
]

#: Readable names of the calendars.
CALENDAR_NAMES: dict[str, str] = {
    "China.IB": "the China interbank market (China.IB)",
    "China.SSE": "the Shanghai Stock Exchange (China.SSE)",
    "HongKong": "Hong Kong",
    "UnitedStates.FederalReserve": "the US Federal Reserve",
    "TARGET": "TARGET2 (euro)",
    "Japan": "Japan",
    "UnitedKingdom": "the United Kingdom",
}


@dataclass(frozen=True, slots=True)
class Pair:
    """A currency pair ``BASE/QUOTE``: the rate is units of QUOTE per 1 BASE."""

    base: Currency
    quote: Currency

    @classmethod
    def parse(cls, text: str | Pair) -> Pair:
        if isinstance(text, Pair):
            return text
        if not isinstance(text, str) or text.count("/") != 1:
            raise InvalidInputError(
                f"a currency pair is written BASE/QUOTE (e.g. 'USD/CNY'); got {text!r}"
            )
        base, quote = (Currency.parse(p) for p in text.split("/"))
        if base == quote:
            raise InvalidInputError(f"a pair needs two different currencies; got {text!r}")
        return cls(base, quote)

    @property
    def code(self) -> str:
        return f"{self.base.code}/{self.quote.code}"

    def inverse(self) -> Pair:
        return Pair(self.quote, self.base)

    def __str__(self) -> str:
        return self.code


def is_joint_business_day(date: dt.date, currencies: tuple[Currency, ...]) -> bool:
    """Whether ``date`` is a business day in the settlement calendar of every currency."""
    return all(is_business_day(date, c.settlement_calendar) for c in currencies)


def spot_lag(pair: str | Pair) -> int:
    """The pair's spot lag in business days, from the currency table.

    Against USD a currency's ``usd_spot_lag_days`` applies where set (USD/CAD: T+1); otherwise
    the longer of the two currencies' lags (T+2 for every currency in the table).
    """
    p = Pair.parse(pair)
    if Currency.USD in (p.base, p.quote):
        other = p.quote if p.base is Currency.USD else p.base
        usd_lag = other.value.usd_spot_lag_days
        if usd_lag is not None:
            return usd_lag
    return max(p.base.value.spot_lag_days, p.quote.value.spot_lag_days)


def _value_currencies(p: Pair) -> tuple[Currency, ...]:
    both = (p.base, p.quote)
    return both if Currency.USD in both else (*both, Currency.USD)


def modified_following(date: dt.date, pair: str | Pair) -> dt.date:
    """Roll ``date`` to a good value date of ``pair``, Modified Following (ISDA 2006 4.12(ii)).

    A good value date is a business day of both currencies' settlement calendars and of USD (as
    for spot: a dollar leg settles every trade routed through USD). The date moves to the next
    good day, unless that falls in the next month: then to the previous good day.
    """
    p = Pair.parse(pair)
    ccys = _value_currencies(p)
    rolled = date
    while not is_joint_business_day(rolled, ccys):
        rolled += dt.timedelta(days=1)
    if rolled.month != date.month:
        rolled = date
        while not is_joint_business_day(rolled, ccys):
            rolled -= dt.timedelta(days=1)
    return rolled


_TENOR = re.compile(r"^(\d+)([DWMY])$")


def tenor_end(start: dt.date, tenor: str, pair: str | Pair) -> dt.date:
    """The value date ``tenor`` (``"1W"``, ``"3M"``, ``"1Y"`` …) after the spot date ``start``.

    Months and years add calendar months (the day clipped to the month's end), then roll
    Modified Following on the pair's joint calendar; the end-of-month rule applies: from the
    last good day of a month, the end is the last good day of the target month.
    """
    p = Pair.parse(pair)
    m = _TENOR.match(tenor.strip().upper()) if isinstance(tenor, str) else None
    if m is None:
        raise InvalidInputError(f"malformed tenor {tenor!r}; expected e.g. '1W', '3M', '1Y'")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise InvalidInputError(f"tenor must be positive; got {tenor!r}")
    if unit in "DW":
        return modified_following(start + dt.timedelta(days=n * (7 if unit == "W" else 1)), p)
    months = n * (12 if unit == "Y" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    last = calendar.monthrange(year, month)[1]
    month_end = dt.date(year, month, last)
    ccys = _value_currencies(p)
    next_good = start + dt.timedelta(days=1)
    while not is_joint_business_day(next_good, ccys):
        next_good += dt.timedelta(days=1)
    if next_good.month != start.month:  # start is the last good day of its month
        return modified_following(month_end, p)
    return modified_following(dt.date(year, month, min(start.day, last)), p)


def spot_date(trade_date: dt.date, pair: str | Pair, lag: int | None = None) -> dt.date:
    """The spot value date of an FX trade.

    Counts ``lag`` business days (default: the pair's, :func:`spot_lag`; T+2) after
    ``trade_date`` on the joint calendar of both currencies; a spot date that falls on a US
    holiday moves to the next day good in both currencies and the US (USD settles every trade
    that goes through a dollar leg). For ``USD/CNY`` the joint calendar is China interbank + the
    US Federal Reserve.
    """
    p = Pair.parse(pair)
    if not isinstance(trade_date, dt.date):
        raise InvalidInputError(f"`trade_date` must be a date; got {trade_date!r}")
    days = spot_lag(p) if lag is None else lag
    if not isinstance(days, int) or days < 0:
        raise InvalidInputError(f"`lag` must be an integer >= 0; got {lag!r}")
    both = (p.base, p.quote)
    with_usd = both if Currency.USD in both else (*both, Currency.USD)
    date = trade_date
    counted = 0
    while counted < days:
        date += dt.timedelta(days=1)
        if is_joint_business_day(date, both):
            counted += 1
    while not is_joint_business_day(date, with_usd):
        date += dt.timedelta(days=1)
    return date
