"""Scoring: the carbon-performance account, a versioned methodology, grades, loan-pricing
adjustments, coverage of the Shanghai market and PCAF financed emissions."""

from __future__ import annotations

from carbonfin.scoring.account import CarbonAccount, DataQuality, build_panel
from carbonfin.scoring.coverage import CoverageDecision, is_covered, population_coverage
from carbonfin.scoring.financed import FinancedEmissions, financed_emissions
from carbonfin.scoring.ids import (
    Sector,
    is_valid_uscc,
    parse_industry_code,
    sector_of,
    uscc_check_character,
    validate_uscc,
)
from carbonfin.scoring.methodology import Methodology, load_methodology
from carbonfin.scoring.score import (
    FactorScore,
    Grade,
    Score,
    efficiency_grade,
    industry_benchmarks,
    score_firm,
    score_panel,
)

__all__ = [
    "CarbonAccount",
    "CoverageDecision",
    "DataQuality",
    "FactorScore",
    "FinancedEmissions",
    "Grade",
    "Methodology",
    "Score",
    "Sector",
    "build_panel",
    "efficiency_grade",
    "financed_emissions",
    "industry_benchmarks",
    "is_covered",
    "is_valid_uscc",
    "load_methodology",
    "parse_industry_code",
    "population_coverage",
    "score_firm",
    "score_panel",
    "sector_of",
    "uscc_check_character",
    "validate_uscc",
]
