"""Market conventions in one place: day counts, currencies, money-market indices.

* :class:`DayCount` and the one :func:`year_fraction` used by the whole engine (curves, FX
  forwards; the QuantLib adapter maps the enum to QuantLib's day counters in one table).
* :class:`Currency`: every currency the engine handles with its ISO 4217 data, money-market
  day count, reference money-market index, spot lag and settlement calendar — one row each.
* :data:`INDICES`: money-market indices (SHIBOR, FR007, SOFR, €STR, HIBOR …) with their day
  count, compounding, currency, calendar and source.
* :class:`MoneyMarketRate`: a rate that carries its convention, so a SHIBOR fixing cannot be read
  on the wrong basis.

The tables are checked when this module loads (:func:`check_tables`): a currency added without
its conventions, an index naming an unknown currency, or a currency whose day count disagrees
with its own index fails at import with a message naming the row and the field.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from carbonfin.errors import DataIntegrityError, InvalidInputError, UnknownCurrencyError

__all__ = [
    "INDICES",
    "Compounding",
    "Currency",
    "CurrencyInfo",
    "DayCount",
    "IndexConvention",
    "MoneyMarketRate",
    "check_tables",
    "index_convention",
    "year_fraction",
]


# --------------------------------------------------------------------------------------------
# Day counts
# --------------------------------------------------------------------------------------------

_DAY_COUNT_ALIASES = {
    "ACT/360": "ACT/360",
    "A360": "ACT/360",
    "ACTUAL/360": "ACT/360",
    "ACT/365F": "ACT/365F",
    "ACT/365": "ACT/365F",
    "ACT/365FIXED": "ACT/365F",
    "ACTUAL/365(FIXED)": "ACT/365F",
    "A365F": "ACT/365F",
    "ACT/ACTISDA": "ACT/ACT ISDA",
    "ACT/ACT": "ACT/ACT ISDA",
    "ACTUAL/ACTUAL(ISDA)": "ACT/ACT ISDA",
    "30/360": "30/360",
    "30/360BONDBASIS": "30/360",
    "30U/360": "30/360",
}


class DayCount(enum.StrEnum):
    """Day-count conventions (ISDA 2006 Definitions, section 4.16).

    ``ACT_360``
        actual days / 360 (4.16(e)): USD, EUR, CHF and CNY money markets.
    ``ACT_365F``
        actual days / 365 (4.16(d)): GBP, JPY, HKD, CNH money markets; the engine's time axis.
    ``ACT_ACT_ISDA``
        days in each calendar year / that year's length, summed (4.16(b)).
    ``THIRTY_360``
        30/360 "Bond Basis" (4.16(f)): ``(360·ΔY + 30·ΔM + (D2 − D1)) / 360`` with D1 = 31 → 30,
        and D2 = 31 → 30 when D1 is 30 or 31.
    """

    ACT_360 = "ACT/360"
    ACT_365F = "ACT/365F"
    ACT_ACT_ISDA = "ACT/ACT ISDA"
    THIRTY_360 = "30/360"

    @classmethod
    def _missing_(cls, value: object) -> DayCount:
        if isinstance(value, str):
            key = re.sub(r"\s+", "", value.upper())
            if key in _DAY_COUNT_ALIASES:
                return cls(_DAY_COUNT_ALIASES[key])
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(f"unknown day count {value!r}; known: {known}")

    @classmethod
    def parse(cls, value: DayCount | str) -> DayCount:
        """Parse a day-count name (``"ACT/360"``, ``"act/365"``, ``"30/360"`` …)."""
        return value if isinstance(value, DayCount) else cls(value)


def _check_date(value: object, name: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInputError(f"`{name}` must be a datetime.date; got {value!r}")
    return value


def _act_act_isda(start: dt.date, end: dt.date) -> float:
    if start.year == end.year:
        return (end - start).days / (366.0 if _calendar.isleap(start.year) else 365.0)
    first = (dt.date(start.year + 1, 1, 1) - start).days
    last = (end - dt.date(end.year, 1, 1)).days
    return (
        first / (366.0 if _calendar.isleap(start.year) else 365.0)
        + (end.year - start.year - 1)
        + last / (366.0 if _calendar.isleap(end.year) else 365.0)
    )


def _thirty_360(start: dt.date, end: dt.date) -> float:
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and d1 == 30:
        d2 = 30
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return days / 360.0


def year_fraction(start: dt.date, end: dt.date, day_count: DayCount | str) -> float:
    """The year fraction from ``start`` to ``end`` under ``day_count`` (negative if reversed).

    The one implementation in the engine; checked against QuantLib's day counters in the tests.
    """
    a, b = _check_date(start, "start"), _check_date(end, "end")
    dc = DayCount.parse(day_count)
    if b < a:
        return -year_fraction(b, a, dc)
    if dc is DayCount.ACT_360:
        return (b - a).days / 360.0
    if dc is DayCount.ACT_365F:
        return (b - a).days / 365.0
    if dc is DayCount.ACT_ACT_ISDA:
        return _act_act_isda(a, b)
    return _thirty_360(a, b)


# --------------------------------------------------------------------------------------------
# Compounding and rates that carry their convention
# --------------------------------------------------------------------------------------------


class Compounding(enum.StrEnum):
    """How a rate accrues over a year fraction ``τ``: growth ``1 + rτ``, ``(1 + r)^τ``,
    ``exp(rτ)``."""

    SIMPLE = "simple"
    ANNUAL = "annual"
    CONTINUOUS = "continuous"

    @classmethod
    def _missing_(cls, value: object) -> Compounding:
        if isinstance(value, str) and value.strip().lower() in {m.value for m in cls}:
            return cls(value.strip().lower())
        known = ", ".join(m.value for m in cls)
        raise InvalidInputError(f"unknown compounding {value!r}; known: {known}")


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


# --------------------------------------------------------------------------------------------
# Currencies: the one table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrencyInfo:
    """One currency's row: ISO 4217 data and market conventions.

    ``iso_code`` is the ISO 4217 alphabetic code of the legal currency (``CNY`` for ``CNH``),
    ``numeric`` its ISO 4217 numeric code, ``minor_units`` its ISO 4217 exponent.
    ``money_market_day_count`` is the day count of the currency's deposits (that of
    ``money_market_index`` when one is named); ``spot_lag_days`` the FX spot lag in business days
    (``usd_spot_lag_days`` where the pair against USD differs, e.g. USD/CAD T+1);
    ``settlement_calendar`` the calendar name its payments settle on.
    """

    code: str
    iso_code: str
    numeric: str
    minor_units: int
    name: str
    money_market_day_count: DayCount
    money_market_index: str | None
    spot_lag_days: int
    usd_spot_lag_days: int | None = None
    settlement_calendar: str
    source: str

    @property
    def is_iso(self) -> bool:
        """False for market codes such as CNH that ISO 4217 does not list."""
        return self.code == self.iso_code


_ISO = "ISO 4217 list one (SIX, 2024)"


class Currency(enum.Enum):
    """Currencies the engine handles, each with its conventions (one row per currency).

    ``CNH`` is the offshore-renminbi *market* code: the same legal currency as ``CNY`` (ISO 4217
    156), traded offshore at its own rate. It is not an ISO code.
    """

    CNY = CurrencyInfo(
        code="CNY",
        iso_code="CNY",
        numeric="156",
        minor_units=2,
        name="Chinese yuan renminbi",
        money_market_day_count=DayCount.ACT_360,
        money_market_index="SHIBOR",
        spot_lag_days=2,
        settlement_calendar="China.IB",
        source=f"{_ISO}; CFETS: CNY interbank deposits and SHIBOR accrue actual/360, spot T+2 "
        "on the interbank (CIBM) calendar",
    )
    CNH = CurrencyInfo(
        code="CNH",
        iso_code="CNY",
        numeric="156",
        minor_units=2,
        name="Offshore renminbi (market code)",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="CNH_HIBOR",
        spot_lag_days=2,
        settlement_calendar="HongKong",
        source=f"{_ISO} (CNH is the market code of CNY offshore); TMA CNH HIBOR: actual/365; "
        "settles through the Hong Kong RMB clearing bank",
    )
    USD = CurrencyInfo(
        code="USD",
        iso_code="USD",
        numeric="840",
        minor_units=2,
        name="US dollar",
        money_market_day_count=DayCount.ACT_360,
        money_market_index="SOFR",
        spot_lag_days=2,
        settlement_calendar="UnitedStates.FederalReserve",
        source=f"{_ISO}; New York Fed SOFR actual/360; Fedwire (Federal Reserve) calendar",
    )
    EUR = CurrencyInfo(
        code="EUR",
        iso_code="EUR",
        numeric="978",
        minor_units=2,
        name="Euro",
        money_market_day_count=DayCount.ACT_360,
        money_market_index="ESTR",
        spot_lag_days=2,
        settlement_calendar="TARGET",
        source=f"{_ISO}; ECB €STR actual/360; TARGET2 calendar",
    )
    HKD = CurrencyInfo(
        code="HKD",
        iso_code="HKD",
        numeric="344",
        minor_units=2,
        name="Hong Kong dollar",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="HIBOR",
        spot_lag_days=2,
        settlement_calendar="HongKong",
        source=f"{_ISO}; HKAB HIBOR actual/365",
    )
    JPY = CurrencyInfo(
        code="JPY",
        iso_code="JPY",
        numeric="392",
        minor_units=0,
        name="Japanese yen",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="TONA",
        spot_lag_days=2,
        settlement_calendar="Japan",
        source=f"{_ISO}; Bank of Japan TONA actual/365",
    )
    GBP = CurrencyInfo(
        code="GBP",
        iso_code="GBP",
        numeric="826",
        minor_units=2,
        name="Pound sterling",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="SONIA",
        spot_lag_days=2,
        settlement_calendar="UnitedKingdom",
        source=f"{_ISO}; Bank of England SONIA actual/365",
    )
    SGD = CurrencyInfo(
        code="SGD",
        iso_code="SGD",
        numeric="702",
        minor_units=2,
        name="Singapore dollar",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="SORA",
        spot_lag_days=2,
        settlement_calendar="Singapore",
        source=f"{_ISO}; MAS SORA actual/365",
    )
    CHF = CurrencyInfo(
        code="CHF",
        iso_code="CHF",
        numeric="756",
        minor_units=2,
        name="Swiss franc",
        money_market_day_count=DayCount.ACT_360,
        money_market_index="SARON",
        spot_lag_days=2,
        settlement_calendar="Switzerland",
        source=f"{_ISO}; SIX SARON actual/360",
    )
    AUD = CurrencyInfo(
        code="AUD",
        iso_code="AUD",
        numeric="036",
        minor_units=2,
        name="Australian dollar",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="AONIA",
        spot_lag_days=2,
        settlement_calendar="Australia",
        source=f"{_ISO}; RBA AONIA actual/365",
    )
    CAD = CurrencyInfo(
        code="CAD",
        iso_code="CAD",
        numeric="124",
        minor_units=2,
        name="Canadian dollar",
        money_market_day_count=DayCount.ACT_365F,
        money_market_index="CORRA",
        spot_lag_days=2,
        usd_spot_lag_days=1,
        settlement_calendar="Canada",
        source=f"{_ISO}; Bank of Canada CORRA actual/365; USD/CAD spot is T+1 (market "
        "convention), CAD against other currencies T+2",
    )
    KWD = CurrencyInfo(
        code="KWD",
        iso_code="KWD",
        numeric="414",
        minor_units=3,
        name="Kuwaiti dinar",
        money_market_day_count=DayCount.ACT_360,
        money_market_index=None,
        spot_lag_days=2,
        settlement_calendar="WeekendsOnly",
        source=f"{_ISO}. NOT CONFIRMED: the ACT/360 deposit day count is an assumption (no "
        "published source found), and no Kuwaiti holiday calendar is available: settlement on "
        "a Saturday/Sunday weekend calendar, although Kuwait's weekend is Friday/Saturday",
    )

    @property
    def code(self) -> str:
        return self.value.code

    @property
    def minor_units(self) -> int:
        return self.value.minor_units

    @property
    def is_iso(self) -> bool:
        return self.value.is_iso

    @property
    def money_market_day_count(self) -> DayCount:
        return self.value.money_market_day_count

    @property
    def settlement_calendar(self) -> str:
        return self.value.settlement_calendar

    @classmethod
    def _missing_(cls, value: object) -> Currency:
        if isinstance(value, str):
            return cls.parse(value)
        raise UnknownCurrencyError(f"unknown currency {value!r}; give an ISO code such as 'USD'")

    @classmethod
    def parse(cls, code: Currency | str) -> Currency:
        """Parse a currency code (case-insensitive); raise :class:`UnknownCurrencyError`."""
        if isinstance(code, Currency):
            return code
        if not isinstance(code, str):
            raise UnknownCurrencyError(f"`currency` must be a string; got {code!r}")
        try:
            return cls[code.strip().upper()]
        except KeyError:
            known = ", ".join(m.name for m in cls)
            raise UnknownCurrencyError(
                f"unknown currency code {code!r}; known currencies: {known}"
            ) from None

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"<Currency.{self.name}>"


# --------------------------------------------------------------------------------------------
# The import-time check
# --------------------------------------------------------------------------------------------


def _field_problems(name: str, info: CurrencyInfo) -> list[str]:
    checks = [
        (info.code == name, f"code {info.code!r} differs from the member name"),
        (
            bool(re.fullmatch(r"[A-Z]{3}", info.iso_code)),
            f"iso_code {info.iso_code!r} is not three capital letters",
        ),
        (
            bool(re.fullmatch(r"\d{3}", info.numeric)),
            f"numeric {info.numeric!r} is not three digits",
        ),
        (
            isinstance(info.minor_units, int) and 0 <= info.minor_units <= 4,
            f"minor_units {info.minor_units!r} is not in 0..4",
        ),
        (
            isinstance(info.money_market_day_count, DayCount),
            "money_market_day_count must be a DayCount",
        ),
        (
            isinstance(info.spot_lag_days, int) and 0 <= info.spot_lag_days <= 5,
            f"spot_lag_days {info.spot_lag_days!r} is not an integer in 0..5",
        ),
        (
            info.usd_spot_lag_days is None or 0 <= info.usd_spot_lag_days <= 5,
            f"usd_spot_lag_days {info.usd_spot_lag_days!r} is not None or in 0..5",
        ),
        (
            isinstance(info.settlement_calendar, str) and bool(info.settlement_calendar),
            "settlement_calendar is empty",
        ),
        (bool(info.source), "source is empty"),
    ]
    return [f"{name}: {message}" for ok, message in checks if not ok]


def _index_problems(name: str, info: CurrencyInfo) -> list[str]:
    idx = info.money_market_index
    if idx is None:
        return []
    if idx not in INDICES:
        return [f"{name}: money_market_index {idx!r} is not in INDICES"]
    if INDICES[idx].currency != name:
        return [f"{name}: index {idx} belongs to {INDICES[idx].currency}"]
    if INDICES[idx].day_count is not info.money_market_day_count:
        return [
            f"{name}: money-market day count {info.money_market_day_count} differs from its "
            f"index {idx} ({INDICES[idx].day_count})"
        ]
    return []


def _row_problems(name: str, info: object) -> list[str]:
    if not isinstance(info, CurrencyInfo):
        return [f"{name}: its value must be a CurrencyInfo row; got {info!r}"]
    return _field_problems(name, info) + _index_problems(name, info)


def check_tables(
    currencies: Iterable[tuple[str, object]] | None = None,
    indices: Mapping[str, IndexConvention] | None = None,
) -> None:
    """Check the currency and index tables; raise :class:`DataIntegrityError` naming each gap.

    Run when this module loads. With arguments, checks the given rows instead (for tests).
    """
    rows = [(m.name, m.value) for m in Currency] if currencies is None else list(currencies)
    idx = INDICES if indices is None else indices
    problems = [p for name, info in rows for p in _row_problems(name, info)]
    codes = {name for name, _ in rows}
    for key, conv in idx.items():
        if key != conv.name:
            problems.append(f"index {key}: name {conv.name!r} differs from its key")
        if conv.currency not in codes:
            problems.append(f"index {key}: currency {conv.currency!r} is not in the table")
        if not conv.source or not conv.calendar:
            problems.append(f"index {key}: source and calendar are required")
    if problems:
        raise DataIntegrityError(
            "carbonfin.conventions tables are incomplete or inconsistent (fix the rows in "
            "carbonfin/conventions.py):\n  " + "\n  ".join(problems)
        )


check_tables()
