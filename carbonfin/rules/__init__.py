"""Market and regulatory rules, loaded from versioned TOML files with a source for every value.

Loaded rules are cached and shared by a whole process, so they are immutable all the way down:
frozen dataclasses holding read-only mappings (``types.MappingProxyType``). They are validated
when loaded (fractions in range, months in 1-12, positive ticks and lots).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from carbonfin.errors import DataIntegrityError
from carbonfin.instruments import Currency, Instrument

__all__ = [
    "InstrumentRules",
    "PriceLimit",
    "default_max_mark_age_days",
    "load_rules_toml",
    "market_rules",
]


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
    #: default maximum age of a valuation mark, in business days (source in ``sources``)
    max_mark_age_days: int
    sources: Mapping[str, str]
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
def market_rules() -> Mapping[Instrument, InstrumentRules]:
    """Trading rules per instrument from ``market.toml`` (parsed once, read-only)."""
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
                max_mark_age_days=_positive_int(spec["max_mark_age_days"], code),
                sources=MappingProxyType({str(k): str(v) for k, v in spec["sources"].items()}),
                first_trade_price_cny_per_t=spec.get("first_trade_price_cny_per_t"),
            )
    except (KeyError, TypeError) as exc:
        raise DataIntegrityError(f"market.toml is missing or mistypes a field: {exc}") from exc
    from carbonfin.calendars import CALENDAR_NAMES

    for rules in out.values():
        if rules.calendar not in CALENDAR_NAMES:
            raise DataIntegrityError(
                f"market.toml: {rules.instrument.value} calendar {rules.calendar!r} is not one of "
                f"{', '.join(CALENDAR_NAMES)}"
            )
    missing = set(Instrument) - set(out)
    if missing:
        raise DataIntegrityError(f"market.toml has no rules for {sorted(m.value for m in missing)}")
    for rules in out.values():
        _validate(rules)
    return MappingProxyType(out)


def _validate(rules: InstrumentRules) -> None:
    """Refuse rules outside their possible range (a typo in market.toml must not load)."""
    where = f"market.toml [{rules.instrument.value}]"
    limit = rules.price_limit
    checks = [
        (0 < limit.listed_frac < 1, f"price_limit.listed_frac {limit.listed_frac} not in (0, 1)"),
        (0 < limit.block_frac < 1, f"price_limit.block_frac {limit.block_frac} not in (0, 1)"),
        (
            limit.listed_frac <= limit.block_frac,
            f"price_limit.listed_frac {limit.listed_frac} exceeds block_frac {limit.block_frac}",
        ),
        (
            1 <= rules.compliance_deadline_month <= 12,
            f"compliance_deadline_month {rules.compliance_deadline_month} not in 1-12",
        ),
        (rules.price_tick_cny > 0, f"price_tick_cny {rules.price_tick_cny} must be > 0"),
        (rules.lot_size_t > 0, f"lot_size_t {rules.lot_size_t} must be > 0"),
    ]
    for ok, problem in checks:
        if not ok:
            raise DataIntegrityError(f"{where}: {problem}")


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataIntegrityError(
            f"market.toml [{where}]: max_mark_age_days must be an integer >= 1; got {value!r}"
        )
    return value


@cache
def default_max_mark_age_days() -> int:
    """Maximum age of a mark, in business days, for a series without rules of its own
    (``[series_defaults]`` of ``market.toml``)."""
    raw = load_rules_toml("market.toml")
    try:
        return _positive_int(raw["series_defaults"]["max_mark_age_days"], "series_defaults")
    except KeyError as exc:
        raise DataIntegrityError(f"market.toml is missing {exc} in [series_defaults]") from exc
