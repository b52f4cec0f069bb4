"""Hand-built panels for score cards worked by hand (shared by the scoring tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonfin.scoring.ids import uscc_check_character

BENCH = {"chemical": 5e-4}  # tCO2e per CNY of value added (an external benchmark)


def uscc(serial: str = "0000") -> str:
    """A valid USCC (GB 32100-2015 check character computed) ending in ``serial``."""
    body = "91310115MA1H" + serial
    return body + "4" + uscc_check_character(body + "4")


def tiny_panel(**overrides: object) -> pd.DataFrame:
    """Two years of one firm, with every input present; overrides apply to the second year."""
    base = {
        "uscc": uscc(),
        "sector": "chemical",
        "industry_code": "C2611",
        "facilities": 2,
        "facilities_missing": 0,
        "quality_verified": 0.5,
        "quality_metered": 0.2,
        "quality_self_reported": 0.2,
        "quality_estimated": 0.1,
        "covered": True,
        "shortfall_t": 0.0,
        "surrender_on_time": True,
        "disclosed": True,
        "target_year": 2030,
        "net_zero_year": 2060,
        "electricity_mwh": 10_000.0,
        "green_certificates": 2_000.0,
        "discloses_emissions": True,
        "value_added_cny": 1e8,
    }
    first = {
        **base,
        "year": 2024,
        "emissions_tco2e": 50_000.0,
        "has_prev_year": False,
        "emissions_prev_tco2e": np.nan,
        "value_added_prev_cny": np.nan,
    }
    second = {
        **base,
        "year": 2025,
        "emissions_tco2e": 48_000.0,
        "has_prev_year": True,
        "emissions_prev_tco2e": 50_000.0,
        "value_added_prev_cny": 1e8,
    }
    second.update(overrides)
    return pd.DataFrame([first, second])
