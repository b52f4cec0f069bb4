"""Exposure totals of a stored valuation run: aggregated by SQL once, when the run is stored;
read back by a tiny query.

:func:`aggregate_run` runs one ``SELECT`` and stores its rows in the caller's transaction (the one
that stores the run, :func:`carbonfin.store.exposure.save_run`): window functions over each loan's
pledges apply the allocation rule of :mod:`carbonfin.collateral.aggregate` (docs/api.md, "the
allocation rule"), then ``GROUP BY`` bank and group key for each grouping (bank, instrument,
vintage, industry, the bank's whole book) and the loans by state, into ``exposure_totals``
(migration 0011). :func:`exposure_groups` and :func:`state_counts` then read those rows: one
bank's, or the whole book's as sums over the banks (a loan and its pledges belong to one bank, so
per-bank figures — distinct loans included — add up to the whole book's). The request path never
touches the per-pledge rows.

Per pledge ``p`` of loan ``L`` (``valued`` = market value, lendable value and no reason)::

    V_p = market value if valued else 0
    by value    if every pledge of L is valued and Σ_L V > 0:  alloc_p = O_L · V_p / Σ_L V
    by tonnes   else if Σ_L Q > 0:                              alloc_p = O_L · Q_p / Σ_L Q
    equal       else:                                           alloc_p = O_L / n_L
    alloc_p = NULL when O_L (the loan's outstanding in CNY) is unknown

The three cases that matter: a pledge **not valued** sets its whole loan aside from the
value-based allocation (the loan is allocated by tonnes; its not-valued pledges count as
``pledges_not_valued`` and add nothing to collateral value); a loan in a currency **without a
fixing** has no CNY amount (``alloc`` NULL: counted in ``loans_outstanding_unknown``, never
summed as zero); a pledge with **nothing eligible** is valued and worth 0 (it takes no share by
value; by tonnes when the loan's whole value is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError
from carbonfin.store.valuation_models import ExposureTotal, LoanValuation, PledgeValuation

__all__ = [
    "ADDITIVE",
    "COUNTS",
    "GROUPINGS",
    "MICRO",
    "aggregate_run",
    "aggregate_statement",
    "exposure_groups",
    "read_statement",
    "state_counts",
]

GROUPINGS = ("bank", "instrument", "vintage", "industry")
ADDITIVE = (
    "pledges",
    "pledges_not_valued",
    "collateral_value_cny",
    "lendable_value_cny",
    "loan_outstanding_cny",
    "outstanding_by_quantity_cny",
)
COUNTS = ("loans", "loans_outstanding_unknown")
#: Group sums are exact integers in micro-CNY (1e-6 CNY): each per-pledge amount is rounded to
#: micro-CNY (exact in float64 up to 9e9 CNY per pledge) and summed as ``bigint`` (PostgreSQL
#: sums it with a 128-bit accumulator), since a float sum of a million amounts drifts by more
#: than a cent at a book of 1e12 CNY.
MICRO = 1_000_000
#: ``exposure_totals`` column of each money figure.
_MONEY = {
    "collateral_value_cny": "collateral_value_micro",
    "lendable_value_cny": "lendable_value_micro",
    "loan_outstanding_cny": "outstanding_micro",
    "outstanding_by_quantity_cny": "outstanding_by_quantity_micro",
}
_STATES = ("ok", "warning", "margin_call", "liquidation", "not_valued")

Executor = Session | Connection


def _allocated(run_id: int) -> Any:
    """Per pledge of the run: its group keys, whether it is valued, its value and lendable value
    (0 when not valued), its allocated outstanding (NULL when its loan's CNY amount is unknown),
    the part allocated by tonnes, and flags marking the first pledge of its loan overall and
    within each group (so that a group counts its distinct loans by a sum) — a CTE. The shares
    are double precision; the sums (:func:`_grouped`) exact integers."""
    pv, lv = PledgeValuation, LoanValuation
    valued = and_(
        pv.market_value_cny.is_not(None),
        pv.lendable_value_cny.is_not(None),
        pv.not_valued_reason.is_(None),
    )
    value = case((valued, cast(pv.market_value_cny, Float)), else_=0.0)
    not_valued_n = func.sum(case((valued, 0), else_=1)).over(partition_by=pv.loan_id)
    value_total = func.sum(value).over(partition_by=pv.loan_id)
    qty_total = func.sum(cast(pv.quantity_t, Float)).over(partition_by=pv.loan_id)
    n = func.count().over(partition_by=pv.loan_id)
    owed = cast(lv.outstanding_cny, Float)
    by_value = and_(not_valued_n == 0, value_total > 0)
    alloc = case(
        (lv.outstanding_cny.is_(None), None),
        (by_value, owed * value / value_total),
        (qty_total > 0, owed * cast(pv.quantity_t, Float) / qty_total),
        else_=owed / n,
    )
    vintage = case((pv.vintage.is_(None), literal("none")), else_=cast(pv.vintage, String))
    industry = func.coalesce(pv.industry, literal("unknown"))

    def first(*within: Any) -> Any:
        rank = func.row_number().over(partition_by=(pv.loan_id, *within))
        return case((rank == 1, 1), else_=0)

    return (
        select(
            pv.bank_id.label("bank"),
            pv.instrument.label("instrument"),
            vintage.label("vintage"),
            industry.label("industry"),
            case((valued, 0), else_=1).label("not_valued"),
            value.label("value"),
            case((valued, cast(pv.lendable_value_cny, Float)), else_=0.0).label("lendable"),
            alloc.label("alloc"),
            case((by_value, 0.0), else_=func.coalesce(alloc, 0.0)).label("by_qty"),
            case((lv.outstanding_cny.is_(None), 1), else_=0).label("unknown"),
            first().label("first_"),
            first(pv.instrument).label("first_instrument"),
            first(vintage).label("first_vintage"),
            first(industry).label("first_industry"),
        )
        .join(lv, and_(lv.run_id == pv.run_id, lv.loan_id == pv.loan_id))
        .where(pv.run_id == run_id)
        .cte("allocated")
    )


def _micro(x: Any) -> Any:
    return cast(func.round(cast(x, Float) * MICRO), BigInteger)


def _grouped(cte: Any, run_id: int, grouping: str) -> Any:
    """One grouping's rows per bank (``""``: each bank's whole book). A loan belongs to one
    bank, so the bank grouping and the whole book count loans by the first pledge of each
    loan; the others by the first pledge of each loan within the group."""
    key = literal("") if grouping in ("", "bank") else getattr(cte.c, grouping)
    first = cte.c.first_ if grouping in ("", "bank") else getattr(cte.c, f"first_{grouping}")
    return select(
        literal(run_id).label("run_id"),
        cte.c.bank.label("bank_id"),
        literal(grouping).label("grouping"),
        (cte.c.bank if grouping == "bank" else key).label("group_key"),
        func.count().label("pledges"),
        func.sum(cte.c.not_valued).label("pledges_not_valued"),
        func.sum(_micro(cte.c.value)).label("collateral_value_micro"),
        func.sum(_micro(cte.c.lendable)).label("lendable_value_micro"),
        func.coalesce(func.sum(_micro(cte.c.alloc)), 0).label("outstanding_micro"),
        func.sum(_micro(cte.c.by_qty)).label("outstanding_by_quantity_micro"),
        func.sum(first).label("loans"),
        func.sum(first * cte.c.unknown).label("loans_outstanding_unknown"),
    ).group_by(cte.c.bank, *(() if grouping in ("", "bank") else (key,)))


def _states(run_id: int) -> Any:
    lv = LoanValuation
    zero = literal(0)
    return (
        select(
            literal(run_id).label("run_id"),
            lv.bank_id,
            literal("state").label("grouping"),
            lv.state.label("group_key"),
            *(zero.label(c) for c in ("pledges", "pledges_not_valued", *_MONEY.values())),
            func.count().label("loans"),
            func.sum(case((lv.outstanding_cny.is_(None), 1), else_=0)).label(
                "loans_outstanding_unknown"
            ),
        )
        .where(lv.run_id == run_id)
        .group_by(lv.bank_id, lv.state)
    )


def _tune(executor: Executor) -> None:
    """PostgreSQL: one large analytic statement; compiling it (JIT) costs more than running
    it, and its window sorts and aggregates should stay in memory."""
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    if bind.dialect.name == "postgresql":
        executor.execute(text("SET LOCAL jit = off"))
        executor.execute(text("SET LOCAL work_mem = '256MB'"))


def aggregate_statement(run_id: int) -> Any:
    """The ``SELECT`` of a run's exposure totals, one row per bank, grouping and key (columns
    of ``exposure_totals``): what :func:`aggregate_run` stores (and the benchmark explains)."""
    cte = _allocated(run_id)
    parts = [_grouped(cte, run_id, g) for g in (*GROUPINGS, "")]
    parts.append(_states(run_id))
    return union_all(*parts)


def aggregate_run(*, session: Executor, run_id: int) -> int:
    """Write the exposure totals of a stored run (replacing any) in the caller's transaction;
    return the rows written. Called by :func:`carbonfin.store.exposure.save_run` with the run's
    rows, and by migration 0011 for the runs stored before it.

    The totals are selected (:func:`aggregate_statement`, the statement the benchmark explains),
    then their few hundred rows inserted."""
    _tune(session)
    session.execute(delete(ExposureTotal).where(ExposureTotal.run_id == run_id))
    cols = [c.name for c in ExposureTotal.__table__.columns]
    rows = [dict(zip(cols, r, strict=True)) for r in session.execute(aggregate_statement(run_id))]
    if rows:
        session.execute(insert(ExposureTotal), rows)
    return len(rows)


def read_statement(run_id: int, groupings: Sequence[str], bank_id: str | None) -> Any:
    """The ``SELECT`` of a run's totals of ``groupings`` (one bank's, or summed over the banks):
    what :func:`exposure_groups` runs (and the benchmark explains)."""
    t = ExposureTotal
    sums = [func.sum(getattr(t, c)).label(c) for c in ("pledges", "pledges_not_valued")]
    sums += [func.sum(getattr(t, col)).label(name) for name, col in _MONEY.items()]
    sums += [func.sum(getattr(t, c)).label(c) for c in COUNTS]
    stmt = (
        select(t.grouping, t.group_key, *sums)
        .where(t.run_id == run_id, t.grouping.in_(groupings))
        .group_by(t.grouping, t.group_key)
    )
    if bank_id is not None:
        stmt = stmt.where(t.bank_id == bank_id)
    return stmt


def _read(session: Session, run_id: int, groupings: Sequence[str], bank_id: str | None) -> Any:
    return session.execute(read_statement(run_id, groupings, bank_id)).mappings()


def exposure_groups(
    *,
    session: Session,
    run_id: int,
    groupings: Sequence[str] = GROUPINGS,
    bank_id: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The exposures of a stored run grouped each way in ``groupings``, and the whole book
    under the key ``""``, read from its totals (one bank's rows, or sums over the banks).

    Parameters
    ----------
    session
        A read session.
    run_id
        The stored run (:func:`carbonfin.store.exposure.find_run`).
    groupings
        Among :data:`GROUPINGS`.
    bank_id
        One bank's book, or ``None`` for every bank's.

    Returns
    -------
    dict
        grouping -> rows (dicts with ``key``, :data:`ADDITIVE` and :data:`COUNTS`; money as
        float CNY from exact micro-CNY sums), and ``""`` -> ``[total]`` (zeros for an empty
        book).

    Raises
    ------
    InvalidInputError
        An unknown grouping.
    """
    bad = [g for g in groupings if g not in GROUPINGS]
    if bad:
        raise InvalidInputError(f"groupings must be among {GROUPINGS}; got {bad}")
    wanted = (*dict.fromkeys(groupings), "")
    out: dict[str, list[dict[str, Any]]] = {g: [] for g in wanted}
    for r in _read(session, run_id, wanted, bank_id):
        row: dict[str, Any] = {"key": str(r["group_key"])}
        row |= {c: int(r[c] or 0) for c in ("pledges", "pledges_not_valued")}
        row |= {c: int(r[c] or 0) / MICRO for c in _MONEY}
        row |= {c: int(r[c] or 0) for c in COUNTS}
        out[str(r["grouping"])].append(row)
    if not out[""] or out[""][0]["pledges"] == 0:
        out[""] = [{"key": "", **dict.fromkeys(ADDITIVE, 0), **dict.fromkeys(COUNTS, 0)}]
    return out


def state_counts(*, session: Session, run_id: int, bank_id: str | None = None) -> dict[str, int]:
    """Loans of a run by state (``not_valued`` counted as such, never as ``ok``), from its
    totals."""
    got = {str(r["group_key"]): int(r["loans"] or 0)
           for r in _read(session, run_id, ("state",), bank_id)}  # fmt: skip
    unknown = sorted(set(got) - set(_STATES))
    if unknown:  # the table's check on loan_valuations makes this unreachable
        raise InvalidInputError(f"unknown loan states stored: {unknown}")
    return got
