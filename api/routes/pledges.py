"""Pledges: register (the workflow :func:`carbonfin.lending.pledges.register_pledge`), release,
substitute, list and read with their state on a date; loan guarantors; margin calls.

Tenancy: a pledge belongs to the bank of its loan. Another bank's pledge answers 404. Routes
parse, call the lending workflow (one committed transaction) and format its result.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.convert import haircut_public
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
from api.schemas.collateral import (
    EligibilityPublic,
    MarginCallPublic,
    MarginCallsPublic,
    PledgeCreate,
    PledgeCreated,
    PledgePublic,
    RulePublic,
)
from api.schemas.common import Day, Page, Provenance
from api.schemas.pledges import (
    GuarantorCreate,
    GuarantorPublic,
    ReleaseCreate,
    ReleasePublic,
    SubstitutionCreate,
    SubstitutionPublic,
)
from carbonfin.lending import Actor, china_today
from carbonfin.lending import pledges as workflow
from carbonfin.store.credentials import ClientIdentity
from carbonfin.store.models import Loan, Pledge

router = APIRouter(prefix="/v1", tags=["collateral"])
PledgeId = Annotated[str, Path(pattern=patterns.PLEDGE_ID, examples=["PL-0000001"])]
LoanId = Annotated[str, Path(pattern=patterns.LOAN_ID, examples=["LN-0000003"])]


def _actor(identity: ClientIdentity) -> Actor:
    return Actor(identity.client_id, identity.institution_id, identity.role, "api")


def pledge_public(p: Pledge, bank_id: str, state: Any = None) -> PledgePublic:
    """A stored pledge; with ``state`` (:class:`carbonfin.store.collateral.PledgeState`) its
    status and quantities on that state's date."""
    extra: dict[str, Any] = {}
    if state is not None:
        extra = {
            "status": state.status if p.status != "enforced" else p.status,
            "as_of": state.as_of,
            "quantity_in_force_t": state.quantity_in_force_t,
            "released_t": state.released_t,
            "release_dates": list(state.release_dates),
        }
    return PledgePublic(
        **{
            "pledge_id": p.pledge_id,
            "loan_id": p.loan_id,
            "bank_id": bank_id,
            "instrument": p.instrument,
            "vintage": p.vintage,
            "quantity_t": p.quantity_t,
            "pledgor_uscc": p.pledgor_uscc,
            "registration_no": p.registration_no or "",
            "registration_date": p.registration_date,
            "status": p.status,
            **extra,
        }
    )


def _facts_public(f: workflow.PledgeFacts) -> PledgePublic:
    return PledgePublic(
        pledge_id=f.pledge_id,
        loan_id=f.loan_id,
        bank_id=f.bank_id,
        instrument=f.instrument,
        vintage=f.vintage,
        quantity_t=f.quantity_t,
        pledgor_uscc=f.pledgor_uscc,
        registration_no=f.registration_no,
        registration_date=f.registration_date,
        status=f.status,
        as_of=f.as_of,
        quantity_in_force_t=f.quantity_in_force_t,
        released_t=f.released_t,
        release_dates=list(f.release_dates),
    )


def _request_of(loan_id: str, body: Any) -> workflow.PledgeRequest:
    return workflow.PledgeRequest(
        loan_id=loan_id,
        instrument=body.instrument,
        vintage=body.vintage,
        quantity_t=body.quantity_t,
        registration_no=body.registration_no,
        registration_date=body.registration_date,
        pledgor_uscc=body.pledgor_uscc,
    )


def _haircut(
    request: Request,
    instrument: str,
    as_of: dt.date,
    quantity_t: int,
    currency: str,
    pledgor: str | None,
) -> Any:
    from carbonfin.collateral import DEFAULT_MODEL, haircut

    data = request.app.state.data
    return haircut(
        data.history(instrument),
        as_of=as_of,
        quantity_t=float(quantity_t),
        loan_currency=currency,
        profile=data.risk_profile(instrument, as_of, model=DEFAULT_MODEL),
        pledgor_covered=pledgor is not None and pledgor in data.covered_usccs(),
    )


def _created(request: Request, reg: workflow.PledgeRegistration) -> PledgeCreated:
    """The response of a committed registration: the pledge, its eligibility (worded for the
    lender) and the haircut of its eligible quantity at the registration date's mark."""
    d, f = reg.eligibility, reg.pledge
    b = _haircut(
        request, f.instrument, d.as_of, d.eligible_quantity_t, reg.loan_currency, f.pledgor_uscc
    )
    request.state.audit_entity_id = f.pledge_id
    request.state.audit_versions = {
        "haircut_model": b.model,
        "policy": b.policy_version,
        "eligibility_rules": d.rules_version,
    }
    return PledgeCreated(
        **_facts_public(f).model_dump(),
        eligibility=EligibilityPublic(
            decision=d.decision.value,
            quantity_t=d.quantity_t,
            eligible_quantity_t=d.eligible_quantity_t,
            rules=[
                RulePublic(rule=r.rule, outcome=r.outcome.value, reason=r.reason, source=r.source)
                for r in d.rules
            ],
            rules_version=d.rules_version,
        ),
        haircut=haircut_public(b, request.app.state.data.source),
    )


@router.post(
    "/pledges",
    response_model=PledgeCreated,
    status_code=201,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
)
def create_pledge(
    body: PledgeCreate,
    request: Request,
    response: Response,
    identity: WriterClient,
    idempotency_key: IdemKey = None,
) -> PledgeCreated:
    """Register a pledge of allowances for one of the bank's loans.

    The pledgor (default: the borrower) must be the loan's borrower or a guarantor recorded on
    it (``POST /v1/loans/{loan_id}/guarantors``). Refused with 409 beyond the quantity free to
    pledge (no figures of other banks' pledges are given), with 422 when another rule fails.
    Answers after the commit with the eligibility and the haircut of the eligible quantity.
    """
    key = idempotency_key
    # Market data the response needs is read first, so a missing mark refuses before writing.
    _haircut(request, body.instrument, body.registration_date, body.quantity_t, "CNY", None)
    reg = workflow.register_pledge(
        sessions=request.app.state.sessions,
        actor=_actor(identity),
        request=_request_of(body.loan_id, body),
        idempotency_key=key,
    )
    if reg.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    request.state.audit_written = not reg.replayed  # the workflow audited it (api.middleware)
    request.app.state.book.invalidate()
    return _created(request, reg)


def _release_public(r: workflow.Release) -> ReleasePublic:
    return ReleasePublic(
        release_id=r.release_id,
        pledge_id=r.pledge_id,
        release_date=r.release_date,
        quantity_t=r.quantity_t,
        reason=r.reason,
        substitute_pledge_id=r.substitute_pledge_id,
        pledge=_facts_public(r.pledge),
    )


@router.post(
    "/pledges/{pledge_id}/releases",
    response_model=ReleasePublic,
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def release_pledge(
    pledge_id: PledgeId, body: ReleaseCreate, request: Request, identity: WriterClient
) -> ReleasePublic:
    """Record the registry's release of a pledge, fully (``full: true``) or in part, on
    ``release_date`` with its reason; the quantity is free to pledge again from that date."""
    r = workflow.release_pledge(
        sessions=request.app.state.sessions,
        actor=_actor(identity),
        pledge_id=pledge_id,
        release_date=body.release_date,
        reason=body.reason,
        quantity_t=body.quantity_t,
    )
    request.state.audit_entity_id = pledge_id
    request.state.audit_written = True  # the workflow audited it (api.middleware)
    request.app.state.book.invalidate()
    return _release_public(r)


@router.post(
    "/pledges/{pledge_id}/substitutions",
    response_model=SubstitutionPublic,
    status_code=201,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
)
def substitute_pledge(
    pledge_id: PledgeId,
    body: SubstitutionCreate,
    request: Request,
    response: Response,
    identity: WriterClient,
    idempotency_key: IdemKey = None,
) -> SubstitutionPublic:
    """Release a pledge (all of it, or ``release_quantity_t``) and register its replacement on
    the same loan on the replacement's registration date: both or neither."""
    key = idempotency_key
    new = body.replacement
    _haircut(request, new.instrument, new.registration_date, new.quantity_t, "CNY", None)
    actor = _actor(identity)
    release, reg = workflow.substitute_pledge(
        sessions=request.app.state.sessions,
        actor=actor,
        pledge_id=pledge_id,
        replacement=_request_of("", new),  # the released pledge's loan
        release_quantity_t=body.release_quantity_t,
        idempotency_key=key,
    )
    if reg.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    request.app.state.book.invalidate()
    created = _created(request, reg)
    request.state.audit_entity_id = pledge_id
    request.state.audit_written = not reg.replayed  # the workflow audited it (api.middleware)
    return SubstitutionPublic(release=_release_public(release), pledge=created)


def _guarantor_public(g: workflow.GuarantorRecord) -> GuarantorPublic:
    return GuarantorPublic(
        loan_id=g.loan_id,
        guarantor_uscc=g.guarantor_uscc,
        consent_ref=g.consent_ref,
        consent_date=g.consent_date,
        recorded_at=g.recorded_at,
    )


@router.post(
    "/loans/{loan_id}/guarantors",
    response_model=GuarantorPublic,
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
def add_guarantor(
    loan_id: LoanId, body: GuarantorCreate, request: Request, identity: WriterClient
) -> GuarantorPublic:
    """Record a guarantor of one of the bank's loans with the reference and date of its
    documented consent; the guarantor may then pledge its own holding for the loan."""
    g = workflow.add_guarantor(
        sessions=request.app.state.sessions,
        actor=_actor(identity),
        loan_id=loan_id,
        guarantor_uscc=body.guarantor_uscc,
        consent_ref=body.consent_ref,
        consent_date=body.consent_date,
    )
    request.state.audit_entity_id = loan_id
    request.state.audit_written = True  # the workflow audited it (api.middleware)
    return _guarantor_public(g)


@router.get(
    "/loans/{loan_id}/guarantors",
    response_model=list[GuarantorPublic],
    responses=problem_responses(401, 404, 422),
)
def list_guarantors(
    loan_id: LoanId, request: Request, identity: ReaderClient
) -> list[GuarantorPublic]:
    """The guarantors recorded on a loan (a bank: its own loans; the regulator: any)."""
    return [
        _guarantor_public(g)
        for g in workflow.list_guarantors(
            sessions=request.app.state.sessions, actor=_actor(identity), loan_id=loan_id
        )
    ]


def _visible(stmt: Any, identity: ClientIdentity) -> Any:
    owner = own_institution(identity)
    return stmt if owner is None else stmt.where(Loan.bank_id == owner)


def _states(session: Session, rows: list[Any], as_of: dt.date) -> dict[str, Any]:
    from carbonfin.store.collateral import pledge_states

    return pledge_states(session=session, pledges=[r[0] for r in rows], as_of=as_of)


@router.get(
    "/pledges", response_model=Page[PledgePublic], responses=problem_responses(401, 404, 422)
)
def list_pledges(
    session: SessionDep,
    identity: ReaderClient,
    limit: PageLimit,
    loan_id: Annotated[str | None, Query(max_length=32)] = None,
    instrument: Annotated[str | None, Query(pattern=patterns.INSTRUMENT_FILTER)] = None,
    status: Annotated[str | None, Query(pattern=patterns.PLEDGE_STATUS)] = None,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(pattern=patterns.PLEDGE_ID)] = None,
) -> Page[PledgePublic]:
    """Pledges visible to the caller (a bank: those securing its loans), ordered by id, each
    with its state today (``status`` filters on the state after every recorded release);
    ``bank_id`` filters for the regulator; a bank may give only its own
    (:func:`api.deps.bank_scope`)."""
    stmt = _visible(
        select(Pledge, Loan.bank_id).join(Loan, Loan.loan_id == Pledge.loan_id), identity
    )
    bank = bank_scope(session, identity, bank_id)
    if bank is not None:
        stmt = stmt.where(Loan.bank_id == bank)
    if loan_id:
        stmt = stmt.where(Pledge.loan_id == loan_id.upper())
    if instrument:
        stmt = stmt.where(Pledge.instrument == instrument.upper())
    if status:
        stmt = stmt.where(Pledge.status == status)
    if cursor:
        stmt = stmt.where(Pledge.pledge_id > cursor)
    rows = list(session.execute(stmt.order_by(Pledge.pledge_id).limit(limit + 1)))
    states = _states(session, rows, china_today())
    return Page[PledgePublic].of(
        rows,
        limit,
        lambda r: pledge_public(r[0], r[1], states[r[0].pledge_id]),
        lambda r: r[0].pledge_id,
    )


@router.get(
    "/pledges/{pledge_id}", response_model=PledgePublic, responses=problem_responses(401, 404, 422)
)
def read_pledge(
    pledge_id: PledgeId,
    session: SessionDep,
    identity: ReaderClient,
    as_of: Annotated[Day | None, Query(description="default: today")] = None,
) -> PledgePublic:
    """One pledge with its state on ``as_of``: quantity in force, released quantity and release
    dates up to then (404 if absent or securing another bank's loan)."""
    stmt = _visible(
        select(Pledge, Loan.bank_id)
        .join(Loan, Loan.loan_id == Pledge.loan_id)
        .where(Pledge.pledge_id == pledge_id),
        identity,
    )
    row = session.execute(stmt).first()
    if row is None:
        raise ApiProblemError(404, f"no pledge {pledge_id}")
    states = _states(session, [row], as_of or china_today())
    return pledge_public(row[0], row[1], states[pledge_id])


#: Where ``GET /v1/margin-calls`` gets its answer (its first provenance note).
MARGIN_CALLS_VALUED_ON_REQUEST = (
    "valued on request: the book that stood on as_of valued in the service's memory "
    "(cached per date and data version), not read from the stored valuation run of the date: "
    "a run stores neither the top-up tonnes nor the instrument that restores each loan; the "
    "loans by state equal the stored run's (GET /v1/regulator/ltv) while it is current"
)


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
    as_of: Day,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> MarginCallsPublic:
    """Loans at or above the warning level on ``as_of`` with the cash or tonnes that restore the
    target LTV (a bank: its own loans; the regulator: all, or one bank). The book is the one that
    stood on ``as_of`` (balances from the loan ledger, pledges in force that day); a loan that
    cannot be valued (no FX fixing, no or a stale mark) is listed in ``not_valued`` with its
    reason and counted in ``states``, and never affects another loan's figures."""
    from api.schemas.lending import NotValuedPublic

    owner = bank_scope(session, identity, bank_id)
    valued = request.app.state.book.book(session, as_of).for_bank(owner)
    book = valued.valuation
    loans = book.loans if book is not None else pd.DataFrame(columns=["state", "utilisation"])
    calls = loans[loans["state"] != "ok"].sort_values("utilisation", ascending=False)
    not_valued = valued.not_valued_loans()
    notes = [MARGIN_CALLS_VALUED_ON_REQUEST, *valued.notes]
    notes += [*book.notes, f"policy {book.policy_version}"] if book else []
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
        states={k: v for k, v in valued.state_counts().items() if v or k != "not_valued"},
        not_valued=[
            NotValuedPublic(
                loan_id=str(r["loan_id"]),
                bank_id=str(r["bank_id"]),
                currency=str(r["currency"]),
                outstanding=float(r["outstanding"]),
                outstanding_cny=_f(r["outstanding_cny"]),
                pledges=int(r["pledges"]),
                reason=str(r["reason"]),
            )
            for r in not_valued.to_dict("records")
        ],
        provenance=Provenance(source=valued.data_source, as_of=as_of, notes=notes),
    )
