"""Loans: create (idempotent), list with cursor pagination and filters, read, repay.

Tenancy: a bank sees and writes only its own loans (another bank's loan id answers 404, never
403, so ids do not leak); the regulator and admins read all and write none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, cast

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import (
    IdemKey,
    PageLimit,
    ReaderClient,
    SessionDep,
    WriterClient,
    bank_scope,
    own_institution,
)
from api.problems import ApiProblemError, problem_responses
from api.schemas import patterns
from api.schemas.common import USCC, Day, Page
from api.schemas.lending import (
    LedgerEntryPublic,
    LoanCreate,
    LoanLedgerPublic,
    LoanPublic,
    RepaymentCreate,
)
from carbonfin.conventions import format_money
from carbonfin.errors import MissingDataError
from carbonfin.lending import Actor, china_today
from carbonfin.lending import loans as workflow
from carbonfin.store import ledger
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import Loan

router = APIRouter(prefix="/v1", tags=["lending"])
LoanId = Annotated[str, Path(pattern=patterns.LOAN_ID, examples=["LN-0000003"])]
AsOf = Annotated[
    Day | None,
    Query(description="the date the balance and status are as of (default: today in China)"),
]


def actor_of(identity: ClientIdentity) -> Actor:
    """The workflow actor of an authenticated API client."""
    return Actor(identity.client_id, identity.institution_id, identity.role, via="api")


def view_public(view: workflow.LoanView) -> LoanPublic:
    return LoanPublic(
        loan_id=view.loan_id,
        bank_id=view.bank_id,
        borrower_uscc=view.borrower_uscc,
        currency=view.currency,
        principal=format_money(view.principal, view.currency),
        outstanding=format_money(view.outstanding, view.currency),
        origination_date=view.origination_date,
        maturity_date=view.maturity_date,
        rate=view.rate,
        purpose=view.purpose,
        status=view.status,
        as_of=view.as_of,
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


def _answer(result: workflow.WriteResult, status_code: int) -> LoanPublic | JSONResponse:
    body = view_public(result.loan)
    if result.replayed:
        return JSONResponse(
            body.model_dump(mode="json"),
            status_code=status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    return body


@router.post(
    "/loans",
    response_model=LoanPublic,
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 422, 503),
)
def create_loan(
    body: LoanCreate,
    request: Request,
    identity: WriterClient,
    idempotency_key: IdemKey = None,
) -> LoanPublic | JSONResponse:
    """Book a loan for the calling bank (committed before the answer; 422 for a currency the
    stored FX fixings do not cover, naming the covered ones, and for a principal finer than the
    currency's ISO 4217 minor units, e.g. 1000.50 JPY)."""
    result = workflow.book_loan(
        sessions=request.app.state.sessions,
        actor=actor_of(identity),
        loan=workflow.LoanTerms(
            borrower_uscc=body.borrower_uscc,
            currency=body.currency,
            principal=body.principal,
            origination_date=body.origination_date,
            maturity_date=body.maturity_date,
            rate=body.rate,
            purpose=body.purpose,
        ),
        today=china_today(),
        idempotency_key=idempotency_key,
    )
    request.state.audit_entity_id = result.loan.loan_id
    request.state.audit_written = not result.replayed  # the workflow audited it (api.middleware)
    return _answer(result, 201)


@router.get("/loans", response_model=Page[LoanPublic], responses=problem_responses(401, 404, 422))
def list_loans(
    session: SessionDep,
    identity: ReaderClient,
    limit: PageLimit,
    status: Annotated[str | None, Query(pattern=patterns.LOAN_STATUS)] = None,
    currency: Annotated[str | None, Query(pattern=patterns.CURRENCY_FILTER)] = None,
    borrower_uscc: Annotated[USCC | None, Query()] = None,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(pattern=patterns.LOAN_ID)] = None,
) -> Page[LoanPublic]:
    """Loans visible to the caller (a bank: its own), ordered by id; ``bank_id`` filters for
    the regulator; a bank may give only its own (:func:`api.deps.bank_scope`)."""
    stmt = select(Loan).order_by(Loan.loan_id).limit(limit + 1)
    bank = bank_scope(session, identity, bank_id)
    if bank is not None:
        stmt = stmt.where(Loan.bank_id == bank)
    if status:
        stmt = stmt.where(Loan.status == status)
    if currency:
        stmt = stmt.where(Loan.currency == currency.upper())
    if borrower_uscc:
        stmt = stmt.where(Loan.borrower_uscc == borrower_uscc)
    if cursor:
        stmt = stmt.where(Loan.loan_id > cursor)
    rows = list(session.scalars(stmt))
    today = china_today()
    balances = ledger.balances_as_of(
        session=session, as_of=today, loan_ids=[r.loan_id for r in rows]
    ).set_index("loan_id")

    def public(loan: Loan) -> LoanPublic:
        b = balances.loc[loan.loan_id]
        return LoanPublic(
            loan_id=loan.loan_id,
            bank_id=loan.bank_id,
            borrower_uscc=loan.borrower_uscc,
            currency=loan.currency,
            principal=format_money(loan.principal, loan.currency),
            outstanding=format_money(cast(Decimal, b["outstanding"]), loan.currency),
            origination_date=loan.origination_date,
            maturity_date=loan.maturity_date,
            rate=float(loan.rate),
            purpose=loan.purpose,
            status=str(b["status"]),
            as_of=today,
        )

    return Page[LoanPublic].of(rows, limit, public, lambda r: r.loan_id)


@router.get(
    "/loans/{loan_id}", response_model=LoanPublic, responses=problem_responses(401, 404, 422)
)
def read_loan(
    loan_id: LoanId, session: SessionDep, identity: ReaderClient, as_of: AsOf = None
) -> LoanPublic:
    """One loan as it stood at the end of ``as_of`` (balance and status from its ledger; 404
    if absent or another bank's)."""
    try:
        view = workflow.loan_as_of(
            session=session,
            actor=actor_of(identity),
            loan_id=loan_id,
            as_of=as_of or china_today(),
        )
    except MissingDataError as exc:
        raise ApiProblemError(404, str(exc)) from None
    return view_public(view)


@router.get(
    "/loans/{loan_id}/ledger",
    response_model=LoanLedgerPublic,
    responses=problem_responses(401, 404, 422),
)
def read_ledger(loan_id: LoanId, session: SessionDep, identity: ReaderClient) -> LoanLedgerPublic:
    """A loan's ledger: its opening, draws and repayments in value-date order, each with the
    balance after it."""
    try:
        rows = workflow.loan_ledger(session=session, actor=actor_of(identity), loan_id=loan_id)
    except MissingDataError as exc:
        raise ApiProblemError(404, str(exc)) from None
    currency = session.scalar(select(Loan.currency).where(Loan.loan_id == loan_id)) or ""
    return LoanLedgerPublic(
        loan_id=loan_id,
        currency=currency,
        entries=[
            LedgerEntryPublic(
                entry_id=e.entry_id,
                kind=e.kind,
                value_date=e.value_date,
                amount=format_money(e.amount, currency),
                balance_after=format_money(e.balance_after, currency),
                recorded_at=e.recorded_at,
                recorded_by=e.client_id,
            )
            for e in rows
        ],
    )


@router.post(
    "/loans/{loan_id}/repayments",
    response_model=LoanPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
)
def repay(
    loan_id: LoanId,
    body: RepaymentCreate,
    identity: WriterClient,
    request: Request,
    idempotency_key: IdemKey = None,
) -> LoanPublic | JSONResponse:
    """Record a repayment as a ledger entry with its value date (committed before the answer;
    idempotent with ``Idempotency-Key``). The answer is the loan as of today. 422 for a value
    date before origination or after today, or an amount finer than the loan currency's ISO 4217
    minor units (0.50 JPY); 409 above the balance outstanding on that date."""
    try:
        result = workflow.record_repayment(
            sessions=request.app.state.sessions,
            actor=actor_of(identity),
            loan_id=loan_id,
            amount=Decimal(body.amount),
            value_date=body.on,
            today=china_today(),
            idempotency_key=idempotency_key,
        )
    except MissingDataError as exc:
        raise ApiProblemError(404, str(exc)) from None
    request.state.audit_entity_id = loan_id
    request.state.audit_written = not result.replayed  # the workflow audited it (api.middleware)
    return _answer(result, 200)
