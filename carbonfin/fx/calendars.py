"""China calendars, joint calendars of currency pairs and FX spot dates.

Calendars come from QuantLib (``carbonfin._quantlib``): ``China.SSE`` (the exchange: closed on
weekends, including the official weekend working days) and ``China.IB`` (the interbank market:
open on those working weekends). The onshore renminbi (CNY) settles on the interbank calendar,
the offshore renminbi (CNH) in Hong Kong. QuantLib knows China's holidays up to 2026; dates
beyond raise a clear error instead of guessing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from carbonfin._quantlib import is_business_day
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Currency

__all__ = ["CURRENCY_CALENDARS", "SPOT_LAGS", "Pair", "is_joint_business_day", "spot_date"]

#: Settlement calendar of each currency (QuantLib names).
CURRENCY_CALENDARS: dict[Currency, str] = {
    Currency.CNY: "China.IB",
    Currency.CNH: "HongKong",
    Currency.USD: "UnitedStates.FederalReserve",
    Currency.EUR: "TARGET",
    Currency.HKD: "HongKong",
    Currency.JPY: "Japan",
    Currency.GBP: "UnitedKingdom",
    Currency.SGD: "Singapore",
    Currency.CHF: "Switzerland",
    Currency.AUD: "Australia",
    Currency.CAD: "Canada",
    Currency.KWD: "WeekendsOnly",  # no Kuwaiti calendar in QuantLib: weekends only (assumed)
}

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

#: Spot lag in business days per pair; T+2 unless listed (CFETS: USD/CNY spot is T+2;
#: USD/CAD and USD/TRY-style T+1 pairs as in ISDA/market convention).
SPOT_LAGS: dict[str, int] = {"USD/CAD": 1, "CAD/USD": 1}
DEFAULT_SPOT_LAG = 2


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
    return all(is_business_day(date, CURRENCY_CALENDARS[c]) for c in currencies)


def spot_date(trade_date: dt.date, pair: str | Pair, lag: int | None = None) -> dt.date:
    """The spot value date of an FX trade.

    Counts ``lag`` business days (default: the pair's, see ``SPOT_LAGS``; T+2) after
    ``trade_date`` on the joint calendar of both currencies; a spot date that falls on a US
    holiday moves to the next day good in both currencies and the US (USD settles every trade
    that goes through a dollar leg). For ``USD/CNY`` the joint calendar is China interbank + the
    US Federal Reserve.
    """
    p = Pair.parse(pair)
    if not isinstance(trade_date, dt.date):
        raise InvalidInputError(f"`trade_date` must be a date; got {trade_date!r}")
    days = SPOT_LAGS.get(p.code, DEFAULT_SPOT_LAG) if lag is None else lag
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
