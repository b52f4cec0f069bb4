"""Market and regulatory rules, loaded from versioned TOML files with a source for every value."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from carbonfin.errors import DataIntegrityError
from carbonfin.instruments import Currency, Instrument

__all__ = ["InstrumentRules", "PriceLimit", "load_rules_toml", "market_rules"]


@dataclass(frozen=True, slots=True)
class PriceLimit:
    """Daily price limit as a fraction of the previous close (0.10 means ±10%)."""

    listed_frac: float
    block_frac: float
    source: str
    assumed: bool


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    """Trading rules of one instrument (see ``carbonfin/rules/market.toml`` for sources)."""

    instrument: Instrument
    calendar: str
    currency: Currency
    first_trade_date: dt.date
    price_tick_cny: float
    lot_size_t: int
    compliance_deadline_month: int
    price_limit: PriceLimit
    sources: dict[str, str]
    first_trade_price_cny_per_t: float | None = None


def load_rules_toml(name: str) -> dict[str, Any]:
    """Read ``carbonfin/rules/<name>`` and return its parsed TOML."""
    try:
        text = resources.files("carbonfin.rules").joinpath(name).read_text(encoding="utf-8")
        return tomllib.loads(text)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"rules file {name!r} is missing from carbonfin/rules") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataIntegrityError(f"rules file {name!r} is not valid TOML: {exc}") from exc


@cache
def market_rules() -> dict[Instrument, InstrumentRules]:
    """Trading rules per instrument from ``market.toml`` (parsed once)."""
    raw = load_rules_toml("market.toml")
    out: dict[Instrument, InstrumentRules] = {}
    try:
        for code, spec in raw["instruments"].items():
            instrument = Instrument.parse(code)
            limit = spec["price_limit"]
            out[instrument] = InstrumentRules(
                instrument=instrument,
                calendar=str(spec["calendar"]),
                currency=Currency.parse(spec["currency"]),
                first_trade_date=spec["first_trade_date"],
                price_tick_cny=float(spec["price_tick_cny"]),
                lot_size_t=int(spec["lot_size_t"]),
                compliance_deadline_month=int(spec["compliance_deadline_month"]),
                price_limit=PriceLimit(
                    listed_frac=float(limit["listed_frac"]),
                    block_frac=float(limit["block_frac"]),
                    source=str(limit["source"]),
                    assumed=bool(limit["assumed"]),
                ),
                sources=dict(spec["sources"]),
                first_trade_price_cny_per_t=spec.get("first_trade_price_cny_per_t"),
            )
    except (KeyError, TypeError) as exc:
        raise DataIntegrityError(f"market.toml is missing or mistypes a field: {exc}") from exc
    missing = set(Instrument) - set(out)
    if missing:
        raise DataIntegrityError(f"market.toml has no rules for {sorted(m.value for m in missing)}")
    return out
