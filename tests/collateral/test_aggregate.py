"""Exposures grouped by bank, instrument, vintage and industry: the allocation rule worked by hand
on a small book (two banks, a two-instrument loan, a pledge not valued, a loan without a CNY
amount, collateral worth zero), and the groups adding up to the whole book on random books."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.collateral import stress_book, value_book
from carbonfin.collateral.aggregate import (
    ADDITIVE,
    GROUPINGS,
    allocate_outstanding,
    allocation_weights,
    group_exposures,
)
from carbonfin.collateral.stress import StressScenario
from carbonfin.errors import InvalidInputError
from carbonfin.fx import RateStore
from carbonfin.instruments import Instrument
from tests.collateral.synthetic import history_from_returns

NAN = float("nan")

# The fixture book.
#   BANK-01  L1  600,000 CNY  P1 SHEA 2024 10,000 t  value 500,000  pledgor F1 (power)
#                             P2 CEA  2025  5,000 t  value 300,000  pledgor F2 (steel)
#            L2  200,000 CNY  P3 SHEA 2023  4,000 t  NOT VALUED     pledgor F1 (power)
#                             P4 CEA  2024  6,000 t  value 420,000  pledgor F3 (cement)
#   BANK-02  L3  (EUR, no FX) P5 CCER  -    1,000 t  value  60,000  pledgor F4 (industry unknown)
#            L4  300,000 CNY  P6 SHEA 2024  2,000 t  value       0  pledgor F3 (cement)
PLEDGES = pd.DataFrame(
    {
        "pledge_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "loan_id": ["L1", "L1", "L2", "L2", "L3", "L4"],
        "bank_id": ["BANK-01"] * 4 + ["BANK-02"] * 2,
        "instrument": ["SHEA", "CEA", "SHEA", "CEA", "CCER", "SHEA"],
        "vintage": [2024, 2025, 2023, 2024, NAN, 2024],
        "industry": ["power", "steel", "power", "cement", None, "cement"],
        "quantity_t": [10_000, 5_000, 4_000, 6_000, 1_000, 2_000],
        "market_value_cny": [500_000.0, 300_000.0, NAN, 420_000.0, 60_000.0, 0.0],
        "lendable_value_cny": [350_000.0, 210_000.0, NAN, 294_000.0, 42_000.0, 0.0],
    }
)
LOANS = pd.DataFrame(
    {"loan_id": ["L1", "L2", "L3", "L4"], "outstanding_cny": [600_000.0, 200_000.0, NAN, 300_000.0]}
)

# Allocation worked by hand:
#   L1: both valued, 500,000 + 300,000 = 800,000 -> P1 5/8 x 600,000 = 375,000 (value)
#                                                   P2 3/8 x 600,000 = 225,000 (value)
#   L2: P3 not valued -> tonnes 4,000 + 6,000 = 10,000 -> P3 0.4 x 200,000 = 80,000 (quantity)
#                                                          P4 0.6 x 200,000 = 120,000 (quantity)
#   L3: one pledge, weight 1, but no CNY outstanding -> allocated NaN, counted as unknown
#   L4: its only pledge is worth 0 -> by tonnes: weight 1 -> 300,000 (quantity)
ALLOCATED = {"P1": 375_000.0, "P2": 225_000.0, "P3": 80_000.0, "P4": 120_000.0, "P6": 300_000.0}
BASIS = {"P1": "value", "P2": "value", "P3": "quantity", "P4": "quantity", "P5": "value",
         "P6": "quantity"}  # fmt: skip

# Whole book: 6 pledges (1 not valued), collateral 500,000 + 300,000 + 420,000 + 60,000 + 0
# = 1,280,000; lendable 350,000 + 210,000 + 294,000 + 42,000 + 0 = 896,000; outstanding
# 600,000 + 200,000 + 300,000 = 1,100,000 (L3 unknown) of which 80,000 + 120,000 + 300,000
# = 500,000 allocated by quantity; 4 loans, 1 with an unknown CNY outstanding.
TOTAL = {
    "pledges": 6, "pledges_not_valued": 1, "collateral_value_cny": 1_280_000.0,
    "lendable_value_cny": 896_000.0, "loan_outstanding_cny": 1_100_000.0,
    "outstanding_by_quantity_cny": 500_000.0, "loans": 4, "loans_outstanding_unknown": 1,
}  # fmt: skip

COLS = ("pledges", "pledges_not_valued", "collateral_value_cny", "lendable_value_cny",
        "loan_outstanding_cny", "outstanding_by_quantity_cny", "loans",
        "loans_outstanding_unknown")  # fmt: skip
EXPECTED = {
    # SHEA: P1, P3, P6. collateral 500,000 + (P3 unknown) + 0; lendable 350,000;
    #       outstanding 375,000 + 80,000 + 300,000 = 755,000, by quantity 80,000 + 300,000
    # CEA:  P2, P4. collateral 300,000 + 420,000; lendable 210,000 + 294,000;
    #       outstanding 225,000 + 120,000 = 345,000, by quantity 120,000
    # CCER: P5. collateral 60,000; lendable 42,000; outstanding unknown (L3)
    "instrument": {
        "SHEA": (3, 1, 500_000.0, 350_000.0, 755_000.0, 380_000.0, 3, 0),
        "CEA": (2, 0, 720_000.0, 504_000.0, 345_000.0, 120_000.0, 2, 0),
        "CCER": (1, 0, 60_000.0, 42_000.0, 0.0, 0.0, 1, 1),
    },
    # BANK-01: P1-P4 = L1 600,000 + L2 200,000; BANK-02: P5, P6 = L4 300,000 (+ L3 unknown)
    "bank": {
        "BANK-01": (4, 1, 1_220_000.0, 854_000.0, 800_000.0, 200_000.0, 2, 0),
        "BANK-02": (2, 0, 60_000.0, 42_000.0, 300_000.0, 300_000.0, 2, 1),
    },
    # 2024: P1, P4, P6 -> 375,000 + 120,000 + 300,000 = 795,000; 2025: P2 225,000;
    # 2023: P3 80,000 (not valued); none: P5
    "vintage": {
        "2024": (3, 0, 920_000.0, 644_000.0, 795_000.0, 420_000.0, 3, 0),
        "2025": (1, 0, 300_000.0, 210_000.0, 225_000.0, 0.0, 1, 0),
        "2023": (1, 1, 0.0, 0.0, 80_000.0, 80_000.0, 1, 0),
        "none": (1, 0, 60_000.0, 42_000.0, 0.0, 0.0, 1, 1),
    },
    # power: P1, P3 -> 375,000 + 80,000; steel: P2 225,000; cement: P4, P6 -> 120,000 + 300,000
    "industry": {
        "power": (2, 1, 500_000.0, 350_000.0, 455_000.0, 80_000.0, 2, 0),
        "steel": (1, 0, 300_000.0, 210_000.0, 225_000.0, 0.0, 1, 0),
        "cement": (2, 0, 420_000.0, 294_000.0, 420_000.0, 420_000.0, 2, 0),
        "unknown": (1, 0, 60_000.0, 42_000.0, 0.0, 0.0, 1, 1),
    },
}


def test_allocation_worked_by_hand() -> None:
    out = allocate_outstanding(PLEDGES, LOANS).set_index("pledge_id")
    for pid, amount in ALLOCATED.items():
        assert out.loc[pid, "allocated_outstanding_cny"] == pytest.approx(amount), pid
    assert np.isnan(out.loc["P5", "allocated_outstanding_cny"])
    assert out["allocation_basis"].to_dict() == BASIS
    assert out["valued"].to_dict() == {p: p != "P3" for p in out.index}


@pytest.mark.parametrize("by", sorted(EXPECTED))
def test_groups_worked_by_hand(by: str) -> None:
    table = group_exposures(allocate_outstanding(PLEDGES, LOANS), by)
    got = {str(r["key"]): tuple(r[c] for c in COLS) for r in table.rows.to_dict("records")}
    assert set(got) == set(EXPECTED[by])
    for key, expected in EXPECTED[by].items():
        assert got[key] == pytest.approx(expected), (by, key)
    assert dict(table.total) == pytest.approx(TOTAL)
    # largest collateral value first
    values = table.rows["collateral_value_cny"].tolist()
    assert values == sorted(values, reverse=True)


def test_a_pledge_flagged_not_valued_is_not_valued_whatever_its_value() -> None:
    flagged = PLEDGES.assign(not_valued_reason=[None, "stale mark", None, None, None, None])
    out = allocate_outstanding(flagged, LOANS).set_index("pledge_id")
    assert not out.loc["P2", "valued"]
    # L1 now falls back to tonnes: 10,000 / 15,000 and 5,000 / 15,000 of 600,000
    assert out.loc["P1", "allocated_outstanding_cny"] == pytest.approx(400_000.0)
    assert out.loc["P2", "allocated_outstanding_cny"] == pytest.approx(200_000.0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not in `loans`"):
        allocate_outstanding(PLEDGES, LOANS[LOANS["loan_id"] != "L4"])
    with pytest.raises(InvalidInputError, match="lacks the columns"):
        allocate_outstanding(PLEDGES.drop(columns="quantity_t"), LOANS)
    with pytest.raises(InvalidInputError, match="`by` must be one of"):
        group_exposures(allocate_outstanding(PLEDGES, LOANS), "pledgor")
    with pytest.raises(InvalidInputError, match="must be >= 0"):
        allocation_weights(np.array([0]), np.array([-1.0]), np.array([1.0]))


# --- random books ---------------------------------------------------------------------------


@st.composite
def books(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_loans = draw(st.integers(1, 6))
    n = draw(st.integers(1, 14))
    loan = draw(st.lists(st.integers(0, n_loans - 1), min_size=n, max_size=n))
    value = draw(
        st.lists(st.one_of(st.just(NAN), st.just(0.0), st.floats(1.0, 1e8)), min_size=n, max_size=n)
    )
    qty = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n))
    out = draw(
        st.lists(st.one_of(st.just(NAN), st.floats(0.0, 1e9)), min_size=n_loans, max_size=n_loans)
    )
    pick = st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)
    pledges = pd.DataFrame(
        {
            "pledge_id": [f"P{i}" for i in range(n)],
            "loan_id": [f"L{j}" for j in loan],
            "bank_id": draw(pick),
            "instrument": draw(pick),
            "vintage": draw(st.lists(st.sampled_from([2023, 2024, NAN]), min_size=n, max_size=n)),
            "industry": draw(pick),
            "quantity_t": qty,
            "market_value_cny": value,
            "lendable_value_cny": [v * 0.7 for v in value],
        }
    )
    loans = pd.DataFrame({"loan_id": [f"L{j}" for j in range(n_loans)], "outstanding_cny": out})
    return pledges, loans[loans["loan_id"].isin(set(pledges["loan_id"]))]


@settings(max_examples=150, deadline=None)
@given(books())
def test_every_grouping_adds_up_to_the_whole_book(book: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    pledges, loans = book
    allocated = allocate_outstanding(pledges, loans)
    # each loan is allocated exactly once: its pledges' weights sum to 1
    sums = allocated.groupby("loan_id")["allocation_frac"].sum()
    assert np.allclose(sums.to_numpy(), 1.0)
    # the book's outstanding, from the loans themselves (not from the allocation)
    out = loans["outstanding_cny"].to_numpy(dtype=float)
    book_outstanding = float(out[np.isfinite(out)].sum())
    valued = pledges["market_value_cny"].to_numpy(dtype=float)
    book_value = float(valued[np.isfinite(valued)].sum())
    for by in GROUPINGS:
        table = group_exposures(allocated, by)
        rows = table.rows
        for col in ADDITIVE:
            assert rows[col].sum() == pytest.approx(table.total[col], rel=1e-9, abs=1e-6), col
        assert table.total["loan_outstanding_cny"] == pytest.approx(
            book_outstanding, rel=1e-9, abs=1e-6
        )
        assert table.total["collateral_value_cny"] == pytest.approx(book_value, rel=1e-9, abs=1e-6)
        assert table.total["pledges"] == len(pledges)
        assert table.total["loans"] == len(loans)
        assert table.total["loans_outstanding_unknown"] == int((~np.isfinite(out)).sum())


@settings(max_examples=100, deadline=None)
@given(books(), st.data())
def test_splitting_a_pledge_in_two_changes_no_group(
    book: tuple[pd.DataFrame, pd.DataFrame], data: st.DataObject
) -> None:
    pledges, loans = book
    i = data.draw(st.integers(0, len(pledges) - 1))
    half = pledges.iloc[[i]].copy()
    for col in ("quantity_t", "market_value_cny", "lendable_value_cny"):
        half[col] = half[col] / 2
    split = pd.concat(
        [pledges.drop(index=pledges.index[i]), half, half.assign(pledge_id="split")],
        ignore_index=True,
    )
    for by in GROUPINGS:
        a = group_exposures(allocate_outstanding(pledges, loans), by).rows.set_index("key")
        b = group_exposures(allocate_outstanding(split, loans), by).rows.set_index("key")
        cols = [c for c in ADDITIVE if c not in ("pledges", "pledges_not_valued")]
        assert np.allclose(
            a.loc[b.index, cols].to_numpy(), b[cols].to_numpy(), rtol=1e-9, atol=1e-6
        )


def test_stress_allocates_uncovered_exposure_of_a_loan_whose_collateral_is_wiped_out() -> None:
    """A -100% shock leaves a loan no collateral value: its uncovered exposure must still be
    allocated to its instruments (by tonnes), so the instruments add up to the total."""
    rng = np.random.default_rng(3)
    shea = history_from_returns(rng.normal(0, 0.01, 400), volume_t=5_000.0)
    cea = history_from_returns(rng.normal(0, 0.01, 400), volume_t=80_000.0, price0=70.0)
    hist = {Instrument.SHEA: shea, Instrument.CEA: cea}
    as_of = shea.dates[-1]
    pledges = pd.DataFrame(
        {
            "pledge_id": ["P1", "P2"],
            "loan_id": ["L1", "L1"],
            "instrument": ["SHEA", "CEA"],
            "quantity_t": [3_000, 1_000],
        }
    )
    loans = pd.DataFrame(
        {"loan_id": ["L1"], "bank_id": ["B1"], "currency": ["CNY"], "outstanding": [100_000.0]}
    )
    fx = RateStore.from_records([(as_of, "USD/CNY", "7.0")])
    book = value_book(pledges, loans, hist, fx, as_of=as_of)
    wipe = StressScenario(
        name="wipe-out", kind="shock", instruments=(Instrument.SHEA, Instrument.CEA),
        description="every mark to zero", source="test", assumed=True,
        params=MappingProxyType({"move_frac": -1.0}),
    )  # fmt: skip
    res = stress_book(book, wipe, hist)
    assert res.uncovered_cny == pytest.approx(100_000.0)
    by_inst = res.by_instrument.set_index("instrument")["uncovered_cny"]
    # by tonnes: 3,000 / 4,000 and 1,000 / 4,000 of 100,000
    assert by_inst["SHEA"] == pytest.approx(75_000.0)
    assert by_inst["CEA"] == pytest.approx(25_000.0)
