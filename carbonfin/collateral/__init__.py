"""Collateral: haircuts of pledged carbon allowances with their breakdown (market risk,
liquidation horizon, concentration, currency mismatch, wrong-way risk, data quality,
anti-procyclicality), Basel's holding-period scaling, book valuation with LTV and margin calls,
stress scenarios, and the collateral policy."""

from __future__ import annotations

from carbonfin.collateral.currency import (
    SUPERVISORY_FX_HAIRCUT_10D,
    FxHaircut,
    currency_mismatch_haircut,
)
from carbonfin.collateral.haircut import (
    COMPONENTS,
    HaircutArrays,
    HaircutBreakdown,
    HaircutComponent,
    haircut,
    haircut_components,
)
from carbonfin.collateral.market_risk import (
    DEFAULT_MODEL,
    MarketRiskProfile,
    market_risk_profile,
)
from carbonfin.collateral.monitor import STATES, BookValuation, value_book
from carbonfin.collateral.policy import CollateralPolicy, collateral_policy
from carbonfin.collateral.scaling import scale_haircut
from carbonfin.collateral.stress import StressResult, StressScenario, stress_book, stress_scenarios

__all__ = [
    "COMPONENTS",
    "DEFAULT_MODEL",
    "STATES",
    "SUPERVISORY_FX_HAIRCUT_10D",
    "BookValuation",
    "CollateralPolicy",
    "FxHaircut",
    "HaircutArrays",
    "HaircutBreakdown",
    "HaircutComponent",
    "MarketRiskProfile",
    "StressResult",
    "StressScenario",
    "collateral_policy",
    "currency_mismatch_haircut",
    "haircut",
    "haircut_components",
    "market_risk_profile",
    "scale_haircut",
    "stress_book",
    "stress_scenarios",
    "value_book",
]
