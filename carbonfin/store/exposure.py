"""Stored book valuations and the exposure aggregates over them, computed by the database.

A **valuation run** (table ``valuation_runs``) is the whole book (every bank) valued on one
date, with the data versions, data source, policy, rules and model it used; its rows are one
per pledge in force (``pledge_valuations``: grouping attributes as they stood, quantity, mark,
market value, haircut, lendable value, or NULLs and the reason when not valued) and one per loan
(``loan_valuations``: the ledger balance on the date, the FX rate and CNY amount — NULL when no
usable fixing —, collateral and lendable value, LTV and state). One run per date: storing a
date again replaces its run.

The exposures (:func:`exposure_groups`) are one SQL statement over a run: window functions over
each loan's pledges form the allocation rule of :mod:`carbonfin.collateral.aggregate` (docs/api.md,
"the allocation rule"), then ``GROUP BY`` bank, instrument, vintage, industry and the whole book
(``UNION ALL`` of the groupings over one CTE, which PostgreSQL and SQLite compute once). Nothing
is loaded into Python but the groups. The indexes ``(run_id, loan_id)`` and ``(run_id, bank_id)``
(migration 0010) serve the window's partition and a bank's scope.

Per pledge ``p`` of loan ``L`` (``valued`` = market value, lendable value and no reason)::

    V_p = market value if valued else 0
    by value    if every pledge of L is valued and Σ_L V > 0:  alloc_p = O_L · V_p / Σ_L V
    by tonnes   else if Σ_L Q > 0:                              alloc_p = O_L · Q_p / Σ_L Q
    equal       else:                                           alloc_p = O_L / n_L
    alloc_p = NULL when O_L (the loan's outstanding in CNY) is unknown
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
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
from carbonfin.store.models import LoanValuation, PledgeValuation, ValuationRun

__all__ = [
    "ADDITIVE",
    "COUNTS",
    "GROUPINGS",
    "LOAN_ROW_COLUMNS",
    "PLEDGE_ROW_COLUMNS",
    "RUN_KINDS",
    "RunInfo",
    "covered_usccs",
    "exposure_groups",
    "find_run",
    "history_totals",
    "last_quote_date",
    "load_run_rows",
    "pledgor_industries",
    "pledgor_values",
    "runs_between",
    "save_run",
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
RUN_KINDS = ("on_demand", "snapshot", "benchmark")
PLEDGE_ROW_COLUMNS = (
    "pledge_id",
    "loan_id",
    "bank_id",
    "instrument",
    "vintage",
    "industry",
    "pledgor_uscc",
    "quantity_t",
    "eligible_quantity_t",
    "price_cny_per_t",
    "mark_date",
    "market_value_cny",
    "haircut_frac",
    "lendable_value_cny",
    "not_valued_reason",
)
LOAN_ROW_COLUMNS = (
    "loan_id",
    "bank_id",
    "currency",
    "outstanding",
    "fx_cny_per_unit",
    "outstanding_cny",
    "collateral_value_cny",
    "lendable_value_cny",
    "ltv",
    "state",
    "not_valued_reason",
)
_CHUNK = 5_000
_PLACES = {
    "quantity_t": 0,
    "eligible_quantity_t": 0,
    "vintage": 0,
    "price_cny_per_t": 6,
    "market_value_cny": 4,
    "haircut_frac": 8,
    "lendable_value_cny": 4,
    "outstanding": 2,
    "fx_cny_per_unit": 10,
    "outstanding_cny": 4,
    "collateral_value_cny": 4,
    "ltv": 8,
}
_LTV_MAX = 1.0e9  # an LTV at or above this (collateral worth next to nothing) is stored NULL


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A stored valuation run: its date, kind, when it was computed and from which data."""

    run_id: int
    as_of: dt.date
    kind: str
    computed_at: dt.datetime
    lending_version: int
    market_version: int
    data_source: str
    policy_version: str | None
    rules_version: str | None
    model: str
    notes: tuple[str, ...]


def _info(run: ValuationRun) -> RunInfo:
    at = run.computed_at if run.computed_at.tzinfo else run.computed_at.replace(tzinfo=dt.UTC)
    return RunInfo(
        run.run_id, run.as_of, run.kind, at, int(run.lending_version), int(run.market_version),
        run.data_source, run.policy_version, run.rules_version, run.model, tuple(run.notes or ()),
    )  # fmt: skip


def find_run(*, session: Session, as_of: dt.date) -> RunInfo | None:
    """The stored run of ``as_of``, or ``None``."""
    run = session.scalar(select(ValuationRun).where(ValuationRun.as_of == as_of))
    return None if run is None else _info(run)


def runs_between(*, session: Session, start: dt.date, end: dt.date) -> list[RunInfo]:
    """The stored runs dated from ``start`` to ``end`` inclusive, by date."""
    stmt = (
        select(ValuationRun)
        .where(ValuationRun.as_of >= start, ValuationRun.as_of <= end)
        .order_by(ValuationRun.as_of)
    )
    return [_info(r) for r in session.scalars(stmt)]


def _clean(value: Any, col: str) -> Any:
    """A database value: None for NaN/NA/inf, numbers rounded to the column's places."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if col in _PLACES:
        number = float(value)
        if not math.isfinite(number):
            return None
        if col == "ltv" and number >= _LTV_MAX:
            return None
        places = _PLACES[col]
        return round(number) if places == 0 else round(number, places)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _rows(frame: pd.DataFrame, cols: Sequence[str], run_id: int, what: str) -> list[dict[str, Any]]:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{what} lack the columns {missing}")
    out = []
    for values in frame[list(cols)].itertuples(index=False, name=None):
        row = {c: _clean(v, c) for c, v in zip(cols, values, strict=True)}
        row["run_id"] = run_id
        out.append(row)
    return out


def save_run(
    *,
    session: Session,
    as_of: dt.date,
    kind: str,
    lending_version: int,
    market_version: int,
    data_source: str,
    model: str,
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    policy_version: str | None = None,
    rules_version: str | None = None,
    notes: Iterable[str] = (),
    computed_at: dt.datetime | None = None,
) -> RunInfo:
    """Store the valuation of the book on ``as_of`` in the caller's transaction, replacing the
    date's earlier run; return it.

    Parameters
    ----------
    pledges
        One row per pledge in force, columns :data:`PLEDGE_ROW_COLUMNS` (NaN where unknown:
        a not-valued pledge has NaN value columns and a reason).
    loans
        One row per loan of the book, columns :data:`LOAN_ROW_COLUMNS`; ``outstanding`` is the
        ledger balance on ``as_of`` in the loan's currency, ``outstanding_cny`` NaN when the FX
        rate is unknown; ``state`` one of ``ok``, ``warning``, ``margin_call``, ``liquidation``,
        ``not_valued``.

    Raises
    ------
    InvalidInputError
        An unknown kind, a missing column, a pledge whose loan is not in ``loans``.
    """
    if kind not in RUN_KINDS:
        raise InvalidInputError(f"`kind` must be one of {RUN_KINDS}; got {kind!r}")
    if not set(pledges["loan_id"]) <= set(loans["loan_id"]):
        raise InvalidInputError("a pledge's loan is not among the run's loans")
    at = computed_at or dt.datetime.now(dt.UTC)
    old = session.scalar(select(ValuationRun.run_id).where(ValuationRun.as_of == as_of))
    if old is not None:
        session.execute(delete(PledgeValuation).where(PledgeValuation.run_id == old))
        session.execute(delete(LoanValuation).where(LoanValuation.run_id == old))
        session.execute(delete(ValuationRun).where(ValuationRun.run_id == old))
    run = ValuationRun(
        as_of=as_of, kind=kind, computed_at=at, lending_version=int(lending_version),
        market_version=int(market_version), data_source=data_source[:400],
        policy_version=policy_version, rules_version=rules_version, model=model[:40],
        notes=list(dict.fromkeys(notes)),
    )  # fmt: skip
    session.add(run)
    session.flush()
    loan_rows = _rows(loans, LOAN_ROW_COLUMNS, run.run_id, "loan valuations")
    pledge_rows = _rows(pledges, PLEDGE_ROW_COLUMNS, run.run_id, "pledge valuations")
    for model_, rows in ((LoanValuation, loan_rows), (PledgeValuation, pledge_rows)):
        for start in range(0, len(rows), _CHUNK):
            session.execute(insert(model_), rows[start : start + _CHUNK])
    session.flush()
    return _info(run)


# --- the aggregates ---------------------------------------------------------------------------


def _allocated(run_id: int, bank_id: str | None) -> Any:
    """Per pledge of the run (of one bank, or all): its group keys, whether it is valued, its
    value and lendable value (0 when not valued), its allocated outstanding (NULL when its
    loan's CNY amount is unknown), the part allocated by tonnes, and flags marking the first
    pledge of its loan overall and within each group (so that a group counts its distinct
    loans by a sum, without a sort) — a CTE.

    The allocation's shares are computed in double precision (``numeric`` division and window
    sums cost several times as much in PostgreSQL); the group sums are exact integer sums of
    the per-pledge amounts in micro-CNY (:data:`MICRO`, :func:`_grouped`), since a naive float
    sum of a million amounts drifts by more than a cent at a book of 1e12 CNY."""
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

    stmt = (
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
    )
    if bank_id is not None:
        stmt = stmt.where(pv.bank_id == bank_id)
    return stmt.cte("allocated")


#: Group sums are taken in whole micro-CNY (1e-6) as integers: exact, and PostgreSQL sums
#: ``bigint`` with a 128-bit accumulator, several times faster than ``numeric``. A per-pledge
#: amount is exact in float64 micro-CNY up to 9e9 CNY (2^53 micro-CNY).
MICRO = 1_000_000


def _micro(x: Any) -> Any:
    return cast(func.round(cast(x, Float) * MICRO), BigInteger)


def _grouped(cte: Any, grouping: str) -> Any:
    """One grouping's rows (``""``: the whole book). A loan belongs to one bank, so the bank
    grouping counts loans by the first pledge of each loan; the others by the first pledge of
    each loan within the group."""
    key = literal("") if grouping == "" else getattr(cte.c, grouping)
    first = cte.c.first_ if grouping in ("", "bank") else getattr(cte.c, f"first_{grouping}")
    stmt = select(
        literal(grouping).label("grouping"),
        key.label("key"),
        func.count().label("pledges"),
        func.sum(cte.c.not_valued).label("pledges_not_valued"),
        func.sum(_micro(cte.c.value)).label("collateral_value_cny"),
        func.sum(_micro(cte.c.lendable)).label("lendable_value_cny"),
        func.coalesce(func.sum(_micro(cte.c.alloc)), 0).label("loan_outstanding_cny"),
        func.sum(_micro(cte.c.by_qty)).label("outstanding_by_quantity_cny"),
        func.sum(first).label("loans"),
        func.sum(first * cte.c.unknown).label("loans_outstanding_unknown"),
    )
    return stmt if grouping == "" else stmt.group_by(key)


def exposure_groups(
    *,
    session: Session,
    run_id: int,
    groupings: Sequence[str] = GROUPINGS,
    bank_id: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The exposures of a stored run grouped each way in ``groupings``, and the whole book
    under the key ``""`` — one SQL statement (see the module notes).

    Returns
    -------
    dict
        grouping -> rows (dicts with ``key``, :data:`ADDITIVE` and :data:`COUNTS`; money as
        float CNY), and ``""`` -> ``[total]`` (zeros for an empty book).

    Raises
    ------
    InvalidInputError
        An unknown grouping.
    """
    bad = [g for g in groupings if g not in GROUPINGS]
    if bad:
        raise InvalidInputError(f"groupings must be among {GROUPINGS}; got {bad}")
    if session.get_bind().dialect.name == "postgresql":
        # one large analytic statement: compiling it (JIT) costs more than running it, and its
        # aggregates should hash in memory rather than sort on disk
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    cte = _allocated(run_id, bank_id)
    parts = [_grouped(cte, g) for g in (*dict.fromkeys(groupings), "")]
    out: dict[str, list[dict[str, Any]]] = {g: [] for g in (*groupings, "")}
    for r in session.execute(union_all(*parts)).mappings():
        row: dict[str, Any] = {"key": str(r["key"])}
        for c in ADDITIVE:
            v = r[c]
            row[c] = int(v or 0) if c in ("pledges", "pledges_not_valued") else int(v or 0) / MICRO
        row |= {c: int(r[c] or 0) for c in COUNTS}
        out[str(r["grouping"])].append(row)
    if not out[""] or out[""][0]["pledges"] == 0:
        out[""] = [{"key": "", **dict.fromkeys(ADDITIVE, 0), **dict.fromkeys(COUNTS, 0)}]
    return out


def state_counts(*, session: Session, run_id: int, bank_id: str | None = None) -> dict[str, int]:
    """Loans of a run by state (``not_valued`` counted as such, never as ``ok``)."""
    stmt = (
        select(LoanValuation.state, func.count())
        .where(LoanValuation.run_id == run_id)
        .group_by(LoanValuation.state)
    )
    if bank_id is not None:
        stmt = stmt.where(LoanValuation.bank_id == bank_id)
    return {str(s): int(n) for s, n in session.execute(stmt)}


def history_totals(
    *, session: Session, start: dt.date, end: dt.date, bank_id: str | None = None
) -> list[dict[str, Any]]:
    """Per stored run dated ``start`` … ``end``: the book's totals from its loan rows (one SQL
    ``GROUP BY`` run) — loans, outstanding (CNY, known amounts), collateral and lendable value
    (valued loans), loans by state and with an unknown CNY amount."""
    lv, run = LoanValuation, ValuationRun

    def n_state(*states: str) -> Any:
        return func.sum(case((lv.state.in_(states), 1), else_=0))

    stmt = (
        select(
            run.run_id,
            run.as_of,
            func.count(lv.loan_id).label("loans"),
            func.coalesce(func.sum(lv.outstanding_cny), 0).label("loan_outstanding_cny"),
            func.coalesce(func.sum(lv.collateral_value_cny), 0).label("collateral_value_cny"),
            func.coalesce(func.sum(lv.lendable_value_cny), 0).label("lendable_value_cny"),
            func.coalesce(n_state("warning"), 0).label("warnings"),
            func.coalesce(n_state("margin_call", "liquidation"), 0).label("margin_calls"),
            func.coalesce(n_state("liquidation"), 0).label("liquidations"),
            func.coalesce(n_state("not_valued"), 0).label("loans_not_valued"),
            func.sum(case((lv.outstanding_cny.is_(None), 1), else_=0)).label("unknown"),
        )
        .select_from(run)
        .outerjoin(
            lv,
            and_(lv.run_id == run.run_id, *(() if bank_id is None else (lv.bank_id == bank_id,))),
        )
        .where(run.as_of >= start, run.as_of <= end)
        .group_by(run.run_id, run.as_of)
        .order_by(run.as_of)
    )
    out = []
    for r in session.execute(stmt).mappings():
        out.append(
            {
                "run_id": int(r["run_id"]),
                "as_of": r["as_of"],
                "loans": int(r["loans"] or 0),
                "loan_outstanding_cny": float(r["loan_outstanding_cny"] or 0),
                "collateral_value_cny": float(r["collateral_value_cny"] or 0),
                "lendable_value_cny": float(r["lendable_value_cny"] or 0),
                "warnings": int(r["warnings"] or 0),
                "margin_calls": int(r["margin_calls"] or 0),
                "liquidations": int(r["liquidations"] or 0),
                "loans_not_valued": int(r["loans_not_valued"] or 0),
                "loans_outstanding_unknown": int(r["unknown"] or 0),
            }
        )
    return out


def load_run_rows(
    *, session: Session, run_id: int, bank_id: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's pledge and loan rows as frames (money as float, NaN where NULL): what a pandas
    computation of the exposures reads (the reference of the SQL in tests and benchmarks)."""
    frames = []
    for model, cols in ((PledgeValuation, PLEDGE_ROW_COLUMNS), (LoanValuation, LOAN_ROW_COLUMNS)):
        stmt = select(*(getattr(model, c) for c in cols)).where(model.run_id == run_id)
        if bank_id is not None:
            stmt = stmt.where(model.bank_id == bank_id)
        frame = pd.DataFrame(session.execute(stmt).all(), columns=list(cols))
        for c in cols:
            if c in _PLACES and c not in ("vintage",):
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        frames.append(frame)
    return frames[0], frames[1]


def pledgor_industries(*, session: Session) -> dict[str, str]:
    """Firm USCC -> its sector (the industry a pledge is grouped under)."""
    from carbonfin.store.models import Firm

    return {str(u): str(s) for u, s in session.execute(select(Firm.uscc, Firm.sector))}


def covered_usccs(*, session: Session) -> set[str]:
    """Firms with compliance records: the covered emitters."""
    from carbonfin.store.models import Compliance

    return {str(u) for u in session.scalars(select(Compliance.uscc).distinct())}


def last_quote_date(*, session: Session) -> dt.date:
    """The last date with a quote in the ``prices`` table (:class:`MissingDataError` if none)."""
    from carbonfin.errors import MissingDataError
    from carbonfin.store.models import Price

    day: dt.date | None = session.scalar(select(func.max(Price.date)))
    if day is None:
        raise MissingDataError("no prices in the database: run `carbonfin db seed`")
    return day


def pledgor_values(
    *, session: Session, run_id: int, bank_id: str | None = None
) -> list[tuple[str, str, float]]:
    """``(pledgor, instrument, collateral value CNY)`` of a run's valued pledges, summed by the
    database per pledgor and instrument (``unknown`` where the pledgor is not recorded)."""
    pv = PledgeValuation
    stmt = (
        select(
            pv.pledgor_uscc,
            pv.instrument,
            func.sum(cast(pv.market_value_cny, Float)),
        )
        .where(
            pv.run_id == run_id,
            pv.market_value_cny.is_not(None),
            pv.lendable_value_cny.is_not(None),
            pv.not_valued_reason.is_(None),
        )
        .group_by(pv.pledgor_uscc, pv.instrument)
    )
    if bank_id is not None:
        stmt = stmt.where(pv.bank_id == bank_id)
    return [
        ("unknown" if u is None else str(u), str(i), float(v or 0))
        for u, i, v in session.execute(stmt)
    ]
