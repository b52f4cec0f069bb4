"""Collateral repositories: allowance holdings from the registry, pledges in force on a date
(their history of registration and releases), the guarantors recorded on loans, and the inputs
of the eligibility rules.

Holdings are a query over ``registry_events`` (no stored balance that could drift from the
events): as of a date, a firm's balance of an instrument and vintage is allocations + purchases -
sales - surrenders up to that date, and the quantity pledged is registrations - releases.

A pledge's history is its registration (date, quantity) and its release records
(``pledge_releases``, append-only, full or partial): its *quantity in force* on a date ``D`` is
the registered quantity minus the releases dated on or before ``D`` (nothing before its
registration date); it is in force while that is above zero. Its ``status`` column is the state
after every recorded release (``active``, ``partially_released``, ``released``); the state on a
date is derived from the records (:func:`pledge_state`).

Book valuations and margin calls as stored live in :mod:`carbonfin.store.valuations` (their
names are re-exported here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from carbonfin.collateral.eligibility import carryover_entries, evaluate_pledges
from carbonfin.data.schema import TABLES
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.store.models import (
    Compliance,
    Loan,
    LoanGuarantor,
    Pledge,
    PledgeRelease,
    RegistrationNumber,
    RegistryEvent,
)
from carbonfin.store.repositories import _frame, _require_institution, _select
from carbonfin.store.valuations import (
    LTV_MAX,
    MARGIN_CALL_COLUMNS,
    VALUATION_COLUMNS,
    BookWriteReport,
    load_book_valuation,
    load_margin_calls,
    save_book_valuation,
    save_margin_calls,
)

__all__ = [
    "HOLDING_COLUMNS",
    "LTV_MAX",
    "MARGIN_CALL_COLUMNS",
    "VALUATION_COLUMNS",
    "BookWriteReport",
    "EligibilityInputs",
    "PledgeState",
    "active_pledges",
    "eligibility_inputs",
    "free_quantity",
    "guarantor",
    "holdings",
    "load_book_valuation",
    "load_margin_calls",
    "min_free_quantity",
    "pledge_releases",
    "pledge_state",
    "pledge_states",
    "pledges_in_force",
    "pledgor_eligibility_inputs",
    "record_registration",
    "registration_recorded",
    "registry_events",
    "save_book_valuation",
    "save_margin_calls",
]

_FIRMS_PER_QUERY = 2_000
_CREDIT = ("allocation", "purchase")
_DEBIT = ("sale", "surrender")

#: Columns of :func:`holdings`.
HOLDING_COLUMNS = ("uscc", "instrument", "vintage", "balance_t", "pledged_t", "free_t")

# --- registry and holdings --------------------------------------------------------------------


def registry_events(
    *,
    session: Session,
    uscc: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Registry events (the sample-file columns), by date and event id; optionally one firm's
    and between ``start`` and ``end`` inclusive."""
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"start {start} is after end {end}")
    table, _model, stmt = _select("registry_events")
    stmt = stmt.order_by(None).order_by(RegistryEvent.date, RegistryEvent.event_id)
    if uscc is not None:
        stmt = stmt.where(RegistryEvent.uscc == uscc)
    if start is not None:
        stmt = stmt.where(RegistryEvent.date >= start)
    if end is not None:
        stmt = stmt.where(RegistryEvent.date <= end)
    return _frame(session, table, stmt)


def holdings(
    *,
    session: Session,
    as_of: dt.date,
    uscc: str | Iterable[str] | None = None,
    instrument: Instrument | None = None,
) -> pd.DataFrame:
    """Allowance holdings at the end of ``as_of``, per firm, instrument and vintage.

    Columns :data:`HOLDING_COLUMNS`: ``balance_t`` (held), ``pledged_t`` (locked by pledges
    registered and not released) and ``free_t = balance_t - pledged_t``, all whole tonnes
    (``int64``); ``vintage`` is ``Int64`` (empty for CCER). Holdings with nothing held and
    nothing pledged are left out. ``uscc`` restricts to one firm or a collection of firms.
    """
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    q = RegistryEvent.quantity_t
    balance = func.sum(
        case(
            (RegistryEvent.kind.in_(_CREDIT), q),
            (RegistryEvent.kind.in_(_DEBIT), -q),
            else_=0,
        )
    )
    pledged = func.sum(
        case(
            (RegistryEvent.kind == "pledge_registered", q),
            (RegistryEvent.kind == "pledge_released", -q),
            else_=0,
        )
    )
    key = (RegistryEvent.uscc, RegistryEvent.instrument, RegistryEvent.vintage)
    stmt = (
        select(*key, balance, pledged)
        .where(RegistryEvent.date <= as_of)
        .group_by(*key)
        .order_by(*key)
    )
    if isinstance(uscc, str):
        stmt = stmt.where(RegistryEvent.uscc == uscc)
    elif uscc is not None:
        stmt = stmt.where(RegistryEvent.uscc.in_(sorted(set(uscc))))
    if instrument is not None:
        stmt = stmt.where(RegistryEvent.instrument == Instrument.parse(instrument).value)
    rows = [
        (u, i, v, int(b or 0), int(p or 0))
        for u, i, v, b, p in session.execute(stmt)
        if int(b or 0) != 0 or int(p or 0) != 0
    ]
    frame = pd.DataFrame(rows, columns=list(HOLDING_COLUMNS[:5]))
    frame["vintage"] = pd.array(
        [None if pd.isna(v) else int(v) for v in frame["vintage"]], dtype="Int64"
    )
    for col in ("balance_t", "pledged_t"):
        frame[col] = frame[col].astype("int64")
    frame["free_t"] = frame["balance_t"] - frame["pledged_t"]
    return frame[list(HOLDING_COLUMNS)]


def free_quantity(
    *,
    session: Session,
    uscc: str,
    instrument: Instrument,
    vintage: int | None,
    as_of: dt.date,
) -> int:
    """Tonnes of one holding that ``uscc`` holds and has not pledged at the end of ``as_of``
    (0 for a holding it does not have). Negative only if the registry is inconsistent."""
    frame = holdings(session=session, as_of=as_of, uscc=uscc, instrument=instrument)
    if vintage is None:
        match = frame["vintage"].isna()
    else:
        match = frame["vintage"].fillna(-1) == int(vintage)
    return int(frame.loc[match.to_numpy(dtype=bool), "free_t"].sum())


def min_free_quantity(
    *,
    session: Session,
    uscc: str,
    instrument: Instrument,
    vintage: int | None,
    start: dt.date,
    end: dt.date,
) -> int:
    """The least free quantity (held and not pledged, :func:`free_quantity`) of one holding at
    the end of any day from ``start`` to ``end`` inclusive: what a pledge registered on
    ``start`` and still in force on ``end`` may lock without over-pledging on any day between
    (a pledge registered and released in the meantime counts while it was in force)."""
    if start > end:
        raise InvalidInputError(f"start {start} is after end {end}")
    inst = Instrument.parse(instrument).value
    q = RegistryEvent.quantity_t
    delta = func.sum(
        case(
            (RegistryEvent.kind.in_((*_CREDIT, "pledge_released")), q),
            else_=-q,
        )
    )
    stmt = (
        select(RegistryEvent.date, delta)
        .where(
            RegistryEvent.uscc == uscc,
            RegistryEvent.instrument == inst,
            RegistryEvent.vintage.is_(None)
            if vintage is None
            else RegistryEvent.vintage == int(vintage),
            RegistryEvent.date <= end,
        )
        .group_by(RegistryEvent.date)
        .order_by(RegistryEvent.date)
    )
    free, least = 0, None
    for day, change in session.execute(stmt):
        if day > start and least is None:
            least = free  # the free quantity at the end of ``start``
        free += int(change or 0)
        if day > start:
            least = min(least, free)  # type: ignore[type-var]
    return free if least is None else int(least)


@dataclass(frozen=True, slots=True)
class PledgeState:
    """A pledge on a date: registered quantity, what its releases dated on or before the date
    took, what is in force, and the state that follows (``pending`` before registration,
    ``active``, ``partially_released``, ``released``)."""

    pledge_id: str
    as_of: dt.date
    registered_quantity_t: int
    released_t: int
    quantity_in_force_t: int
    status: str
    release_dates: tuple[dt.date, ...]


def pledge_releases(*, session: Session, pledge_id: str) -> list[PledgeRelease]:
    """The release records of one pledge, by release date and record id."""
    return list(
        session.scalars(
            select(PledgeRelease)
            .where(PledgeRelease.pledge_id == pledge_id)
            .order_by(PledgeRelease.release_date, PledgeRelease.release_id)
        )
    )


def pledge_state(*, session: Session, pledge: Pledge, as_of: dt.date) -> PledgeState:
    """The state of ``pledge`` at the end of ``as_of`` from its release records."""
    return pledge_states(session=session, pledges=[pledge], as_of=as_of)[pledge.pledge_id]


def pledge_states(
    *, session: Session, pledges: Iterable[Pledge], as_of: dt.date
) -> dict[str, PledgeState]:
    """:func:`pledge_state` of many pledges with one query of their release records."""
    chosen = list(pledges)
    releases: dict[str, list[tuple[dt.date, int]]] = {p.pledge_id: [] for p in chosen}
    if chosen:
        rows = session.execute(
            select(PledgeRelease.pledge_id, PledgeRelease.release_date, PledgeRelease.quantity_t)
            .where(PledgeRelease.pledge_id.in_(sorted(releases)))
            .order_by(PledgeRelease.release_date, PledgeRelease.release_id)
        )
        for pid, day, quantity in rows:
            releases[pid].append((day, int(quantity)))
    return {p.pledge_id: _state(p, releases[p.pledge_id], as_of) for p in chosen}


def _state(pledge: Pledge, dates: list[tuple[dt.date, int]], as_of: dt.date) -> PledgeState:
    released = sum(q for d, q in dates if d <= as_of)
    registered = pledge.registration_date is not None and pledge.registration_date <= as_of
    in_force = int(pledge.quantity_t) - released if registered else 0
    if not registered:
        status = "pending"
    elif in_force <= 0:
        status = "released"
    elif released > 0:
        status = "partially_released"
    else:
        status = "active"
    return PledgeState(
        pledge.pledge_id,
        as_of,
        int(pledge.quantity_t),
        released,
        max(in_force, 0),
        status,
        tuple(d for d, _q in dates if d <= as_of),
    )


def guarantor(*, session: Session, loan_id: str, uscc: str) -> LoanGuarantor | None:
    """The guarantor record of ``uscc`` on ``loan_id``, if one is recorded."""
    return session.get(LoanGuarantor, (loan_id, uscc))


_PLEDGE_EXTRA = ("registered_quantity_t", "released_t", "bank_id", "borrower_uscc")


def _released_by(as_of: dt.date) -> Any:
    """Per pledge, the tonnes released on or before ``as_of`` (a subquery)."""
    return (
        select(
            PledgeRelease.pledge_id.label("pledge_id"),
            func.sum(PledgeRelease.quantity_t).label("released_t"),
        )
        .where(PledgeRelease.release_date <= as_of)
        .group_by(PledgeRelease.pledge_id)
        .subquery()
    )


def _pledges_at(as_of: dt.date, *, pending: bool) -> Any:
    """Pledges with their quantity in force at ``as_of`` as ``quantity_t`` (the pledge file's
    columns, then :data:`_PLEDGE_EXTRA`): those registered by then with a quantity still in
    force, and, with ``pending``, those not registered yet (no registration date)."""
    released = _released_by(as_of)
    released_t = func.coalesce(released.c.released_t, 0)
    in_force = Pledge.quantity_t - released_t
    columns = [
        in_force.label("quantity_t") if c == "quantity_t" else getattr(Pledge, c)
        for c in TABLES["pledges"].column_names
    ]
    registered = (Pledge.registration_date.is_not(None)) & (Pledge.registration_date <= as_of)
    where = registered & (in_force > 0)
    if pending:
        where = where | Pledge.registration_date.is_(None)
    return (
        select(
            *columns,
            Pledge.quantity_t.label("registered_quantity_t"),
            released_t.label("released_t"),
            Loan.bank_id,
            Loan.borrower_uscc,
        )
        .join(Loan, Loan.loan_id == Pledge.loan_id)
        .outerjoin(released, released.c.pledge_id == Pledge.pledge_id)
        .where(where)
    )


def _pledge_frame(session: Session, stmt: Any) -> pd.DataFrame:
    frame = _frame(session, TABLES["pledges"], stmt, extra=_PLEDGE_EXTRA)
    for col in ("registered_quantity_t", "released_t"):
        frame[col] = pd.Series([int(v) for v in frame[col]], dtype="int64", index=frame.index)
    return frame


def active_pledges(
    *,
    session: Session,
    as_of: dt.date,
    bank_id: str | None = None,
    pledgor_uscc: str | Iterable[str] | None = None,
    by_loan: bool = False,
) -> pd.DataFrame:
    """Pledges in force at the end of ``as_of``: registered on or before it with a quantity
    still in force (registered minus the releases dated on or before ``as_of``).

    Columns: the pledge file's, with ``quantity_t`` the quantity *in force* on ``as_of``, then
    ``registered_quantity_t``, ``released_t`` (released by ``as_of``), and ``bank_id`` and
    ``borrower_uscc`` of its loan; ordered by registration date and pledge id (the order of
    priority in which pledges lock a holding), or with ``by_loan`` by loan id and pledge id (the
    order in which a book valuation joins pledges to loans fastest)."""
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    first = Pledge.loan_id if by_loan else Pledge.registration_date
    stmt = _pledges_at(as_of, pending=False).order_by(first, Pledge.pledge_id)
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.where(Loan.bank_id == bank_id)
    if isinstance(pledgor_uscc, str):
        stmt = stmt.where(Pledge.pledgor_uscc == pledgor_uscc)
    elif pledgor_uscc is not None:
        stmt = stmt.where(Pledge.pledgor_uscc.in_(sorted(set(pledgor_uscc))))
    return _pledge_frame(session, stmt)


@dataclass(frozen=True, slots=True)
class EligibilityInputs:
    """What :func:`carbonfin.collateral.eligibility.evaluate_pledges` needs, read at one date.

    ``pledges`` holds the pledges in scope (``in_scope`` true: the bank's, or all, that are not
    released by the date, registered or pending) and the other pledges in force that lock the
    same pledgors' holdings (``in_scope`` false; other banks' included, so over-pledging is
    seen). ``holdings`` are the pledgors' registry balances, ``compliance`` their compliance
    records, ``carryover`` the SHEA surplus of those that moved into the national market
    (measured after their last SHEA surrender; absent while that surrender is pending).
    The frames are fresh copies owned by this object.
    """

    as_of: dt.date
    pledges: pd.DataFrame
    holdings: pd.DataFrame
    compliance: pd.DataFrame
    carryover: pd.DataFrame


def eligibility_inputs(
    *, session: Session, as_of: dt.date, bank_id: str | None = None
) -> EligibilityInputs:
    """Read the inputs of the eligibility rules for a bank's pledges (or all) at ``as_of``."""
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    stmt = _pledges_at(as_of, pending=True).order_by(Pledge.pledge_id)
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.where(Loan.bank_id == bank_id)
    scope = _pledge_frame(session, stmt)
    pledgors = sorted(set(scope["pledgor_uscc"]))
    others = active_pledges(session=session, as_of=as_of, pledgor_uscc=pledgors)
    others = others[~others["pledge_id"].isin(scope["pledge_id"])]
    pledges = pd.concat(
        [scope.assign(in_scope=True), others.assign(in_scope=False)], ignore_index=True
    )
    held = holdings(session=session, as_of=as_of, uscc=pledgors)
    comp_table, _model, comp_stmt = _select("compliance")
    compliance = _frame(session, comp_table, comp_stmt.where(Compliance.uscc.in_(pledgors)))
    return EligibilityInputs(
        as_of, pledges, held, compliance, _carryover(session, compliance, as_of)
    )


def pledges_in_force(
    *, session: Session, as_of: dt.date, bank_id: str | None = None
) -> tuple[pd.DataFrame, str]:
    """The pledges in force at ``as_of`` (:func:`active_pledges`, ordered by loan id and pledge
    id) with ``eligible_quantity_t`` from the eligibility rules, and the rules' version: what a
    book valuation values."""
    pledges = active_pledges(session=session, as_of=as_of, bank_id=bank_id, by_loan=True)
    inputs = eligibility_inputs(session=session, as_of=as_of, bank_id=bank_id)
    table = evaluate_pledges(
        inputs.pledges,
        holdings=inputs.holdings,
        as_of=as_of,
        compliance=inputs.compliance,
        carryover=inputs.carryover,
    )
    eligible = dict(zip(table.pledge_id, table.eligible_quantity_t, strict=True))
    out = pledges.assign(eligible_quantity_t=[eligible.get(p, 0) for p in pledges["pledge_id"]])
    return out, table.rules_version


def pledgor_eligibility_inputs(
    *, session: Session, as_of: dt.date, pledgor_uscc: str
) -> EligibilityInputs:
    """The eligibility inputs for a new pledge of ``pledgor_uscc``'s holding: every pledge in
    force on that pledgor's holdings (all banks', so over-pledging is seen), its balances,
    compliance records and carry-over surplus. The new pledge is evaluated among them."""
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    pledges = active_pledges(session=session, as_of=as_of, pledgor_uscc=[pledgor_uscc])
    held = holdings(session=session, as_of=as_of, uscc=[pledgor_uscc])
    comp_table, _model, comp_stmt = _select("compliance")
    compliance = _frame(session, comp_table, comp_stmt.where(Compliance.uscc == pledgor_uscc))
    return EligibilityInputs(
        as_of,
        pledges.assign(in_scope=False),
        held,
        compliance,
        _carryover(session, compliance, as_of),
    )


def _carryover(session: Session, compliance: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """SHEA surplus of the firms in ``compliance`` that moved into the national market.

    Each firm's base is its SHEA balance (every vintage) at the end of its own date — the later
    of its last SHEA surrender and its entry into the national market —, read for all firms at
    once (:func:`_shea_balances_at`: one query, where one per firm cost about a second per
    valuation date). A firm whose last SHEA surrender is still pending on ``as_of`` has no base
    yet (its surplus is not known) and is left out."""
    entries = carryover_entries(compliance)
    shea = compliance[compliance["instrument"] == Instrument.SHEA.value]
    surrendered = {
        (str(u), int(y)): d
        for u, y, d in zip(shea["uscc"], shea["year"], shea["surrender_date"], strict=True)
    }
    cutoffs: dict[str, tuple[dt.date, dt.date]] = {}
    for uscc, entry, last_year in zip(
        entries["uscc"], entries["entry_date"], entries["last_shea_year"], strict=True
    ):
        last = surrendered.get((str(uscc), int(last_year)))
        if last is None or pd.isna(last) or last > as_of:
            continue  # the last SHEA surrender is pending: the surplus is not known yet
        cutoffs[str(uscc)] = (entry, max(last, entry))
    balances = _shea_balances_at(session, {u: at for u, (_, at) in cutoffs.items()})
    return pd.DataFrame(
        [(u, entry, balances.get(u, 0)) for u, (entry, _) in cutoffs.items()],
        columns=["uscc", "entry_date", "base_t"],
    )


def _shea_balances_at(session: Session, dates: dict[str, dt.date]) -> dict[str, int]:
    """Each firm's SHEA balance (all vintages, whole tonnes) at the end of its own date in
    ``dates`` — what :func:`holdings` gives summed over SHEA vintages —, one query per 2,000
    firms (``CASE`` on the firm picks its date)."""
    q = RegistryEvent.quantity_t
    balance = func.sum(
        case(
            (RegistryEvent.kind.in_(_CREDIT), q),
            (RegistryEvent.kind.in_(_DEBIT), -q),
            else_=0,
        )
    )
    firms = sorted(dates)
    out: dict[str, int] = {}
    for start in range(0, len(firms), _FIRMS_PER_QUERY):
        chunk = firms[start : start + _FIRMS_PER_QUERY]
        cutoff = case({u: dates[u] for u in chunk}, value=RegistryEvent.uscc)
        stmt = (
            select(RegistryEvent.uscc, balance)
            .where(
                RegistryEvent.uscc.in_(chunk),
                RegistryEvent.instrument == Instrument.SHEA.value,
                RegistryEvent.date <= cutoff,
            )
            .group_by(RegistryEvent.uscc)
        )
        out.update({str(u): int(b or 0) for u, b in session.execute(stmt)})
    return out


def registration_recorded(*, session: Session, bank_id: str, registration_no: str) -> bool:
    """Whether ``bank_id`` recorded ``registration_no`` before (numbers are unique per bank:
    whether another bank recorded it is never an input to an answer given to this bank)."""
    return session.get(RegistrationNumber, (bank_id, registration_no)) is not None


def record_registration(
    *, session: Session, bank_id: str, registration_no: str, pledge_id: str
) -> None:
    """Record a pledge's registration number under its bank (a second one for the bank fails
    on the table's primary key)."""
    session.add(
        RegistrationNumber(bank_id=bank_id, registration_no=registration_no, pledge_id=pledge_id)
    )
    session.flush()
