"""Rules of the carbon-cost outlook, loaded from ``carbonfin/rules/carbon_cost.toml``.

Each value carries its source and a status: ``published``, ``cap`` (a published upper bound used
as the value), ``assumption`` (carbonfin's working value until published) or ``policy``. The
loaded object is immutable (read-only mappings) and cached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.rules import load_rules_toml

__all__ = ["AuctionShare", "CarbonCostRules", "RuleValue", "carbon_cost_rules", "parse_rules"]

STATUSES = ("published", "cap", "assumption", "policy")


@dataclass(frozen=True, slots=True)
class RuleValue:
    """One number of the rules with its status and source."""

    value: float
    status: str
    source: str

    @property
    def assumed(self) -> bool:
        return self.status == "assumption"


@dataclass(frozen=True, slots=True)
class AuctionShare:
    """The auction (paid) share of a firm's allocation for one instrument and compliance year."""

    instrument: Instrument
    year: int
    share: float
    status: str
    source: str


@dataclass(frozen=True, slots=True)
class CarbonCostRules:
    """A version of the carbon-cost rules (see the TOML file for each value's reasoning)."""

    version: str
    auction: Mapping[tuple[Instrument, int], AuctionShare]
    decline_coefficient: RuleValue
    trend_years: int
    trend_min_points: int
    min_growth: RuleValue
    max_growth: RuleValue
    allocation_decline: RuleValue
    banking: bool
    banking_source: str
    carryover_years: int
    carryover_source: str
    min_interest_coverage: RuleValue

    def auction_share(self, instrument: Instrument, year: int) -> AuctionShare:
        """The share for ``instrument`` and ``year``; a clear error beyond the rules' years."""
        try:
            return self.auction[(instrument, year)]
        except KeyError:
            years = sorted(y for i, y in self.auction if i == instrument)
            raise InvalidInputError(
                f"no auction share for {instrument.value} in {year} in carbon_cost.toml "
                f"{self.version} (it covers {years[0]}-{years[-1]})"
                if years
                else f"no auction share for {instrument.value} in carbon_cost.toml"
            ) from None

    def years(self, instrument: Instrument) -> tuple[int, ...]:
        return tuple(sorted(y for i, y in self.auction if i == instrument))


def _value(table: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> RuleValue:
    try:
        v, status, source = table[key], table["status"], table["source"]
    except KeyError as exc:
        raise DataIntegrityError(f"carbon_cost.toml [{where}] lacks {exc}") from None
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or not (math.isfinite(v) and lo <= v <= hi)
    ):
        raise DataIntegrityError(f"carbon_cost.toml [{where}] `{key}` must be in [{lo}, {hi}]")
    if status not in STATUSES or not str(source).strip():
        raise DataIntegrityError(f"carbon_cost.toml [{where}]: bad status or empty source")
    return RuleValue(float(v), str(status), str(source))


def _auction(raw: list[Mapping[str, Any]]) -> dict[tuple[Instrument, int], AuctionShare]:
    out: dict[tuple[Instrument, int], AuctionShare] = {}
    for row in raw:
        inst, year = Instrument.parse(str(row["instrument"])), int(row["year"])
        v = _value(row, "share", f"auction_share {inst.value} {year}", 0.0, 1.0)
        if (inst, year) in out:
            raise DataIntegrityError(f"carbon_cost.toml: two auction shares for {inst} {year}")
        out[(inst, year)] = AuctionShare(inst, year, v.value, v.status, v.source)
    return out


def parse_rules(raw: Mapping[str, Any]) -> CarbonCostRules:
    """Validate parsed TOML into :class:`CarbonCostRules`; :class:`DataIntegrityError` if not."""
    try:
        trend, banking, carry = raw["trend"], raw["banking"], raw["carryover"]
        rules = CarbonCostRules(
            version=str(raw["version"]),
            auction=MappingProxyType(_auction(raw["auction_share"])),
            decline_coefficient=_value(
                raw["incentive"], "decline_coefficient", "incentive", 0.0, 1.0
            ),
            trend_years=int(trend["trend_years"]),
            trend_min_points=int(trend["min_points"]),
            min_growth=_value(trend, "min_growth", "trend", -1.0, 0.0),
            max_growth=_value(trend, "max_growth", "trend", 0.0, 1.0),
            allocation_decline=_value(
                raw["allocation"], "decline_per_year", "allocation", 0.0, 1.0
            ),
            banking=bool(banking["allowed"]),
            banking_source=str(banking["source"]),
            carryover_years=int(carry["years"]),
            carryover_source=str(carry["source"]),
            min_interest_coverage=_value(
                raw["coverage_floor"], "min_interest_coverage", "coverage_floor", 0.0, 100.0
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"carbon_cost.toml is missing or mistypes a field: {exc}") from exc
    if not 2 <= rules.trend_min_points <= rules.trend_years or rules.carryover_years < 1:
        raise DataIntegrityError("carbon_cost.toml: trend points or carry-over years out of range")
    return rules


@cache
def carbon_cost_rules() -> CarbonCostRules:
    """The shipped rules (parsed once; immutable)."""
    return parse_rules(load_rules_toml("carbon_cost.toml"))
