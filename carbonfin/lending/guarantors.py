"""Pledgor rights: the guarantors recorded on a loan with their documented consent, and the
check that a pledgor is the loan's borrower or such a guarantor.

A third party pledges its property for another's debt only by its own pledge contract (PRC
Civil Code arts. 388, 425-427): a bank records the guarantor with the reference and date of its
consent (:func:`add_guarantor`), and from then on the guarantor may pledge its own holding for
that loan (:func:`check_pledgor`). Any other pledgor, known firm or not, gets one answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.errors import ConflictError, InvalidInputError, MissingDataError
from carbonfin.lending._context import Actor, china_today, record_write
from carbonfin.lending.ids import check_loan_id
from carbonfin.store import collateral as store
from carbonfin.store.models import Firm, Loan, LoanGuarantor
from carbonfin.store.transactions import read_transaction, write_transaction

__all__ = ["GuarantorRecord", "add_guarantor", "check_pledgor", "list_guarantors", "own_loan"]


@dataclass(frozen=True, slots=True)
class GuarantorRecord:
    loan_id: str
    guarantor_uscc: str
    consent_ref: str
    consent_date: dt.date
    recorded_at: dt.datetime


def own_loan(session: Session, actor: Actor, loan_id: str, *, lock: bool = True) -> Loan:
    """The actor's bank's loan (locked for the write); "no loan" alike for absent and another
    bank's."""
    loan = session.get(Loan, check_loan_id(loan_id), with_for_update=lock)
    if loan is None or actor.role != "bank" or loan.bank_id != actor.institution_id:
        raise MissingDataError(f"no loan {loan_id}")
    return loan


def check_pledgor(session: Session, loan: Loan, pledgor: str, registered: dt.date) -> None:
    """The pledgor must be the borrower or a guarantor recorded on the loan whose consent is
    dated on or before the registration. One answer for every other firm, known or not."""
    if pledgor == loan.borrower_uscc:
        return
    record = store.guarantor(session=session, loan_id=loan.loan_id, uscc=pledgor)
    if record is None or record.consent_date > registered:
        raise InvalidInputError(
            f"pledgor {pledgor} is neither the borrower of loan {loan.loan_id} nor a guarantor "
            f"recorded for it (with consent dated on or before {registered})"
        )


def add_guarantor(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    loan_id: str,
    guarantor_uscc: str,
    consent_ref: str,
    consent_date: dt.date,
    today: dt.date | None = None,
) -> GuarantorRecord:
    """Record ``guarantor_uscc`` as a guarantor of the actor's bank's loan, with the reference
    of its documented consent (a document id) and the consent's date; from then on the firm
    may pledge its own holding for the loan (:func:`register_pledge`).

    Raises
    ------
    MissingDataError
        No such loan of the actor's bank (404).
    InvalidInputError
        Unknown firm, the borrower itself, a blank reference or a consent dated in the future
        (422).
    ConflictError
        The firm is already recorded as a guarantor of the loan (409).
    """
    day = today or china_today()
    uscc = guarantor_uscc.upper()
    ref = consent_ref.strip()
    if not ref or len(ref) > 64 or not ref.isprintable():
        raise InvalidInputError("`consent_ref` must be 1-64 printable characters")
    if consent_date > day:
        raise InvalidInputError(f"consent_date {consent_date} is in the future (today {day})")
    with write_transaction(sessions) as session:
        loan = own_loan(session, actor, loan_id)
        if uscc == loan.borrower_uscc:
            raise InvalidInputError(
                f"{uscc} is the borrower of loan {loan_id}; a borrower pledges without a "
                "guarantor record"
            )
        if session.get(Firm, uscc) is None:
            raise InvalidInputError(f"guarantor {uscc} is not a known firm")
        if store.guarantor(session=session, loan_id=loan_id, uscc=uscc) is not None:
            raise ConflictError(f"{uscc} is already recorded as a guarantor of loan {loan_id}")
        row = LoanGuarantor(
            loan_id=loan_id,
            guarantor_uscc=uscc,
            consent_ref=ref,
            consent_date=consent_date,
            recorded_at=dt.datetime.now(dt.UTC),
            client=actor.client_id,
        )
        session.add(row)
        session.flush()
        record_write(
            session,
            actor,
            action="loan.guarantor.add",
            entity="loan",
            entity_id=loan_id,
            detail={"guarantor": uscc, "consent_ref": ref, "consent_date": str(consent_date)},
        )
        return _guarantor(row)


def _guarantor(row: LoanGuarantor) -> GuarantorRecord:
    return GuarantorRecord(
        row.loan_id, row.guarantor_uscc, row.consent_ref, row.consent_date, row.recorded_at
    )


def list_guarantors(
    *, sessions: sessionmaker[Any], actor: Actor, loan_id: str
) -> list[GuarantorRecord]:
    """The guarantors recorded on one of the actor's bank's loans (the regulator: any loan)."""
    with read_transaction(sessions) as session:
        loan = session.get(Loan, loan_id)
        own = actor.role == "bank" and loan is not None and loan.bank_id == actor.institution_id
        if loan is None or not (own or actor.role == "regulator"):
            raise MissingDataError(f"no loan {loan_id}")
        rows = session.scalars(
            select(LoanGuarantor)
            .where(LoanGuarantor.loan_id == loan_id)
            .order_by(LoanGuarantor.guarantor_uscc)
        )
        return [_guarantor(r) for r in rows]
