"""Scoring methodology v1: grades, contributions, directions, benchmarks, reproducibility."""

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
    Grade,
    build_panel,
    efficiency_grade,
    industry_benchmarks,
    load_methodology,
    score_firm,
    score_panel,
)
from carbonfin.scoring.methodology import FACTORS
from carbonfin.store import repositories
from carbonfin.store.database import session_scope, upgrade
from tests.scoring.cards import BENCH, tiny_panel
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


def test_contributions_sum_to_the_score(panel: pd.DataFrame) -> None:
    scores = score_panel(panel)
    contributions = scores[[f"{f}_contribution" for f in FACTORS]].sum(axis=1)
    np.testing.assert_allclose(contributions, scores["score"], atol=1e-9)
    assert scores["score"].between(0, 100).all()
    assert set(scores["colour_grade"]) <= {g.value for g in Grade}
    # colour cut-offs of v1: 80 / 65 / 50
    dark = scores["colour_grade"] == "dark_green"
    assert (scores.loc[dark, "score"] >= 80).all()
    assert (scores.loc[scores["colour_grade"] == "red", "score"] < 50).all()


def test_loan_adjustment_follows_the_shenzhen_rule(panel: pd.DataFrame) -> None:
    scores = score_panel(panel)
    # base 60, 1 bp per point, discount capped at 30 bp, no premium
    expected = np.clip(-(scores["score"] - 60.0), -30.0, 0.0)
    np.testing.assert_allclose(scores["loan_adjustment_bp"], expected, atol=1e-9)


def _score(**overrides: object) -> pd.Series:
    return score_panel(tiny_panel(**overrides), benchmarks=BENCH).iloc[1]


def test_a_score_worked_by_hand() -> None:
    row = _score()
    # efficiency: intensity 48,000 / 1e8 = 4.8e-4, K = 0.96 -> grade 3 -> 0.5 x 35 = 17.5
    assert row["k_ratio"] == pytest.approx(0.96)
    assert row["efficiency_points"] == pytest.approx(17.5)
    # intensity -4%: (0.10 + 0.04) / 0.20 x 15 = 10.5; absolute -4%: (0.05 + 0.04) / 0.10 x 10 = 9
    assert row["intensity_change_points"] == pytest.approx(10.5)
    assert row["absolute_change_points"] == pytest.approx(9.0)
    # quality 0.5 x 1 + 0.2 x 0.85 + 0.2 x 0.5 + 0.1 x 0.2 = 0.79 -> 11.85
    assert row["data_quality_points"] == pytest.approx(11.85)
    assert row["compliance_points"] == 15.0
    assert row["disclosure_points"] == 5.0
    # green share 20% of a 50% saturation -> 0.4 x 5 = 2
    assert row["green_power_points"] == pytest.approx(2.0)
    assert row["score"] == pytest.approx(17.5 + 10.5 + 9 + 11.85 + 15 + 5 + 2)
    assert row["colour_grade"] == "light_green"  # 70.85 in [65, 80)
    assert row["loan_adjustment_bp"] == pytest.approx(-10.85)


def test_missing_and_not_applicable_factors() -> None:
    missing = _score(emissions_tco2e=np.nan, facilities_missing=1)
    assert missing["efficiency_status"] == 1  # missing: 0 points, counted in the maximum
    assert missing["efficiency_points"] == 0
    first_year = score_panel(tiny_panel(), benchmarks=BENCH).iloc[0]
    assert first_year["intensity_change_status"] == 2  # not applicable in the first year
    assert first_year["intensity_change_max"] == 0
    uncovered = _score(covered=False)
    assert uncovered["compliance_max"] == 0
    assert uncovered["confidence"] > missing["confidence"]


_intensity = st.floats(2e-4, 2e-3)


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


def test_benchmark_rule_by_hand(panel: pd.DataFrame) -> None:
    bench = industry_benchmarks(panel, load_methodology("v1"))
    usable = panel[
        panel["emissions_tco2e"].notna()
        & (panel["value_added_cny"] > 0)
        & (panel["quality_estimated"] <= 0.5)
    ]
    steel = usable[(usable["sector"] == "steel") & (usable["year"] == 2024)]
    row = bench[(bench["sector"] == "steel") & (bench["year"] == 2024)].iloc[0]
    assert len(steel) >= 5
    assert row["benchmark_intensity"] == pytest.approx(
        steel["emissions_tco2e"].sum() / steel["value_added_cny"].sum()
    )


def test_score_card(panel: pd.DataFrame) -> None:
    uscc = panel["uscc"].iloc[0]
    card = score_firm(panel, uscc, 2024)
    batch = score_panel(panel)
    row = batch[(batch["uscc"] == uscc) & (batch["year"] == 2024)].iloc[0]
    assert card.score == row["score"]  # a card and the batch agree exactly
    assert card.input_hash == row["input_hash"]
    assert len(card.reasons) <= 3
    assert sum(f.contribution for f in card.factors) == pytest.approx(card.score, abs=1e-9)
    assert "methodology v1" in card.summary()
    with pytest.raises(MissingDataError, match="in 2031"):
        score_firm(panel, uscc, 2031)
    with pytest.raises(InvalidInputError, match="invalid USCC"):
        score_firm(panel, "91310000132149237X")


def test_rescoring_reproduces_the_stored_score_bit_for_bit(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    upgrade(engine)
    data = tiny.write(tmp_path / "tiny")
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=data)
    with session_scope(engine) as session:
        frames = repositories.account_frames(session=session)
    from carbonfin.scoring import Score

    scores = score_panel(build_panel(frames))
    records = [
        Score.from_row({str(k): v for k, v in r.items()}).to_record()
        for r in scores.to_dict("records")
    ]
    at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    with session_scope(engine) as session:
        assert repositories.save_score_records(session=session, records=records, computed_at=at)
    with session_scope(engine) as session:
        stored = repositories.load_score_records(session=session, methodology_version="v1")
        again = repositories.account_frames(session=session)
    rescored = score_panel(build_panel(again))
    fresh = [
        Score.from_row({str(k): v for k, v in r.items()}).to_record()
        for r in rescored.to_dict("records")
    ]
    assert [{k: s[k] for k in fresh[0]} for s in stored] == fresh
