"""Collateral storage on SQLite and PostgreSQL: migration 0002 upgrading a 0001 database in place,
holdings from the registry, active pledges, and idempotent, transactional book valuations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, func, insert, select, text

from carbonfin.errors import DataIntegrityError, InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.store import collateral, repositories, valuations
from carbonfin.store.database import head_revision, session_scope, upgrade
from carbonfin.store.models import Base, CollateralValuation, MarginCall, Pledge, PledgeRelease
from tests.store import tiny

D = dt.date
AT = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
    return engine


# --- migration 0002 ------------------------------------------------------------------------------

_NEW_PLEDGE_COLUMNS = ("pledgor_uscc", "release_date")


def test_0002_upgrades_a_0001_database_in_place_keeping_its_data(
    engine: Engine, tmp_path: Path
) -> None:
    assert upgrade(engine, "0001") == "0001"
    frames = tiny.frames()
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as connection:
        for name in Base.metadata.tables:
            if name not in frames or name == "registry_events":
                continue
            frame = frames[name]
            if name == "pledges":
                frame = frame.drop(columns=list(_NEW_PLEDGE_COLUMNS))
            records = [
                {k: (None if pd.isna(v) else v) for k, v in r.items()}
                for r in frame.to_dict("records")
            ]
            connection.execute(insert(meta.tables[name]), records)
        before = {
            name: connection.scalar(select(func.count()).select_from(meta.tables[name]))
            for name in frames
            if name != "registry_events"
        }
        old_pledges = connection.execute(
            text("SELECT pledge_id, quantity_t, registration_no FROM pledges ORDER BY pledge_id")
        ).all()
    assert before["pledges"] == 2

    assert upgrade(engine) == head_revision()  # through 0002 (and any later migration)

    with engine.connect() as connection:
        after = {name: connection.scalar(text(f"SELECT count(*) FROM {name}")) for name in before}
        pledges = connection.execute(
            text(
                "SELECT p.pledge_id, p.quantity_t, p.registration_no, p.pledgor_uscc, "
                "p.release_date, l.borrower_uscc FROM pledges p JOIN loans l "
                "ON l.loan_id = p.loan_id ORDER BY p.pledge_id"
            )
        ).all()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert after == before
    assert [tuple(r[:3]) for r in pledges] == [tuple(r) for r in old_pledges]
    # the pledgor of a pledge recorded under 0001 is its loan's borrower; release unknown
    assert all(r.pledgor_uscc == r.borrower_uscc for r in pledges)
    assert all(r.release_date is None for r in pledges)
    assert diff == []  # the upgraded schema is exactly the models'
    # and the upgraded database takes the new data
    with session_scope(engine) as session:
        report = repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
    assert report.inserted["registry_events"] == len(tiny.ROWS["registry_events"])
    assert report.inserted["pledges"] == 0


def test_registry_event_constraints(seeded: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    bad = {
        "event_id": "RE-9",
        "date": D(2025, 1, 1),
        "uscc": tiny.FIRM_A,
        "instrument": "SHEA",
        "vintage": 2024,
        "kind": "pledge_registered",  # a pledge event must name its pledge
        "quantity_t": 10,
        "pledge_id": None,
    }
    from carbonfin.store.models import RegistryEvent

    for change in ({}, {"kind": "gift", "pledge_id": None}, {"kind": "sale", "quantity_t": 0}):
        with pytest.raises(IntegrityError), seeded.begin() as connection:
            connection.execute(insert(RegistryEvent), [{**bad, **change}])


# --- holdings and pledges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "balance", "pledged"),
    [
        (D(2024, 1, 30), None, None),  # before the allocation: no holding
        (D(2024, 1, 31), 1_200_000, 0),
        (D(2024, 3, 1), 1_200_000, 300_000),
        (D(2025, 6, 20), 1_480_000, 300_000),
        (D(2025, 6, 27), 300_000, 300_000),  # after surrender only the pledged tonnes remain
    ],
    ids=["before", "allocated", "pledged", "bought", "surrendered"],
)
def test_holdings_as_of_a_date(
    seeded: Engine, as_of: dt.date, balance: int | None, pledged: int | None
) -> None:
    with session_scope(seeded) as session:
        frame = collateral.holdings(session=session, as_of=as_of, instrument=Instrument.SHEA)
        free = collateral.free_quantity(
            session=session, uscc=tiny.FIRM_A, instrument=Instrument.SHEA, vintage=2024, as_of=as_of
        )
    if balance is None:
        assert frame.empty
        assert free == 0
        return
    assert list(frame.columns) == list(collateral.HOLDING_COLUMNS)
    [row] = frame.to_dict("records")
    assert (row["uscc"], row["instrument"], row["vintage"]) == (tiny.FIRM_A, "SHEA", 2024)
    assert (row["balance_t"], row["pledged_t"]) == (balance, pledged)
    assert row["free_t"] == free == balance - pledged
    assert frame["balance_t"].dtype == "int64"


def test_ccer_holdings_have_no_vintage(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        frame = collateral.holdings(session=session, as_of=D(2026, 1, 1), uscc=[tiny.FIRM_A])
        free = collateral.free_quantity(
            session=session,
            uscc=tiny.FIRM_A,
            instrument=Instrument.CCER,
            vintage=None,
            as_of=D(2026, 1, 1),
        )
    ccer = frame[frame["instrument"] == "CCER"].iloc[0]
    assert pd.isna(ccer["vintage"])
    assert (ccer["balance_t"], ccer["pledged_t"], free) == (60_000, 50_000, 10_000)


def test_active_pledges_follow_registration_and_release(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        early = collateral.active_pledges(session=session, as_of=D(2024, 2, 29))
        mid = collateral.active_pledges(session=session, as_of=D(2025, 1, 1))
        late = collateral.active_pledges(session=session, as_of=D(2026, 1, 1))
        bank2 = collateral.active_pledges(session=session, as_of=D(2026, 1, 1), bank_id="BANK-02")
        by_pledgor = collateral.active_pledges(
            session=session, as_of=D(2026, 1, 1), pledgor_uscc=tiny.FIRM_A
        )
        with pytest.raises(MissingDataError, match="BANK-99"):
            collateral.active_pledges(session=session, as_of=D(2026, 1, 1), bank_id="BANK-99")
        # the history is the release records: one dated 2025-12-31, and one dated at the
        # registration (what migration 0006 writes for a pledge marked released, date unknown)
        registered = session.get(Pledge, "PL-0000002").registration_date
        for pid, day in (("PL-0000001", D(2025, 12, 31)), ("PL-0000002", registered)):
            session.add(
                PledgeRelease(
                    pledge_id=pid,
                    release_date=day,
                    quantity_t=session.get(Pledge, pid).quantity_t,
                    reason="other",
                    recorded_at=dt.datetime.now(dt.UTC),
                    client="test",
                )
            )
        session.flush()
        released = collateral.active_pledges(session=session, as_of=D(2026, 1, 1))
        before_release = collateral.active_pledges(session=session, as_of=D(2025, 12, 30))
    assert early.empty
    assert list(mid["pledge_id"]) == ["PL-0000001"]
    assert list(late["pledge_id"]) == ["PL-0000001", "PL-0000002"]
    assert list(late.columns[-2:]) == ["bank_id", "borrower_uscc"]
    assert late.set_index("pledge_id").loc["PL-0000002", "borrower_uscc"] == tiny.FIRM_B
    assert list(bank2["pledge_id"]) == ["PL-0000002"]
    assert list(by_pledgor["pledge_id"]) == ["PL-0000001", "PL-0000002"]
    # released on 2025-12-31; the other is marked released with no date (pre-0002 record)
    assert released.empty
    assert list(before_release["pledge_id"]) == ["PL-0000001"]


# --- book valuations and margin calls -----------------------------------------------------------


def _valuations(haircut: float = 0.35, ltv_a: float = 0.9) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "pledge_id": "PL-0000001",
                "price_cny_per_t": 72.0,
                "mark_date": D(2024, 1, 4),
                "market_value_cny": 21_600_000.0,
                "haircut_frac": haircut,
                "lendable_value_cny": 21_600_000.0 * (1 - haircut),
                "loan_currency": "CNY",
                "loan_outstanding": 42_000_000.0,
                "loan_outstanding_cny": 42_000_000.0,
                "ltv": ltv_a,
                "state": "margin_call",
                "eligible_quantity_t": 300_000,
                "model": "fhs",
                "detail": {"market_risk": 0.25, "liquidity_days": 31.5},
            },
            {
                "pledge_id": "PL-0000002",
                "price_cny_per_t": 80.123456,
                "market_value_cny": 4_006_172.8,
                "haircut_frac": 0.4,
                "lendable_value_cny": 2_403_703.68,
                "loan_currency": "USD",
                "loan_outstanding": 2_000_000.0,
                "loan_outstanding_cny": 14_184_000.0,
                "ltv": float("inf"),
                "state": "liquidation",
            },
        ]
    )


_CALLS = pd.DataFrame(
    [
        {
            "loan_id": "LN-0000001",
            "state": "margin_call",
            "ltv": 1.944444,
            "target_ltv": 0.6,
            "collateral_value_cny": 21_600_000.0,
            "loan_outstanding_cny": 42_000_000.0,
            "topup_cash_cny": 29_040_000.0,
            "topup_quantity_t": 403_333.4,
            "instrument": "SHEA",
        }
    ]
)


def _count(engine: Engine, model: type[Base]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_book_valuation_round_trips_and_is_idempotent_per_date(seeded: Engine) -> None:
    day = D(2026, 10, 30)
    with session_scope(seeded) as session:
        first = collateral.save_book_valuation(
            session=session,
            valuation_date=day,
            valuations=_valuations(),
            margin_calls=_CALLS,
            computed_at=AT,
        )
    with session_scope(seeded) as session:
        again = collateral.save_book_valuation(
            session=session,
            valuation_date=day,
            valuations=_valuations(haircut=0.3),
            margin_calls=_CALLS,
            computed_at=AT,
        )
        # another date is a separate valuation
        collateral.save_book_valuation(
            session=session,
            valuation_date=day + dt.timedelta(days=1),
            valuations=_valuations().iloc[:1],
            computed_at=AT,
        )
    assert (first.valuations_written, first.valuations_replaced) == (2, 0)
    assert (first.margin_calls_written, first.margin_calls_replaced) == (1, 0)
    assert (again.valuations_written, again.valuations_replaced) == (2, 2)
    assert (again.margin_calls_written, again.margin_calls_replaced) == (1, 1)
    assert _count(seeded, CollateralValuation) == 3
    assert _count(seeded, MarginCall) == 1
    with session_scope(seeded) as session:
        stored = collateral.load_book_valuation(session=session, valuation_date=day)
        bank2 = collateral.load_book_valuation(
            session=session, valuation_date=day, bank_id="BANK-02"
        )
        calls = collateral.load_margin_calls(session=session, bank_id="BANK-01")
    a, b = stored.to_dict("records")
    assert a["haircut_frac"] == Decimal("0.3")  # the re-run replaced the first run
    assert a["bank_id"] == "BANK-01"  # filled in from the pledge's loan
    assert (a["instrument"], a["vintage"], a["quantity_t"]) == ("SHEA", 2024, 300_000)
    assert a["price_cny_per_t"] == Decimal("72")
    assert a["lendable_value_cny"] == Decimal("15120000")
    assert a["detail"] == {"market_risk": 0.25, "liquidity_days": 31.5}
    assert a["mark_date"] == D(2024, 1, 4)
    assert b["price_cny_per_t"] == Decimal("80.123456")
    assert b["ltv"] is None  # an infinite LTV is stored as NULL; the state says liquidation
    assert b["state"] == "liquidation"
    assert list(bank2["pledge_id"]) == ["PL-0000002"]
    [call] = calls.to_dict("records")
    assert call["topup_quantity_t"] == 403_334  # rounded up to whole tonnes
    assert call["ltv"] == Decimal("1.944444")
    assert call["bank_id"] == "BANK-01"


def test_a_loan_no_longer_in_call_loses_its_call_on_a_rerun(seeded: Engine) -> None:
    day = D(2026, 10, 30)
    with session_scope(seeded) as session:
        collateral.save_book_valuation(
            session=session,
            valuation_date=day,
            valuations=_valuations(),
            margin_calls=_CALLS,
            computed_at=AT,
        )
    with session_scope(seeded) as session:
        report = collateral.save_book_valuation(
            session=session,
            valuation_date=day,
            valuations=_valuations(),
            margin_calls=_CALLS.iloc[:0],
            computed_at=AT,
        )
    assert (report.margin_calls_written, report.margin_calls_replaced) == (0, 1)
    assert _count(seeded, MarginCall) == 0
    with session_scope(seeded) as session:
        assert (
            collateral.save_margin_calls(
                session=session, valuation_date=day, calls=_CALLS, computed_at=AT
            )
            == 1
        )
        assert (
            collateral.save_margin_calls(
                session=session,
                valuation_date=day,
                calls=[],
                loan_ids=["LN-0000001"],
                computed_at=AT,
            )
            == 0
        )
    assert _count(seeded, MarginCall) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"haircut_frac": 1.2}, r"`haircut_frac` of pledge PL-0000002 must be in \[0, 1\]"),
        ({"price_cny_per_t": 0.0}, "`price_cny_per_t` of pledge PL-0000002 must be > 0"),
        ({"market_value_cny": float("nan")}, "`market_value_cny` of pledge PL-0000002 must be"),
        ({"pledge_id": "PL-9999999"}, "not in the database: \\['PL-9999999'\\]"),
        ({"pledge_id": "PL-0000001"}, "appears twice"),
        ({"bank_id": "BANK-01"}, "belongs to 'BANK-02'"),
        ({"state": ""}, "`state` of pledge PL-0000002 must be a non-empty string"),
        ({"detail": {"x": object()}}, "cannot be stored as JSON"),
    ],
    ids=["haircut", "price", "nan", "unknown-pledge", "twice", "other-bank", "state", "json"],
)
def test_a_bad_valuation_batch_is_refused_and_writes_nothing(
    seeded: Engine, change: dict[str, object], message: str
) -> None:
    day = D(2026, 10, 30)
    with session_scope(seeded) as session:
        collateral.save_book_valuation(
            session=session, valuation_date=day, valuations=_valuations(ltv_a=0.5), computed_at=AT
        )
    bad = _valuations(haircut=0.2)
    for key, value in change.items():
        bad[key] = bad[key].astype(object) if key in bad else None
        bad.at[1, key] = value
    with pytest.raises(InvalidInputError, match=message), session_scope(seeded) as session:
        collateral.save_book_valuation(
            session=session, valuation_date=day, valuations=bad, computed_at=AT
        )
    with session_scope(seeded) as session:
        stored = collateral.load_book_valuation(session=session, valuation_date=day)
    assert list(stored["haircut_frac"]) == [Decimal("0.35"), Decimal("0.4")]  # the first run


def test_a_database_failure_mid_write_leaves_nothing(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The valuations are written first; then the margin-call insert fails on a foreign key.
    # The whole batch, including the replaced rows of the earlier run, must be rolled back.
    day = D(2026, 10, 30)
    with session_scope(seeded) as session:
        collateral.save_book_valuation(
            session=session, valuation_date=day, valuations=_valuations(), computed_at=AT
        )
    real = valuations._call_rows

    def broken(*args: object, **kwargs: object) -> list[dict[str, object]]:
        rows = real(*args, **kwargs)  # type: ignore[arg-type]
        return [{**r, "loan_id": "LN-0000001", "bank_id": "BANK-99"} for r in rows]

    monkeypatch.setattr(valuations, "_call_rows", broken)
    with (
        pytest.raises(DataIntegrityError, match="nothing was written"),
        session_scope(seeded) as session,
    ):
        collateral.save_book_valuation(
            session=session,
            valuation_date=day,
            valuations=_valuations(haircut=0.1),
            margin_calls=_CALLS,
            computed_at=AT,
        )
    with session_scope(seeded) as session:
        stored = collateral.load_book_valuation(session=session, valuation_date=day)
    assert list(stored["haircut_frac"]) == [Decimal("0.35"), Decimal("0.4")]
    assert _count(seeded, MarginCall) == 0


def test_valuation_arguments_are_checked(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        with pytest.raises(InvalidInputError, match="timezone-aware"):
            collateral.save_book_valuation(
                session=session,
                valuation_date=D(2026, 1, 1),
                valuations=_valuations(),
                computed_at=dt.datetime(2026, 1, 1),
            )
        with pytest.raises(InvalidInputError, match="lack the columns"):
            collateral.save_book_valuation(
                session=session,
                valuation_date=D(2026, 1, 1),
                valuations=_valuations().drop(columns="state"),
            )
        with pytest.raises(InvalidInputError, match="unknown columns"):
            collateral.save_book_valuation(
                session=session,
                valuation_date=D(2026, 1, 1),
                valuations=_valuations().assign(colour="red"),
            )
        with pytest.raises(InvalidInputError, match="without a valued pledge"):
            collateral.save_book_valuation(
                session=session,
                valuation_date=D(2026, 1, 1),
                valuations=_valuations().iloc[1:],
                margin_calls=_CALLS,
            )
        with pytest.raises(InvalidInputError, match="not in the database"):
            collateral.save_margin_calls(
                session=session,
                valuation_date=D(2026, 1, 1),
                calls=_CALLS.assign(loan_id="LN-404"),
            )


# --- eligibility inputs read from the store -----------------------------------------------------


def test_eligibility_inputs_from_the_store_feed_the_rules(seeded: Engine) -> None:
    from carbonfin.collateral.eligibility import Decision, evaluate_pledges

    with session_scope(seeded) as session:
        inputs = collateral.eligibility_inputs(
            session=session, as_of=D(2025, 7, 1), bank_id="BANK-02"
        )
        everything = collateral.eligibility_inputs(session=session, as_of=D(2025, 6, 26))
    # BANK-02's pledge (CCER, pledged by FIRM_A for FIRM_B) is in scope; FIRM_A's SHEA pledge
    # to BANK-01 comes along because it locks the same pledgor's holdings
    scoped = inputs.pledges.set_index("pledge_id")["in_scope"].to_dict()
    assert scoped == {"PL-0000002": True, "PL-0000001": False}
    table = evaluate_pledges(
        inputs.pledges,
        holdings=inputs.holdings,
        as_of=inputs.as_of,
        compliance=inputs.compliance,
        carryover=inputs.carryover,
    )
    ccer = table.decision("PL-0000002")
    assert ccer.decision is Decision.ELIGIBLE, ccer.summary()
    assert "holds 60,000 t of CCER" in ccer.rules[3].reason
    # The day before FIRM_A surrenders for 2024 it holds 1,480,000 t SHEA24 and still owes its
    # verified 1,236,068 t: only 1,480,000 - 1,236,068 = 243,932 t of the 300,000 t pledge is
    # free of that need.
    all_table = evaluate_pledges(
        everything.pledges,
        holdings=everything.holdings,
        as_of=everything.as_of,
        compliance=everything.compliance,
        carryover=everything.carryover,
    )
    shea = all_table.decision("PL-0000001")
    assert shea.decision is Decision.PARTIALLY_ELIGIBLE, shea.summary()
    assert shea.eligible_quantity_t == 1_480_000 - 1_236_068


def test_carryover_bases_are_read_in_one_query_and_equal_each_firms_holdings(
    seeded: Engine,
) -> None:
    """The SHEA surplus base of every firm that moved into the national market is its SHEA
    balance at the later of its last SHEA surrender and its entry (the reference: holdings()
    of each firm at its own date), read in one query for all firms (one per firm before: about
    a second per valuation date on the sample)."""
    from sqlalchemy import event

    as_of = D(2026, 3, 2)
    rows = [  # uscc, year, instrument, surrender date: A and B moved; C's surrender is pending
        (tiny.FIRM_A, 2024, "SHEA", D(2025, 6, 27)), (tiny.FIRM_A, 2025, "CEA", None),
        (tiny.FIRM_B, 2023, "SHEA", D(2024, 6, 28)), (tiny.FIRM_B, 2024, "CEA", None),
        ("91310000MA1H0000ZZ", 2025, "SHEA", D(2026, 6, 30)),
        ("91310000MA1H0000ZZ", 2026, "CEA", None),
    ]  # fmt: skip
    compliance = pd.DataFrame(rows, columns=["uscc", "year", "instrument", "surrender_date"])
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with session_scope(seeded) as session:
        event.listen(seeded, "before_cursor_execute", count)
        try:
            got = collateral._carryover(session, compliance, as_of)
        finally:
            event.remove(seeded, "before_cursor_execute", count)
        expected = {}
        for uscc, at in ((tiny.FIRM_A, D(2025, 6, 27)), (tiny.FIRM_B, D(2024, 6, 28))):
            shea = collateral.holdings(session=session, as_of=at, uscc=uscc, instrument="SHEA")
            expected[uscc] = int(shea["balance_t"].sum())
    assert len(statements) == 1, statements
    assert dict(zip(got["uscc"], got["base_t"], strict=True)) == expected
    assert expected[tiny.FIRM_A] > 0  # the sample's allocation of 1,200,000 t less its surrender
    assert dict(zip(got["uscc"], got["entry_date"], strict=True)) == {
        tiny.FIRM_A: D(2025, 1, 1),
        tiny.FIRM_B: D(2024, 1, 1),
    }
