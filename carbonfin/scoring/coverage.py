"""Covered entities of the Shanghai carbon market (Shanghai action plan, clause 2).

Rules are dated data in ``carbonfin/rules/coverage.toml``: sectors, an annual emissions threshold
(scope 1 + scope 2, tCO2e) and the first compliance year. A firm is covered in a year if a rule
in force that year names its sector and its emissions reach the threshold (``>=``). The
emissions that decide are those of the latest year before the compliance year (the market
admits entities on their reported history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from carbonfin.errors import DataIntegrityError, InvalidInputError, MissingDataError
from carbonfin.rules import load_rules_toml
from carbonfin.scoring.ids import Sector

__all__ = [
    "CoverageDecision",
    "CoverageRule",
    "coverage_rules",
    "is_covered",
    "population_coverage",
]


@dataclass(frozen=True, slots=True)
class CoverageRule:
    name: str
    sectors: frozenset[Sector]
    threshold_tco2e: float
    from_year: int
    source: str


@dataclass(frozen=True, slots=True)
class CoverageDecision:
    """Whether a firm is a covered entity in ``year``, by which rule, and why."""

    covered: bool
    year: int
    sector: Sector
    emissions_tco2e: float
    rule: CoverageRule | None
    reason: str


@cache
def coverage_rules() -> tuple[CoverageRule, ...]:
    raw = load_rules_toml("coverage.toml")
    try:
        rules = tuple(
            CoverageRule(
                str(r["name"]),
                frozenset(Sector(s) for s in r["sectors"]),
                float(r["threshold_tco2e"]),
                int(r["from_year"]),
                str(r["source"]),
            )
            for r in raw["rule"]
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DataIntegrityError(f"coverage.toml is malformed: {exc!r}") from exc
    return rules


def is_covered(sector: Sector | str, emissions_tco2e: float, year: int) -> CoverageDecision:
    """Decide coverage of a firm of ``sector`` with annual ``emissions_tco2e`` in ``year``."""
    sec = Sector(sector) if not isinstance(sector, Sector) else sector
    if not (
        isinstance(emissions_tco2e, int | float)
        and math.isfinite(emissions_tco2e)
        and emissions_tco2e >= 0
    ):
        raise InvalidInputError(
            f"`emissions_tco2e` must be finite and >= 0; got {emissions_tco2e!r}"
        )
    in_force = [r for r in coverage_rules() if sec in r.sectors and r.from_year <= year]
    if not in_force:
        later = [r for r in coverage_rules() if sec in r.sectors]
        note = f"; {later[0].name} covers it from {later[0].from_year}" if later else ""
        return CoverageDecision(
            False,
            year,
            sec,
            emissions_tco2e,
            None,
            f"no coverage rule for {sec.value} in force in {year}{note}",
        )
    # the most inclusive rule in force decides (lowest threshold)
    rule = min(in_force, key=lambda r: r.threshold_tco2e)
    covered = emissions_tco2e >= rule.threshold_tco2e
    relation = ">=" if covered else "<"
    return CoverageDecision(
        covered,
        year,
        sec,
        emissions_tco2e,
        rule,
        f"{emissions_tco2e:,.0f} tCO2e {relation} {rule.threshold_tco2e:,.0f} "
        f"({rule.name}: {rule.source})",
    )


def population_coverage(panel: pd.DataFrame, year: int) -> pd.DataFrame:
    """Coverage of every firm in ``year`` from its latest emissions before ``year`` (vectorised).

    Columns ``uscc, sector, basis_year, emissions_tco2e, covered, rule``; firms without any
    complete emissions before ``year`` get ``covered`` = NA.
    """
    past = panel[(panel["year"] < year) & panel["emissions_tco2e"].notna()]
    if past.empty:
        raise MissingDataError(f"no complete emissions before {year} to decide coverage")
    latest = past.sort_values("year").groupby("uscc").tail(1)
    firms = panel[["uscc", "sector"]].drop_duplicates("uscc")
    out = firms.merge(latest[["uscc", "year", "emissions_tco2e"]], on="uscc", how="left")
    out = out.rename(columns={"year": "basis_year"})
    threshold = pd.Series(np.inf, index=out.index)
    rule_name = pd.Series("", index=out.index, dtype=object)
    for rule in sorted(coverage_rules(), key=lambda r: -r.threshold_tco2e):
        if rule.from_year > year:
            continue
        hit = out["sector"].isin([s.value for s in rule.sectors])
        threshold = threshold.where(~hit, threshold.clip(upper=rule.threshold_tco2e))
        rule_name = rule_name.where(~(hit & (threshold == rule.threshold_tco2e)), rule.name)
    covered = out["emissions_tco2e"] >= threshold
    out["covered"] = covered.astype("boolean").where(out["emissions_tco2e"].notna())
    out["rule"] = rule_name.where(np.isfinite(threshold), None)
    return out
