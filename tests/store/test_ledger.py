"""The loan ledger on SQLite and PostgreSQL: migration 0005 upgrades a database in place, the
seed writes ledger entries, repayments are entries with value dates (idempotent by key), and the
outstanding amount as of any date is derived from the ledger (issue 18 points 1 and 6)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from carbonfin.errors import ConflictError, InvalidInputError, MissingDataError
from carbonfin.lending import Actor
from carbonfin.lending.idempotency import KeyReuseError
from carbonfin.lending.loans import (
    LoanTerms,
    UncoveredCurrencyError,
    book_loan,
    loan_as_of,
    loan_ledger,
    record_repayment,
)
from carbonfin.store import repositories
from carbonfin.store.credentials import create_api_key
from carbonfin.store.database import head_revision, session_scope, upgrade
from carbonfin.store.ledger import balances_as_of
from carbonfin.store.models import AuditEntry, IdempotencyRecord, Loan, LoanLedgerEntry
from tests.store import tiny

D = dt.date
TODAY = D(2026, 12, 3)
BANK1 = Actor("led-bank1", "BANK-01", "bank")
BANK2 = Actor("led-bank2", "BANK-02", "bank")


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> sessionmaker:  # type: ignore[type-arg]
    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
        for actor in (BANK1, BANK2):
            create_api_key(
                session=session,
                institution_id=actor.institution_id,
                role="bank",
                client_id=actor.client_id,
            )
    return sessionmaker(engine, expire_on_commit=False)


def _terms(**over: object) -> LoanTerms:
    values: dict[str, object] = {
        "borrower_uscc": tiny.FIRM_A,
        "currency": "CNY",
        "principal": Decimal("1000.00"),
        "origination_date": D(2026, 1, 5),
        "maturity_date": D(2028, 1, 5),
        "rate": 0.03,
    }
    values.update(over)
    return LoanTerms(**values)  # type: ignore[arg-type]


def test_0005_upgrades_a_database_with_repaid_loans_in_place(
    engine: Engine, tmp_path: Path
) -> None:
    # A database at 0004 whose first loan is partly repaid (42m of 50m outstanding).
    assert upgrade(engine, "0004") == "0004"
    with session_scope(engine) as session:
        report = repositories.seed(session=session, directory=tiny.write(tmp_path / "tiny"))
    assert report.ledger_entries == 0  # no ledger table yet
    assert upgrade(engine) == head_revision()
    with session_scope(engine) as session:
        after = balances_as_of(session=session, as_of=dt.date.today()).set_index("loan_id")
        stored = {r.loan_id: r.outstanding for r in session.scalars(select(Loan))}
        kinds = session.execute(
            select(
                LoanLedgerEntry.loan_id, LoanLedgerEntry.kind, LoanLedgerEntry.value_date
            ).order_by(LoanLedgerEntry.entry_id)
        ).all()
        before = balances_as_of(session=session, as_of=D(2024, 3, 1)).set_index("loan_id")
    for loan_id, outstanding in stored.items():
        assert after.loc[loan_id, "outstanding"] == outstanding  # kept exactly
    assert after.loc["LN-0000001", "outstanding"] == Decimal("42000000.00")
    # the opening on origination; the repaid 8m dated at the latest date it can have happened
    assert ("LN-0000001", "opening", D(2024, 3, 1)) in kinds
    assert ("LN-0000001", "repayment", dt.date.today()) in kinds
    assert [k for k in kinds if k[0] == "LN-0000002"] == [("LN-0000002", "opening", D(2025, 5, 20))]
    assert before.loc["LN-0000001", "outstanding"] == Decimal("50000000.00")


def test_seed_writes_the_ledger_of_its_loans(seeded: sessionmaker) -> None:  # type: ignore[type-arg]
    with seeded() as session:
        # the tiny sample's last quote (2024-01-04) predates LN-0000001's origination: its
        # repaid 8m is dated at origination (never before)
        rows = balances_as_of(session=session, as_of=D(2026, 1, 1)).set_index("loan_id")
        n = session.scalar(select(func.count()).select_from(LoanLedgerEntry))
    assert n == 3
    assert rows.loc["LN-0000001", "outstanding"] == Decimal("42000000.00")
    assert rows.loc["LN-0000002", "outstanding"] == Decimal("2000000.00")


def test_a_retried_repayment_is_applied_once(seeded: sessionmaker) -> None:  # type: ignore[type-arg]
    loan = book_loan(sessions=seeded, actor=BANK1, loan=_terms(), today=TODAY).loan
    args = {
        "sessions": seeded,
        "actor": BANK1,
        "loan_id": loan.loan_id,
        "amount": Decimal("100.00"),
        "value_date": D(2026, 6, 1),
        "today": TODAY,
        "idempotency_key": "pay-1",
    }
    first = record_repayment(**args)  # type: ignore[arg-type]
    again = record_repayment(**args)  # type: ignore[arg-type]
    assert not first.replayed
    assert again.replayed
    assert again.loan == first.loan
    assert first.loan.outstanding == Decimal("900.00")
    with pytest.raises(KeyReuseError, match="different request"):
        record_repayment(**{**args, "amount": Decimal("200.00")})  # type: ignore[arg-type]
    with seeded() as session:
        entries = loan_ledger(session=session, actor=BANK1, loan_id=loan.loan_id)
        audits = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "loan.repay", AuditEntry.entity_id == loan.loan_id)
        )
        assert session.get(IdempotencyRecord, (BANK1.client_id, "pay-1")) is not None
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        ("opening", Decimal("1000.00"), Decimal("1000.00")),
        ("repayment", Decimal("100.00"), Decimal("900.00")),
    ]
    assert audits == 1


def test_repayment_dates_and_amounts_are_checked(seeded: sessionmaker) -> None:  # type: ignore[type-arg]
    loan = book_loan(sessions=seeded, actor=BANK1, loan=_terms(), today=TODAY).loan

    def pay(amount: str, on: dt.date) -> object:
        return record_repayment(
            sessions=seeded,
            actor=BANK1,
            loan_id=loan.loan_id,
            amount=Decimal(amount),
            value_date=on,
            today=TODAY,
        )

    with pytest.raises(InvalidInputError, match="2099-01-01 is in the future"):
        pay("1.00", D(2099, 1, 1))
    with pytest.raises(InvalidInputError, match=r"before loan .* origination"):
        pay("1.00", D(2025, 12, 31))
    with pytest.raises(ConflictError, match=r"exceeds the 1000\.00 CNY outstanding"):
        pay("1000.01", D(2026, 3, 1))
    pay("600.00", D(2026, 9, 1))
    # a back-dated repayment may not overpay the later balance (400 left after September)
    with pytest.raises(ConflictError, match=r"at most 400\.00"):
        pay("500.00", D(2026, 3, 1))
    pay("400.00", D(2026, 3, 1))
    with seeded() as session:
        march = loan_as_of(session=session, actor=BANK1, loan_id=loan.loan_id, as_of=D(2026, 3, 1))
        today = loan_as_of(session=session, actor=BANK1, loan_id=loan.loan_id, as_of=TODAY)
        row = session.get(Loan, loan.loan_id)
        assert row is not None
        assert (row.outstanding, row.status) == (Decimal("0"), "repaid")  # the projection
    assert (march.outstanding, march.status) == (Decimal("600.00"), "active")
    assert (today.outstanding, today.status) == (Decimal("0.00"), "repaid")


def test_another_bank_cannot_read_or_repay(seeded: sessionmaker) -> None:  # type: ignore[type-arg]
    loan = book_loan(sessions=seeded, actor=BANK1, loan=_terms(), today=TODAY).loan
    with pytest.raises(MissingDataError, match=f"no loan {loan.loan_id}"):
        record_repayment(
            sessions=seeded,
            actor=BANK2,
            loan_id=loan.loan_id,
            amount=Decimal("1.00"),
            value_date=D(2026, 6, 1),
            today=TODAY,
        )
    with seeded() as session, pytest.raises(MissingDataError):
        loan_ledger(session=session, actor=BANK2, loan_id=loan.loan_id)


def test_a_currency_without_fx_coverage_is_refused_with_the_covered_list(
    seeded: sessionmaker,  # type: ignore[type-arg]
) -> None:
    covered = r"covered currencies: CNH, CNY, JPY, USD$"
    with pytest.raises(UncoveredCurrencyError, match=covered) as err:
        book_loan(sessions=seeded, actor=BANK1, loan=_terms(currency="GBP"), today=TODAY)
    assert "GBP" in str(err.value)
    with seeded() as session:
        assert session.scalar(select(func.count()).select_from(Loan)) == 2  # nothing written


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    payments=st.lists(
        st.tuples(st.integers(0, 700), st.integers(1, 30_000)), min_size=0, max_size=8
    ),
    probe=st.integers(-5, 720),
)
def test_outstanding_as_of_is_opening_minus_repayments_to_that_date(
    seeded: sessionmaker,  # type: ignore[type-arg]
    payments: list[tuple[int, int]],
    probe: int,
) -> None:
    """Property: for any sequence of accepted repayments, the ledger's outstanding on D is the
    opening minus the repayments with a value date on or before D (worked independently here
    from the list of accepted payments)."""
    start = D(2025, 1, 1)
    loan = book_loan(
        sessions=seeded,
        actor=BANK1,
        loan=_terms(principal=Decimal("1000.00"), origination_date=start),
        today=TODAY,
    ).loan
    accepted: list[tuple[dt.date, Decimal]] = []
    for offset, cents in payments:
        day, amount = start + dt.timedelta(days=offset), Decimal(cents) / 100
        try:
            record_repayment(
                sessions=seeded,
                actor=BANK1,
                loan_id=loan.loan_id,
                amount=amount,
                value_date=day,
                today=TODAY,
            )
        except ConflictError:
            continue
        accepted.append((day, amount))
    when = start + dt.timedelta(days=probe)
    expected = (
        Decimal("1000.00") - sum((a for d, a in accepted if d <= when), Decimal(0))
        if when >= start
        else Decimal(0)
    )
    with seeded() as session:
        got = balances_as_of(session=session, as_of=when, loan_ids=[loan.loan_id]).iloc[0]
    assert got["outstanding"] == expected
    assert got["status"] == ("pending" if when < start else "repaid" if expected == 0 else "active")
    # and no accepted sequence ever leaves a negative balance on any date
    assert all(
        Decimal("1000.00") - sum((a for d, a in accepted if d <= day), Decimal(0)) >= 0
        for day, _ in accepted
    )


def test_concurrent_retries_with_one_key_write_one_entry(seeded: sessionmaker) -> None:  # type: ignore[type-arg]
    """Eight concurrent sends of one repayment with one key (a client retrying while the first
    is in flight): one ledger entry, one idempotency record, the same answer for all."""
    from concurrent.futures import ThreadPoolExecutor

    loan = book_loan(sessions=seeded, actor=BANK1, loan=_terms(), today=TODAY).loan

    def pay(_: int) -> object:
        return record_repayment(
            sessions=seeded,
            actor=BANK1,
            loan_id=loan.loan_id,
            amount=Decimal("10.00"),
            value_date=D(2026, 6, 1),
            today=TODAY,
            idempotency_key="same-key",
        ).loan

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(pay, range(8)))
    assert all(a == answers[0] for a in answers)
    with seeded() as session:
        n = session.scalar(
            select(func.count())
            .select_from(LoanLedgerEntry)
            .where(LoanLedgerEntry.loan_id == loan.loan_id, LoanLedgerEntry.kind == "repayment")
        )
    assert n == 1


def test_the_shipped_sample_seeds_a_ledger_that_reproduces_its_balances(engine: Engine) -> None:
    """`carbonfin db seed`: every loan's balance on the sample's date (its last quote,
    2026-10-30) from the ledger equals the file's outstanding; a second seed writes nothing."""
    from carbonfin.data import load_table

    upgrade(engine)
    with session_scope(engine) as session:
        first = repositories.seed(session=session)
    with session_scope(engine) as session:
        second = repositories.seed(session=session)
        got = balances_as_of(session=session, as_of=D(2026, 10, 30)).set_index("loan_id")
    expected = load_table("loans").set_index("loan_id")
    partly = int((expected["outstanding"] < expected["principal"]).sum())
    assert first.ledger_entries == len(expected) + partly
    assert second.ledger_entries == 0
    want = expected["outstanding"].map(lambda x: Decimal(str(x)).quantize(Decimal("0.01")))
    assert (got.loc[want.index, "outstanding"] == want).all()
    repaid = expected.index[expected["status"] == "repaid"]
    assert set(got.loc[repaid, "status"]) == {"repaid"}


@pytest.mark.parametrize(
    ("currency", "principal", "message"),
    [
        ("JPY", "1000.50", "loan LN-X: `principal` in JPY must be a whole number of Japanese yen"),
        ("CNY", "1000.505", "loan LN-X: `principal` in CNY must have at most 2 decimals"),
        ("KWD", "1000.505", "loan LN-X: `principal` must be whole cents (the ledger holds 2"),
    ],
    ids=["jpy-sen", "cny-3", "kwd-fils"],
)
def test_seeded_amounts_finer_than_the_currency_are_refused_not_rounded(
    currency: str, principal: str, message: str
) -> None:
    # ISO 4217 list one (SIX, 2024): JPY 0 minor-unit digits, CNY 2, KWD 3; before, the seed
    # quantized to the cent: 1000.505 CNY became 1000.50 (half even) without a word
    from carbonfin.store.ledger import seed_entries

    loan = {
        "loan_id": "LN-X", "currency": currency, "principal": principal, "outstanding": "1000",
        "origination_date": dt.date(2025, 1, 2), "maturity_date": dt.date(2027, 1, 2),
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="^" + re.escape(message)):
        seed_entries([loan], as_known=dt.date(2025, 6, 30), recorded_at=dt.datetime.now(dt.UTC))
