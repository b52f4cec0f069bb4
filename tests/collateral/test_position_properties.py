"""Invariants of the book valuation stated as hypothesis properties (issue 19, "what must be
shown"): how the pledges are cut or grouped changes no haircut, value or state — split, merged,
or the book valued bank by bank — and a position that grows by another pledge (another loan of
the same pledgor at the same bank) never lowers the haircut of the pledges already in it.

The books mix two instruments, two banks, three pledgors (one a covered emitter), CNY and USD
loans and eligible quantities below the pledged ones, so that every component of the haircut
(liquidation, concentration, currency, wrong-way) is in play."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonfin.collateral import market_risk_profile, value_book
from carbonfin.fx import RateStore
from carbonfin.instruments import Instrument
from tests.collateral.synthetic import history_from_returns

RNG = np.random.default_rng(53)
SHEA = history_from_returns(RNG.standard_t(4, 900) * 0.012, volume_t=20_000.0, price0=50.0)
CEA = history_from_returns(RNG.normal(0, 0.01, 900), volume_t=60_000.0, price0=80.0,
                           instrument="CEA")  # fmt: skip
AS_OF = SHEA.dates[-1]
HIST = {Instrument.SHEA: SHEA, Instrument.CEA: CEA}
PROFILES = {i: market_risk_profile(h, as_of=AS_OF) for i, h in HIST.items()}
FX = RateStore.from_records([(AS_OF, "USD/CNY", "7.2000")])
LOANS = pd.DataFrame(
    {"loan_id": ["L0", "L1", "L2", "L3"], "bank_id": ["B1", "B1", "B2", "B2"],
     "borrower_uscc": ["F1", "F2", "F1", "F3"], "currency": ["CNY", "USD", "CNY", "CNY"],
     "outstanding": [2.0e6, 3.0e5, 4.0e6, 1.5e6]}
)  # fmt: skip
COVERED = {"F1"}
_EX = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value(pledges: pd.DataFrame, loans: pd.DataFrame = LOANS):  # type: ignore[no-untyped-def]
    return value_book(pledges, loans, HIST, FX, as_of=AS_OF, profiles=PROFILES,
                      covered_usccs=COVERED)  # fmt: skip


@st.composite
def _pledges(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 7))
    rows = []
    for i in range(n):
        q = draw(st.floats(200.0, 300_000.0))
        rows.append(
            {"pledge_id": f"P{i}", "loan_id": f"L{draw(st.integers(0, 3))}",
             "instrument": draw(st.sampled_from(["SHEA", "CEA"])), "quantity_t": q,
             "eligible_quantity_t": q * draw(st.sampled_from([1.0, 1.0, 0.5])),
             "pledgor_uscc": draw(st.sampled_from(["F1", "F2", "F3"]))}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _loan_figures(book) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return book.loans.set_index("loan_id")[
        ["collateral_value_cny", "lendable_value_cny", "state"]
    ].sort_index()


def _assert_same_loans(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)
    assert (a["state"] == b["state"]).all()
    for c in ("collateral_value_cny", "lendable_value_cny"):
        np.testing.assert_allclose(a[c], b[c], rtol=1e-11)


@_EX
@given(pledges=_pledges(), cuts=st.lists(st.integers(1, 3), min_size=7, max_size=7))
def test_splitting_then_merging_pledges_changes_no_haircut_value_or_state(
    pledges: pd.DataFrame, cuts: list[int]
) -> None:
    whole = _value(pledges)
    # split each pledge into unequal parts (same loan, pledgor, instrument)
    parts = []
    for (_, row), k in zip(pledges.iterrows(), cuts, strict=False):
        w = np.arange(1.0, k + 1.0) / np.arange(1.0, k + 1.0).sum()
        for j, f in enumerate(w):
            parts.append({**row.to_dict(), "pledge_id": f"{row['pledge_id']}-{j}",
                          "quantity_t": row["quantity_t"] * f,
                          "eligible_quantity_t": row["eligible_quantity_t"] * f})  # fmt: skip
    split = _value(pd.DataFrame(parts))
    # merge every pledge of one loan, pledgor and instrument into one
    key = ["loan_id", "pledgor_uscc", "instrument"]
    merged_rows = pledges.groupby(key, as_index=False)[["quantity_t", "eligible_quantity_t"]].sum()
    merged_rows["pledge_id"] = [f"M{i}" for i in range(len(merged_rows))]
    merged = _value(merged_rows)
    h = whole.pledges.set_index("pledge_id")["haircut_frac"]
    s = split.pledges
    np.testing.assert_allclose(
        s["haircut_frac"], h.loc[s["pledge_id"].str.split("-").str[0]].to_numpy(), atol=1e-12
    )
    m = merged.pledges.merge(merged_rows[["pledge_id", *key]], on="pledge_id", suffixes=("", "_"))
    w = whole.pledges.merge(pledges[["pledge_id", "pledgor_uscc"]], on="pledge_id",
                            suffixes=("_v", ""))  # fmt: skip
    for _, row in m.iterrows():
        same = w[(w["loan_id"] == row["loan_id"]) & (w["pledgor_uscc"] == row["pledgor_uscc"])
                 & (w["instrument"] == row["instrument"])]  # fmt: skip
        np.testing.assert_allclose(same["haircut_frac"], row["haircut_frac"], atol=1e-12)
        assert row["market_value_cny"] == pytest.approx(same["market_value_cny"].sum(), rel=1e-11)
    _assert_same_loans(_loan_figures(whole), _loan_figures(split))
    _assert_same_loans(_loan_figures(whole), _loan_figures(merged))


@_EX
@given(pledges=_pledges())
def test_a_book_valued_bank_by_bank_equals_the_whole_book(pledges: pd.DataFrame) -> None:
    whole = _value(pledges)
    h = whole.pledges.set_index("pledge_id")["haircut_frac"]
    for bank in ("B1", "B2"):
        loans = LOANS[LOANS["bank_id"] == bank]
        mine = pledges[pledges["loan_id"].isin(loans["loan_id"])]
        if mine.empty:
            continue
        alone = _value(mine, loans)
        p = alone.pledges.set_index("pledge_id")["haircut_frac"]
        np.testing.assert_allclose(p, h.loc[p.index], atol=1e-12)
        _assert_same_loans(
            _loan_figures(alone), _loan_figures(whole).loc[_loan_figures(alone).index]
        )


@_EX
@given(
    pledges=_pledges(),
    extra_t=st.floats(100.0, 500_000.0),
    which=st.integers(0, 6),
)
def test_a_position_grown_by_another_loan_never_lowers_a_haircut(
    pledges: pd.DataFrame, extra_t: float, which: int
) -> None:
    # another pledge of the same pledgor and instrument at the same bank, on another loan of
    # that bank (or the same, when the bank has one): the position grows, and no haircut of
    # a pledge in it falls
    before = _value(pledges)
    target = before.pledges.iloc[which % len(pledges)]
    src = pledges.set_index("pledge_id").loc[target["pledge_id"]]
    bank_loans = LOANS.loc[LOANS["bank_id"] == target["bank_id"], "loan_id"].tolist()
    other = next((x for x in bank_loans if x != target["loan_id"]), target["loan_id"])
    grown = pd.concat(
        [pledges, pd.DataFrame([{"pledge_id": "NEW", "loan_id": other,
                                 "instrument": src["instrument"], "quantity_t": extra_t,
                                 "eligible_quantity_t": extra_t,
                                 "pledgor_uscc": src["pledgor_uscc"]}])],
        ignore_index=True,
    )  # fmt: skip
    after = _value(grown)
    a = after.pledges.set_index("pledge_id")
    b = before.pledges.set_index("pledge_id")
    in_position = (
        (pledges["pledgor_uscc"] == src["pledgor_uscc"])
        & (pledges["instrument"] == src["instrument"])
    ).to_numpy() & (b["bank_id"] == target["bank_id"]).to_numpy()
    ids = b.index[in_position]
    assert (a.loc[ids, "haircut_frac"] >= b.loc[ids, "haircut_frac"] - 1e-12).all()
    assert (a.loc[ids, "position_t"] > b.loc[ids, "position_t"]).all()
    # (the other pledgors' pledges at that bank may fall: their share of the bank's book, and
    # with it the book-concentration add-on, shrinks as the bank's book grows)
