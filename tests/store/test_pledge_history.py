"""Pledge history (issue 18): random sequences of registrations and releases through the
lending workflows keep the registry and the pledges consistent on every date; migration 0006
upgrades a database with released pledges in place."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import sessionmaker

from carbonfin.errors import ConflictError, InvalidInputError
from carbonfin.lending import Actor
from carbonfin.lending.pledges import PledgeRequest, register_pledge, release_pledge
from carbonfin.store import collateral, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade
from carbonfin.store.models import Pledge, PledgeRelease, RegistrationNumber, RegistryEvent
from tests.store import tiny

D = dt.date
TODAY = D(2026, 1, 31)
HELD_T = 10_000
DAYS = [
    D(2025, 6, 2),
    D(2025, 7, 1),
    D(2025, 8, 15),
    D(2025, 10, 1),
    D(2025, 12, 1),
    D(2026, 1, 15),
]
BANK2 = Actor("test-hypothesis", "BANK-02", "bank", "api")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded tiny market where FIRM_B (BANK-02's borrower on LN-0000002) holds 10,000 t of
    SHEA 2024 from 2025-06-01 and nothing is pledged on it."""
    path = tmp_path_factory.mktemp("hist") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny.write(path.parent / "tiny"))
        session.execute(
            insert(RegistryEvent),
            [
                {
                    "event_id": "RE-HYP-1",
                    "date": D(2025, 6, 1),
                    "uscc": tiny.FIRM_B,
                    "instrument": "SHEA",
                    "vintage": 2024,
                    "kind": "allocation",
                    "quantity_t": HELD_T,
                    "pledge_id": None,
                }
            ],
        )
    engine.dispose()
    return path


ops = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(1, 6_000), st.integers(0, len(DAYS) - 1)),
        st.tuples(
            st.just("release"),
            st.integers(0, 7),  # which registered pledge
            st.one_of(st.none(), st.integers(1, 6_000)),  # full or partial
            st.integers(0, len(DAYS) - 1),
        ),
    ),
    min_size=1,
    max_size=10,
)


def _apply(sessions: sessionmaker[Engine], plan: list[tuple[object, ...]]) -> tuple[list, list]:  # type: ignore[type-arg]
    pledges: list[tuple[str, dt.date, int]] = []
    releases: list[tuple[str, dt.date, int]] = []
    for n, op in enumerate(plan):
        if op[0] == "register":
            _, q, k = op
            try:
                reg = register_pledge(
                    sessions=sessions,
                    actor=BANK2,
                    request=PledgeRequest(
                        "LN-0000002",
                        "SHEA",
                        2024,
                        int(q),
                        f"SHEA-HYP-{n:04d}",
                        DAYS[int(k)],  # type: ignore[call-overload]
                    ),
                    today=TODAY,
                )
            except ConflictError as exc:
                refusal = str(exc)
                assert refusal.endswith("exceeds the quantity free to pledge"), refusal
                continue
            pledges.append((reg.pledge.pledge_id, DAYS[int(k)], int(q)))  # type: ignore[call-overload]
        elif pledges:
            _, i, q, k = op
            pid, registered, quantity = pledges[int(i) % len(pledges)]  # type: ignore[call-overload]
            left = quantity - sum(r[2] for r in releases if r[0] == pid)
            day = DAYS[int(k)]  # type: ignore[call-overload]
            try:
                r = release_pledge(
                    sessions=sessions,
                    actor=BANK2,
                    pledge_id=pid,
                    release_date=day,
                    reason="repayment",
                    quantity_t=None if q is None else int(q),  # type: ignore[call-overload]
                    today=TODAY,
                )
            except (ConflictError, InvalidInputError):
                # refused exactly when nothing or too little is left, or dated before the pledge
                assert left <= 0 or (q is not None and int(q) > left) or day < registered  # type: ignore[call-overload]
                continue
            assert day >= registered
            assert r.quantity_t == (left if q is None else q)
            releases.append((pid, day, r.quantity_t))
    return pledges, releases


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=ops)
def test_quantity_in_force_and_free_holding_on_every_date(
    template: Path, tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[object, ...]]
) -> None:
    path = tmp_path_factory.mktemp("ex") / "db.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    sessions = sessionmaker(engine, expire_on_commit=False)
    try:
        pledges, releases = _apply(sessions, plan)  # type: ignore[arg-type]
        grid = sorted({*DAYS, *(d - dt.timedelta(days=1) for d in DAYS), TODAY})
        with session_scope(engine) as session:
            for day in grid:
                for pid, registered, quantity in pledges:
                    state = collateral.pledge_state(
                        session=session, pledge=session.get(Pledge, pid), as_of=day
                    )
                    released = sum(q for p, d, q in releases if p == pid and d <= day)
                    expected = quantity - released if day >= registered else 0
                    assert state.quantity_in_force_t == expected >= 0
                held = collateral.holdings(
                    session=session, as_of=day, uscc=tiny.FIRM_B, instrument="SHEA"
                )
                row = held[held["vintage"] == 2024]
                in_force = collateral.active_pledges(
                    session=session, as_of=day, pledgor_uscc=tiny.FIRM_B
                )
                in_force = in_force[
                    (in_force["instrument"] == "SHEA") & (in_force["vintage"] == 2024)
                ]
                balance = HELD_T if day >= D(2025, 6, 1) else 0
                free = int(row["free_t"].sum()) if not row.empty else 0
                assert free + int(in_force["quantity_t"].sum()) == balance
                assert free >= 0  # never over-pledged on any date
    finally:
        engine.dispose()


def test_a_plan_by_hand(template: Path, tmp_path: Path) -> None:
    """5,000 t pledged on DAYS[0], released on DAYS[2]; 6,000 t fit on DAYS[3] only after it,
    and 6,000 t on DAYS[1] never fit (the first pledge is in force then)."""
    path = tmp_path / "db.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    plan = [
        ("register", 5_000, 0),
        ("register", 6_000, 1),
        ("release", 0, None, 2),
        ("register", 6_000, 3),
    ]
    try:
        pledges, releases = _apply(sessionmaker(engine, expire_on_commit=False), plan)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert [(d, q) for _p, d, q in pledges] == [(DAYS[0], 5_000), (DAYS[3], 6_000)]
    assert [(d, q) for _p, d, q in releases] == [(DAYS[2], 5_000)]


def test_0006_gives_released_pledges_a_release_record(engine: Engine, tmp_path: Path) -> None:
    upgrade(engine, "0005")
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
        # a pledge marked released with its date, and one released with no date (pre-0002)
        session.execute(
            text(
                "UPDATE pledges SET status = 'released', release_date = '2025-12-31' "
                "WHERE pledge_id = 'PL-0000001'"
            )
        )
        session.execute(
            text("UPDATE pledges SET status = 'released' WHERE pledge_id = 'PL-0000002'")
        )
    assert upgrade(engine) >= "0006"
    with session_scope(engine) as session:
        records = {
            r.pledge_id: (r.release_date, r.quantity_t, r.reason)
            for r in session.scalars(select(PledgeRelease))
        }
        p2 = session.get(Pledge, "PL-0000002")
        p1 = session.get(Pledge, "PL-0000001")
        assert records == {
            "PL-0000001": (D(2025, 12, 31), p1.quantity_t, "other"),
            "PL-0000002": (p2.registration_date, p2.quantity_t, "other"),
        }
        assert collateral.active_pledges(session=session, as_of=D(2025, 12, 30))[
            "pledge_id"
        ].tolist() == ["PL-0000001"]
        assert collateral.active_pledges(session=session, as_of=D(2025, 12, 31)).empty


def test_0009_keys_registration_numbers_by_bank(engine: Engine, tmp_path: Path) -> None:
    upgrade(engine, "0008")
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
        expected = {
            (bank, number, pid)
            for pid, number, bank in session.execute(
                text(
                    "SELECT pledges.pledge_id, pledges.registration_no, loans.bank_id FROM pledges "
                    "JOIN loans ON loans.loan_id = pledges.loan_id "
                    "WHERE pledges.registration_no IS NOT NULL"
                )
            )
        }
    assert expected
    assert upgrade(engine) >= "0009"
    with session_scope(engine) as session:
        got = {
            (r.bank_id, r.registration_no, r.pledge_id)
            for r in session.scalars(select(RegistrationNumber))
        }
        assert got == expected
        # another bank may record the same number; the same bank may not
        bank, number, _ = sorted(expected)[0]
        assert collateral.registration_recorded(
            session=session, bank_id=bank, registration_no=number
        )
        assert not collateral.registration_recorded(
            session=session, bank_id=bank + "-X", registration_no=number
        )


def test_a_failed_audit_entry_leaves_no_pledge(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit entry is written in the pledge's own transaction: all or nothing."""
    import carbonfin.lending.pledges as workflow

    path = tmp_path / "db.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    sessions = sessionmaker(engine, expire_on_commit=False)

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(workflow, "record_write", broken)
    request = PledgeRequest("LN-0000002", "SHEA", 2024, 100, "SHEA-HYP-AUDIT", DAYS[0])
    try:
        with pytest.raises(RuntimeError, match="audit store down"):
            register_pledge(sessions=sessions, actor=BANK2, request=request, today=TODAY)
        with session_scope(engine) as session:
            pledged = session.scalars(
                select(Pledge).where(Pledge.registration_no == "SHEA-HYP-AUDIT")
            ).all()
            events = session.scalars(
                select(RegistryEvent).where(RegistryEvent.kind == "pledge_registered")
            ).all()
        assert pledged == []
        assert {e.pledge_id for e in events} <= {"PL-0000001", "PL-0000002"}
    finally:
        engine.dispose()
