"""Exposures aggregated by the database (issue 20, point 4) on SQLite and PostgreSQL: the fixture
book worked by hand in tests/collateral/test_aggregate.py stored as a valuation run gives the
same groups from SQL; on random books every grouping adds up to the whole book and equals the
pandas computation (carbonfin.collateral.aggregate) on the loaded rows to the cent; a bank's
scope holds only its bank; one Alembic head."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert, text

from carbonfin.collateral.aggregate import allocate_outstanding, group_exposures
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.lending import exposure
from carbonfin.store import exposure as store
from carbonfin.store.database import _alembic_config, make_engine, session_scope, upgrade
from carbonfin.store.models import LoanValuation, PledgeValuation, ValuationRun
from tests.collateral.test_aggregate import EXPECTED, LOANS, PLEDGES, TOTAL

AS_OF = dt.date(2026, 10, 30)
COLS = ("pledges", "pledges_not_valued", "collateral_value_cny", "lendable_value_cny",
        "loan_outstanding_cny", "outstanding_by_quantity_cny", "loans",
        "loans_outstanding_unknown")  # fmt: skip
MONEY = ("collateral_value_cny", "lendable_value_cny", "loan_outstanding_cny",
         "outstanding_by_quantity_cny")  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database per backend for the module (each test stores its own run of
    ``AS_OF``, replacing the last one)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('exposure') / 'x.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"x_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(url, schema=schema)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _frames(pledges: pd.DataFrame, loans: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A book in the stored rows' shape (pledges not valued: NaN values and a reason)."""
    p = pledges.copy()
    nv = ~np.isfinite(p["market_value_cny"].to_numpy(dtype=float))
    p["not_valued_reason"] = np.where(nv, "no mark", None)
    p["pledgor_uscc"] = None
    p["eligible_quantity_t"] = p["quantity_t"]
    p["price_cny_per_t"] = np.where(nv, np.nan, 50.0)
    p["haircut_frac"] = np.where(nv, np.nan, 0.3)
    p["mark_date"] = AS_OF
    bank = p.drop_duplicates("loan_id").set_index("loan_id")["bank_id"]
    out = loans["outstanding_cny"].to_numpy(dtype=float)
    ln = pd.DataFrame(
        {
            "loan_id": loans["loan_id"],
            "bank_id": loans["loan_id"].map(bank).to_numpy(),
            "currency": np.where(np.isfinite(out), "CNY", "EUR"),
            "outstanding": np.where(np.isfinite(out), out, 1.0),
            "fx_cny_per_unit": np.where(np.isfinite(out), 1.0, np.nan),
            "outstanding_cny": out,
            "collateral_value_cny": np.nan,
            "lendable_value_cny": np.nan,
            "ltv": np.nan,
            "state": "ok",
            "not_valued_reason": None,
        }
    )
    return p[list(store.PLEDGE_ROW_COLUMNS)], ln[list(store.LOAN_ROW_COLUMNS)]


def _store(engine: Engine, pledges: pd.DataFrame, loans: pd.DataFrame) -> int:
    p, ln = _frames(pledges, loans)
    with session_scope(engine) as s:
        run = store.save_run(
            session=s, as_of=AS_OF, kind="snapshot", lending_version=1, market_version=1,
            data_source="test book", model="hs", pledges=p, loans=ln,
        )  # fmt: skip
    return run.run_id


def test_one_alembic_head() -> None:
    """Parallel branches each adding a migration must leave one head (re-point down_revision)."""

    config = _alembic_config(create_engine("sqlite://"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_sql_groups_equal_the_fixture_book_worked_by_hand(migrated: Engine) -> None:
    engine = migrated
    run_id = _store(engine, PLEDGES, LOANS)
    with session_scope(engine) as s:
        got = store.exposure_groups(session=s, run_id=run_id)
    for by, expected in EXPECTED.items():
        rows = {r["key"]: tuple(r[c] for c in COLS) for r in got[by]}
        assert set(rows) == set(expected), by
        for key, values in expected.items():
            assert rows[key] == pytest.approx(values, abs=0.005), (by, key)
    assert {c: got[""][0][c] for c in COLS} == pytest.approx(TOTAL, abs=0.005)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def at_0010(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database migrated to 0010 only (valuation runs without their totals)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(eng, "0010")
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"x_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(url, schema=schema)
    try:
        upgrade(eng, "0010")
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_migration_0011_aggregates_the_runs_stored_before_it(at_0010: Engine) -> None:
    """A run stored under 0010 (rows only) has its exposure totals after the upgrade: the
    summary equals the fixture book worked by hand (tests/collateral/test_aggregate.py)."""
    engine = at_0010
    p, ln = _frames(PLEDGES, LOANS)
    with engine.begin() as c:
        run_id = c.execute(
            insert(ValuationRun.__table__).values(
                as_of=AS_OF,
                kind="snapshot",
                computed_at=dt.datetime(2026, 10, 30, tzinfo=dt.UTC),
                lending_version=1,
                market_version=1,
                data_source="old run",
                model="hs",
                notes=[],
            )
        ).inserted_primary_key[0]
        for table, frame in ((PledgeValuation.__table__, p), (LoanValuation.__table__, ln)):
            rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
            c.execute(insert(table), [{**r, "run_id": run_id} for r in rows])
    upgrade(engine)
    with session_scope(engine) as s:
        got = store.exposure_groups(session=s, run_id=run_id)
        states = store.state_counts(session=s, run_id=run_id)
    for by, expected in EXPECTED.items():
        rows = {r["key"]: tuple(r[c] for c in COLS) for r in got[by]}
        assert set(rows) == set(expected), by
        for key, values in expected.items():
            assert rows[key] == pytest.approx(values, abs=0.005), (by, key)
    assert {c: got[""][0][c] for c in COLS} == pytest.approx(TOTAL, abs=0.005)
    assert states == {"ok": len(LOANS)}


def test_summary_of_a_bank_holds_only_that_bank(migrated: Engine) -> None:
    engine = migrated
    _store(engine, PLEDGES, LOANS)
    with session_scope(engine) as s:
        mine = exposure.summary(s, AS_OF, "BANK-02")
        whole = exposure.summary(s, AS_OF)
        with pytest.raises(MissingDataError, match="no stored valuation"):
            exposure.summary(s, AS_OF - dt.timedelta(days=1))
    assert [g.key for g in mine.rows("bank")] == ["BANK-02"]
    # by hand (test_aggregate.EXPECTED["bank"]): BANK-02 holds P5 and P6, L3 (unknown) and L4
    assert mine.total.pledges == 2
    assert mine.total.loan_outstanding_cny == pytest.approx(300_000.0, abs=0.005)
    assert mine.total.loans_outstanding_unknown == 1
    assert {g.key for g in mine.rows("instrument")} == {"CCER", "SHEA"}
    assert whole.total.loan_outstanding_cny == pytest.approx(1_100_000.0, abs=0.005)
    assert mine.source.data_source == "test book"
    with pytest.raises(InvalidInputError, match="`by` must be one of"):
        mine.rows("pledgor")


# --- random books: SQL against pandas -------------------------------------------------------------

NAN = float("nan")


@st.composite
def books(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_loans = draw(st.integers(1, 6))
    n = draw(st.integers(1, 12))
    loan = draw(st.lists(st.integers(0, n_loans - 1), min_size=n, max_size=n))
    cents = st.integers(100, 10**10).map(lambda c: c / 100)
    value = draw(st.lists(st.one_of(st.just(NAN), st.just(0.0), cents), min_size=n, max_size=n))
    out = draw(st.lists(st.one_of(st.just(NAN), cents), min_size=n_loans, max_size=n_loans))
    pick = st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)
    bank_of_loan = draw(st.lists(st.sampled_from(["B1", "B2"]), min_size=n_loans, max_size=n_loans))
    pledges = pd.DataFrame(
        {
            "pledge_id": [f"P{i}" for i in range(n)],
            "loan_id": [f"L{j}" for j in loan],
            "bank_id": [bank_of_loan[j] for j in loan],
            "instrument": draw(pick),
            "vintage": draw(st.lists(st.sampled_from([2023, 2024, NAN]), min_size=n, max_size=n)),
            "industry": draw(st.lists(st.sampled_from(["x", "y", None]), min_size=n, max_size=n)),
            "quantity_t": draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n)),
            "market_value_cny": value,
            "lendable_value_cny": [round(v * 0.7, 4) for v in value],
        }
    )
    loans = pd.DataFrame({"loan_id": [f"L{j}" for j in range(n_loans)], "outstanding_cny": out})
    return pledges, loans[loans["loan_id"].isin(set(pledges["loan_id"]))]


def _pandas(engine: Engine, run_id: int, by: str, bank: str | None) -> tuple[dict, dict]:  # type: ignore[type-arg]
    with session_scope(engine) as s:
        p, ln = store.load_run_rows(session=s, run_id=run_id, bank_id=bank)
    table = group_exposures(allocate_outstanding(p, ln), by)
    rows = {str(r["key"]): r for r in table.rows.to_dict("records")}
    return rows, dict(table.total)


@pytest.mark.slow
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(book=books(), bank=st.sampled_from([None, "B1", "B2"]))
def test_sql_equals_pandas_to_the_cent_and_every_grouping_adds_up(
    migrated: Engine, book: tuple[pd.DataFrame, pd.DataFrame], bank: str | None
) -> None:
    engine = migrated
    run_id = _store(engine, *book)
    with session_scope(engine) as s:
        got = store.exposure_groups(session=s, run_id=run_id, bank_id=bank)
    total = got[""][0]
    for by in store.GROUPINGS:
        rows = got[by]
        # additivity: the groups of every grouping add up to the whole book
        for col in (*MONEY, "pledges", "pledges_not_valued"):
            assert sum(r[col] for r in rows) == pytest.approx(total[col], abs=0.005), (by, col)
        # the pandas computation on the loaded rows, group by group, to the cent
        ref_rows, ref_total = _pandas(engine, run_id, by, bank)
        assert {r["key"] for r in rows} == set(ref_rows), by
        for r in rows:
            for col in COLS:
                assert r[col] == pytest.approx(ref_rows[r["key"]][col], abs=0.005), (by, col)
        for col in COLS:
            assert total[col] == pytest.approx(ref_total[col], abs=0.005), col
    if bank is not None:
        assert {r["key"] for r in got["bank"]} <= {bank}


def test_refuses_unknown_groupings_and_kinds(migrated: Engine) -> None:
    engine = migrated
    with session_scope(engine) as s:
        with pytest.raises(InvalidInputError, match="groupings must be among"):
            store.exposure_groups(session=s, run_id=1, groupings=("pledgor",))
        p, ln = _frames(PLEDGES, LOANS)
        with pytest.raises(InvalidInputError, match="`kind`"):
            store.save_run(
                session=s, as_of=AS_OF, kind="x", lending_version=0, market_version=0,
                data_source="t", model="hs", pledges=p, loans=ln,
            )  # fmt: skip


def test_history_reads_the_stored_totals_and_equals_the_hand_worked_book(migrated: Engine) -> None:
    """The history series reads ``exposure_totals`` (the run's pledge and loan rows deleted
    afterwards change nothing) and its point is the fixture book worked by hand
    (tests/collateral/test_aggregate.py TOTAL and EXPECTED["bank"])."""
    engine = migrated
    run_id = _store(engine, PLEDGES, LOANS)
    with session_scope(engine) as s:
        s.execute(PledgeValuation.__table__.delete().where(PledgeValuation.run_id == run_id))
        s.execute(LoanValuation.__table__.delete().where(LoanValuation.run_id == run_id))
    with session_scope(engine) as s:
        (whole,) = store.history_totals(session=s, start=AS_OF, end=AS_OF)
        (bank2,) = store.history_totals(session=s, start=AS_OF, end=AS_OF, bank_id="BANK-02")
        (none,) = store.history_totals(session=s, start=AS_OF, end=AS_OF, bank_id="BANK-99")
    assert whole["run_id"] == run_id
    for col in ("collateral_value_cny", "lendable_value_cny", "loan_outstanding_cny"):
        assert whole[col] == pytest.approx(TOTAL[col], abs=0.005), col
    assert (whole["loans"], whole["loans_outstanding_unknown"]) == (4, 1)
    assert (whole["margin_calls"], whole["warnings"], whole["loans_not_valued"]) == (0, 0, 0)
    # BANK-02: P5 (CCER 60,000, L3 without a CNY amount) and P6 (L4 300,000, worth 0)
    assert bank2["collateral_value_cny"] == pytest.approx(60_000.0, abs=0.005)
    assert bank2["loan_outstanding_cny"] == pytest.approx(300_000.0, abs=0.005)
    assert (bank2["loans"], bank2["loans_outstanding_unknown"]) == (2, 1)
    # a bank with nothing in the run: a point of zeros, nothing of the other banks
    assert none["loans"] == 0
    assert none["collateral_value_cny"] == none["loan_outstanding_cny"] == 0.0


# --- the dashboard's LTV and utilisation histograms (SQL) --------------------------------------

EDGES = tuple(round(0.1 * i, 1) for i in range(16))  # the dashboard's: 0.0 … 1.5, then ≥ 1.5


def _store_loans(engine: Engine, loans: pd.DataFrame) -> int:
    """A run of loans only (each with one pledge of its value: the run needs a pledge row)."""
    n = len(loans)
    pledges = pd.DataFrame(
        {
            "pledge_id": [f"P{i}" for i in range(n)], "loan_id": loans["loan_id"],
            "bank_id": loans["bank_id"], "instrument": "SHEA", "vintage": 2024,
            "industry": "power", "pledgor_uscc": None, "quantity_t": 1000,
            "eligible_quantity_t": 1000, "price_cny_per_t": 50.0, "mark_date": AS_OF,
            "market_value_cny": loans["collateral_value_cny"],
            "haircut_frac": 0.3, "lendable_value_cny": loans["lendable_value_cny"],
            "not_valued_reason": None,
        }
    )  # fmt: skip
    full = loans.assign(currency="CNY", outstanding=loans["outstanding_cny"], fx_cny_per_unit=1.0,
                        not_valued_reason=None)  # fmt: skip
    with session_scope(engine) as s:
        run = store.save_run(
            session=s, as_of=AS_OF, kind="snapshot", lending_version=1, market_version=1,
            data_source="test loans", model="hs", pledges=pledges[list(store.PLEDGE_ROW_COLUMNS)],
            loans=full[list(store.LOAN_ROW_COLUMNS)],
        )  # fmt: skip
    return run.run_id


def _loans(rows: list[tuple[str, float, float, float, str]]) -> pd.DataFrame:
    """(bank, outstanding, collateral value, lendable value, state) per loan; LTV = loan ÷
    value (NaN for no value and a positive loan: stored NULL)."""
    f = pd.DataFrame(rows, columns=["bank_id", "outstanding_cny", "collateral_value_cny",
                                    "lendable_value_cny", "state"])  # fmt: skip
    f.insert(0, "loan_id", [f"L{i}" for i in range(len(f))])
    v, o = f["collateral_value_cny"], f["outstanding_cny"]
    f["ltv"] = np.where(v > 0, o / v.where(v > 0, 1.0), np.where(o > 0, np.nan, 0.0))
    return f


def test_loan_histograms_of_a_book_worked_by_hand(migrated: Engine) -> None:
    loans = _loans([
        # bank, loan, value, lendable, state        LTV     utilisation
        ("B1", 50.0, 100.0, 70.0, "ok"),          # 0.50    0.714… -> [0.7, 0.8)
        ("B1", 80.0, 100.0, 70.0, "warning"),     # 0.80    1.142… -> [1.1, 1.2)
        ("B1", 0.0, 100.0, 70.0, "ok"),           # 0.00    0.0    -> [0.0, 0.1)
        ("B1", 10.0, 100.0, 0.0, "liquidation"),  # 0.10    ∞ (nothing lendable) -> ≥ 1.5
        ("B2", 10.0, 0.0, 0.0, "liquidation"),    # ∞ (stored NULL) and ∞ -> ≥ 1.5 both
        ("B2", 95.0, 100.0, 60.0, "margin_call"), # 0.95    1.583… -> ≥ 1.5
        ("B2", 30.0, 100.0, 70.0, "not_valued"),  # not valued: in no bin
    ])  # fmt: skip
    run_id = _store_loans(migrated, loans)
    with session_scope(migrated) as s:
        whole = store.loan_histograms(session=s, run_id=run_id, edges=EDGES)
        b2 = store.loan_histograms(session=s, run_id=run_id, edges=EDGES, bank_id="B2")
        none = store.loan_histograms(session=s, run_id=run_id, edges=EDGES, bank_id="B9")
    ltv, util = [0] * 16, [0] * 16
    for i in (5, 8, 0, 1, 15, 9):
        ltv[i] += 1
    for i in (7, 11, 0, 15, 15, 15):
        util[i] += 1
    assert whole == {"ltv": ltv, "utilisation": util}
    assert b2 == {"ltv": [0] * 9 + [1] + [0] * 5 + [1], "utilisation": [0] * 15 + [2]}
    assert none == {"ltv": [0] * 16, "utilisation": [0] * 16}


def _numpy_bins(values: np.ndarray) -> list[int]:
    """The previous in-memory computation (api/dashboard/numbers.py before the SQL): numpy's
    histogram of the finite values with an open last bin, ``inf`` counted in it."""
    edges = np.append(np.array(EDGES), np.inf)
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    counts[-1] += int(np.isinf(values).sum())
    return [int(c) for c in counts]


money_st = st.integers(0, 10**9).map(lambda c: c / 100)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["B1", "B2"]),
            money_st,
            money_st,
            st.floats(0.0, 1.0),
            st.sampled_from(["ok", "warning", "not_valued"]),
        ),
        min_size=1,
        max_size=30,
    ),
    bank=st.sampled_from([None, "B1", "B2"]),
)
def test_loan_histograms_equal_numpy_on_the_stored_rows(
    migrated: Engine, rows: list[tuple[str, float, float, float, str]], bank: str | None
) -> None:
    book = _loans([(b, o, v, round(v * (1 - h), 2), s) for b, o, v, h, s in rows])
    run_id = _store_loans(migrated, book)
    with session_scope(migrated) as s:
        got = store.loan_histograms(session=s, run_id=run_id, edges=EDGES, bank_id=bank)
        _, stored = store.load_run_rows(session=s, run_id=run_id, bank_id=bank)
    valued = stored[stored["state"] != "not_valued"]
    o = valued["outstanding_cny"].to_numpy(dtype=float)
    lend = valued["lendable_value_cny"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(lend > 0, o / lend, np.where(o > 0, np.inf, 0.0))
    ltv = valued["ltv"].to_numpy(dtype=float)
    ltv = np.where(np.isnan(ltv), np.inf, ltv)  # stored NULL: no finite LTV
    assert got == {"ltv": _numpy_bins(ltv), "utilisation": _numpy_bins(util)}
