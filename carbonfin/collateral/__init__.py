"""Collateral: haircuts of pledged carbon allowances with their breakdown (market risk,
liquidation horizon, concentration, currency mismatch, wrong-way risk, data quality,
anti-procyclicality), Basel's holding-period scaling, book valuation with LTV and margin calls,
exposures grouped with each loan allocated to its pledges,
stress scenarios, the collateral policy, and the eligibility of pledged allowances rule by rule
(instrument, vintage, registration, holding, compliance need, clause 5 carry-over)."""

from __future__ import annotations

from carbonfin.collateral.aggregate import (
    ExposureTable,
    allocate_outstanding,
    allocation_weights,
    group_exposures,
)
from carbonfin.collateral.currency import (
    SUPERVISORY_FX_HAIRCUT_10D,
    FxHaircut,
    currency_mismatch_haircut,
)
from carbonfin.collateral.eligibility import RULES as ELIGIBILITY_RULES
from carbonfin.collateral.eligibility import (
    EligibilityDecision,
    EligibilityRules,
    EligibilityTable,
    carried_over_frac,
    carryover_entries,
    compliance_need,
    eligibility_rules,
    evaluate_pledge,
    evaluate_pledges,
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
from carbonfin.collateral.stress import (
    StressResult,
    StressScenario,
    stress_book,
    stress_record,
    stress_scenarios,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_MODEL",
    "ELIGIBILITY_RULES",
    "STATES",
    "SUPERVISORY_FX_HAIRCUT_10D",
    "BookValuation",
    "CollateralPolicy",
    "EligibilityDecision",
    "EligibilityRules",
    "EligibilityTable",
    "ExposureTable",
    "FxHaircut",
    "HaircutArrays",
    "HaircutBreakdown",
    "HaircutComponent",
    "MarketRiskProfile",
    "StressResult",
    "StressScenario",
    "allocate_outstanding",
    "allocation_weights",
    "carried_over_frac",
    "carryover_entries",
    "collateral_policy",
    "compliance_need",
    "currency_mismatch_haircut",
    "eligibility_rules",
    "evaluate_pledge",
    "evaluate_pledges",
    "group_exposures",
    "haircut",
    "haircut_components",
    "market_risk_profile",
    "scale_haircut",
    "stress_book",
    "stress_record",
    "stress_scenarios",
    "value_book",
]
