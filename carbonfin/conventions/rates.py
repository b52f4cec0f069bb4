"""Money-market indices and rates that carry their convention.

Part of :mod:`carbonfin.conventions` (import from there). :data:`INDICES` holds each index's day
count, compounding, currency, calendar and source; :class:`MoneyMarketRate` is a rate quoted on
one of them, so a SHIBOR fixing cannot be read on the wrong basis.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from carbonfin.conventions.currencies import Currency
from carbonfin.conventions.daycount import Compounding, DayCount, year_fraction
from carbonfin.errors import InvalidInputError

__all__ = ["INDICES", "IndexConvention", "MoneyMarketRate", "index_convention"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexConvention:
    """A money-market index: how its fixings accrue and who publishes them."""

    name: str
    currency: str
    day_count: DayCount
    compounding: Compounding
    calendar: str
    value_lag_days: int
    administrator: str
    source: str

    def rate(self, value: float) -> MoneyMarketRate:
        """A fixing of this index as a :class:`MoneyMarketRate` (decimal, e.g. 0.0165)."""
        return MoneyMarketRate(
            value,
            self.day_count,
            self.compounding,
            index=self.name,
            currency=Currency.parse(self.currency),
        )


#: Money-market indices. Day counts cross-checked in the tests against QuantLib's index classes
#: where QuantLib has one (Shibor, Sofr, Estr, Sonia, Tonar, Saron, Corra, Aonia).
INDICES: Mapping[str, IndexConvention] = MappingProxyType(
    {
        "SHIBOR": IndexConvention(
            name="SHIBOR",
            currency="CNY",
            day_count=DayCount.ACT_360,
            compounding=Compounding.SIMPLE,
            calendar="China.IB",
            value_lag_days=1,
            administrator="National Interbank Funding Center (CFETS)",
            source="Shibor implementation rules (shibor.org, CFETS): simple interest, actual/360; "
            "value T+0 for overnight, T+1 for term tenors (as QuantLib's Shibor index)",
        ),
        "FR007": IndexConvention(
            name="FR007",
            currency="CNY",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="China.IB",
            value_lag_days=1,
            administrator="National Interbank Funding Center (CFETS)",
            source="CFETS fixing repo rate FR007 (7-day interbank pledged repo); CNY interest-rate "
            "swaps on FR007 accrue actual/365 (CFETS IRS product terms)",
        ),
        "SOFR": IndexConvention(
            name="SOFR",
            currency="USD",
            day_count=DayCount.ACT_360,
            compounding=Compounding.SIMPLE,
            calendar="UnitedStates.FederalReserve",
            value_lag_days=0,
            administrator="Federal Reserve Bank of New York",
            source="Federal Reserve Bank of New York, SOFR: overnight rate, actual/360",
        ),
        "ESTR": IndexConvention(
            name="ESTR",
            currency="EUR",
            day_count=DayCount.ACT_360,
            compounding=Compounding.SIMPLE,
            calendar="TARGET",
            value_lag_days=0,
            administrator="European Central Bank",
            source="ECB, euro short-term rate (€STR) methodology: actual/360",
        ),
        "HIBOR": IndexConvention(
            name="HIBOR",
            currency="HKD",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="HongKong",
            value_lag_days=0,
            administrator="Hong Kong Association of Banks (owner); Treasury Markets Association",
            source="HKAB HKD interest settlement rates (HIBOR): actual/365",
        ),
        "CNH_HIBOR": IndexConvention(
            name="CNH_HIBOR",
            currency="CNH",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="HongKong",
            value_lag_days=0,
            administrator="Treasury Markets Association (Hong Kong)",
            source="TMA CNH HIBOR fixing (launched 24 June 2013): offshore RMB interbank "
            "offered rates, actual/365",
        ),
        "SONIA": IndexConvention(
            name="SONIA",
            currency="GBP",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="UnitedKingdom",
            value_lag_days=0,
            administrator="Bank of England",
            source="Bank of England, SONIA key features and policies: actual/365",
        ),
        "TONA": IndexConvention(
            name="TONA",
            currency="JPY",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="Japan",
            value_lag_days=0,
            administrator="Bank of Japan",
            source="Bank of Japan, uncollateralized overnight call rate (TONA): actual/365",
        ),
        "SARON": IndexConvention(
            name="SARON",
            currency="CHF",
            day_count=DayCount.ACT_360,
            compounding=Compounding.SIMPLE,
            calendar="Switzerland",
            value_lag_days=0,
            administrator="SIX Index AG",
            source="SIX, Swiss Average Rate Overnight (SARON) rulebook: actual/360",
        ),
        "SORA": IndexConvention(
            name="SORA",
            currency="SGD",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="Singapore",
            value_lag_days=0,
            administrator="Monetary Authority of Singapore",
            source="MAS, Singapore Overnight Rate Average (SORA): actual/365",
        ),
        "AONIA": IndexConvention(
            name="AONIA",
            currency="AUD",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="Australia",
            value_lag_days=0,
            administrator="Reserve Bank of Australia",
            source="RBA, interbank overnight cash rate (AONIA): actual/365",
        ),
        "CORRA": IndexConvention(
            name="CORRA",
            currency="CAD",
            day_count=DayCount.ACT_365F,
            compounding=Compounding.SIMPLE,
            calendar="Canada",
            value_lag_days=0,
            administrator="Bank of Canada",
            source="Bank of Canada, Canadian Overnight Repo Rate Average (CORRA): actual/365",
        ),
    }
)


def index_convention(name: str) -> IndexConvention:
    """The convention of a money-market index by name (case-insensitive; ``€STR`` = ``ESTR``)."""
    if not isinstance(name, str):
        raise InvalidInputError(f"`index` must be a string; got {name!r}")
    key = name.strip().upper().replace("€", "E").replace(" ", "_").replace("-", "_")
    try:
        return INDICES[key]
    except KeyError:
        known = ", ".join(sorted(INDICES))
        raise InvalidInputError(f"unknown money-market index {name!r}; known: {known}") from None


@dataclass(frozen=True, slots=True)
class MoneyMarketRate:
    """A rate (decimal, e.g. 0.0165) with the convention it is quoted on.

    Build it from an index (``MoneyMarketRate.fixing("SHIBOR", 0.0165)``: the index's day count
    and compounding), from a currency's money-market convention
    (``MoneyMarketRate.for_currency("USD", 0.04)``), or explicitly
    (``MoneyMarketRate(0.04, DayCount.ACT_360)``).
    """

    rate: float
    day_count: DayCount
    compounding: Compounding = Compounding.SIMPLE
    index: str | None = None
    currency: Currency | None = None
    basis: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        r = self.rate
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r):
            raise InvalidInputError(f"`rate` must be a finite decimal; got {r!r}")
        if r <= -1:
            raise InvalidInputError(f"`rate` must be > -1 (a decimal, 0.02 = 2%); got {r!r}")
        object.__setattr__(self, "rate", float(r))
        object.__setattr__(self, "day_count", DayCount.parse(self.day_count))
        object.__setattr__(self, "compounding", Compounding(self.compounding))
        if self.currency is not None:
            object.__setattr__(self, "currency", Currency.parse(self.currency))
        if not self.basis:
            origin = f"{self.index} " if self.index else ""
            text = f"{origin}{self.day_count.value}, {self.compounding.value}"
            object.__setattr__(self, "basis", text)

    @classmethod
    def fixing(cls, index: str, rate: float) -> MoneyMarketRate:
        """A fixing of a named index on the index's own convention."""
        return index_convention(index).rate(rate)

    @classmethod
    def for_currency(cls, currency: Currency | str, rate: float) -> MoneyMarketRate:
        """A money-market rate of ``currency`` on that currency's money-market day count."""
        ccy = Currency.parse(currency)
        info = ccy.value
        return cls(
            rate,
            info.money_market_day_count,
            Compounding.SIMPLE,
            index=None,
            currency=ccy,
            basis=f"{ccy.code} money market: {info.money_market_day_count.value}, simple",
        )

    def year_fraction(self, start: dt.date, end: dt.date) -> float:
        return year_fraction(start, end, self.day_count)

    def growth(self, start: dt.date, end: dt.date) -> float:
        """Growth of 1 unit from ``start`` to ``end``: ``1 + rτ``, ``(1 + r)^τ`` or ``e^{rτ}``."""
        tau = self.year_fraction(start, end)
        if self.compounding is Compounding.SIMPLE:
            g = 1.0 + self.rate * tau
            if g <= 0:
                raise InvalidInputError(
                    f"simple rate {self.rate!r} over {tau:.4f} years gives a growth <= 0"
                )
            return g
        if self.compounding is Compounding.ANNUAL:
            return float((1.0 + self.rate) ** tau)
        return math.exp(self.rate * tau)

    def discount_factor(self, start: dt.date, end: dt.date) -> float:
        """``1 / growth(start, end)``."""
        return 1.0 / self.growth(start, end)
