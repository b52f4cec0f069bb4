"""Batch scoring gives the same frames as before its speed-up (issue 21, the scoring row).

The digests below were computed with main at c16ce6d (per-row ``hashlib`` input hash, benchmarks
attached by ``DataFrame.merge``, dates parsed by ``pd.to_datetime`` on every row): BLAKE2b-256 of
the frame's dtypes followed by its CSV (floats written with ``repr``, so every bit counts). The
benchmark join, the date parsing and the boolean parsing are also checked against the pandas
calls they replace.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from carbonfin.data import load_table
from carbonfin.scoring import build_panel, score_panel
from carbonfin.scoring._inputs import as_bool, as_days
from carbonfin.scoring.score import _table_rows

AS_OF = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    tables = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
    return build_panel({name: load_table(name) for name in tables})


def _digest(scores: pd.DataFrame) -> str:
    text = str(scores.dtypes.to_dict()) + scores.to_csv(index=False)
    return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()


@pytest.mark.parametrize(
    ("version", "benchmarks", "expected"),
    [
        ("v1.1", None, "fa8fb7cb7429c198882d87336b7aeca4c606b66e01561199963603f19e87a36d"),
        ("v1", None, "9c0370e8ceef27333c9c195601be7da0f3e081d9b5f9b32276b4819fc42cac0c"),
        (
            "v1.1",
            {"chemical": 5e-4, "steel": 1e-3},
            "5db1c09f9c3fdf13adba1b059ac8e0f345a66d426bb97c24a104a0215f7113c2",
        ),
    ],
    ids=["v1.1", "v1", "v1.1 supplied benchmarks"],
)
def test_sample_market_scores_are_those_of_the_previous_code(
    panel: pd.DataFrame, version: str, benchmarks: dict[str, float] | None, expected: str
) -> None:
    assert _digest(score_panel(panel, version, benchmarks, as_of=AS_OF)) == expected


def test_benchmark_rows_are_those_of_a_left_merge() -> None:
    panel = pd.DataFrame(
        {
            "sector": ["steel", "steel", "cement", None, "paper", "steel", np.nan],
            "year": [2020, 2021, 2020, 2020, 2020, 2022, 2021],
        },
        dtype=object,
    ).astype({"year": "int64"})
    table = pd.DataFrame(
        {
            "sector": pd.array(["steel", "cement", "steel", None], dtype="str"),
            "year": [2020.0, 2020.0, 2021.0, 2020.0],  # float years match int years by value
            "benchmark_intensity": [1.0, 2.0, 3.0, 4.0],
        }
    )
    merged = panel.merge(table.assign(row=np.arange(4)), on=["sector", "year"], how="left")
    expected = merged["row"].fillna(-1).astype("int64").to_numpy()
    np.testing.assert_array_equal(_table_rows(panel, table), expected)
    with pytest.raises(pd.errors.MergeError, match="not a many-to-one merge"):
        _table_rows(panel, pd.concat([table, table.iloc[:1]]))


def test_dates_parsed_once_per_distinct_value_as_on_every_row() -> None:
    day = dt.date(2024, 6, 30)
    dates = pd.Series([day, None, np.nan, pd.NaT, dt.date(2025, 1, 2), day], dtype=object)
    expected = np.array(
        ["2024-06-30", "NaT", "NaT", "NaT", "2025-01-02", "2024-06-30"], dtype="datetime64[D]"
    )
    np.testing.assert_array_equal(as_days(dates, "x"), expected)
    # a datetime among the dates (infer_dtype still says "date") takes the row-by-row path
    mixed = pd.Series([day, dt.datetime(2024, 6, 30, 23, 59)], dtype=object)
    np.testing.assert_array_equal(as_days(mixed, "x"), expected[[0, 0]])


def test_booleans_converted_once_per_distinct_value_as_on_every_row() -> None:
    flags = pd.Series([True, None, False, np.nan, np.True_, pd.NA, np.False_, True], dtype=object)
    expected = pd.Series(
        pd.array([True, None, False, None, True, None, False, True], dtype="boolean")
    )
    pd.testing.assert_series_equal(as_bool(flags, "x"), expected)
    pd.testing.assert_series_equal(as_bool(flags, "x"), flags.astype(object).astype("boolean"))


def test_the_score_frame_shares_no_memory_with_the_panel_or_itself(panel: pd.DataFrame) -> None:
    # the frame is built without pandas' stacking copy (score._frame): every column must still
    # be the frame's own, so writing to it changes neither the caller's panel nor another column
    before = panel.copy(deep=True)
    scores = score_panel(panel, as_of=AS_OF)
    arrays = [scores[c].to_numpy() for c in scores.columns if scores[c].dtype != object]
    for i, a in enumerate(arrays):
        assert not any(np.shares_memory(a, b) for b in arrays[i + 1 :])
    scores.loc[:, "benchmark_intensity"] = -1.0
    scores.loc[:, "uscc"] = "changed"
    scores.loc[:, "year"] = 0
    scores.loc[:, "score"] = -1.0
    pd.testing.assert_frame_equal(panel, before)
    assert (scores["efficiency_points"] >= 0).all()
    assert (scores["score"] == -1.0).all()


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_the_firm_id_column_comes_out_as_text_whatever_its_dtype(
    panel: pd.DataFrame, dtype: str
) -> None:
    # the frame takes a "str" firm id as it is; pandas' "string" dtype came out as "string"
    # (missing value NA) for a while: the fresh-clone check
    scores = score_panel(panel.astype({"uscc": dtype}), as_of=AS_OF)
    assert scores["uscc"].dtype == "str"
    pd.testing.assert_frame_equal(scores, score_panel(panel, as_of=AS_OF))
