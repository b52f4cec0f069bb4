"""Scoring methodology: grades, hand-worked score cards, directions, benchmarks, reproducibility.

Expected values are worked by hand from the methodology's published rules (v1.1.toml and
docs/scoring-methodology.md), step by step in the comments, never by calling the code's own
formula.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.scoring import (
    Score,
    build_panel,
    efficiency_grade,
    industry_benchmarks,
    load_methodology,
    score_firm,
    score_panel,
)
from carbonfin.scoring.factors import STATUS
from carbonfin.store import repositories
from carbonfin.store.database import session_scope, upgrade
from tests.scoring.cards import AS_OF, BENCH, tiny_panel
from tests.store import tiny

ACCOUNT = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return build_panel({name: load_table(name) for name in ACCOUNT})


# --- Zhejiang efficiency grades: K <= 0.6 -> 1, (0.6, 0.8] -> 2, (0.8, 1.2] -> 3,
# (1.2, 2.0] -> 4, > 2.0 -> 5 (碳效码 grading, upper bounds inclusive)
@pytest.mark.parametrize(
    ("k", "grade"),
    [
        (0.0, 1),
        (0.6, 1),
        (0.6000001, 2),
        (0.8, 2),
        (0.8000001, 3),
        (1.2, 3),
        (1.2000001, 4),
        (2.0, 4),
        (2.0000001, 5),
        (7.5, 5),
    ],
)
def test_efficiency_grade_boundaries(k: float, grade: int) -> None:
    assert efficiency_grade(k) == grade


def test_efficiency_grade_vectorised_and_bad_input() -> None:
    assert list(efficiency_grade(np.array([0.5, 0.7, 1.0, 1.5, 3.0]))) == [1, 2, 3, 4, 5]
    with pytest.raises(InvalidInputError, match="`k_ratio` must be finite and >= 0"):
        efficiency_grade(-0.1)


def _scores(**overrides: object) -> pd.DataFrame:
    return score_panel(tiny_panel(**overrides), benchmarks=BENCH, as_of=AS_OF)


def _score(**overrides: object) -> pd.Series:
    return _scores(**overrides).iloc[1]


def test_a_score_worked_by_hand() -> None:
    row = _score()
    # efficiency: intensity 48,000 / 1e8 = 4.8e-4, K = 0.96 -> grade 3 -> 0.5 x 35 = 17.5
    assert row["k_ratio"] == pytest.approx(0.96)
    assert row["efficiency_points"] == pytest.approx(17.5)
    # intensity -4%: (0.10 + 0.04) / 0.20 x 15 = 10.5; absolute -4%: (0.05 + 0.04) / 0.10 x 10 = 9
    assert row["intensity_change_points"] == pytest.approx(10.5)
    assert row["absolute_change_points"] == pytest.approx(9.0)
    # quality 0.5 x 1 + 0.2 x 0.85 + 0.2 x 0.5 + 0.1 x 0.2 = 0.79, both facilities complete
    # -> 0.79 x 15 = 11.85
    assert row["data_quality_points"] == pytest.approx(11.85)
    assert row["compliance_points"] == 15.0  # surrendered 2026-06-20, deadline 2026-06-30
    assert row["disclosure_points"] == 5.0
    # green share 20% of a 50% saturation -> 0.4 x 5 = 2
    assert row["green_power_points"] == pytest.approx(2.0)
    # every factor applies: 17.5 + 10.5 + 9 + 11.85 + 15 + 5 + 2 = 70.85 of 100
    assert row["score"] == pytest.approx(70.85)
    assert row["colour_grade"] == "light_green"  # 70.85 in [65, 80)
    assert row["loan_adjustment_bp"] == pytest.approx(-10.85)  # 1 bp x (70.85 - 60) off


def test_a_first_year_card_worked_by_hand() -> None:
    """The first year: the change factors do not apply, the score is over 75 points."""
    row = _scores().iloc[0]
    # efficiency: 50,000 / 1e8 = 5e-4 = the benchmark, K = 1.0 -> grade 3 -> 17.5 points
    # data quality 11.85, compliance 15 (2025-06-20 <= 2025-06-30), disclosure 5, green 2
    # applicable maximum 35 + 15 + 15 + 5 + 5 = 75 (intensity and absolute change left out)
    # contributions (x 100 / 75, 4 dp): 23.3333 + 15.8 + 20 + 6.6667 + 2.6667 = 68.4667
    assert row["intensity_change_max"] == 0
    assert row["absolute_change_max"] == 0
    assert STATUS[row["intensity_change_status"]] == "not applicable"
    assert row["efficiency_contribution"] == pytest.approx(23.3333)
    assert row["data_quality_contribution"] == pytest.approx(15.8)
    assert row["score"] == pytest.approx(68.4667)
    assert row["colour_grade"] == "light_green"
    assert row["loan_adjustment_bp"] == pytest.approx(-8.4667)


# Loan pricing (Shenzhen carbon-account loans, methodology [loan_pricing]): 1 bp off per point
# above 60, at most 30 bp off, no surcharge. Three cards worked by hand.
def test_loan_adjustment_capped_for_a_perfect_card() -> None:
    # 27,000 t on 1e8 CNY: intensity 2.7e-4, K = 0.54 -> grade 1 -> 35; a fall from 50,000 of
    # 46% -> intensity change 15 and absolute change 10 in full; all verified -> 15;
    # on time -> 15; disclosure 5; 5,000 certificates on 10,000 MWh = 50% -> 5. Total 100.
    row = _score(
        emissions_tco2e=27_000.0,
        quality_verified=1.0,
        quality_metered=0.0,
        quality_self_reported=0.0,
        quality_estimated=0.0,
        green_certificates=5_000.0,
    )
    assert row["score"] == pytest.approx(100.0)
    assert row["colour_grade"] == "dark_green"
    assert row["loan_adjustment_bp"] == pytest.approx(-30.0)  # 40 points above 60, capped at 30


def test_no_loan_surcharge_below_the_base_score() -> None:
    # 120,000 t: K = 1.2e-3 / 5e-4 = 2.4 -> grade 5 -> 0; +140% on the previous year -> 0 and 0;
    # quality 11.85, compliance 15, disclosure 5, green 2: 33.85 -> red, no premium in v1.1
    row = _score(emissions_tco2e=120_000.0)
    assert row["score"] == pytest.approx(33.85)
    assert row["colour_grade"] == "red"
    assert row["loan_adjustment_bp"] == 0.0


def test_missing_and_not_applicable_factors() -> None:
    missing = _score(emissions_tco2e=np.nan, facilities_missing=1, facilities_complete=1)
    assert STATUS[missing["efficiency_status"]] == "missing"  # 0 points, counted in the maximum
    assert missing["efficiency_points"] == 0
    assert missing["efficiency_max"] == 35
    uncovered = _score(covered=False)
    assert uncovered["compliance_max"] == 0
    assert uncovered["confidence"] > missing["confidence"]


# --- issue 9 item 3: a sector without a benchmark is not penalised -----------------------------


def test_a_missing_benchmark_is_not_a_missing_input() -> None:
    no_bench = {"steel": 1e-3}  # nothing for chemical
    v11 = score_panel(tiny_panel(), "v1.1", no_bench, as_of=AS_OF).iloc[1]
    assert STATUS[v11["efficiency_status"]] == "benchmark unavailable"
    assert v11["efficiency_max"] == 0
    assert v11["benchmark_basis"] == "unavailable"
    # the other factors of the 70.85 card: 10.5 + 9 + 11.85 + 15 + 5 + 2 = 53.35 over 65 points
    # contributions x 100 / 65: 16.1538 + 13.8462 + 18.2308 + 23.0769 + 7.6923 + 3.0769 = 82.0769
    assert v11["score"] == pytest.approx(82.0769)
    assert "no industry benchmark for chemical in 2025" in " ".join(
        Score.from_row(v11.to_dict()).reasons
    )
    # v1 (as published) counted it as missing: 53.35 of 100
    v1 = score_panel(tiny_panel(), "v1", no_bench).iloc[1]
    assert STATUS[v1["efficiency_status"]] == "missing"
    assert v1["score"] == pytest.approx(53.35)


# --- benchmarks worked by hand (methodology [benchmark]) ---------------------------------------


def _bench_panel() -> pd.DataFrame:
    """Steel firm-years with emissions E (tCO2e), value added VA (CNY), estimated share q."""
    rows = [
        # 2024: five usable firms (q = 0.5 is "at most half" and counts) ...
        ("A", 2024, 10_000.0, 1e7, 0.0),
        ("B", 2024, 20_000.0, 1e7, 0.1),
        ("C", 2024, 30_000.0, 1e7, 0.0),
        ("D", 2024, 40_000.0, 1e7, 0.0),
        ("E", 2024, 50_000.0, 1e7, 0.5),
        # ... and three that the rule leaves out
        ("F", 2024, 900_000.0, 1e7, 0.6),  # more than half estimated
        ("G", 2024, np.nan, 1e7, 0.0),  # incomplete emissions
        ("H", 2024, 900_000.0, -1e6, 0.0),  # value added not positive
        # 2023: two usable firms, fewer than min_firms = 5 -> pooled over the sector's years
        ("A", 2023, 15_000.0, 1e7, 0.0),
        ("B", 2023, 25_000.0, 1e7, 0.0),
    ]
    frame = pd.DataFrame(
        rows, columns=["uscc", "year", "emissions_tco2e", "value_added_cny", "quality_estimated"]
    )
    return frame.assign(sector="steel")


def test_benchmark_by_hand_with_the_pooled_fallback() -> None:
    bench = industry_benchmarks(_bench_panel(), load_methodology("v1.1")).set_index("year")
    # 2024: (10 + 20 + 30 + 40 + 50) thousand t / (5 x 1e7 CNY) = 150,000 / 5e7 = 3.0e-3
    assert bench.loc[2024, "benchmark_intensity"] == pytest.approx(3.0e-3)
    assert bench.loc[2024, "benchmark_firms"] == 5
    assert bench.loc[2024, "benchmark_basis"] == "sector-year"
    # 2023: 2 firms < 5 -> pooled: (150,000 + 15,000 + 25,000) / (7 x 1e7) = 190,000 / 7e7
    assert bench.loc[2023, "benchmark_intensity"] == pytest.approx(190_000 / 7e7)
    assert bench.loc[2023, "benchmark_firms"] == 2
    assert bench.loc[2023, "benchmark_basis"] == "sector pooled over years"


def test_benchmark_unavailable_when_no_firm_is_usable() -> None:
    panel = tiny_panel(quality_verified=0.0, quality_estimated=0.9)
    panel["quality_estimated"] = 0.9  # both years more than half estimated: nobody is usable
    panel["quality_verified"] = 0.0
    scores = score_panel(panel, as_of=AS_OF)
    assert scores["benchmark_basis"].eq("unavailable").all()
    assert scores["efficiency_status"].map(STATUS).eq("benchmark unavailable").all()


# --- directions (hypothesis) ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(e1=st.floats(10_000, 100_000), fall=st.floats(0.01, 0.5))
def test_score_rises_when_intensity_falls(e1: float, fall: float) -> None:
    worse = _score(emissions_tco2e=e1)
    better = _score(emissions_tco2e=e1 * (1 - fall))
    assert better["score"] >= worse["score"]


@settings(max_examples=60, deadline=None)
@given(v=st.floats(0.0, 0.9), step=st.floats(0.01, 0.1))
def test_score_rises_with_data_quality(v: float, step: float) -> None:
    low = _score(
        quality_verified=v,
        quality_estimated=1 - v - 0.0,
        quality_metered=0.0,
        quality_self_reported=0.0,
    )
    w = min(v + step, 1.0)
    high = _score(
        quality_verified=w, quality_estimated=1 - w, quality_metered=0.0, quality_self_reported=0.0
    )
    assert high["score"] >= low["score"]
    assert high["confidence"] >= low["confidence"]


@settings(max_examples=30, deadline=None)
@given(shortfall=st.floats(1.0, 1e6))
def test_a_compliance_shortfall_lowers_the_score(shortfall: float) -> None:
    assert _score(shortfall_t=shortfall)["score"] < _score()["score"]


@settings(max_examples=30, deadline=None)
@given(reported=st.integers(1, 9), extra=st.integers(1, 9))
def test_score_never_rises_when_a_facility_stops_reporting(reported: int, extra: int) -> None:
    full = _score(facilities=reported, facilities_complete=reported)
    fewer = _score(facilities=reported + extra, facilities_complete=reported)
    assert fewer["data_quality_points"] < full["data_quality_points"]
    assert fewer["score"] <= full["score"]


# --- the card and reproducibility ---------------------------------------------------------------


def test_score_card(panel: pd.DataFrame) -> None:
    uscc = panel["uscc"].iloc[0]
    card = score_firm(panel, uscc, 2024, as_of=AS_OF)
    batch = score_panel(panel, as_of=AS_OF)
    row = batch[(batch["uscc"] == uscc) & (batch["year"] == 2024)].iloc[0]
    assert card.score == row["score"]  # a card and the batch agree exactly
    assert card.input_hash == row["input_hash"]
    assert len(card.reasons) <= 3
    assert "methodology v1.1, as of 2026-11-26" in card.summary()
    with pytest.raises(MissingDataError, match="in 2031"):
        score_firm(panel, uscc, 2031, as_of=AS_OF)
    with pytest.raises(InvalidInputError, match="invalid USCC"):
        score_firm(panel, "91310000132149237X", as_of=AS_OF)
    with pytest.raises(InvalidInputError, match="needs the scoring date `as_of`"):
        score_firm(panel, uscc, 2024)
    with pytest.raises(InvalidInputError, match="`as_of` must be a date"):
        score_panel(panel, as_of="2026-11-26")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["v1", "v1.1"])
def test_rescoring_reproduces_the_stored_score_bit_for_bit(engine, tmp_path, version) -> None:  # type: ignore[no-untyped-def]
    upgrade(engine)
    data = tiny.write(tmp_path / "tiny")
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=data)
    with session_scope(engine) as session:
        frames = repositories.account_frames(session=session)

    scores = score_panel(build_panel(frames), version, as_of=AS_OF)
    records = [
        Score.from_row({str(k): v for k, v in r.items()}).to_record()
        for r in scores.to_dict("records")
    ]
    at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    with session_scope(engine) as session:
        assert repositories.save_score_records(session=session, records=records, computed_at=at)
    with session_scope(engine) as session:
        stored = repositories.load_score_records(session=session, methodology_version=version)
        again = repositories.account_frames(session=session)
    rescored = score_panel(build_panel(again), version, as_of=AS_OF)
    fresh = [
        Score.from_row({str(k): v for k, v in r.items()}).to_record()
        for r in rescored.to_dict("records")
    ]
    assert [{k: s[k] for k in fresh[0]} for s in stored] == fresh
