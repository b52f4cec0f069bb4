"""Stored book valuations and the exposure aggregates over them, computed by the database.

A **valuation run** (table ``valuation_runs``) is the whole book (every bank) valued on one
date, with the data versions, data source, policy, rules and model it used; its rows are one
per pledge in force (``pledge_valuations``: grouping attributes as they stood, quantity, mark,
market value, haircut, lendable value, or NULLs and the reason when not valued) and one per loan
(``loan_valuations``: the ledger balance on the date, the FX rate and CNY amount — NULL when no
usable fixing —, collateral and lendable value, LTV and state). One run per date: storing a
date again replaces its run.

The exposures are aggregated by SQL from the run's rows when the run is stored, in the same
transaction (:mod:`carbonfin.store.exposure_totals`, migration 0011: the allocation rule and the
three cases it keeps apart are described there); :func:`exposure_groups` and
:func:`state_counts` read those totals, so a request reads a few hundred rows whatever the size
of the book.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, case, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError
from carbonfin.store.exposure_totals import (
    ADDITIVE,
    COUNTS,
    GROUPINGS,
    MICRO,
    aggregate_run,
    exposure_groups,
    state_counts,
)
from carbonfin.store.valuation_models import (
    ExposureTotal,
    LoanValuation,
    PledgeValuation,
    ValuationRun,
)

__all__ = [
    "ADDITIVE",
    "COUNTS",
    "GROUPINGS",
    "LOAN_ROW_COLUMNS",
    "PLEDGE_ROW_COLUMNS",
    "RUN_KINDS",
    "RunInfo",
    "aggregate_run",
    "covered_usccs",
    "exposure_groups",
    "find_run",
    "history_totals",
    "last_quote_date",
    "load_run_rows",
    "loan_histograms",
    "pledgor_industries",
    "pledgor_values",
    "runs_between",
    "save_run",
    "state_counts",
]

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
    date's earlier run, with its exposure totals (:func:`aggregate_run`, same transaction);
    return it.

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
        session.execute(delete(ExposureTotal).where(ExposureTotal.run_id == old))
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
    aggregate_run(session=session, run_id=run.run_id)
    return _info(run)


# --- the aggregates (exposure_totals: written with the run) --------------------------------


def history_totals(
    *, session: Session, start: dt.date, end: dt.date, bank_id: str | None = None
) -> list[dict[str, Any]]:
    """Per stored run dated ``start`` … ``end``: the book's totals read from the runs' exposure
    totals (``exposure_totals``, written when each run was stored; one indexed read of a few
    rows per run, the loan and pledge rows are never touched) — loans (every loan row of the
    run, by state), outstanding, collateral and lendable value (the whole-book figures of
    :func:`exposure_groups`, so a point equals the summary of its date to the cent), loans by
    state and with an unknown CNY amount. A run with no rows in scope has zeros."""
    t, run = ExposureTotal, ValuationRun
    on = and_(t.run_id == run.run_id, t.grouping.in_(("", "state")))
    if bank_id is not None:
        on = and_(on, t.bank_id == bank_id)
    stmt = (
        select(
            run.run_id,
            run.as_of,
            t.grouping,
            t.group_key,
            func.sum(t.outstanding_micro).label("out"),
            func.sum(t.collateral_value_micro).label("value"),
            func.sum(t.lendable_value_micro).label("lendable"),
            func.sum(t.loans).label("loans"),
            func.sum(t.loans_outstanding_unknown).label("unknown"),
        )
        .select_from(run)
        .outerjoin(t, on)
        .where(run.as_of >= start, run.as_of <= end)
        .group_by(run.run_id, run.as_of, t.grouping, t.group_key)
        .order_by(run.as_of)
    )
    points: dict[int, dict[str, Any]] = {}
    states: dict[int, dict[str, tuple[int, int]]] = {}
    for r in session.execute(stmt).mappings():
        rid = int(r["run_id"])
        point = points.setdefault(
            rid, {"run_id": rid, "as_of": r["as_of"], "loan_outstanding_cny": 0.0,
                  "collateral_value_cny": 0.0, "lendable_value_cny": 0.0},
        )  # fmt: skip
        by_state = states.setdefault(rid, {})
        if r["grouping"] == "":
            point["loan_outstanding_cny"] = int(r["out"] or 0) / MICRO
            point["collateral_value_cny"] = int(r["value"] or 0) / MICRO
            point["lendable_value_cny"] = int(r["lendable"] or 0) / MICRO
        elif r["grouping"] == "state":
            by_state[str(r["group_key"])] = (int(r["loans"] or 0), int(r["unknown"] or 0))
    out = []
    for rid, point in points.items():
        by_state = states[rid]

        def n(*names: str, st: dict[str, tuple[int, int]] = by_state) -> int:
            return sum(st.get(s, (0, 0))[0] for s in names)

        point |= {
            "loans": sum(v[0] for v in by_state.values()),
            "warnings": n("warning"),
            "margin_calls": n("margin_call", "liquidation"),
            "liquidations": n("liquidation"),
            "loans_not_valued": n("not_valued"),
            "loans_outstanding_unknown": sum(v[1] for v in by_state.values()),
        }
        out.append(point)
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


# --- LTV distribution of a run ------------------------------------------------------------------


def _valued_ltv(run_id: int, bank_id: str | None) -> Any:
    """The finite LTVs of a run's valued loans (one bank's or all), as a float column."""
    lv = LoanValuation
    stmt = select(cast(lv.ltv, Float).label("ltv")).where(
        lv.run_id == run_id, lv.state != "not_valued", lv.ltv.is_not(None)
    )
    return stmt if bank_id is None else stmt.where(lv.bank_id == bank_id)


def ltv_histogram(
    *, session: Session, run_id: int, edges: Sequence[float], bank_id: str | None = None
) -> list[int]:
    """Counts of a run's valued loans with a finite LTV in the bins of ``edges`` (ascending;
    ``[edges[i], edges[i+1])``, the last bin from ``edges[-1]`` up), by one SQL ``GROUP BY``
    (LTVs below ``edges[0]`` are not counted, as ``numpy.histogram``). LTVs are the stored ones,
    rounded to 8 decimals (an LTV of 1e9 or more is stored NULL and not counted)."""
    ltv = _valued_ltv(run_id, bank_id).subquery()
    bucket = case(
        *((ltv.c.ltv < float(hi), i) for i, hi in enumerate(edges[1:])), else_=len(edges) - 1
    )
    stmt = (
        select(bucket.label("b"), func.count()).where(ltv.c.ltv >= float(edges[0])).group_by(bucket)
    )
    counts = [0] * len(edges)
    for b, n in session.execute(stmt):
        counts[int(b)] = int(n)
    return counts


def ltv_order_statistics(
    *, session: Session, run_id: int, ranks: Iterable[int], bank_id: str | None = None
) -> dict[int, float]:
    """The values at the given 0-based ``ranks`` of a run's valued, finite LTVs in ascending
    order (one sort in SQL, a handful of rows back): what quantiles interpolate between."""
    wanted = sorted({int(r) + 1 for r in ranks})
    if not wanted:
        return {}
    ltv = _valued_ltv(run_id, bank_id).subquery()
    ranked = select(ltv.c.ltv, func.row_number().over(order_by=ltv.c.ltv).label("rn")).subquery()
    stmt = select(ranked.c.rn, ranked.c.ltv).where(ranked.c.rn.in_(wanted))
    return {int(rn) - 1: float(v) for rn, v in session.execute(stmt)}


#: A ratio with a zero denominator and a positive loan (no value, or nothing lendable): beyond
#: every bin, as ``numpy.histogram`` counts ``inf`` in an open last bin.
_UNBOUNDED = 1.0e300


def loan_histograms(
    *, session: Session, run_id: int, edges: Sequence[float], bank_id: str | None = None
) -> dict[str, list[int]]:
    """Counts of a run's valued loans (state other than ``not_valued``) in the bins of ``edges``
    (ascending; ``[edges[i], edges[i+1])``, the last bin from ``edges[-1]`` up, unbounded), for
    ``ltv`` (the stored LTV) and ``utilisation`` (loan ÷ lendable value, from the stored amounts:
    0 for no loan, beyond every bin for a positive loan with nothing lendable), by one SQL
    ``GROUP BY``. A loan whose LTV is stored NULL (collateral worth nothing, or an LTV of 1e9 or
    more) is in the last LTV bin; values below ``edges[0]`` are not counted."""
    lv = LoanValuation
    owed, lend = cast(lv.outstanding_cny, Float), cast(lv.lendable_value_cny, Float)
    ratios = {
        "ltv": func.coalesce(cast(lv.ltv, Float), _UNBOUNDED),
        "utilisation": case((lend > 0, owed / lend), (owed > 0, _UNBOUNDED), else_=0.0),
    }
    inner = select(*(v.label(k) for k, v in ratios.items())).where(
        lv.run_id == run_id, lv.state != "not_valued"
    )
    if bank_id is not None:
        inner = inner.where(lv.bank_id == bank_id)
    sub = inner.subquery()

    def bucket(col: Any) -> Any:
        return case(
            (col < float(edges[0]), -1),
            *((col < float(hi), i) for i, hi in enumerate(edges[1:])),
            else_=len(edges) - 1,
        )

    b_ltv, b_util = bucket(sub.c.ltv), bucket(sub.c.utilisation)
    stmt = select(b_ltv, b_util, func.count()).group_by(b_ltv, b_util)
    out = {k: [0] * len(edges) for k in ratios}
    for i, j, n in session.execute(stmt):
        for key, b in (("ltv", i), ("utilisation", j)):
            if int(b) >= 0:
                out[key][int(b)] += int(n)
    return out


def loan_states(
    *, session: Session, run_id: int, bank_id: str | None = None
) -> tuple[int, dict[str, int]]:
    """A run's valued loans (one bank's or all): how many, and how many in each state (from the
    run's exposure totals; loans ``not_valued`` left out of both)."""
    states = state_counts(session=session, run_id=run_id, bank_id=bank_id)
    valued = {s: n for s, n in states.items() if s != "not_valued"}
    return sum(valued.values()), valued
