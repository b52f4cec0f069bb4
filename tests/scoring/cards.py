"""Hand-built panels for score cards worked by hand (shared by the scoring tests)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from carbonfin.scoring.ids import uscc_check_character

BENCH = {"chemical": 5e-4}  # tCO2e per CNY of value added (an external benchmark)
AS_OF = dt.date(2026, 11, 26)  # after both SHEA surrender deadlines (30 June) of the tiny panel


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
        "facilities_complete": 2,
        "quality_verified": 0.5,
        "quality_metered": 0.2,
        "quality_self_reported": 0.2,
        "quality_estimated": 0.1,
        "covered": True,
        "shortfall_t": 0.0,
        "surrender_on_time": True,
        "surrender_deadline": None,
        "surrender_date": None,
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
        "surrender_deadline": dt.date(2025, 6, 30),
        "surrender_date": dt.date(2025, 6, 20),
        "emissions_tco2e": 50_000.0,
        "has_prev_year": False,
        "emissions_prev_tco2e": np.nan,
        "value_added_prev_cny": np.nan,
    }
    second = {
        **base,
        "year": 2025,
        "surrender_deadline": dt.date(2026, 6, 30),
        "surrender_date": dt.date(2026, 6, 20),
        "emissions_tco2e": 48_000.0,
        "has_prev_year": True,
        "emissions_prev_tco2e": 50_000.0,
        "value_added_prev_cny": 1e8,
    }
    second.update(overrides)
    return pd.DataFrame([first, second])


FIRM_COLUMNS = [
    "uscc",
    "name",
    "name_zh",
    "industry_code",
    "sector",
    "district",
    "founded_year",
    "listed",
    "discloses_emissions",
    "target_year",
    "target_reduction_frac",
    "net_zero_year",
]
FIRM_YEAR_COLUMNS = [
    "uscc",
    "year",
    "output_qty",
    "output_unit",
    "value_added_cny",
    "revenue_cny",
    "equity_cny",
    "debt_cny",
    "electricity_mwh",
    "green_certificates",
    "disclosed",
]
COMPLIANCE_COLUMNS = [
    "uscc",
    "year",
    "instrument",
    "allocated_t",
    "verified_emissions_tco2e",
    "surrendered_t",
    "ccer_used_t",
    "shortfall_t",
    "surrender_date",
]


def firm_row(code: str, sector: str = "chemical") -> tuple[object, ...]:
    return (code, "Firm", "企业", "C2611", sector, "Jinshan", 2000, False, True, 2030, 0.3, 2060)


def firm_year_row(code: str, year: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "uscc": code,
        "year": year,
        "output_qty": 1000.0,
        "output_unit": "t",
        "value_added_cny": 1e8,
        "revenue_cny": 3e8,
        "equity_cny": 2e8,
        "debt_cny": 3e8,
        "electricity_mwh": 10_000.0,
        "green_certificates": 2_000,
        "disclosed": True,
    }
    row.update(values)
    return row


def account(
    facilities: list[tuple[str, str]],
    reports: list[tuple[str, int, float | None, float | None, str]],
    firm_years: list[dict[str, object]],
    compliance: list[tuple[object, ...]] = (),  # type: ignore[assignment]
    firms: list[tuple[object, ...]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Account frames from compact rows: facilities (id, uscc), reports (id, year, s1, s2,
    tier), firm-year dicts, compliance tuples; firms default to every uscc seen."""
    codes = sorted({u for _, u in facilities} | {str(r["uscc"]) for r in firm_years})
    return {
        "firms": pd.DataFrame(firms or [firm_row(c) for c in codes], columns=FIRM_COLUMNS),
        "facilities": pd.DataFrame(
            [(f, u, f, "plant", "Jinshan", 2005) for f, u in facilities],
            columns=["facility_id", "uscc", "name", "kind", "district", "commissioned_year"],
        ),
        "facility_emissions": pd.DataFrame(
            reports,
            columns=["facility_id", "year", "scope1_tco2e", "scope2_tco2e", "data_quality"],
        ),
        "firm_years": pd.DataFrame(firm_years, columns=FIRM_YEAR_COLUMNS),
        "compliance": pd.DataFrame(list(compliance), columns=COMPLIANCE_COLUMNS),
    }
