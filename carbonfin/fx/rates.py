"""FX fixings, cross rates by triangulation and money conversion with an explicit date policy.

A :class:`RateStore` holds dated fixings of a set of pairs (the CNY central parities, the USD/CNH
fixing …). A rate between any two currencies is found over the graph of the pairs the store
holds (breadth-first: the route with the fewest legs; among equally short routes, the one
through the pivot, CNY by default) — directly, inverted, or chained through as many legs as
needed (CNY → CNH through USD/CNY and USD/CNH). Each leg comes back with its own fixing date
and why (a weekend or holiday falls back to the last fixing within a staleness limit; beyond it,
:class:`~carbonfin.errors.StaleDataError`). Users of FX libraries complain most about silent date
substitution; here it is never silent.

Amounts are :class:`~decimal.Decimal` at this boundary and rounded to the target currency's
ISO 4217 minor units (JPY 0, CNY 2, KWD 3) with ROUND_HALF_UP by the engine's one rule,
:func:`carbonfin.conventions.round_money` (re-exported here). All other decimal arithmetic runs in
the module's own context (:data:`DECIMAL_CONTEXT`, 34 significant digits as IEEE decimal128),
so results do not depend on the caller's ``decimal.getcontext()``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from carbonfin._quantlib import is_business_day
from carbonfin.conventions import Currency, round_money
from carbonfin.errors import InvalidInputError, MissingDataError, StaleDataError
from carbonfin.fx.calendars import CALENDAR_NAMES, Pair

__all__ = [
    "DECIMAL_CONTEXT",
    "Conversion",
    "RateLeg",
    "RateQuote",
    "RateStore",
    "check_pairs",
    "convert",
    "round_money",
    "settlement_currency",
]

#: Default staleness limit: the last fixing may be at most this many calendar days old
#: (covers the 7-day National Day and Spring Festival closures plus a weekend).
DEFAULT_MAX_AGE_DAYS = 10

#: The decimal context of every FX computation (independent of the caller's context):
#: 34 significant digits (IEEE 754 decimal128), half-even for intermediate results (rounding to
#: minor units is half up, by :func:`round_money`), and invalid operations, division by zero
#: and overflow raised rather than turned into NaN or infinity.
DECIMAL_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def check_pairs(currencies: Iterable[Currency | str], pairs: Iterable[Pair | str]) -> None:
    """Check that ``pairs`` determine every cross rate among ``currencies`` exactly once.

    ``n`` currencies need exactly ``n − 1`` independent pairs (a spanning tree): fewer leave some
    rate undetermined, more over-determine one (two routes that may disagree). Raises
    :class:`InvalidInputError` naming the problem.
    """
    ccys = [Currency.parse(c) for c in currencies]
    edges = [Pair.parse(p) for p in pairs]
    parent = {c: c for c in ccys}

    def root(c: Currency) -> Currency:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for pair in edges:
        for c in (pair.base, pair.quote):
            if c not in parent:
                raise InvalidInputError(f"pair {pair} uses {c.code}, which is not in the set")
        a, b = root(pair.base), root(pair.quote)
        if a == b:
            raise InvalidInputError(
                f"over-specified: pair {pair} closes a cycle (its rate already follows from the "
                f"other pairs); {len(ccys)} currencies need exactly {len(ccys) - 1} pairs"
            )
        parent[a] = b
    groups = {root(c) for c in ccys}
    if len(groups) > 1:
        raise InvalidInputError(
            f"under-specified: {len(edges)} pairs leave {len(groups)} unconnected groups; "
            f"{len(ccys)} currencies need exactly {len(ccys) - 1} pairs"
        )


@dataclass(frozen=True, slots=True)
class RateLeg:
    """One stored pair used in a route: its fixing, the date it was fixed and why that date."""

    pair: Pair
    inverted: bool
    rate: Decimal
    fixing_date: dt.date
    reason: str

    @property
    def label(self) -> str:
        return f"1/{self.pair}" if self.inverted else str(self.pair)


@dataclass(frozen=True, slots=True)
class RateQuote:
    """A rate (units of ``quote`` per 1 ``base``) with where and when each leg came from.

    ``legs`` hold each stored pair used, with its own fixing date and reason; ``fixing_date``
    is the oldest of them (kept for a one-line summary: read ``legs`` for the detail).
    """

    base: Currency
    quote: Currency
    rate: Decimal
    requested_date: dt.date
    legs: tuple[RateLeg, ...]

    @property
    def route(self) -> tuple[str, ...]:
        return tuple(leg.label for leg in self.legs)

    @property
    def fixing_dates(self) -> tuple[dt.date, ...]:
        return tuple(leg.fixing_date for leg in self.legs)

    @property
    def fixing_date(self) -> dt.date:
        return min(self.fixing_dates, default=self.requested_date)

    @property
    def substituted(self) -> bool:
        return any(d != self.requested_date for d in self.fixing_dates)

    @property
    def reason(self) -> str:
        if not self.legs:
            return "same currency"
        if len(self.legs) == 1:
            return self.legs[0].reason
        return "; ".join(f"{leg.label}: {leg.reason}" for leg in self.legs)


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted amount with the rate used and its provenance."""

    amount: Decimal
    currency: Currency
    converted: Decimal
    to_currency: Currency
    quote: RateQuote


def settlement_currency(currency: Currency | str) -> Currency:
    """The currency a Shanghai allowance trade may settle in: onshore CNY only.

    CNH (offshore renminbi) is a market rate and a funding source, not a settlement currency
    for the Shanghai market; foreign currencies are converted before settlement.
    """
    ccy = Currency.parse(currency)
    if ccy is Currency.CNH:
        raise InvalidInputError(
            "CNH is the offshore renminbi market rate, not a settlement currency: Shanghai "
            "allowances settle in onshore CNY (ISO 4217 156); use CNH only to fund the account"
        )
    if ccy is not Currency.CNY:
        raise InvalidInputError(
            f"Shanghai allowances settle in CNY; convert {ccy.code} amounts before settlement"
        )
    return ccy


def _to_decimal(value: object, name: str) -> Decimal:
    if isinstance(value, float) and not np.isfinite(value):
        raise InvalidInputError(f"`{name}` must be finite; got {value!r}")
    try:
        out = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise InvalidInputError(f"`{name}` must be a number; got {value!r}") from None
    if not out.is_finite():
        raise InvalidInputError(f"`{name}` must be finite; got {value!r}")
    return out


class RateStore:
    """Dated fixings of a set of pairs; cross rates through a pivot currency.

    Build it from a frame with ``date, pair, rate`` (the ``fx_fixings`` table) or with
    :meth:`from_records`. Each pair's series is kept sorted; a pair may only appear once
    (direction as quoted).
    """

    def __init__(self, fixings: pd.DataFrame, pivot: Currency = Currency.CNY) -> None:
        need = {"date", "pair", "rate"}
        if not need <= set(fixings.columns):
            raise InvalidInputError(
                f"fixings need columns {sorted(need)}; got {list(fixings.columns)}"
            )
        self.pivot = Currency.parse(pivot)
        self._series: dict[Pair, tuple[np.ndarray, list[Decimal]]] = {}
        for code, group in fixings.groupby("pair", sort=True):
            pair = Pair.parse(str(code))
            if pair.inverse() in self._series:
                raise InvalidInputError(f"both {pair} and {pair.inverse()} are given; keep one")
            group = group.sort_values("date")
            dates = np.array(list(group["date"]), dtype="datetime64[D]")
            if len(np.unique(dates)) != len(dates):
                raise InvalidInputError(f"{pair}: duplicate fixing dates")
            rates = [_to_decimal(r, f"{pair} rate") for r in group["rate"]]
            if any(r <= 0 for r in rates):
                raise InvalidInputError(f"{pair}: rates must be > 0")
            self._series[pair] = (dates, rates)

    @classmethod
    def from_records(
        cls, records: Iterable[tuple[dt.date, str, object]], pivot: Currency = Currency.CNY
    ) -> RateStore:
        return cls(pd.DataFrame(list(records), columns=["date", "pair", "rate"]), pivot)

    @property
    def pairs(self) -> list[Pair]:
        return list(self._series)

    def currencies(self) -> set[Currency]:
        return {c for p in self._series for c in (p.base, p.quote)}

    def _fixing(self, pair: Pair, on: dt.date, max_age_days: int) -> tuple[Decimal, dt.date]:
        """The pair's fixing on ``on`` or the last before it within ``max_age_days``."""
        dates, rates = self._series[pair]
        i = int(np.searchsorted(dates, np.datetime64(on, "D"), side="right")) - 1
        if i < 0:
            raise MissingDataError(
                f"no {pair} fixing on or before {on.isoformat()} (the series starts {dates[0]})"
            )
        used = dates[i].astype(dt.date)
        age = (on - used).days
        if age > max_age_days:
            raise StaleDataError(
                f"the last {pair} fixing before {on.isoformat()} is from {used.isoformat()}, "
                f"{age} days old (limit {max_age_days} days)"
            )
        return rates[i], used

    def _neighbours(self, c: Currency) -> list[tuple[Currency, Pair, bool]]:
        out = []
        for pair in self._series:
            if pair.base is c:
                out.append((pair.quote, pair, False))
            elif pair.quote is c:
                out.append((pair.base, pair, True))
        # the pivot first, then by code: a deterministic choice among equally short routes
        return sorted(out, key=lambda t: (t[0] is not self.pivot, t[0].code))

    def _route(self, base: Currency, quote: Currency) -> list[tuple[Pair, bool]]:
        """Pairs (and whether inverted) leading from ``base`` to ``quote``: breadth-first."""
        previous: dict[Currency, tuple[Currency, Pair, bool] | None] = {base: None}
        queue = deque([base])
        while queue:
            c = queue.popleft()
            if c is quote:
                break
            for nxt, pair, inverted in self._neighbours(c):
                if nxt not in previous:
                    previous[nxt] = (c, pair, inverted)
                    queue.append(nxt)
        if quote not in previous:
            known = ", ".join(sorted(p.code for p in self._series))
            raise MissingDataError(
                f"no rate from {base.code} to {quote.code}: no chain of stored pairs joins them; "
                f"the store holds {known}"
            )
        path: list[tuple[Pair, bool]] = []
        c = quote
        while (step := previous[c]) is not None:
            c, pair, inverted = step
            path.append((pair, inverted))
        return path[::-1]

    def rate(
        self,
        base: Currency | str,
        quote: Currency | str,
        on: dt.date,
        *,
        max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    ) -> RateQuote:
        """Units of ``quote`` per 1 ``base`` on ``on`` (see the module notes on dates)."""
        b, q = Currency.parse(base), Currency.parse(quote)
        if not isinstance(on, dt.date):
            raise InvalidInputError(f"`on` must be a date; got {on!r}")
        if b == q:
            return RateQuote(b, q, Decimal(1), on, ())
        value = Decimal(1)
        legs = []
        for pair, inverted in self._route(b, q):
            r, d = self._fixing(pair, on, max_age_days)
            value = (
                DECIMAL_CONTEXT.divide(value, r) if inverted else DECIMAL_CONTEXT.multiply(value, r)
            )
            legs.append(RateLeg(pair, inverted, r, d, _reason(on, d, pair)))
        return RateQuote(b, q, value, on, tuple(legs))

    def check(self) -> None:
        """Raise unless the store's pairs determine each cross rate exactly once."""
        check_pairs(self.currencies(), self.pairs)


def _reason(on: dt.date, used: dt.date, pair: Pair) -> str:
    if used == on:
        return f"fixing of {on.isoformat()}"
    if on.weekday() >= 5:
        why = f"{on.isoformat()} is a {on.strftime('%A')}"
    else:
        calendars = {c.settlement_calendar for c in (pair.base, pair.quote)}
        closed = []
        for name in sorted(calendars):
            if not is_business_day(on, name):
                closed.append(name)
        why = (
            f"{on.isoformat()} is a holiday of "
            f"{' and '.join(CALENDAR_NAMES.get(c, c) for c in closed)}"
            if closed
            else f"no fixing was published on {on.isoformat()}"
        )
    days = (on - used).days
    plural = "s" if days != 1 else ""
    return f"{why}; used the last fixing, of {used.isoformat()} ({days} day{plural} earlier)"


def convert(
    amount: object,
    from_ccy: Currency | str,
    to_ccy: Currency | str,
    *,
    on: dt.date,
    store: RateStore,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    allow_negative: bool = False,
) -> Conversion:
    """Convert ``amount`` (a number or Decimal) from one currency to another on ``on``.

    The result is rounded to the target currency's minor units; the quote says which fixing
    date was used and why. Negative amounts are refused unless ``allow_negative``.
    """
    value = _to_decimal(amount, "amount")
    if value < 0 and not allow_negative:
        raise InvalidInputError(f"`amount` must be >= 0; got {amount!r}")
    src, dst = Currency.parse(from_ccy), Currency.parse(to_ccy)
    quote = store.rate(src, dst, on, max_age_days=max_age_days)
    product = DECIMAL_CONTEXT.multiply(value, quote.rate)
    return Conversion(value, src, round_money(product, dst), dst, quote)
