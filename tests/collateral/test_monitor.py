"""Book valuation: LTV with the loan converted through FX, states at the thresholds, top-ups that
restore the target, the vectorised haircut equal to the single-pledge one, clear errors."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.collateral import collateral_policy, haircut, market_risk_profile, value_book
from carbonfin.errors import InvalidInputError, MissingDataError, UnknownInstrumentError
from carbonfin.fx import RateStore
from carbonfin.instruments import Instrument
from tests.collateral.synthetic import history_from_returns

RNG = np.random.default_rng(17)
SHEA = history_from_returns(RNG.normal(0, 0.02, 900), volume_t=2000.0, price0=50.0)
CEA = history_from_returns(RNG.normal(0, 0.015, 900), volume_t=50_000.0, price0=80.0)
HISTORIES = {Instrument.SHEA: SHEA, Instrument.CEA: CEA}
AS_OF = SHEA.dates[-1]
FX = RateStore.from_records(
    [(AS_OF - dt.timedelta(days=3), "USD/CNY", "7.1000"), (AS_OF, "USD/CNY", "7.2000")]
)

PLEDGES = pd.DataFrame(
    {
        "pledge_id": ["P1", "P2", "P3", "P4"],
        "loan_id": ["L1", "L2", "L3", "L3"],
        "instrument": ["SHEA", "SHEA", "CEA", "SHEA"],
        "quantity_t": [10_000, 40_000, 100_000, 5_000],
        "pledgor_uscc": [None, "GUARANTOR", None, None],
    }
)
LOANS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2", "L3"],
        "bank_id": ["B1", "B1", "B2"],
        "borrower_uscc": ["EMITTER", "EMITTER", "OTHER"],
        "currency": ["CNY", "USD", "CNY"],
        "outstanding": [200_000.0, 150_000.0, 6_000_000.0],
    }
)


def _book(**kwargs: object):  # type: ignore[no-untyped-def]
    return value_book(
        PLEDGES, LOANS, HISTORIES, FX, as_of=AS_OF, covered_usccs={"EMITTER"}, **kwargs
    )


def test_ltv_uses_the_fx_converted_loan_and_the_mark() -> None:
    book = _book()
    mark_shea = SHEA.mark(AS_OF).price_cny_per_t
    mark_cea = CEA.mark(AS_OF).price_cny_per_t
    loans = book.loans.set_index("loan_id")
    # L2: 150,000 USD at the fixing of the day, 7.20 CNY per USD = 1,080,000 CNY
    assert loans.loc["L2", "outstanding_cny"] == 1_080_000.0
    assert loans.loc["L2", "ltv"] == pytest.approx(1_080_000 / (40_000 * mark_shea))
    # L3: two pledges of two instruments
    value = 100_000 * mark_cea + 5_000 * mark_shea
    assert loans.loc["L3", "collateral_value_cny"] == pytest.approx(value)
    assert loans.loc["L3", "ltv"] == pytest.approx(6_000_000 / value)
    p = book.pledges.set_index("pledge_id")
    lendable = p.loc[["P3", "P4"], "lendable_value_cny"].sum()
    assert loans.loc["L3", "utilisation"] == pytest.approx(6_000_000 / lendable)
    assert loans.loc["L3", "haircut_frac"] == pytest.approx(1 - lendable / value)
    assert book.fx[book.fx.__iter__().__next__()].fixing_date <= AS_OF


def test_vectorised_haircut_equals_the_single_pledge_haircut() -> None:
    book = _book()
    p = book.pledges.set_index("pledge_id")
    # P2: USD loan, pledged by a third-party guarantor (not a covered emitter); its bank B1
    # holds 50,000 t of SHEA in the book, so its book share is 40,000 / 50,000 = 80%
    single = haircut(SHEA, as_of=AS_OF, quantity_t=40_000, loan_currency="USD", book_share=0.8)
    assert p.loc["P2", "haircut_frac"] == pytest.approx(single.total, abs=1e-12)
    assert not p.loc["P2", "pledgor_covered"]
    # P1: the borrower is a covered emitter pledging its own allowances: wrong-way add-on
    single = haircut(
        SHEA, as_of=AS_OF, quantity_t=10_000, pledgor_covered=True, book_share=10_000 / 50_000
    )
    assert p.loc["P1", "haircut_frac"] == pytest.approx(single.total, abs=1e-12)
    assert p.loc["P1", "wrong_way"] > 0


def test_states_and_top_ups_restore_the_target() -> None:
    book = _book()
    th = collateral_policy().ltv
    loans = book.loans.set_index("loan_id")
    for loan_id, row in loans.iterrows():
        u = row["utilisation"]
        expected = (
            "liquidation"
            if u >= th.liquidation_utilisation
            else "margin_call"
            if u >= th.margin_call_utilisation
            else "warning"
            if u >= th.warning_utilisation
            else "ok"
        )
        assert row["state"] == expected, loan_id
    called = loans[loans["state"] != "ok"]
    assert len(called) >= 1
    for loan_id, row in called.iterrows():
        # cash (no haircut) brings utilisation exactly to the target
        u_after = row["outstanding_cny"] / (row["lendable_value_cny"] + row["topup_cash_cny"])
        assert u_after == pytest.approx(th.target_utilisation), loan_id
        # tonnes: re-value the book with the top-up added to the loan's main pledge
        x = row["topup_quantity_t"]
        if math.isnan(x):
            continue
        main = (
            book.pledges[book.pledges["loan_id"] == loan_id]
            .sort_values("market_value_cny")
            .iloc[-1]["pledge_id"]
        )
        for extra, below in ((x, True), (x - 1, False)):
            more = PLEDGES.copy()
            more.loc[more["pledge_id"] == main, "quantity_t"] += extra
            # keep the book shares of the original valuation (they depend on the whole book)
            after = value_book(
                more, LOANS, HISTORIES, FX, as_of=AS_OF, covered_usccs={"EMITTER"}
            ).loans.set_index("loan_id")
            if below:
                assert after.loc[loan_id, "utilisation"] <= th.target_utilisation + 1e-9
            else:
                assert after.loc[loan_id, "utilisation"] > th.target_utilisation - 1e-3
    records = book.margin_call_records()
    assert set(records["loan_id"]) == set(called.index)
    valuations = book.valuation_records()
    assert len(valuations) == len(PLEDGES)
    # the JSON details are storable (no inf/NaN: a loan with no lendable value has utilisation
    # None, not inf)
    for detail in [*valuations["detail"], *records["detail"]]:
        json.dumps(detail, allow_nan=False)


def test_lower_of_market_and_reference_price() -> None:
    pledges = PLEDGES.assign(reference_price_cny_per_t=[1.0, np.nan, 1e6, None])
    book = value_book(pledges, LOANS, HISTORIES, FX, as_of=AS_OF, price_basis="lower_of")
    p = book.pledges.set_index("pledge_id")
    assert p.loc["P1", "price_cny_per_t"] == 1.0
    assert p.loc["P2", "price_cny_per_t"] == SHEA.mark(AS_OF).price_cny_per_t
    assert p.loc["P3", "price_cny_per_t"] == CEA.mark(AS_OF).price_cny_per_t


def test_profiles_are_measured_once_and_reused() -> None:
    prof = {i: market_risk_profile(h, as_of=AS_OF) for i, h in HISTORIES.items()}
    a = _book(profiles=prof)
    b = _book()
    np.testing.assert_array_equal(a.pledges["haircut_frac"], b.pledges["haircut_frac"])
    assert a.profiles[Instrument.SHEA] is prof[Instrument.SHEA]
    with pytest.raises(ValueError, match="read-only"):
        a.pledges["haircut_frac"].to_numpy()[0] = 0.0
    before = float(a.pledges["haircut_frac"].iloc[0])
    changed = a.pledges
    changed.loc[0, "haircut_frac"] = 0.5 if before != 0.5 else 0.25
    assert float(a.pledges["haircut_frac"].iloc[0]) == before  # the valuation is untouched


def test_bad_books_are_clear_errors() -> None:
    gbp = LOANS.assign(currency=["CNY", "GBP", "CNY"])
    with pytest.raises(MissingDataError, match="no rate from GBP to CNY"):
        value_book(PLEDGES, gbp, HISTORIES, FX, as_of=AS_OF)
    with pytest.raises(UnknownInstrumentError, match="unknown instrument 'EUA'"):
        value_book(PLEDGES.assign(instrument="EUA"), LOANS, HISTORIES, FX, as_of=AS_OF)
    with pytest.raises(MissingDataError, match="no price history for CEA"):
        value_book(PLEDGES, LOANS, {Instrument.SHEA: SHEA}, FX, as_of=AS_OF)
    with pytest.raises(InvalidInputError, match="secures loan 'L9', which is not in `loans`"):
        value_book(PLEDGES.assign(loan_id="L9"), LOANS, HISTORIES, FX, as_of=AS_OF)
    with pytest.raises(
        InvalidInputError, match=r"`quantity_t` must be finite and > 0; got 0\.0 at row 1"
    ):
        value_book(PLEDGES.assign(quantity_t=[1, 0, 1, 1]), LOANS, HISTORIES, FX, as_of=AS_OF)
    with pytest.raises(InvalidInputError, match="pledge 'P1' appears twice"):
        value_book(pd.concat([PLEDGES, PLEDGES]), LOANS, HISTORIES, FX, as_of=AS_OF)
    with pytest.raises(MissingDataError, match="is before the first SHEA quote"):
        value_book(PLEDGES, LOANS.assign(currency="CNY"), HISTORIES, FX, as_of=dt.date(2012, 1, 5))
    stale_fx = RateStore.from_records([(AS_OF - dt.timedelta(days=40), "USD/CNY", "7.1")])
    with pytest.raises(MissingDataError, match="days old"):
        value_book(PLEDGES, LOANS, HISTORIES, stale_fx, as_of=AS_OF)


# --- the vectorised book against a plain loop over pledges (issue 19, benchmark rewrite) --------

_MIXED_PLEDGES = pd.DataFrame(
    {
        "pledge_id": [f"Q{i}" for i in range(9)],
        "loan_id": ["L1", "L1", "L2", "L3", "L3", "L4", "L4", "L5", "L5"],
        "instrument": ["SHEA", "SHEA", "SHEA", "CEA", "SHEA", "SHEA", "CEA", "CEA", "SHEA"],
        "quantity_t": [3_000, 1_200, 4_500, 80_000, 600, 2_500, 40_000, 9_000, 250],
        "eligible_quantity_t": [3_000, 900, 4_500, 80_000, 600, 2_000, 40_000, 9_000, 250],
        "pledgor_uscc": ["EMITTER", "EMITTER", None, None, "GUARANTOR", "EMITTER", None,
                         "GUARANTOR", None],
    }
)  # fmt: skip
_MIXED_LOANS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2", "L3", "L4", "L5"],
        "bank_id": ["B1", "B1", "B2", "B1", "B2"],
        "borrower_uscc": ["EMITTER", "EMITTER", "OTHER", "OTHER", None],
        "currency": ["CNY", "USD", "CNY", "CNY", "USD"],
        "outstanding": [70_000.0, 8_000.0, 5_500_000.0, 4_400_000.0, 40_000.0],
    }
)


def _by_hand(pledges: pd.DataFrame, loans: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """Haircut of each pledge and state of each loan by a plain loop: positions summed in a
    dict, each pledge haircut alone by :func:`haircut` with the rest of its position and its
    bank's whole position, then each loan's utilisation against the policy thresholds."""
    loan = loans.set_index("loan_id")
    rows = []
    for _, p in pledges.iterrows():
        borrower = loan.loc[p["loan_id"], "borrower_uscc"]
        pledgor = p["pledgor_uscc"] if isinstance(p["pledgor_uscc"], str) else borrower
        if not isinstance(pledgor, str):
            pledgor = f"loan:{p['loan_id']}"  # unknown: the loan is its own pledgor
        rows.append((p, loan.loc[p["loan_id"], "bank_id"], pledgor, Instrument(p["instrument"])))
    position: dict[tuple[str, str, Instrument], float] = {}
    bank_total: dict[tuple[str, Instrument], float] = {}
    for p, bank, pledgor, inst in rows:
        q = float(p["eligible_quantity_t"])
        position[bank, pledgor, inst] = position.get((bank, pledgor, inst), 0.0) + q
        bank_total[bank, inst] = bank_total.get((bank, inst), 0.0) + q
    h: dict[str, float] = {}
    value: dict[str, float] = {}
    lendable: dict[str, float] = {}
    for p, bank, pledgor, inst in rows:
        q = float(p["eligible_quantity_t"])
        single = haircut(
            HISTORIES[inst], as_of=AS_OF, quantity_t=q,
            other_position_t=position[bank, pledgor, inst] - q,
            bank_position_t=bank_total[bank, inst],
            pledgor_covered=pledgor == "EMITTER",
            loan_currency=loan.loc[p["loan_id"], "currency"],
        )  # fmt: skip
        h[p["pledge_id"]] = single.total
        v = q * HISTORIES[inst].mark(AS_OF).price_cny_per_t
        value[p["loan_id"]] = value.get(p["loan_id"], 0.0) + v
        lendable[p["loan_id"]] = lendable.get(p["loan_id"], 0.0) + v * (1 - single.total)
    th = collateral_policy().ltv
    state = {}
    for loan_id, row in loan.iterrows():
        # USD at the day's fixing of 7.20 CNY
        cny = row["outstanding"] * (7.2 if row["currency"] == "USD" else 1.0)
        u = cny / lendable[str(loan_id)]
        state[str(loan_id)] = (
            "liquidation" if u >= th.liquidation_utilisation
            else "margin_call" if u >= th.margin_call_utilisation
            else "warning" if u >= th.warning_utilisation
            else "ok"
        )  # fmt: skip
    return h, state


def test_vectorised_book_equals_a_plain_loop_over_pledges() -> None:
    # two banks, three pledgors (one unknown: its loan is its own pledgor), two instruments, a
    # covered emitter, USD loans, eligible quantities below the pledged ones
    book = value_book(
        _MIXED_PLEDGES, _MIXED_LOANS, HISTORIES, FX, as_of=AS_OF, covered_usccs={"EMITTER"}
    )
    h, state = _by_hand(_MIXED_PLEDGES, _MIXED_LOANS)
    got = book.pledges.set_index("pledge_id")["haircut_frac"]
    for pledge_id, expected in h.items():
        assert got[pledge_id] == pytest.approx(expected, abs=1e-12), pledge_id
    assert book.loans.set_index("loan_id")["state"].to_dict() == state
    assert len(set(state.values())) >= 2  # the book reaches more than one state


def test_a_missing_label_is_refused_not_given_another_rows_code() -> None:
    # before: pd.factorize gave the missing instrument (or currency, or bank) the code -1, which
    # then indexed the last distinct value: a pledge of no instrument was valued as CEA
    with pytest.raises(InvalidInputError, match=r"pledge `instrument` is missing at row 1"):
        value_book(
            PLEDGES.assign(instrument=["SHEA", None, "CEA", "SHEA"]), LOANS, HISTORIES, FX,
            as_of=AS_OF,
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"loan `currency` is missing at row 0"):
        value_book(PLEDGES, LOANS.assign(currency=[None, "USD", "CNY"]), HISTORIES, FX,
                   as_of=AS_OF)  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"loan `bank_id` is missing at row 2"):
        value_book(PLEDGES, LOANS.assign(bank_id=["B1", "B1", None]), HISTORIES, FX, as_of=AS_OF)


@pytest.mark.parametrize("kind", ["str", "int", "object-mixed"])
def test_loan_rows_equal_index_get_indexer(kind: str) -> None:
    """The one-factorization lookup of each pledge's loan equals ``Index.get_indexer``: loans in
    any order, pledges of missing loans (-1), a missing pledge loan id, integer ids."""
    from carbonfin.collateral.book_labels import loan_rows as _loan_rows

    rng = np.random.default_rng(3)
    ids = rng.permutation(500)
    loan_ids: list[object] = [f"L{i}" for i in ids] if kind != "int" else list(ids)
    wanted = rng.integers(0, 600, 2_000)  # 500..599: loans not in the book
    pledge_ids: list[object] = [f"L{i}" for i in wanted] if kind != "int" else list(wanted)
    if kind == "object-mixed":
        pledge_ids[7] = None
        pledge_ids[8] = 42  # an integer never matches a text id
    loans = pd.DataFrame({"loan_id": loan_ids})
    pledges = pd.DataFrame({"loan_id": pledge_ids})
    expected = pd.Index(loans["loan_id"]).get_indexer(pledges["loan_id"])
    np.testing.assert_array_equal(_loan_rows(pledges, loans), expected)
    with pytest.raises(InvalidInputError, match=re.escape(f"loan {loan_ids[3]!r} appears twice")):
        _loan_rows(pledges, pd.concat([loans, loans.iloc[[3]]], ignore_index=True))


@settings(max_examples=200, deadline=None)
@given(
    loan_nums=st.lists(st.integers(0, 60), max_size=40),
    pledge_nums=st.lists(st.integers(0, 70), max_size=80),
    sort_loans=st.booleans(),
    sort_pledges=st.booleans(),
    hole=st.sampled_from([None, "none", "int", "dup"]),
)
def test_loan_rows_of_a_book_in_any_order_equal_get_indexer(
    loan_nums: list[int], pledge_nums: list[int], sort_loans: bool, sort_pledges: bool,
    hole: str | None,
) -> None:  # fmt: skip
    """The merge join of a book ordered by loan id and the hashing join of any other order give
    ``Index.get_indexer`` (-1 for a pledge of a loan not in the book, 61..70 never are); a
    missing or non-text id, or a loan twice, never takes the merge (its order is not text
    order), and a loan twice is refused on either path."""
    from carbonfin.collateral.book_labels import loan_rows as _loan_rows

    loan_ids: list[object] = [f"L{i:03d}" for i in dict.fromkeys(loan_nums)]
    pledge_ids: list[object] = [f"L{i:03d}" for i in pledge_nums]
    if sort_loans:
        loan_ids.sort(key=str)
    if sort_pledges:
        pledge_ids.sort(key=str)
    if hole == "none" and pledge_ids:
        pledge_ids[-1] = None
    elif hole == "int" and pledge_ids:
        pledge_ids[0] = 7
    loans = pd.DataFrame({"loan_id": pd.Series(loan_ids, dtype=object)})
    pledges = pd.DataFrame({"loan_id": pd.Series(pledge_ids, dtype=object)})
    if hole == "dup" and loan_ids:
        twice = pd.concat([loans, loans.iloc[[0]]], ignore_index=True)
        if sort_loans:
            twice = twice.sort_values("loan_id", ignore_index=True)
        with pytest.raises(InvalidInputError, match="appears twice in the book"):
            _loan_rows(pledges, twice)
        return
    expected = pd.Index(loans["loan_id"], dtype=object).get_indexer(pledges["loan_id"])
    np.testing.assert_array_equal(_loan_rows(pledges, loans), expected)


def test_a_book_ordered_by_loan_is_joined_by_merge_not_by_hashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A book in loan-id order (as the store hands it over) never hashes its loan ids, and is
    valued exactly as the same book in another order."""
    from carbonfin.collateral import book_labels

    pledges = PLEDGES.sort_values(["loan_id", "pledge_id"], ignore_index=True)
    loans = LOANS.sort_values("loan_id", ignore_index=True)
    calls: list[int] = []
    real = book_labels.hash_rows
    monkeypatch.setattr(book_labels, "hash_rows", lambda p, lo: calls.append(1) or real(p, lo))
    in_order = value_book(pledges, loans, HISTORIES, FX, as_of=AS_OF)
    assert calls == []
    shuffled = value_book(pledges.iloc[::-1], loans.iloc[::-1], HISTORIES, FX, as_of=AS_OF)
    assert calls == [1]
    a = in_order.pledges.set_index("pledge_id").sort_index()
    b = shuffled.pledges.set_index("pledge_id").sort_index()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
