"""Currencies: the one table, each row with its ISO 4217 data and market conventions.

Part of :mod:`carbonfin.conventions` (import from there); the rows are checked against the index
table when the package loads (:func:`carbonfin.conventions.check_tables`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from carbonfin.conventions.daycount import DayCount
from carbonfin.errors import UnknownCurrencyError

__all__ = ["ISO_4217", "Currency", "CurrencyInfo"]


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


#: The source of every row's ISO 4217 data (code, numeric code, minor units).
ISO_4217 = "ISO 4217 list one (SIX, 2024)"
_ISO = ISO_4217


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
