"""Issue 9 items 3, 14, 15: missing inputs stay missing, compliance is judged on the scoring
date, and missing facility data lowers the data-quality index. Each card is worked by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError
from carbonfin.scoring import CarbonAccount, build_panel, score_firm, score_panel
from carbonfin.scoring.factors import STATUS
from tests.scoring.cards import AS_OF, account, firm_year_row, uscc

FIRM = uscc("0001")
OTHER = uscc("0002")
ACCOUNT = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")


def _one_firm(**firm_year: object) -> dict[str, pd.DataFrame]:
    return account(
        facilities=[("FAC-1", FIRM)],
        reports=[("FAC-1", 2025, 40_000.0, 10_000.0, "verified")],
        firm_years=[firm_year_row(FIRM, 2025, **firm_year)],
    )


def _status(scores: pd.DataFrame, factor: str) -> str:
    return STATUS[int(scores[f"{factor}_status"].iloc[0])]


# --- item 3: types checked at build_panel's entry; missing maps to MISSING --------------------


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA], ids=["nan", "none", "pd.NA"])
def test_a_missing_disclosure_flag_is_missing_not_true(missing: object) -> None:
    frames = _one_firm()
    frames["firm_years"]["disclosed"] = pd.Series([missing], dtype=object)
    panel = build_panel(frames)
    assert panel["disclosed"].isna().all()  # bool(nan) is True: the old panel said True
    scores = score_panel(panel, benchmarks={"chemical": 5e-4}, as_of=AS_OF)
    assert _status(scores, "disclosure") == "missing"
    assert scores["disclosure_points"].iloc[0] == 0.0


def test_the_drill_down_keeps_a_missing_disclosure_flag_missing() -> None:
    frames = _one_firm()
    frames["firm_years"]["disclosed"] = np.nan  # a float column: bool(nan) was True
    account_ = CarbonAccount.from_frames(frames, FIRM)
    assert account_.years[0].disclosed is None
    assert "2025: disclosed not reported" in account_.gaps()


def test_pandas_na_in_a_numeric_column_is_missing_not_a_traceback() -> None:
    frames = _one_firm()
    frames["firm_years"]["value_added_cny"] = pd.Series([pd.NA], dtype=object)
    frames["firm_years"]["green_certificates"] = pd.array([pd.NA], dtype="Int64")
    scores = score_panel(build_panel(frames), benchmarks={"chemical": 5e-4}, as_of=AS_OF)
    assert _status(scores, "efficiency") == "missing"
    assert _status(scores, "green_power") == "missing"


@pytest.mark.parametrize(
    ("frame", "column", "value", "message"),
    [
        ("firm_years", "disclosed", "False", r"firm_years.disclosed: expected booleans"),
        ("firm_years", "disclosed", 2, r"firm_years.disclosed: expected booleans"),
        ("firm_years", "value_added_cny", "1e8", r"firm_years.value_added_cny: expected numbers"),
        ("firm_years", "year", None, r"firm_years.year: expected a value in every row"),
        ("facility_emissions", "data_quality", "guessed", "'guessed' is not a valid DataQuality"),
        ("facility_emissions", "scope1_tco2e", True, "expected numbers"),
    ],
    ids=["bool-as-text", "bool-as-2", "number-as-text", "missing-key", "tier", "bool-as-number"],
)
def test_wrong_types_are_refused_naming_the_column(
    frame: str, column: str, value: object, message: str
) -> None:
    frames = _one_firm()
    frames[frame][column] = pd.Series([value], dtype=object)
    with pytest.raises(InvalidInputError, match=message):
        build_panel(frames)


def test_score_panel_checks_a_hand_built_panel() -> None:
    from tests.scoring.cards import BENCH, tiny_panel

    with pytest.raises(InvalidInputError, match="`value_added_cny` must be numeric"):
        score_panel(tiny_panel(value_added_cny="lots"), benchmarks=BENCH, as_of=AS_OF)
    with pytest.raises(InvalidInputError, match=r"panel\.disclosed: expected booleans"):
        score_panel(tiny_panel(disclosed="yes"), benchmarks=BENCH, as_of=AS_OF)


# --- item 14: compliance is judged on the scoring date -------------------------------------------


def _cea_firm(surrender: dt.date | None, shortfall: int = 0) -> pd.DataFrame:
    frames = account(
        facilities=[("FAC-1", FIRM)],
        reports=[("FAC-1", 2025, 40_000.0, 10_000.0, "verified")],
        firm_years=[firm_year_row(FIRM, 2025)],
        compliance=[(FIRM, 2025, "CEA", 50_000, 50_000, 50_000, 0, shortfall, surrender)],
    )
    return build_panel(frames)


# CEA: surrender for a compliance year by 31 December of the following year (MEE notices; the
# deadline month 12 in carbonfin/rules/market.toml). 2025 is due on 2026-12-31.
@pytest.mark.parametrize(
    ("as_of", "surrender", "status", "points"),
    [
        (dt.date(2026, 11, 26), None, "not yet due", 0.0),
        (dt.date(2026, 12, 30), None, "not yet due", 0.0),
        (dt.date(2026, 12, 31), None, "scored", 7.5),  # due today, nothing surrendered: late
        (dt.date(2027, 3, 1), None, "scored", 7.5),
        (dt.date(2026, 11, 26), dt.date(2026, 11, 20), "scored", 15.0),  # early, in full
        (dt.date(2026, 11, 10), dt.date(2026, 11, 20), "not yet due", 0.0),  # not yet known
        (dt.date(2027, 1, 5), dt.date(2027, 1, 4), "scored", 7.5),  # late by 4 days
    ],
    ids=["today", "eve", "deadline", "after", "early", "surrender-after-as-of", "late"],
)
def test_compliance_is_not_late_before_its_deadline(
    as_of: dt.date, surrender: dt.date | None, status: str, points: float
) -> None:
    scores = score_panel(_cea_firm(surrender), benchmarks={"chemical": 5e-4}, as_of=as_of)
    assert _status(scores, "compliance") == status
    assert scores["compliance_points"].iloc[0] == points
    assert scores["compliance_max"].iloc[0] == (0.0 if status == "not yet due" else 15.0)
    assert scores["compliance_deadline"].iloc[0] == dt.date(2026, 12, 31)


def test_the_scoring_date_does_not_change_v1() -> None:
    # v1 as published scores a year without a surrender as late whatever the date
    v1 = score_panel(_cea_firm(None), "v1", {"chemical": 5e-4}, as_of=dt.date(2026, 11, 26))
    assert v1["compliance_points"].iloc[0] == 7.5


def test_no_cea_firm_is_late_for_2025_before_the_deadline() -> None:
    panel = build_panel({name: load_table(name) for name in ACCOUNT})
    scores = score_panel(panel, as_of=dt.date(2026, 11, 26))
    cea = load_table("compliance")
    cea_2025 = set(cea.loc[(cea["instrument"] == "CEA") & (cea["year"] == 2025), "uscc"])
    rows = scores[(scores["year"] == 2025) & scores["uscc"].isin(cea_2025)]
    assert len(rows) == 60
    assert rows["compliance_status"].map(STATUS).eq("not yet due").all()
    assert (rows["compliance_max"] == 0).all()
    # the README's example firm: v1 gave 7.5 of 15 ("late") for 2025
    card = score_firm(panel, "91310105GN93T2369N", 2025, as_of=dt.date(2026, 11, 26))
    compliance = next(f for f in card.factors if f.name == "compliance")
    assert (compliance.status, compliance.points, compliance.max_points) == ("not yet due", 0, 0)


# --- item 15: missing facility data lowers the data-quality index --------------------------------


def test_a_blank_facility_report_lowers_data_quality() -> None:
    frames = account(
        facilities=[("FAC-1", FIRM), ("FAC-2", FIRM)],
        reports=[
            ("FAC-1", 2025, 40_000.0, 10_000.0, "verified"),
            ("FAC-2", 2025, None, 5_000.0, "verified"),  # scope 1 left blank
        ],
        firm_years=[firm_year_row(FIRM, 2025)],
    )
    panel = build_panel(frames)
    assert panel["facilities_complete"].iloc[0] == 1
    v11 = score_panel(panel, "v1.1", {"chemical": 5e-4}, as_of=AS_OF)
    # v1.1: the complete report is verified (tier value 1.0), 1 of 2 facilities complete
    # -> index 1.0 x 1/2 = 0.5 -> 0.5 x 15 = 7.5 points
    assert v11["data_quality_value"].iloc[0] == pytest.approx(0.5)
    assert v11["data_quality_points"].iloc[0] == pytest.approx(7.5)
    # v1 as published gave the blank facility's firm-year the full 15 (issue 9 item 15)
    v1 = score_panel(panel, "v1", {"chemical": 5e-4})
    assert v1["data_quality_points"].iloc[0] == pytest.approx(15.0)


def test_an_absent_facility_report_lowers_data_quality() -> None:
    frames = account(
        facilities=[("FAC-1", FIRM), ("FAC-2", FIRM), ("FAC-3", FIRM), ("FAC-4", FIRM)],
        reports=[
            ("FAC-1", 2025, 25_000.0, 5_000.0, "verified"),  # 30,000 t at 1.0
            ("FAC-2", 2025, 8_000.0, 2_000.0, "metered"),  # 10,000 t at 0.85
            ("FAC-3", 2025, 9_000.0, 1_000.0, "estimated"),  # 10,000 t at 0.2
        ],  # FAC-4 filed nothing
        firm_years=[firm_year_row(FIRM, 2025)],
    )
    scores = score_panel(build_panel(frames), "v1.1", {"chemical": 5e-4}, as_of=AS_OF)
    # (30,000 x 1.0 + 10,000 x 0.85 + 10,000 x 0.2) / 50,000 = 40,500 / 50,000 = 0.81,
    # times 3 of 4 facilities complete = 0.6075 -> 0.6075 x 15 = 9.1125 points
    assert scores["data_quality_value"].iloc[0] == pytest.approx(0.6075)
    assert scores["data_quality_points"].iloc[0] == pytest.approx(9.1125)


def test_no_incomplete_firm_year_of_the_sample_earns_full_quality_marks() -> None:
    panel = build_panel({name: load_table(name) for name in ACCOUNT})
    scores = score_panel(panel, as_of=AS_OF)
    incomplete = panel["emissions_tco2e"].isna().to_numpy()
    assert incomplete.sum() == 407
    assert (scores.loc[incomplete, "data_quality_points"] < 15.0).all()  # v1: 99 had 15 of 15
    complete = ~incomplete
    v1 = score_panel(panel, "v1")
    np.testing.assert_array_equal(  # complete firm-years keep their v1 data-quality points
        scores.loc[complete, "data_quality_points"], v1.loc[complete, "data_quality_points"]
    )


def test_a_card_never_uses_a_year_not_ended_by_its_scoring_date() -> None:
    # A year's records are complete only after its 31 December: scoring 2025 on 2025-06-30
    # would use data the date could not have seen, and 1990 precedes every year.
    from carbonfin.errors import InvalidInputError, MissingDataError
    from carbonfin.scoring.score import scorable_year

    years = [2023, 2024, 2025]
    assert scorable_year("F", years, None, dt.date(2026, 11, 25)) == 2025
    assert scorable_year("F", years, None, dt.date(2025, 6, 30)) == 2024
    assert scorable_year("F", years, 2024, dt.date(2025, 1, 1)) == 2024
    with pytest.raises(InvalidInputError, match="complete only after 2025-12-31"):
        scorable_year("F", years, 2025, dt.date(2025, 6, 30))
    with pytest.raises(MissingDataError, match="no year of firm F ended before"):
        scorable_year("F", years, None, dt.date(1990, 1, 1))
    with pytest.raises(MissingDataError, match="in 2019"):
        scorable_year("F", years, 2019, None)
