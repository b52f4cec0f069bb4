"""Pledges: create (eligibility, valuation and haircut; idempotent; never beyond the pledgor's
free holding), list with cursor pagination and filters, read one; margin calls.

Tenancy: a pledge belongs to the bank of its loan. Another bank's pledge answers 404.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.convert import haircut_public
from api.deps import ReaderClient, SessionDep, WriterClient, WriteSessionDep, own_institution
from api.idempotency import idempotent_create
from api.problems import ApiProblemError, problem_responses
from api.routes.lending import visible_loan
from api.schemas.collateral import (
    EligibilityPublic,
    MarginCallPublic,
    MarginCallsPublic,
    PledgeCreate,
    PledgeCreated,
    PledgePublic,
    RulePublic,
)
from api.schemas.common import Page, Provenance
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import Firm, Loan, Pledge, RegistryEvent

router = APIRouter(prefix="/v1", tags=["collateral"])
PledgeId = Annotated[str, Path(pattern=r"^PL-[0-9A-Z]{7,16}$", examples=["PL-0000001"])]
IdemKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="retry-safe creation"),
]
HOLDING_RULE = "pledgor holds the quantity"


def pledge_public(p: Pledge, bank_id: str) -> PledgePublic:
    return PledgePublic(
        pledge_id=p.pledge_id,
        loan_id=p.loan_id,
        bank_id=bank_id,
        instrument=p.instrument,
        vintage=p.vintage,
        quantity_t=p.quantity_t,
        pledgor_uscc=p.pledgor_uscc,
        registration_no=p.registration_no,
        registration_date=p.registration_date,
        status=p.status,
    )


def _evaluate(session: Session, pledge: dict[str, Any], as_of: dt.date) -> Any:
    """The core's eligibility decision of a new pledge among the pledges already locking the
    pledgor's holdings (every bank's, so over-pledging is seen)."""
    from carbonfin.collateral.eligibility import evaluate_pledge
    from carbonfin.store.collateral import pledgor_eligibility_inputs

    inputs = pledgor_eligibility_inputs(
        session=session, as_of=as_of, pledgor_uscc=pledge["pledgor_uscc"]
    )
    return evaluate_pledge(
        pledge,
        holdings=inputs.holdings,
        as_of=as_of,
        other_pledges=inputs.pledges,
        compliance=inputs.compliance,
        carryover=inputs.carryover,
    )


@router.post(
    "/pledges",
    response_model=PledgeCreated,
    status_code=201,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def create_pledge(
    body: PledgeCreate,
    request: Request,
    session: WriteSessionDep,
    identity: WriterClient,
    idempotency_key: IdemKey = None,
) -> PledgeCreated:
    """Register a pledge of allowances for one of the bank's loans.

    Runs the eligibility rules (the pledge is refused with 409 beyond the pledgor's free holding,
    with 422 when another rule fails), values the eligible quantity at the mark of the
    registration date and returns the haircut with its breakdown.
    """
    from carbonfin.collateral import DEFAULT_MODEL, haircut

    def create() -> PledgeCreated:
        loan = visible_loan(session, identity, body.loan_id, for_update=True)
        if loan.status != "active":
            raise ApiProblemError(
                409, f"loan {loan.loan_id} is {loan.status}; pledges secure active loans"
            )
        if not (
            loan.origination_date - dt.timedelta(days=90)
            <= body.registration_date
            <= loan.maturity_date
        ):
            raise InvalidInputError(
                f"registration_date {body.registration_date} is outside loan {loan.loan_id}'s "
                f"life ({loan.origination_date} to {loan.maturity_date}, registration up to 90 "
                "days before origination)"
            )
        pledgor = (body.pledgor_uscc or loan.borrower_uscc).upper()
        # Serialise pledges against one pledgor's holdings: lock its firm row (PostgreSQL).
        if session.get(Firm, pledgor, with_for_update=True) is None:
            raise InvalidInputError(f"pledgor {pledgor} is not a known firm")
        if session.scalar(
            select(Pledge.pledge_id).where(Pledge.registration_no == body.registration_no)
        ):
            raise ApiProblemError(
                409, f"registration number {body.registration_no} is already recorded"
            )
        as_of = body.registration_date
        pledge_id = f"PL-{secrets.token_hex(5).upper()}"
        row = {
            "pledge_id": pledge_id,
            "loan_id": loan.loan_id,
            "instrument": body.instrument,
            "vintage": body.vintage,
            "quantity_t": body.quantity_t,
            "registration_no": body.registration_no,
            "registration_date": as_of,
            "pledgor_uscc": pledgor,
            "status": "active",
        }
        # The new pledge comes after every pledge already locking the holding, whatever their
        # registration dates: it must fit in what is free on its date and today.
        from carbonfin.store.collateral import free_quantity

        latest = max(as_of, dt.date.today())
        free = min(
            free_quantity(
                session=session,
                uscc=pledgor,
                instrument=Instrument.parse(body.instrument),
                vintage=body.vintage,
                as_of=day,
            )
            for day in {as_of, latest}
        )
        if body.quantity_t > free:
            vintage = "" if body.vintage is None else f" vintage {body.vintage}"
            raise ApiProblemError(
                409,
                f"{HOLDING_RULE}: {pledgor} has {max(free, 0):,} t of {body.instrument}{vintage} "
                f"free of other pledges; the pledge asks for {body.quantity_t:,} t",
            )
        decision = _evaluate(session, row, as_of)
        failed = {r.rule: r for r in decision.failed}
        if HOLDING_RULE in failed:
            raise ApiProblemError(409, f"{HOLDING_RULE}: {failed[HOLDING_RULE].reason}")
        if not decision.eligible:
            reasons = "; ".join(f"{r.rule}: {r.reason}" for r in decision.failed) or (
                "no part of the pledge counts as collateral"
            )
            raise InvalidInputError(f"pledge not eligible — {reasons}")
        data = request.app.state.data
        b = haircut(
            data.history(body.instrument),
            as_of=as_of,
            quantity_t=float(decision.eligible_quantity_t),
            loan_currency=loan.currency,
            profile=data.risk_profile(body.instrument, as_of, model=DEFAULT_MODEL),
            pledgor_covered=pledgor in data.covered_usccs(),
        )
        pledge = Pledge(**row)
        session.add(pledge)
        session.flush()
        # The registry locks the pledged quantity of the pledgor's holding.
        session.add(
            RegistryEvent(
                event_id=f"RE-{secrets.token_hex(6).upper()}",
                date=as_of,
                uscc=pledgor,
                instrument=Instrument.parse(body.instrument),
                vintage=body.vintage,
                kind="pledge_registered",
                quantity_t=body.quantity_t,
                pledge_id=pledge_id,
            )
        )
        session.flush()
        request.app.state.book.invalidate()
        request.state.audit_entity_id = pledge_id
        request.state.audit_versions = {
            "haircut_model": b.model,
            "policy": b.policy_version,
            "eligibility_rules": decision.rules_version,
        }
        return PledgeCreated(
            **pledge_public(pledge, loan.bank_id).model_dump(),
            eligibility=EligibilityPublic(
                decision=decision.decision.value,
                quantity_t=decision.quantity_t,
                eligible_quantity_t=decision.eligible_quantity_t,
                rules=[
                    RulePublic(
                        rule=r.rule, outcome=r.outcome.value, reason=r.reason, source=r.source
                    )
                    for r in decision.rules
                ],
                rules_version=decision.rules_version,
            ),
            haircut=haircut_public(b, data.source),
        )

    result: PledgeCreated = idempotent_create(
        request=request,
        session=session,
        identity=identity,
        key=idempotency_key,
        body=body,
        create=create,
    )
    return result


def _visible(stmt: Any, identity: ClientIdentity) -> Any:
    owner = own_institution(identity)
    return stmt if owner is None else stmt.where(Loan.bank_id == owner)


@router.get("/pledges", response_model=Page[PledgePublic], responses=problem_responses(401, 422))
def list_pledges(
    session: SessionDep,
    identity: ReaderClient,
    loan_id: Annotated[str | None, Query(max_length=32)] = None,
    instrument: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,8}$")] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|released|enforced)$")] = None,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^PL-[0-9A-Z]{7,16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[PledgePublic]:
    """Pledges visible to the caller (a bank: those securing its loans), ordered by id;
    ``bank_id`` filters for the regulator and admins and is ignored for a bank."""
    stmt = _visible(
        select(Pledge, Loan.bank_id).join(Loan, Loan.loan_id == Pledge.loan_id), identity
    )
    if own_institution(identity) is None and bank_id:
        stmt = stmt.where(Loan.bank_id == bank_id.upper())
    if loan_id:
        stmt = stmt.where(Pledge.loan_id == loan_id.upper())
    if instrument:
        stmt = stmt.where(Pledge.instrument == instrument.upper())
    if status:
        stmt = stmt.where(Pledge.status == status)
    if cursor:
        stmt = stmt.where(Pledge.pledge_id > cursor)
    return Page[PledgePublic].of(
        list(session.execute(stmt.order_by(Pledge.pledge_id).limit(limit + 1))),
        limit,
        lambda r: pledge_public(r[0], r[1]),
        lambda r: r[0].pledge_id,
    )


@router.get(
    "/pledges/{pledge_id}", response_model=PledgePublic, responses=problem_responses(401, 404, 422)
)
def read_pledge(pledge_id: PledgeId, session: SessionDep, identity: ReaderClient) -> PledgePublic:
    """One pledge (404 if absent or securing another bank's loan)."""
    stmt = _visible(
        select(Pledge, Loan.bank_id)
        .join(Loan, Loan.loan_id == Pledge.loan_id)
        .where(Pledge.pledge_id == pledge_id),
        identity,
    )
    row = session.execute(stmt).first()
    if row is None:
        raise ApiProblemError(404, f"no pledge {pledge_id}")
    return pledge_public(row[0], row[1])


def _f(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


@router.get(
    "/margin-calls", response_model=MarginCallsPublic, responses=problem_responses(401, 404, 422)
)
def margin_calls(
    request: Request,
    session: SessionDep,
    identity: ReaderClient,
    as_of: dt.date,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> MarginCallsPublic:
    """Loans at or above the warning level on ``as_of`` with the cash or tonnes that restore the
    target LTV (a bank: its own loans; the regulator: all, or one bank)."""
    book = request.app.state.book.valuation(session, as_of)
    loans = book.loans
    owner = own_institution(identity) or (bank_id.upper() if bank_id else None)
    if owner is not None:
        loans = loans[loans["bank_id"] == owner]
    calls = loans[loans["state"] != "ok"].sort_values("utilisation", ascending=False)
    counts = loans["state"].value_counts()
    return MarginCallsPublic(
        as_of=as_of,
        calls=[
            MarginCallPublic(
                loan_id=str(r["loan_id"]),
                bank_id=str(r["bank_id"]),
                state=str(r["state"]),
                ltv=_f(r["ltv"]),
                target_ltv=_f(r["target_ltv"]),
                utilisation=_f(r["utilisation"]),
                loan_outstanding_cny=float(r["outstanding_cny"]),
                collateral_value_cny=float(r["collateral_value_cny"]),
                lendable_value_cny=float(r["lendable_value_cny"]),
                topup_cash_cny=_f(r["topup_cash_cny"]),
                topup_quantity_t=_f(r["topup_quantity_t"]),
                instrument=None if r["instrument"] is None else str(r["instrument"]),
            )
            for r in calls.to_dict("records")
        ],
        states={str(k): int(v) for k, v in counts.items()},
        provenance=Provenance(
            source=book.data_source,
            as_of=as_of,
            notes=[*book.notes, f"policy {book.policy_version}"],
        ),
    )
