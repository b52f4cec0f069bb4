"""Loans: book one, record a repayment, read one as of a date, read its ledger.

Each write is one :func:`~carbonfin.store.transactions.write_transaction`: the loan row or the
ledger entry, the idempotency record (when the caller sent a key), the audit entry and the
data-version bump (:func:`~carbonfin.lending.record_write`) are committed together before the
workflow returns, or none of them is.

Rules
-----
- A loan is booked only in a currency the stored FX fixings join to CNY (directly or through a
  chain of stored pairs), since every valuation converts its outstanding to CNY, the collateral
  currency; otherwise :class:`UncoveredCurrencyError` names the covered currencies.
- Every amount is a whole number of the currency's ISO 4217 minor unit
  (:func:`~carbonfin.conventions.check_minor_units`: ``1000.50`` JPY is refused, never rounded),
  and a currency with more minor-unit digits than the ledger holds
  (:data:`~carbonfin.store.base.LEDGER_DECIMALS`, 2: KWD has 3) is refused for loans.
- A repayment's value date lies between the loan's origination and ``today`` (a repayment is
  recorded when the money has arrived; a future date is refused rather than booked ahead).
  Repayments after maturity are accepted: an overdue or defaulted loan still recovers money.
- A repayment never exceeds what is outstanding on its value date, nor on any later date
  (entries already recorded after a back-dated value date stay covered); exceeding it is a
  :class:`~carbonfin.errors.ConflictError` (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.conventions import ISO_4217, check_minor_units, format_money
from carbonfin.errors import ConflictError, InvalidInputError, MissingDataError
from carbonfin.instruments import Currency
from carbonfin.lending._context import Actor, record_write
from carbonfin.lending.idempotency import IdempotencyKey, find, remember
from carbonfin.lending.ids import check_loan_id
from carbonfin.store import ledger
from carbonfin.store.base import LEDGER_DECIMALS
from carbonfin.store.models import Firm, FxFixing, Loan, LoanLedgerEntry
from carbonfin.store.transactions import read_transaction, write_transaction

__all__ = [
    "LedgerEntryView",
    "LoanTerms",
    "LoanView",
    "UncoveredCurrencyError",
    "WriteResult",
    "book_loan",
    "covered_currencies",
    "lendable_currency",
    "loan_as_of",
    "loan_ledger",
    "record_repayment",
]

CENT = Decimal("0.01")
BOOK_OPERATION = "POST /v1/loans"
REPAY_OPERATION = "POST /v1/loans/{loan_id}/repayments"
T = TypeVar("T")


class UncoveredCurrencyError(InvalidInputError):
    """A loan currency the stored FX fixings do not join to CNY (HTTP 422)."""

    def __init__(self, currency: str, covered: Iterable[str]) -> None:
        self.covered = tuple(sorted(covered))
        super().__init__(
            f"loans in {currency} cannot be booked: the stored FX fixings give no rate from "
            f"{currency} to CNY, so the loan could not be valued against its collateral; "
            f"covered currencies: {', '.join(self.covered)}"
        )


def lendable_currency(code: str) -> Currency:
    """The currency of a loan, if the ledger can hold its minor units.

    Raises
    ------
    InvalidInputError
        An unknown code, or a currency with more ISO 4217 minor-unit digits than the ledger's
        :data:`~carbonfin.store.base.LEDGER_DECIMALS` (KWD: 3), refused rather than rounded.
    """
    ccy = Currency.parse(code)
    if ccy.minor_units > LEDGER_DECIMALS:
        raise InvalidInputError(
            f"loans in {ccy.code} cannot be booked: {ccy.code} has {ccy.minor_units} minor-unit "
            f"digits ({ISO_4217}) and the loan ledger holds amounts to {LEDGER_DECIMALS} decimals "
            f"(loan_ledger.amount NUMERIC(20, {LEDGER_DECIMALS})), so its smallest unit could "
            "not be recorded; amounts are not rounded"
        )
    return ccy


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """A loan to book: ``principal`` in ``currency`` as a ``Decimal``, a whole number of the
    currency's ISO 4217 minor unit (yen for JPY, cents for CNY); ``rate`` a decimal annual rate
    (0.032 for 3.2%)."""

    borrower_uscc: str
    currency: str
    principal: Decimal
    origination_date: dt.date
    maturity_date: dt.date
    rate: float
    purpose: str = "green"

    def __post_init__(self) -> None:
        if not isinstance(self.principal, Decimal) or not self.principal.is_finite():
            raise InvalidInputError(f"`principal` must be a Decimal; got {self.principal!r}")
        if self.principal <= 0:
            raise InvalidInputError(f"`principal` must be positive; got {self.principal}")
        check_minor_units(self.principal, lendable_currency(self.currency), "principal")
        if self.maturity_date <= self.origination_date:
            raise InvalidInputError(
                f"maturity_date {self.maturity_date} must be after origination_date "
                f"{self.origination_date}"
            )


@dataclass(frozen=True, slots=True)
class LoanView:
    """A loan as it stood at the end of ``as_of``: balance and status from the ledger."""

    loan_id: str
    bank_id: str
    borrower_uscc: str
    currency: str
    principal: Decimal
    outstanding: Decimal
    origination_date: dt.date
    maturity_date: dt.date
    rate: float
    purpose: str
    status: str
    as_of: dt.date

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (money as strings in the currency's minor units, dates ISO)."""
        return {
            "loan_id": self.loan_id,
            "bank_id": self.bank_id,
            "borrower_uscc": self.borrower_uscc,
            "currency": self.currency,
            "principal": format_money(self.principal, self.currency),
            "outstanding": format_money(self.outstanding, self.currency),
            "origination_date": self.origination_date.isoformat(),
            "maturity_date": self.maturity_date.isoformat(),
            "rate": self.rate,
            "purpose": self.purpose,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoanView:
        """The inverse of :meth:`to_json` (a stored first answer, replayed)."""
        return cls(
            loan_id=str(data["loan_id"]),
            bank_id=str(data["bank_id"]),
            borrower_uscc=str(data["borrower_uscc"]),
            currency=str(data["currency"]),
            principal=Decimal(str(data["principal"])),
            outstanding=Decimal(str(data["outstanding"])),
            origination_date=dt.date.fromisoformat(str(data["origination_date"])),
            maturity_date=dt.date.fromisoformat(str(data["maturity_date"])),
            rate=float(data["rate"]),
            purpose=str(data["purpose"]),
            status=str(data["status"]),
            as_of=dt.date.fromisoformat(str(data["as_of"])),
        )


@dataclass(frozen=True, slots=True)
class LedgerEntryView:
    """One ledger entry, with the balance after it in value-date order (amounts in the loan's
    ``currency``)."""

    entry_id: int
    loan_id: str
    currency: str
    kind: str
    value_date: dt.date
    amount: Decimal
    balance_after: Decimal
    recorded_at: dt.datetime
    client_id: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A committed write: the loan as the workflow answered, and whether this answer is the
    replay of an earlier one with the same idempotency key (nothing was written again)."""

    loan: LoanView
    replayed: bool = False


# --- reads ----------------------------------------------------------------------------------


def _visible(session: Session, actor: Actor, loan_id: str, *, lock: bool = False) -> Loan:
    """The loan if ``actor`` may see it; the same error for absent and another bank's (a
    malformed id is bad input)."""
    loan = session.get(Loan, check_loan_id(loan_id), with_for_update=lock)
    if loan is None or (actor.role == "bank" and loan.bank_id != actor.institution_id):
        raise MissingDataError(f"no loan {loan_id}")
    return loan


def _view(session: Session, loan: Loan, as_of: dt.date) -> LoanView:
    row = ledger.balances_as_of(session=session, as_of=as_of, loan_ids=[loan.loan_id])
    r = row.iloc[0]
    return LoanView(
        loan_id=loan.loan_id,
        bank_id=loan.bank_id,
        borrower_uscc=loan.borrower_uscc,
        currency=loan.currency,
        principal=r["principal"],
        outstanding=r["outstanding"],
        origination_date=loan.origination_date,
        maturity_date=loan.maturity_date,
        rate=float(loan.rate),
        purpose=loan.purpose,
        status=str(r["status"]),
        as_of=as_of,
    )


def loan_as_of(*, session: Session, actor: Actor, loan_id: str, as_of: dt.date) -> LoanView:
    """One loan as it stood at the end of ``as_of`` (balance and status from its ledger).

    Raises
    ------
    MissingDataError
        No such loan, or a loan of another bank (the same message, so ids do not leak).
    """
    return _view(session, _visible(session, actor, loan_id), as_of)


def loan_ledger(*, session: Session, actor: Actor, loan_id: str) -> list[LedgerEntryView]:
    """A loan's ledger in value-date order (then recording order), each entry with the
    balance after it."""
    loan = _visible(session, actor, loan_id)
    rows = sorted(
        ledger.entries(session=session, loan_id=loan_id), key=lambda e: (e.value_date, e.entry_id)
    )
    out, balance = [], Decimal(0)
    for e in rows:
        balance += e.amount if e.kind != "repayment" else -e.amount
        out.append(
            LedgerEntryView(
                entry_id=e.entry_id,
                loan_id=e.loan_id,
                currency=loan.currency,
                kind=e.kind,
                value_date=e.value_date,
                amount=Decimal(e.amount).quantize(CENT),
                balance_after=balance.quantize(CENT),
                recorded_at=_utc(e.recorded_at),
                client_id=e.client_id,
            )
        )
    return out


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were written in UTC.
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def covered_currencies(pairs: Iterable[str]) -> frozenset[str]:
    """The currencies that stored pairs (``BASE/QUOTE`` codes) join to CNY, CNY included."""
    from carbonfin.fx.calendars import Pair

    edges: dict[str, set[str]] = {}
    for code in pairs:
        p = Pair.parse(code)
        edges.setdefault(p.base.code, set()).add(p.quote.code)
        edges.setdefault(p.quote.code, set()).add(p.base.code)
    seen, queue = {"CNY"}, deque(["CNY"])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(seen)


# --- writes ---------------------------------------------------------------------------------


def _require_writer(actor: Actor) -> None:
    if actor.role != "bank":
        raise InvalidInputError(f"role {actor.role!r} may not write lending data")


def _once(
    sessions: sessionmaker[Any],
    key: IdempotencyKey | None,
    write: Callable[[Session], LoanView],
    check: Callable[[Session], None] | None = None,
) -> WriteResult:
    """Run ``write`` in one write transaction, once per idempotency key: a key already used
    for this request replays its first answer; a concurrent first use that lost the race on
    the key's primary key reads the winner's answer. ``check`` validates the request against
    stored data before the key is looked up, so invalid input is refused (422) whatever the key,
    never answered as another request under a used key (409)."""
    try:
        with write_transaction(sessions) as session:
            if check is not None:
                check(session)
            if key is not None and (first := find(session, key)) is not None:
                return WriteResult(LoanView.from_json(first), replayed=True)
            view = write(session)
            if key is not None:
                remember(session, key, view.to_json(), status_code=201)
        return WriteResult(view)
    except IntegrityError:
        if key is None:
            raise
        with read_transaction(sessions) as session:
            first = find(session, key)
        if first is None:
            raise
        return WriteResult(LoanView.from_json(first), replayed=True)


def book_loan(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    loan: LoanTerms,
    today: dt.date,
    idempotency_key: str | None = None,
) -> WriteResult:
    """Book ``loan`` for the actor's bank: the loan row, its opening ledger entry (the
    principal on the origination date), the audit entry, committed before returning. The
    answer is the loan as of ``today``, or as of its origination if that is later.

    Raises
    ------
    UncoveredCurrencyError
        The currency has no FX coverage to CNY in the stored fixings.
    InvalidInputError
        An unknown borrower, a non-bank actor, or a malformed key.
    KeyReuseError
        The idempotency key was used with another request.
    BusyError
        The database stayed busy beyond the bounded wait (nothing written).
    """
    _require_writer(actor)
    currency = Currency.parse(loan.currency).code
    key = (
        None
        if idempotency_key is None
        else IdempotencyKey.of(
            actor.client_id, idempotency_key, BOOK_OPERATION, {**_terms_json(loan)}
        )
    )

    def write(session: Session) -> LoanView:
        pairs = session.scalars(select(FxFixing.pair).distinct())
        covered = covered_currencies(pairs)
        if currency not in covered:
            raise UncoveredCurrencyError(currency, covered)
        borrower = loan.borrower_uscc.strip().upper()
        if session.get(Firm, borrower) is None:
            raise InvalidInputError(f"borrower {borrower} is not a known firm")
        row = Loan(
            loan_id=f"LN-{secrets.token_hex(5).upper()}",
            bank_id=actor.institution_id,
            borrower_uscc=borrower,
            currency=currency,
            principal=loan.principal,
            outstanding=loan.principal,
            origination_date=loan.origination_date,
            maturity_date=loan.maturity_date,
            rate=loan.rate,
            purpose=loan.purpose,
            status="active",
        )
        session.add(row)
        session.flush()
        ledger.append_entry(
            session=session,
            loan_id=row.loan_id,
            kind="opening",
            value_date=loan.origination_date,
            amount=loan.principal,
            recorded_at=dt.datetime.now(dt.UTC),
            client_id=actor.client_id,
            idempotency_key=None if key is None else key.key,
        )
        record_write(
            session,
            actor,
            action="loan.book",
            entity="loan",
            entity_id=row.loan_id,
            detail={"currency": currency, "principal": format_money(loan.principal, currency)},
        )
        return _view(session, row, max(today, loan.origination_date))

    return _once(sessions, key, write)


def _terms_json(loan: LoanTerms) -> dict[str, Any]:
    return {
        "borrower_uscc": loan.borrower_uscc.strip().upper(),
        "currency": loan.currency.strip().upper(),
        "principal": f"{loan.principal:.2f}",
        "origination_date": loan.origination_date.isoformat(),
        "maturity_date": loan.maturity_date.isoformat(),
        "rate": loan.rate,
        "purpose": loan.purpose,
    }


def _key_amount(amount: Decimal) -> str:
    """A repayment's amount in its idempotency key: whole cents as before (``"250.00"``, so keys
    recorded earlier still match), a finer amount as given (so it never matches a cent one)."""
    return f"{amount:.2f}" if amount == amount.quantize(CENT) else str(amount)


def _signed(e: LoanLedgerEntry) -> Decimal:
    return Decimal(e.amount) if e.kind != "repayment" else -Decimal(e.amount)


def _balance_on(entries: Iterable[LoanLedgerEntry], day: dt.date) -> Decimal:
    """The balance after every entry with a value date on or before ``day``."""
    return sum((_signed(e) for e in entries if e.value_date <= day), Decimal(0))


def _check_repayment(
    loan: Loan, entries: list[LoanLedgerEntry], amount: Decimal, value_date: dt.date
) -> None:
    """Refuse a repayment above the balance on its value date or on any later date."""
    ccy = loan.currency

    def money(x: Decimal) -> str:
        return f"{format_money(x, ccy)} {ccy}"

    on_date = _balance_on(entries, value_date)
    if amount > on_date:
        raise ConflictError(
            f"repayment {money(amount)} exceeds the {money(on_date)} outstanding on loan "
            f"{loan.loan_id} on {value_date}"
        )
    balance = headroom = on_date
    for e in sorted(entries, key=lambda e: (e.value_date, e.entry_id)):
        if e.value_date > value_date:
            balance += _signed(e)
            headroom = min(headroom, balance)
    if amount > headroom:
        raise ConflictError(
            f"repayment {money(amount)} on {value_date} would overpay loan {loan.loan_id} after "
            f"its later entries: at most {money(headroom)} can be repaid on that date"
        )


def record_repayment(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    loan_id: str,
    amount: Decimal,
    value_date: dt.date,
    today: dt.date,
    idempotency_key: str | None = None,
) -> WriteResult:
    """Record a repayment of ``amount`` (loan currency, a whole number of its minor unit) with
    ``value_date``: one ledger entry, the loan's projection (``loans.outstanding``,
    ``status``) and the audit entry in one transaction; the loan row is locked, so concurrent
    repayments queue.

    ``today`` is the caller's current date (a value date after it is refused). Returns the
    loan as of ``today`` after the repayment; a retry with the same ``idempotency_key`` and
    request returns the first answer and writes nothing.

    Raises
    ------
    MissingDataError
        No such loan (or another bank's).
    InvalidInputError
        A value date before origination or after ``today``; a non-positive amount, or one
        with more decimals than the loan currency's ISO 4217 minor units.
    ConflictError
        The amount exceeds the balance outstanding on the value date (or later).
    KeyReuseError
        The key was used with another request.
    """
    _require_writer(actor)
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidInputError(f"`amount` must be a positive Decimal; got {amount!r}")
    if value_date > today:
        raise InvalidInputError(
            f"repayment value date {value_date} is in the future (today is {today}); record a "
            "repayment once the money has been received"
        )
    key = (
        None
        if idempotency_key is None
        else IdempotencyKey.of(
            actor.client_id,
            idempotency_key,
            REPAY_OPERATION.format(loan_id=loan_id),
            {"loan_id": loan_id, "amount": _key_amount(amount), "on": value_date.isoformat()},
        )
    )

    def check(session: Session) -> None:
        # before the key lookup: an amount finer than the loan currency's minor units is 422
        # under a used key too, as a loan's principal is (its currency is in the request)
        loan = _visible(session, actor, loan_id)
        if value_date < loan.origination_date:
            raise InvalidInputError(
                f"repayment value date {value_date} is before loan {loan_id}'s origination "
                f"{loan.origination_date}"
            )
        check_minor_units(amount, loan.currency, "amount")

    def write(session: Session) -> LoanView:
        loan = _visible(session, actor, loan_id, lock=True)
        entries = ledger.entries(session=session, loan_id=loan_id)
        _check_repayment(loan, entries, amount, value_date)
        ledger.append_entry(
            session=session,
            loan_id=loan_id,
            kind="repayment",
            value_date=value_date,
            amount=amount,
            recorded_at=dt.datetime.now(dt.UTC),
            client_id=actor.client_id,
            idempotency_key=None if key is None else key.key,
        )
        after = _balance_on(ledger.entries(session=session, loan_id=loan_id), dt.date.max)
        loan.outstanding = after
        if after == 0:
            loan.status = "repaid"
        record_write(
            session,
            actor,
            action="loan.repay",
            entity="loan",
            entity_id=loan_id,
            detail={
                "amount": format_money(amount, loan.currency),
                "value_date": value_date.isoformat(),
            },
        )
        session.flush()
        return _view(session, loan, today)

    return _once(sessions, key, write, check)
