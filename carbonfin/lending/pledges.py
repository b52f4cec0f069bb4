"""Pledge workflows, one write transaction each: register a pledge, release it (fully or in
part), substitute one pledge for another, record a loan's guarantor.

Pledgor rights
    A bank may pledge a firm's allowances for its loan only if the firm is the loan's borrower
    or a guarantor recorded on that loan with its documented consent (a consent reference and
    date on or before the registration): a third-party pledge needs the third party's consent
    (PRC Civil Code art. 388 and 425-427: a pledge contract is made by the pledgor; a third
    party may pledge its property for another's debt).
What a bank is told
    Nothing about other banks. A pledge that does not fit in the pledgor's free holding is
    refused with "the pledge of N t exceeds the quantity free to pledge" and no figure (the
    free quantity is the holding less every bank's pledges in force). A registration number
    that is already recorded, by any bank, is refused with "registration number R cannot be
    recorded" and that check runs last, after the pledgor's rights and the holding, so only a
    pledge that would otherwise be accepted can learn it. The eligibility reasons are worded
    for the lender (:func:`carbonfin.collateral.pledge_rules.lender_reason`).
History
    Releases are append-only records with a date, a quantity and a reason, and a registry event
    ``pledge_released`` that frees the quantity from that date; the quantity in force on a date
    is derived from them (:func:`carbonfin.store.collateral.pledge_state`).

Every workflow writes its audit entry in its own transaction (:func:`record_write`) and returns
only after the commit. Creates are idempotent by key (:mod:`carbonfin.lending.idempotency`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.collateral.eligibility import EligibilityDecision, evaluate_pledge
from carbonfin.collateral.pledge_rules import NOT_FREE
from carbonfin.errors import ConflictError, InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.lending import idempotency
from carbonfin.lending._context import Actor, china_today, record_write
from carbonfin.lending.guarantors import (
    GuarantorRecord,
    add_guarantor,
    check_pledgor,
    list_guarantors,
    own_loan,
)
from carbonfin.lending.ids import check_pledge_id
from carbonfin.lending.pledge_records import PledgeFacts, PledgeRegistration, PledgeRequest, Release
from carbonfin.store import collateral as store
from carbonfin.store.models import Firm, Loan, Pledge, PledgeRelease, RegistryEvent
from carbonfin.store.transactions import read_transaction, write_transaction

__all__ = [
    "RELEASE_REASONS",
    "GuarantorRecord",
    "PledgeFacts",
    "PledgeRegistration",
    "PledgeRequest",
    "Release",
    "add_guarantor",
    "list_guarantors",
    "pledge_on",
    "register_pledge",
    "release_pledge",
    "substitute_pledge",
]

RELEASE_REASONS = ("repayment", "substitution", "other")
ReleaseReason = Literal["repayment", "substitution", "other"]
HOLDING_RULE = "pledgor holds the quantity"
#: Registration up to this many days before the loan's origination (a pledge may be registered
#: ahead of the drawdown).
REGISTRATION_LEAD_DAYS = 90
T = TypeVar("T")


# --- shared steps -----------------------------------------------------------------------------


def _own_pledge(session: Session, actor: Actor, pledge_id: str) -> tuple[Pledge, Loan]:
    pledge = session.get(Pledge, check_pledge_id(pledge_id), with_for_update=True)
    loan = None if pledge is None else session.get(Loan, pledge.loan_id)
    if loan is None or actor.role != "bank" or loan.bank_id != actor.institution_id:
        raise MissingDataError(f"no pledge {pledge_id}")
    assert pledge is not None
    return pledge, loan


def _facts(session: Session, pledge: Pledge, bank_id: str, as_of: dt.date) -> PledgeFacts:
    state = store.pledge_state(session=session, pledge=pledge, as_of=as_of)
    return PledgeFacts(
        pledge.pledge_id,
        pledge.loan_id,
        bank_id,
        pledge.instrument,
        pledge.vintage,
        int(pledge.quantity_t),
        pledge.pledgor_uscc,
        pledge.registration_no or "",
        pledge.registration_date,
        as_of,
        state.status,
        state.quantity_in_force_t,
        state.released_t,
        state.release_dates,
    )


def _check_fits(
    session: Session, request: PledgeRequest, pledgor: str, today: dt.date
) -> EligibilityDecision:
    """Refuse a pledge beyond the pledgor's free holding on any day from its registration to
    ``today``, or not eligible; return its eligibility worded for the lender."""
    instrument = Instrument.parse(request.instrument)
    free = store.min_free_quantity(
        session=session,
        uscc=pledgor,
        instrument=instrument,
        vintage=request.vintage,
        start=request.registration_date,
        end=max(request.registration_date, today),
    )
    refusal = NOT_FREE.format(quantity=f"{request.quantity_t:,} t")
    if request.quantity_t > free:
        raise ConflictError(refusal)
    inputs = store.pledgor_eligibility_inputs(
        session=session, as_of=request.registration_date, pledgor_uscc=pledgor
    )
    row = {
        "pledge_id": "new pledge",
        "instrument": instrument.value,
        "vintage": request.vintage,
        "quantity_t": request.quantity_t,
        "registration_no": request.registration_no,
        "registration_date": request.registration_date,
        "pledgor_uscc": pledgor,
    }
    decision = evaluate_pledge(
        row,
        holdings=inputs.holdings,
        as_of=request.registration_date,
        other_pledges=inputs.pledges,
        compliance=inputs.compliance,
        carryover=inputs.carryover,
        for_lender=True,
    )
    failed = {r.rule for r in decision.failed}
    if HOLDING_RULE in failed:
        raise ConflictError(refusal)
    if not decision.eligible:
        reasons = "; ".join(f"{r.rule}: {r.reason}" for r in decision.failed) or (
            "no part of the pledge counts as collateral"
        )
        raise InvalidInputError(f"pledge not eligible — {reasons}")
    return decision


def _registration_taken(registration_no: str) -> ConflictError:
    """This bank recorded the number before (unique per bank: another bank's number is never
    refused, so no answer tells a bank whether another bank recorded it)."""
    return ConflictError(f"registration number {registration_no} cannot be recorded")


def _register_in(
    session: Session, actor: Actor, request: PledgeRequest, today: dt.date
) -> tuple[Pledge, Loan, EligibilityDecision]:
    loan = own_loan(session, actor, request.loan_id)
    if loan.status != "active":
        raise ConflictError(f"loan {loan.loan_id} is {loan.status}; pledges secure active loans")
    if request.registration_date > today:
        raise InvalidInputError(
            f"registration_date {request.registration_date} is in the future (today {today})"
        )
    if request.vintage is not None and request.vintage > today.year:  # bad input, not a conflict
        raise InvalidInputError(f"vintage {request.vintage} is not issued yet (today {today})")
    lead = dt.timedelta(days=REGISTRATION_LEAD_DAYS)
    if not loan.origination_date - lead <= request.registration_date <= loan.maturity_date:
        raise InvalidInputError(
            f"registration_date {request.registration_date} is outside loan {loan.loan_id}'s "
            f"life ({loan.origination_date} to {loan.maturity_date}, registration up to "
            f"{REGISTRATION_LEAD_DAYS} days before origination)"
        )
    pledgor = (request.pledgor_uscc or loan.borrower_uscc).upper()
    check_pledgor(session, loan, pledgor, request.registration_date)
    # Serialise pledges on one pledgor's holdings: lock its firm row (PostgreSQL; SQLite has
    # one writer at a time).
    session.get(Firm, pledgor, with_for_update=True)
    decision = _check_fits(session, request, pledgor, today)
    number = {"bank_id": loan.bank_id, "registration_no": request.registration_no}
    if store.registration_recorded(session=session, **number):
        raise _registration_taken(request.registration_no)
    pledge = Pledge(
        pledge_id=f"PL-{secrets.token_hex(5).upper()}",
        loan_id=loan.loan_id,
        instrument=Instrument.parse(request.instrument).value,
        vintage=request.vintage,
        quantity_t=request.quantity_t,
        registration_no=request.registration_no,
        registration_date=request.registration_date,
        pledgor_uscc=pledgor,
        status="active",
    )
    session.add(pledge)
    session.flush()
    store.record_registration(session=session, pledge_id=pledge.pledge_id, **number)
    _registry_event(
        session, pledge, "pledge_registered", request.registration_date, pledge.quantity_t
    )
    decision = dataclasses.replace(decision, pledge_id=pledge.pledge_id)
    return pledge, loan, decision


def _registry_event(session: Session, pledge: Pledge, kind: str, day: dt.date, q: int) -> None:
    """The registry locks (``pledge_registered``) or frees (``pledge_released``) ``q`` t of the
    pledgor's holding from ``day``."""
    session.add(
        RegistryEvent(
            event_id=f"RE-{secrets.token_hex(6).upper()}",
            date=day,
            uscc=pledge.pledgor_uscc,
            instrument=pledge.instrument,
            vintage=pledge.vintage,
            kind=kind,
            quantity_t=q,
            pledge_id=pledge.pledge_id,
        )
    )
    session.flush()


@contextmanager
def _unique_violations(registration_no: str | None) -> Iterator[None]:
    """A concurrent insert of the same registration number loses on the unique index: answer
    it as the check would have."""
    try:
        yield
    except IntegrityError as exc:
        if registration_no is not None and "registration" in str(exc.orig):
            raise _registration_taken(registration_no) from exc
        raise


def _idempotent(
    sessions: sessionmaker[Any],
    actor: Actor,
    key: str | None,
    operation: str,
    payload: Mapping[str, Any],
    run: Callable[[Session], tuple[T, Mapping[str, Any]]],
    replay: Callable[[Mapping[str, Any]], T],
) -> T:
    """Run ``run`` in one write transaction, remembering its record under ``key``
    (:mod:`carbonfin.lending.idempotency`); a retry with the key gets the first result back
    (``replay``), a concurrent twin the winner's."""
    ikey = (
        None
        if key is None
        else idempotency.IdempotencyKey.of(actor.client_id, key, operation, payload)
    )
    try:
        with write_transaction(sessions) as session:
            found = None if ikey is None else idempotency.find(session, ikey)
            if found is not None:
                return replay(found)
            result, record = run(session)
            if ikey is not None:
                idempotency.remember(session, ikey, record, status_code=201)
        return result
    except IntegrityError:
        if ikey is None:
            raise
        with read_transaction(sessions) as session:
            found = idempotency.find(session, ikey)
        if found is None:
            raise
        return replay(found)


# --- workflows --------------------------------------------------------------------------------


def register_pledge(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    request: PledgeRequest,
    idempotency_key: str | None = None,
    today: dt.date | None = None,
) -> PledgeRegistration:
    """Register a pledge of allowances for one of the actor's bank's loans, in one transaction.

    Parameters
    ----------
    sessions
        The session factory (the workflow opens its own write transaction).
    actor
        The bank's client; the loan must be its bank's.
    request
        The pledge; its pledgor (default: the borrower) must be the borrower or a guarantor
        recorded on the loan (:func:`add_guarantor`).
    idempotency_key
        A retry with the same key and request gets the first registration back.
    today
        The date the registry has reached (default: the system date); a pledge must fit in the
        free holding on every day from its registration to ``today``.

    Returns
    -------
    PledgeRegistration
        The committed pledge and its eligibility, worded for the lender.

    Raises
    ------
    MissingDataError
        No such loan of the actor's bank (404).
    InvalidInputError
        Registration date outside the loan's life, pledgor without rights, pledge not eligible
        (422).
    ConflictError
        Loan not active, the pledge exceeds the quantity free to pledge, registration number
        cannot be recorded (409).
    BusyError
        The database stayed busy beyond the bounded wait (503, nothing written).
    """
    day = today or china_today()

    def run(session: Session) -> tuple[PledgeRegistration, Mapping[str, Any]]:
        with _unique_violations(request.registration_no):
            pledge, loan, decision = _register_in(session, actor, request, day)
            version = record_write(
                session,
                actor,
                action="pledge.register",
                entity="pledge",
                entity_id=pledge.pledge_id,
                detail={
                    "loan_id": loan.loan_id,
                    "pledgor": pledge.pledgor_uscc,
                    "quantity_t": pledge.quantity_t,
                    "registration_date": str(pledge.registration_date),
                    "eligibility_rules": decision.rules_version,
                },
            )
        facts = _facts(session, pledge, loan.bank_id, request.registration_date)
        result = PledgeRegistration(facts, loan.currency, decision, version)
        return result, result.to_record()

    payload = dataclasses.asdict(request)
    return _idempotent(
        sessions,
        actor,
        idempotency_key,
        "POST /v1/pledges",
        payload,
        run,
        PledgeRegistration.from_record,
    )


def _release_in(
    session: Session,
    actor: Actor,
    pledge_id: str,
    *,
    quantity_t: int | None,
    release_date: dt.date,
    reason: str,
    today: dt.date,
) -> tuple[PledgeRelease, Pledge, Loan]:
    if reason not in RELEASE_REASONS:
        raise InvalidInputError(f"`reason` must be one of {list(RELEASE_REASONS)}; got {reason!r}")
    pledge, loan = _own_pledge(session, actor, pledge_id)
    if pledge.registration_date is None:
        raise ConflictError(f"pledge {pledge_id} is not registered; there is nothing to release")
    if not pledge.registration_date <= release_date <= today:
        raise InvalidInputError(
            f"release_date {release_date} must be between the registration "
            f"({pledge.registration_date}) and today ({today})"
        )
    released = int(
        session.scalar(
            select(func.coalesce(func.sum(PledgeRelease.quantity_t), 0)).where(
                PledgeRelease.pledge_id == pledge_id
            )
        )
        or 0
    )
    remaining = int(pledge.quantity_t) - released
    if remaining <= 0:
        raise ConflictError(f"pledge {pledge_id} is already fully released")
    quantity = remaining if quantity_t is None else int(quantity_t)
    if quantity <= 0:
        raise InvalidInputError(f"`quantity_t` must be > 0; got {quantity}")
    if quantity > remaining:
        raise ConflictError(
            f"pledge {pledge_id} has {remaining:,} t not yet released; cannot release "
            f"{quantity:,} t"
        )
    record = PledgeRelease(
        pledge_id=pledge_id,
        release_date=release_date,
        quantity_t=quantity,
        reason=reason,
        recorded_at=dt.datetime.now(dt.UTC),
        client=actor.client_id,
    )
    session.add(record)
    session.flush()
    _registry_event(session, pledge, "pledge_released", release_date, quantity)
    if quantity == remaining:
        last = session.scalar(
            select(func.max(PledgeRelease.release_date)).where(PledgeRelease.pledge_id == pledge_id)
        )
        pledge.status, pledge.release_date = "released", last
    else:
        pledge.status = "partially_released"
    session.flush()
    return record, pledge, loan


def _release_result(
    session: Session, record: PledgeRelease, pledge: Pledge, loan: Loan, version: int
) -> Release:
    return Release(
        int(record.release_id),
        record.pledge_id,
        record.release_date,
        int(record.quantity_t),
        record.reason,
        record.substitute_pledge_id,
        _facts(session, pledge, loan.bank_id, record.release_date),
        version,
    )


def release_pledge(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    pledge_id: str,
    release_date: dt.date,
    reason: ReleaseReason,
    quantity_t: int | None = None,
    today: dt.date | None = None,
) -> Release:
    """Release a pledge of the actor's bank, fully (``quantity_t`` ``None``: what is left in
    force) or in part, from ``release_date`` on, in one transaction.

    Parameters
    ----------
    release_date
        The date the registry released it: on or after the registration, not after ``today``.
    reason
        ``repayment``, ``substitution`` or ``other``.
    quantity_t
        Tonnes released (> 0, at most what is not yet released); ``None``: all of it.

    Returns
    -------
    Release
        The release record and the pledge's state on the release date.

    Raises
    ------
    MissingDataError
        No such pledge of the actor's bank (404).
    InvalidInputError
        A date or reason out of range (422).
    ConflictError
        More than is left to release, or the pledge is not registered (409).
    """
    day = today or china_today()
    with write_transaction(sessions) as session:
        record, pledge, loan = _release_in(
            session,
            actor,
            pledge_id,
            quantity_t=quantity_t,
            release_date=release_date,
            reason=reason,
            today=day,
        )
        version = record_write(
            session,
            actor,
            action="pledge.release",
            entity="pledge",
            entity_id=pledge_id,
            detail={
                "release_id": record.release_id,
                "release_date": str(release_date),
                "quantity_t": int(record.quantity_t),
                "reason": reason,
            },
        )
        return _release_result(session, record, pledge, loan, version)


def substitute_pledge(
    *,
    sessions: sessionmaker[Any],
    actor: Actor,
    pledge_id: str,
    replacement: PledgeRequest,
    release_quantity_t: int | None = None,
    idempotency_key: str | None = None,
    today: dt.date | None = None,
) -> tuple[Release, PledgeRegistration]:
    """Release ``pledge_id`` (fully, or ``release_quantity_t``) and register ``replacement`` on
    the same loan (its ``loan_id`` empty or that loan's), on the replacement's registration
    date, in one transaction: both or neither. The replacement is checked against the holding
    as freed by the release.

    Raises
    ------
    InvalidInputError
        ``replacement`` names another loan than the released pledge's, or any refusal of
        :func:`release_pledge` or :func:`register_pledge`.
    """
    day = today or china_today()

    def run(session: Session) -> tuple[tuple[Release, PledgeRegistration], Mapping[str, Any]]:
        with _unique_violations(replacement.registration_no):
            record, old, loan = _release_in(
                session,
                actor,
                pledge_id,
                quantity_t=release_quantity_t,
                release_date=replacement.registration_date,
                reason="substitution",
                today=day,
            )
            if replacement.loan_id not in ("", old.loan_id):
                raise InvalidInputError(
                    f"the replacement must secure loan {old.loan_id} (the released pledge's); "
                    f"got {replacement.loan_id}"
                )
            same_loan = dataclasses.replace(replacement, loan_id=old.loan_id)
            new, loan, decision = _register_in(session, actor, same_loan, day)
            record.substitute_pledge_id = new.pledge_id
            session.flush()
            version = record_write(
                session,
                actor,
                action="pledge.substitute",
                entity="pledge",
                entity_id=pledge_id,
                detail={
                    "released_t": int(record.quantity_t),
                    "release_date": str(record.release_date),
                    "replacement": new.pledge_id,
                    "quantity_t": new.quantity_t,
                },
            )
        release = _release_result(session, record, old, loan, version)
        registration = PledgeRegistration(
            _facts(session, new, loan.bank_id, replacement.registration_date),
            loan.currency,
            decision,
            version,
        )
        record_ = {"release": release.to_record(), "registration": registration.to_record()}
        return (release, registration), record_

    def replay(record_: Mapping[str, Any]) -> tuple[Release, PledgeRegistration]:
        return (
            Release.from_record(record_["release"]),
            PledgeRegistration.from_record(record_["registration"]),
        )

    payload = {"pledge_id": pledge_id, "release_quantity_t": release_quantity_t}
    payload |= dataclasses.asdict(replacement)
    return _idempotent(
        sessions,
        actor,
        idempotency_key,
        f"POST /v1/pledges/{pledge_id}/substitutions",
        payload,
        run,
        replay,
    )


def pledge_on(
    *, sessions: sessionmaker[Any], actor: Actor, pledge_id: str, as_of: dt.date
) -> PledgeFacts:
    """A pledge of the actor's bank (the regulator: any) with its state at the end of
    ``as_of``: quantity in force, released quantity and release dates up to then."""
    with read_transaction(sessions) as session:
        pledge = session.get(Pledge, check_pledge_id(pledge_id))
        loan = None if pledge is None else session.get(Loan, pledge.loan_id)
        own = actor.role == "bank" and loan is not None and loan.bank_id == actor.institution_id
        if pledge is None or loan is None or not (own or actor.role == "regulator"):
            raise MissingDataError(f"no pledge {pledge_id}")
        return _facts(session, pledge, loan.bank_id, as_of)
