"""The account keeps missing data explicit; coverage at its thresholds; PCAF worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from carbonfin.data import load_table
from carbonfin.data.schema import TABLES
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.scoring import (
    CarbonAccount,
    build_panel,
    financed_emissions,
    is_covered,
    population_coverage,
)
from tests.store import tiny

ACCOUNT = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")


def _tiny_frames() -> dict[str, pd.DataFrame]:
    frames = tiny.frames()
    out = {}
    for name in ACCOUNT:
        frame = frames[name]
        for col in TABLES[name].columns:
            if col.kind in ("decimal", "float"):
                frame[col.name] = pd.to_numeric(frame[col.name]).astype(float)
        out[name] = frame
    return out


def test_missing_reports_are_never_zero() -> None:
    frames = _tiny_frames()
    account = CarbonAccount.from_frames(frames, tiny.FIRM_A)
    assert account.emissions(2024) == (1234567.125, 1500.5)
    # 2025: FAC-000001 reports scope 2 only -> scope 1 unknown, not 0
    assert account.emissions(2025) == (None, 1400.0)
    assert "2025: facility FAC-000001 reports no scope 1" in account.gaps()
    panel = build_panel(frames)
    row = panel[(panel["uscc"] == tiny.FIRM_A) & (panel["year"] == 2025)].iloc[0]
    assert math.isnan(row["emissions_tco2e"])
    firm_b = CarbonAccount.from_frames(frames, tiny.FIRM_B)
    assert "2025: value_added_cny not reported" in firm_b.gaps()


def test_panel_on_the_sample() -> None:
    panel = build_panel({name: load_table(name) for name in ACCOUNT})
    assert len(panel) == len(load_table("firm_years"))
    incomplete = panel["facilities_missing"] > 0
    assert panel.loc[incomplete, "emissions_tco2e"].isna().all()
    shares = panel[[c for c in panel.columns if c.startswith("quality_")]].sum(axis=1)
    np.testing.assert_allclose(shares[panel["emissions_tco2e"].notna()], 1.0, atol=1e-12)


def test_panel_refuses_orphans() -> None:
    frames = _tiny_frames()
    frames["facility_emissions"] = pd.concat(
        [
            frames["facility_emissions"],
            pd.DataFrame(
                [("FAC-999999", 2025, 1.0, 1.0, "verified")],
                columns=frames["facility_emissions"].columns,
            ),
        ]
    )
    with pytest.raises(InvalidInputError, match="unknown facility FAC-999999"):
        build_panel(frames)


# Shanghai action plan clause 2: from 2026 petrochemical/chemical/energy-intensive/data centres
# >= 10,000 tCO2e; water transport >= 80,000 from 2026; public institutions >= 10,000 from 2028
@pytest.mark.parametrize(
    ("sector", "emissions", "year", "covered"),
    [
        ("data_centre", 10_000, 2026, True),
        ("data_centre", 9_999.9, 2026, False),
        ("data_centre", 50_000, 2025, False),
        ("chemical", 10_000, 2026, True),
        ("chemical", 19_999, 2025, False),  # the pilot's industrial threshold was 20,000
        ("chemical", 20_000, 2025, True),
        ("water_transport", 80_000, 2026, True),
        ("water_transport", 79_999, 2026, False),
        ("public_institution", 10_000, 2027, False),
        ("public_institution", 10_000, 2028, True),
        ("public_institution", 9_999, 2028, False),
        ("other", 1e7, 2030, False),
    ],
)
def test_coverage_thresholds_and_years(
    sector: str, emissions: float, year: int, covered: bool
) -> None:
    decision = is_covered(sector, emissions, year)
    assert decision.covered is covered
    if decision.rule is not None:
        assert "clause 2" in decision.rule.source or "沪府发" in decision.rule.source


def test_coverage_explains_itself_and_rejects_bad_input() -> None:
    assert "covers it from 2028" in is_covered("public_institution", 50_000, 2026).reason
    with pytest.raises(InvalidInputError, match="`emissions_tco2e` must be finite"):
        is_covered("chemical", -1.0, 2026)
    with pytest.raises(InvalidInputError, match="'cement plant' is not a valid Sector"):
        is_covered("cement plant", 1.0, 2026)


def test_population_coverage_matches_the_single_rule() -> None:
    panel = build_panel({name: load_table(name) for name in ACCOUNT})
    cov = population_coverage(panel, 2028)
    for row in cov.dropna(subset=["emissions_tco2e"]).head(60).itertuples():
        assert bool(row.covered) == is_covered(row.sector, row.emissions_tco2e, 2028).covered


def test_pcaf_attribution_worked_by_hand() -> None:
    frames = _tiny_frames()
    panel = build_panel(frames)
    loans = pd.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "borrower_uscc": [tiny.FIRM_A, tiny.FIRM_A],
            "outstanding": [42_000_000.0, 8_000_000.0],
            "currency": ["CNY", "CNY"],
        }
    )
    # the tiny market has firm-year data for 2025 only: 2024 cannot be attributed
    with pytest.raises(MissingDataError, match="no account data for 2024"):
        financed_emissions(loans, panel, 2024)
    # 2025: FIRM_A's scope 1 is missing, so its loans are not covered (never counted as zero)
    partial = financed_emissions(loans, panel, 2025)
    assert partial.total_tco2e == 0.0
    assert partial.uncovered_outstanding == 50_000_000.0
    # give FIRM_A a 2024 balance sheet (equity 2.0e9 + debt 3.0e9):
    # PCAF business loans, attribution = outstanding / (equity + debt)
    fy = frames["firm_years"]
    frames["firm_years"] = pd.concat([fy, fy[fy["uscc"] == tiny.FIRM_A].assign(year=2024)])
    panel = build_panel(frames)
    result = financed_emissions(loans, panel, 2024)
    emissions = 1234567.125 + 1500.5
    assert result.total_tco2e == pytest.approx(50_000_000 / 5.0e9 * emissions)
    assert list(result.loans["attribution"]) == pytest.approx([42e6 / 5e9, 8e6 / 5e9])
    assert result.weighted_data_quality == pytest.approx(1.0)  # verified -> PCAF score 1
    assert result.by("sector").loc["power", "share"] == pytest.approx(1.0)
