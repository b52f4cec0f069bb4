"""Loans: create (idempotent), list with cursor pagination and filters, read, repay.

Tenancy: a bank sees and writes only its own loans (another bank's loan id answers 404, never
403, so ids do not leak); the regulator and admins read all and write none.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import ReaderClient, SessionDep, WriterClient, WriteSessionDep, own_institution
from api.idempotency import idempotent_create
from api.problems import ApiProblemError, problem_responses
from api.schemas.common import Page
from api.schemas.lending import LoanCreate, LoanPublic, RepaymentCreate
from carbonfin.errors import InvalidInputError
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import Firm, Loan

router = APIRouter(prefix="/v1", tags=["lending"])
LoanId = Annotated[str, Path(pattern=r"^LN-[0-9A-Z]{7,16}$", examples=["LN-0000003"])]
IdemKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="retry-safe creation"),
]


def loan_public(loan: Loan) -> LoanPublic:
    return LoanPublic(
        loan_id=loan.loan_id,
        bank_id=loan.bank_id,
        borrower_uscc=loan.borrower_uscc,
        currency=loan.currency,
        principal=f"{loan.principal:.2f}",
        outstanding=f"{loan.outstanding:.2f}",
        origination_date=loan.origination_date,
        maturity_date=loan.maturity_date,
        rate=float(loan.rate),
        purpose=loan.purpose,
        status=loan.status,
    )


def visible_loan(
    session: Session, identity: ClientIdentity, loan_id: str, *, for_update: bool = False
) -> Loan:
    """The loan if this client may see it; 404 alike for 'absent' and 'another bank's'."""
    loan = session.get(Loan, loan_id, with_for_update=for_update)
    owner = own_institution(identity)
    if loan is None or (owner is not None and loan.bank_id != owner):
        raise ApiProblemError(404, f"no loan {loan_id}")
    return loan


@router.post(
    "/loans",
    response_model=LoanPublic,
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 422),
)
def create_loan(
    body: LoanCreate,
    request: Request,
    session: WriteSessionDep,
    identity: WriterClient,
    idempotency_key: IdemKey = None,
) -> LoanPublic:
    """Book a loan for the calling bank."""
    from carbonfin.instruments import Currency

    Currency.parse(body.currency)

    def create() -> LoanPublic:
        if session.get(Firm, body.borrower_uscc) is None:
            raise InvalidInputError(f"borrower {body.borrower_uscc} is not a known firm")
        loan = Loan(
            loan_id=f"LN-{secrets.token_hex(5).upper()}",
            bank_id=identity.institution_id,
            borrower_uscc=body.borrower_uscc,
            currency=body.currency,
            principal=body.principal,
            outstanding=body.principal,
            origination_date=body.origination_date,
            maturity_date=body.maturity_date,
            rate=body.rate,
            purpose=body.purpose,
            status="active",
        )
        session.add(loan)
        session.flush()
        request.app.state.book.invalidate()
        request.state.audit_entity_id = loan.loan_id
        return loan_public(loan)

    result: LoanPublic = idempotent_create(
        request=request,
        session=session,
        identity=identity,
        key=idempotency_key,
        body=body,
        create=create,
    )
    return result


@router.get("/loans", response_model=Page[LoanPublic], responses=problem_responses(401, 422))
def list_loans(
    session: SessionDep,
    identity: ReaderClient,
    status: Annotated[str | None, Query(pattern=r"^(active|repaid|defaulted)$")] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
    borrower_uscc: Annotated[str | None, Query(max_length=18)] = None,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^LN-[0-9A-Z]{7,16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[LoanPublic]:
    """Loans visible to the caller (a bank: its own), ordered by id; ``bank_id`` filters for
    the regulator and admins and is ignored for a bank."""
    stmt = select(Loan).order_by(Loan.loan_id).limit(limit + 1)
    owner = own_institution(identity)
    if owner is not None:
        stmt = stmt.where(Loan.bank_id == owner)
    elif bank_id:
        stmt = stmt.where(Loan.bank_id == bank_id.upper())
    if status:
        stmt = stmt.where(Loan.status == status)
    if currency:
        stmt = stmt.where(Loan.currency == currency.upper())
    if borrower_uscc:
        stmt = stmt.where(Loan.borrower_uscc == borrower_uscc.upper())
    if cursor:
        stmt = stmt.where(Loan.loan_id > cursor)
    return Page[LoanPublic].of(list(session.scalars(stmt)), limit, loan_public, lambda r: r.loan_id)


@router.get(
    "/loans/{loan_id}", response_model=LoanPublic, responses=problem_responses(401, 404, 422)
)
def read_loan(loan_id: LoanId, session: SessionDep, identity: ReaderClient) -> LoanPublic:
    """One loan (404 if absent or another bank's)."""
    return loan_public(visible_loan(session, identity, loan_id))


@router.post(
    "/loans/{loan_id}/repayments",
    response_model=LoanPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def repay(
    loan_id: LoanId,
    body: RepaymentCreate,
    session: WriteSessionDep,
    identity: WriterClient,
    request: Request,
) -> LoanPublic:
    """Record a repayment: the outstanding amount falls by ``amount`` under a row lock, so
    concurrent repayments never lose one another."""
    loan = visible_loan(session, identity, loan_id, for_update=True)
    if loan.status != "active":
        raise ApiProblemError(
            409, f"loan {loan_id} is {loan.status}; only active loans take repayments"
        )
    if body.on < loan.origination_date:
        raise InvalidInputError(
            f"repayment date {body.on} is before origination {loan.origination_date}"
        )
    amount = Decimal(body.amount)
    if amount > loan.outstanding:
        raise ApiProblemError(
            409, f"repayment {amount:.2f} exceeds the outstanding {loan.outstanding:.2f}"
        )
    loan.outstanding = loan.outstanding - amount
    if loan.outstanding == 0:
        loan.status = "repaid"
    session.flush()
    request.app.state.book.invalidate()
    request.state.audit_entity_id = loan.loan_id
    return loan_public(loan)
