"""The loan ledger: append-only balance movements and the balances they imply on any date.

A loan's outstanding amount on a date ``D`` is a sum over its ledger, computed by the database
for a whole book at once::

    outstanding(D) = Σ amount (opening, draw) - Σ amount (repayment), value_date <= D

and its status on ``D`` follows: ``pending`` before its opening entry takes effect, ``repaid``
once nothing is outstanding, ``defaulted`` while something is outstanding on a loan the bank
marked defaulted (the database keeps no date of default, so a defaulted loan reads defaulted on
every date it was outstanding), else ``active``. The ``loans`` row keeps ``outstanding`` and
``status`` as a projection of today's balance, written in the same transaction as each entry.

Entries are only appended (:func:`append_entry`); nothing here updates or deletes one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from carbonfin.conventions import check_minor_units
from carbonfin.errors import InvalidInputError
from carbonfin.store.models import Loan, LoanLedgerEntry

__all__ = [
    "BALANCE_COLUMNS",
    "KINDS",
    "append_entry",
    "balances_as_of",
    "entries",
    "seed_entries",
    "status_of",
]

SEED_CLIENT = "seed"

KINDS = ("opening", "draw", "repayment")
BALANCE_COLUMNS = (
    "loan_id",
    "bank_id",
    "borrower_uscc",
    "currency",
    "principal",
    "origination_date",
    "maturity_date",
    "drawn",
    "repaid",
    "outstanding",
    "status",
    "last_value_date",
)
CENT = Decimal("0.01")


def append_entry(
    *,
    session: Session,
    loan_id: str,
    kind: str,
    value_date: dt.date,
    amount: Decimal,
    recorded_at: dt.datetime,
    client_id: str,
    idempotency_key: str | None = None,
) -> LoanLedgerEntry:
    """Append one ledger entry in the caller's transaction and return it (flushed, so its
    ``entry_id`` is set). ``amount`` is positive, in the loan's currency, to the cent."""
    if kind not in KINDS:
        raise InvalidInputError(f"`kind` must be one of {KINDS}; got {kind!r}")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInputError(f"`amount` must be a positive Decimal; got {amount!r}")
    if amount != amount.quantize(CENT):
        raise InvalidInputError(f"`amount` must be whole cents; got {amount}")
    if recorded_at.tzinfo is None:
        raise InvalidInputError("`recorded_at` must be an aware UTC time")
    entry = LoanLedgerEntry(
        loan_id=loan_id,
        kind=kind,
        value_date=value_date,
        amount=amount,
        recorded_at=recorded_at.astimezone(dt.UTC),
        client_id=client_id,
        idempotency_key=idempotency_key,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(*, session: Session, loan_id: str) -> list[LoanLedgerEntry]:
    """A loan's ledger in the order it was recorded (entry id)."""
    stmt = (
        select(LoanLedgerEntry)
        .where(LoanLedgerEntry.loan_id == loan_id)
        .order_by(LoanLedgerEntry.entry_id)
    )
    return list(session.scalars(stmt))


def _balances(as_of: dt.date) -> Select[tuple[str, Decimal, Decimal, dt.date]]:
    e = LoanLedgerEntry
    drawn = func.coalesce(func.sum(case((e.kind.in_(("opening", "draw")), e.amount), else_=0)), 0)
    repaid = func.coalesce(func.sum(case((e.kind == "repayment", e.amount), else_=0)), 0)
    return (
        select(
            e.loan_id.label("loan_id"),
            drawn.label("drawn"),
            repaid.label("repaid"),
            func.max(e.value_date).label("last_value_date"),
        )
        .where(e.value_date <= as_of)
        .group_by(e.loan_id)
    )


def status_of(outstanding: Decimal, marked: str, opened: bool) -> str:
    """A loan's status from its balance on a date and the bank's mark (see the module notes)."""
    if not opened:
        return "pending"
    if outstanding <= 0:
        return "repaid"
    return "defaulted" if marked == "defaulted" else "active"


def balances_as_of(
    *,
    session: Session,
    as_of: dt.date,
    bank_id: str | None = None,
    loan_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every loan (of one bank, or of the given ids, or all) with its balance on ``as_of``
    from the ledger, one SQL aggregate (GROUP BY loan) for the whole book.

    Columns :data:`BALANCE_COLUMNS`; money as ``Decimal`` in the loan's currency. A loan whose
    opening takes effect after ``as_of`` has ``status`` ``pending`` and nothing outstanding.
    """
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    sums = _balances(as_of).subquery()
    stmt = (
        select(
            Loan.loan_id,
            Loan.bank_id,
            Loan.borrower_uscc,
            Loan.currency,
            Loan.principal,
            Loan.origination_date,
            Loan.maturity_date,
            Loan.status,
            sums.c.drawn,
            sums.c.repaid,
            sums.c.last_value_date,
        )
        .outerjoin(sums, sums.c.loan_id == Loan.loan_id)
        .order_by(Loan.loan_id)
    )
    if bank_id is not None:
        stmt = stmt.where(Loan.bank_id == bank_id)
    if loan_ids is not None:
        stmt = stmt.where(Loan.loan_id.in_(sorted(set(loan_ids))))
    rows = []
    for r in session.execute(stmt):
        drawn = Decimal(r.drawn or 0).quantize(CENT)
        repaid = Decimal(r.repaid or 0).quantize(CENT)
        outstanding = drawn - repaid
        rows.append(
            {
                "loan_id": r.loan_id,
                "bank_id": r.bank_id,
                "borrower_uscc": r.borrower_uscc,
                "currency": r.currency,
                "principal": Decimal(r.principal).quantize(CENT),
                "origination_date": r.origination_date,
                "maturity_date": r.maturity_date,
                "drawn": drawn,
                "repaid": repaid,
                "outstanding": outstanding,
                "status": status_of(outstanding, r.status, r.drawn is not None),
                "last_value_date": r.last_value_date,
            }
        )
    return pd.DataFrame.from_records(rows, columns=list(BALANCE_COLUMNS))


def _seed_amount(loan: Mapping[str, Any], field: str) -> Decimal:
    """A loaded loan's amount: whole minor units of its currency (ISO 4217) and whole cents
    (the ledger's precision); refused, never rounded (``quantize`` rounded 1000.505 silently)."""
    value = Decimal(str(loan[field]))
    try:
        if "currency" in loan:
            check_minor_units(value, str(loan["currency"]), field)
        if not value.is_finite() or value != value.quantize(CENT):
            raise InvalidInputError(
                f"`{field}` must be whole cents (the ledger holds 2 decimals); got {value}"
            )
    except InvalidInputError as exc:
        raise InvalidInputError(f"loan {loan['loan_id']}: {exc}") from None
    return value


def seed_entries(
    loans: Iterable[Mapping[str, Any]], *, as_known: dt.date, recorded_at: dt.datetime
) -> list[dict[str, Any]]:
    """Ledger rows for loans loaded with a principal and a balance known on ``as_known`` (the
    sample files): an ``opening`` of the principal on the origination date, and, when less is
    outstanding, one ``repayment`` of the difference dated at the latest date it can have
    happened — the earlier of maturity and ``as_known``, never before origination (the same
    rule as migration 0005: past as-of views never understate an exposure, and the balance on
    ``as_known`` is the loaded one)."""
    rows: list[dict[str, Any]] = []
    for loan in loans:
        principal = _seed_amount(loan, "principal")
        outstanding = _seed_amount(loan, "outstanding")
        origination = loan["origination_date"]
        maturity = loan["maturity_date"]
        if not (isinstance(origination, dt.date) and isinstance(maturity, dt.date)):
            raise InvalidInputError(f"loan {loan['loan_id']}: dates must be dates")
        base = {"loan_id": loan["loan_id"], "recorded_at": recorded_at, "client_id": SEED_CLIENT}
        rows.append({**base, "kind": "opening", "value_date": origination, "amount": principal})
        if outstanding < principal:
            day = max(min(maturity, as_known), origination)
            rows.append(
                {**base, "kind": "repayment", "value_date": day, "amount": principal - outstanding}
            )
    return rows
