"""The shared vocabulary: carbon instruments, products (instrument + vintage) and currencies.

:class:`Currency` (with its conventions) is defined in :mod:`carbonfin.conventions` and
re-exported here.

Units used across the engine: quantities of allowances in tonnes of CO2-equivalent (``_t``),
prices in CNY per tonne (``_cny_per_t``), emissions in tCO2e (``_tco2e``), rates and fractions as
decimals.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from carbonfin.conventions import Currency, CurrencyInfo
from carbonfin.errors import InvalidInputError, UnknownInstrumentError

__all__ = ["Currency", "CurrencyInfo", "Instrument", "Product", "parse_product"]


class Instrument(enum.StrEnum):
    """A carbon instrument traded in China.

    ``SHEA``
        Shanghai Emission Allowance (上海碳排放配额), Shanghai pilot market, traded on the
        Shanghai Environment and Energy Exchange (SEEE); issued by vintage year.
    ``CEA``
        China Emission Allowance (全国碳排放配额), national ETS, traded through SEEE since
        2021-07-16; issued by vintage year.
    ``CCER``
        China Certified Emission Reduction (国家核证自愿减排量), national voluntary market,
        traded on the Beijing Green Exchange since 2024-01-22; not vintaged here.
    """

    SHEA = "SHEA"
    CEA = "CEA"
    CCER = "CCER"

    @property
    def name_zh(self) -> str:
        return _NAMES_ZH[self]

    @property
    def has_vintage(self) -> bool:
        """Whether products of this instrument are identified by a vintage year."""
        return self is not Instrument.CCER

    @classmethod
    def parse(cls, code: str) -> Instrument:
        """Parse an instrument code (case-insensitive); raise for an unknown one."""
        if not isinstance(code, str):
            raise UnknownInstrumentError(f"`instrument` must be a string; got {code!r}")
        try:
            return cls(code.strip().upper())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise UnknownInstrumentError(
                f"unknown instrument {code!r}; known instruments: {known}"
            ) from None


_NAMES_ZH = {
    Instrument.SHEA: "上海碳排放配额",
    Instrument.CEA: "全国碳排放配额",
    Instrument.CCER: "国家核证自愿减排量",
}

_FIRST_VINTAGE = {Instrument.SHEA: 2013, Instrument.CEA: 2019}
_MAX_VINTAGE = 2035


@dataclass(frozen=True, slots=True)
class Product:
    """A tradable product: an instrument and, for allowances, its vintage year.

    ``Product(Instrument.SHEA, 2024).code == "SHEA24"``; CCER has no vintage.
    """

    instrument: Instrument
    vintage: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.instrument, Instrument):
            raise UnknownInstrumentError(
                f"`instrument` must be an Instrument; got {self.instrument!r}"
            )
        if self.instrument.has_vintage:
            if self.vintage is None:
                return  # the generic product (any vintage), e.g. a price series for SHEA
            first = _FIRST_VINTAGE[self.instrument]
            if not isinstance(self.vintage, int) or not first <= self.vintage <= _MAX_VINTAGE:
                raise InvalidInputError(
                    f"`vintage` of {self.instrument.value} must be a year in "
                    f"[{first}, {_MAX_VINTAGE}]; got {self.vintage!r}"
                )
        elif self.vintage is not None:
            raise InvalidInputError(
                f"{self.instrument.value} has no vintage; got vintage={self.vintage!r}"
            )

    @property
    def code(self) -> str:
        if self.vintage is None:
            return self.instrument.value
        return f"{self.instrument.value}{self.vintage % 100:02d}"

    def __str__(self) -> str:
        return self.code


_PRODUCT_RE = re.compile(r"^(SHEA|CEA|CCER)(\d{2}|\d{4})?$")


def parse_product(code: str) -> Product:
    """Parse ``"SHEA24"``, ``"SHEA2024"``, ``"CEA"`` or ``"CCER"`` into a :class:`Product`."""
    if not isinstance(code, str):
        raise UnknownInstrumentError(f"`product` must be a string; got {code!r}")
    match = _PRODUCT_RE.match(code.strip().upper())
    if match is None:
        raise UnknownInstrumentError(
            f"unknown product code {code!r}; expected SHEA/CEA with an optional 2- or 4-digit "
            "vintage (e.g. SHEA24, CEA2023) or CCER"
        )
    instrument = Instrument(match.group(1))
    year = match.group(2)
    vintage = None if year is None else (2000 + int(year) if len(year) == 2 else int(year))
    return Product(instrument, vintage)
