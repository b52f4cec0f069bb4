"""Exposure of the carbon-collateral book, aggregated by the database from stored valuations.

The stable interface for the regulator routes, the bank routes and the dashboard:

- :func:`summary` — the book on a date (one bank's, or every bank's) grouped by bank,
  instrument, vintage and industry, with the whole-book total, the loans by state and the
  margin-call count; computed by SQL over the stored valuation of that date;
- :func:`history` — a series over time of the exposure totals and the margin-call count, one
  point per stored valuation between two dates;
- :func:`refresh` — make sure the valuation of a date is stored and current (value the book with
  the engine's models and store it when it is missing or older than the data);
- :func:`snapshot` — value and store the book on every business day (or every week) of a period:
  what ``carbonfin book snapshot`` and the sample seed run.

(:func:`refresh`, :func:`snapshot`, :func:`backfill` and the market sources live in
:mod:`carbonfin.lending.valuation_runs` and are re-exported here: the stable interface is this
module.)

Design: the engine's models (marks, haircuts, LTV states) run in Python, vectorised over the whole
book (:func:`carbonfin.lending.book.value_book_as_of`); their per-pledge and per-loan results are
stored as a *valuation run* (:mod:`carbonfin.store.exposure`, migration 0010) with the ``lending``
and ``market`` data versions they read, and in the same transaction the database aggregates them
into the run's exposure totals (:mod:`carbonfin.store.exposure_totals`, migration 0011: window
functions for the allocation rule of docs/api.md, ``GROUP BY`` bank and group), so a request reads
a few hundred rows and never loads a loan into Python. A run is *current* while the database's data
versions equal the ones it read; :func:`refresh` values the date again otherwise, so a regulator
view never answers from a book that has since changed, while :func:`history` answers from what was
stored and says, per point, whether it is current (``stale``).

As of: a run of date D values the book that stood at the end of D — pledges in force on D
(registration and release records), loans active on D with their balance from the ledger
(entries with a value date on or before D), marks and FX fixings of D — so a repayment recorded
with a later value date changes nothing of D.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError
from carbonfin.lending.valuation_runs import (
    SNAPSHOT_CALENDAR,
    MarketSource,
    StoredMarket,
    backfill,
    refresh,
    snapshot,
    snapshot_dates,
    stored_run,
    valuation_frames,
)
from carbonfin.lending.valuation_runs import check_date as _check_date
from carbonfin.store import exposure as store
from carbonfin.store.transactions import read_data_versions

__all__ = [
    "GROUPINGS",
    "SNAPSHOT_CALENDAR",
    "TOP_PLEDGORS",
    "Concentration",
    "ExposureFigures",
    "ExposureHistory",
    "ExposureSummary",
    "HistoryPoint",
    "MarketSource",
    "RunSource",
    "StoredMarket",
    "backfill",
    "concentration",
    "history",
    "refresh",
    "snapshot",
    "snapshot_dates",
    "summary",
    "valuation_frames",
]

#: The groupings of the exposures (each adds up to the whole book).
GROUPINGS = store.GROUPINGS
#: How many of the largest pledgors :func:`concentration` lists.
TOP_PLEDGORS = 10


@dataclass(frozen=True, slots=True)
class ExposureFigures:
    """The exposure of one group (``key``) or of the whole book (``key`` ``""``); money in CNY.

    ``pledges``, ``pledges_not_valued``, ``collateral_value_cny``, ``lendable_value_cny``,
    ``loan_outstanding_cny`` and ``outstanding_by_quantity_cny`` add up over the groups of any
    grouping to the book total; ``loans`` and ``loans_outstanding_unknown`` count distinct loans
    (a loan secured in two groups is in both).
    """

    key: str
    pledges: int
    pledges_not_valued: int
    collateral_value_cny: float
    lendable_value_cny: float
    loan_outstanding_cny: float
    outstanding_by_quantity_cny: float
    loans: int
    loans_outstanding_unknown: int

    def as_dict(self) -> dict[str, Any]:
        """The figures as a plain dict (for JSON)."""
        return {f: getattr(self, f) for f in self.__slots__}


@dataclass(frozen=True, slots=True)
class RunSource:
    """Where a stored valuation came from and how fresh it is: the run, when it was computed,
    the data versions it read against the database's now (``stale`` when they differ), the data
    source, haircut policy, eligibility rules and model."""

    run_id: int
    as_of: dt.date
    kind: str
    computed_at: dt.datetime
    lending_version: int
    market_version: int
    current_lending_version: int
    current_market_version: int
    data_source: str
    policy_version: str | None
    rules_version: str | None
    model: str
    notes: tuple[str, ...]

    @property
    def stale(self) -> bool:
        """The data changed since this valuation was computed."""
        return (self.lending_version, self.market_version) != (
            self.current_lending_version,
            self.current_market_version,
        )

    def describe(self) -> list[str]:
        """Human notes: the run, its freshness and versions."""
        fresh = (
            f"stale: lending data version {self.current_lending_version}, market "
            f"{self.current_market_version} now"
            if self.stale
            else "current"
        )
        return [
            f"stored valuation run {self.run_id} ({self.kind}) of {self.as_of}, computed "
            f"{self.computed_at.isoformat(timespec='seconds')} from lending data version "
            f"{self.lending_version} and market {self.market_version}: {fresh}",
            (
                f"policy {self.policy_version}"
                if self.policy_version is not None
                else "no haircut policy applied (nothing was valued)"
            )
            + f", eligibility rules {self.rules_version}, model {self.model}",
            *self.notes,
        ]


@dataclass(frozen=True, slots=True, eq=False)
class ExposureSummary:
    """The exposure of the book (one bank's or all) on ``as_of``, from a stored valuation.

    ``groups``: grouping (``bank``, ``instrument``, ``vintage``, ``industry``) -> its groups,
    largest collateral value first; ``total``: the whole book; ``states``: loans by state
    (``ok``, ``warning``, ``margin_call``, ``liquidation``, ``not_valued``); ``margin_calls``:
    loans at the margin-call or liquidation level; ``source``: the run and its freshness.
    """

    as_of: dt.date
    bank: str | None
    groups: MappingProxyType[str, tuple[ExposureFigures, ...]]
    total: ExposureFigures
    states: MappingProxyType[str, int]
    margin_calls: int
    source: RunSource = field(repr=False)

    def rows(self, by: str) -> tuple[ExposureFigures, ...]:
        """The groups of one grouping (:class:`InvalidInputError` if it was not computed)."""
        if by not in self.groups:
            raise InvalidInputError(f"`by` must be one of {sorted(self.groups)}; got {by!r}")
        return self.groups[by]

    def summary(self) -> str:
        t = self.total
        lines = [
            f"exposure of {self.bank or 'every bank'} on {self.as_of}: {t.pledges} pledges "
            f"({t.pledges_not_valued} not valued) securing {t.loans} loans "
            f"({t.loans_outstanding_unknown} without a CNY amount)",
            f"  collateral {t.collateral_value_cny:,.2f} CNY, lendable "
            f"{t.lendable_value_cny:,.2f} CNY, loans {t.loan_outstanding_cny:,.2f} CNY "
            f"({t.outstanding_by_quantity_cny:,.2f} allocated by tonnes)",
            "  states: " + ", ".join(f"{s} {n}" for s, n in self.states.items()),
        ]
        lines += [f"  {n}" for n in self.source.describe()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """The book's totals on one stored valuation date (money in CNY).

    Read from the run's stored exposure totals (``exposure_totals``), not recomputed:
    ``loan_outstanding_cny``, ``collateral_value_cny`` and ``lendable_value_cny`` are the
    whole-book figures of :func:`summary` of the date (outstanding allocated over the loans with
    a CNY amount — ``loans_outstanding_unknown`` have none —, value of the valued pledges);
    ``loans`` and the state counts count every loan row of the run; ``margin_calls`` counts
    loans at the margin-call or liquidation level.
    """

    as_of: dt.date
    loans: int
    loan_outstanding_cny: float
    collateral_value_cny: float
    lendable_value_cny: float
    warnings: int
    margin_calls: int
    liquidations: int
    loans_not_valued: int
    loans_outstanding_unknown: int
    run_id: int
    kind: str
    computed_at: dt.datetime
    stale: bool


@dataclass(frozen=True, slots=True, eq=False)
class ExposureHistory:
    """The series of :class:`HistoryPoint` from ``start`` to ``end`` for ``bank`` (``None``:
    every bank), drawn from stored valuations only; ``notes`` say the source, the cadence found
    and how many points are stale."""

    start: dt.date
    end: dt.date
    bank: str | None
    points: tuple[HistoryPoint, ...]
    source: str
    notes: tuple[str, ...]

    def frame(self) -> pd.DataFrame:
        """The points as a frame, one row per date."""
        cols = list(HistoryPoint.__slots__)
        return pd.DataFrame([[getattr(p, c) for c in cols] for p in self.points], columns=cols)


def _source(session: Session, run: store.RunInfo) -> RunSource:
    now = read_data_versions(session)
    return RunSource(
        run.run_id, run.as_of, run.kind, run.computed_at, run.lending_version,
        run.market_version, now["lending"], now["market"], run.data_source, run.policy_version,
        run.rules_version, run.model, run.notes,
    )  # fmt: skip


def summary(
    session: Session,
    as_of: dt.date,
    bank: str | None = None,
    *,
    by: Sequence[str] = GROUPINGS,
) -> ExposureSummary:
    """The exposure of the book on ``as_of`` from its stored valuation, aggregated in SQL.

    Parameters
    ----------
    session
        A read session.
    as_of
        The date; the book that stood at the end of it (call :func:`refresh` first to value it
        if it is not stored or not current).
    bank
        One bank's book (its pledges and loans only), or ``None`` for every bank's.
    by
        The groupings to compute (default all four).

    Returns
    -------
    ExposureSummary
        Groups, total, states, margin-call count and the run it came from.

    Raises
    ------
    MissingDataError
        No valuation of ``as_of`` is stored.
    InvalidInputError
        A bad date or grouping.
    """
    as_of = _check_date(as_of, "as_of")
    run = stored_run(session, as_of, f" (`carbonfin book snapshot --as-of {as_of}`, or refresh())")
    raw = store.exposure_groups(session=session, run_id=run.run_id, groupings=by, bank_id=bank)
    groups = {
        g: tuple(
            sorted(
                (ExposureFigures(**r) for r in raw[g]),
                key=lambda f: (-f.collateral_value_cny, f.key),
            )
        )
        for g in by
    }
    states = store.state_counts(session=session, run_id=run.run_id, bank_id=bank)
    ordered = {s: states.get(s, 0) for s in ("ok", "warning", "margin_call", "liquidation")}
    ordered["not_valued"] = states.get("not_valued", 0)
    return ExposureSummary(
        as_of=as_of,
        bank=bank,
        groups=MappingProxyType(groups),
        total=ExposureFigures(**{**raw[""][0], "key": ""}),
        states=MappingProxyType(ordered),
        margin_calls=ordered["margin_call"] + ordered["liquidation"],
        source=_source(session, run),
    )


def history(
    session: Session, start: dt.date, end: dt.date, bank: str | None = None
) -> ExposureHistory:
    """The exposure totals and margin-call count over time, from stored valuations only.

    Parameters
    ----------
    session
        A read session.
    start, end
        The period, inclusive (``start`` <= ``end``).
    bank
        One bank's book, or ``None`` for every bank's.

    Returns
    -------
    ExposureHistory
        One point per stored valuation date in the period (none are computed here: a date that
        was never valued has no point), each with its run, computation time and ``stale``.

    Raises
    ------
    InvalidInputError
        Bad dates or ``start`` after ``end``.
    """
    start, end = _check_date(start, "start"), _check_date(end, "end")
    if start > end:
        raise InvalidInputError(f"`start` {start} is after `end` {end}")
    runs = {r.run_id: r for r in store.runs_between(session=session, start=start, end=end)}
    now = read_data_versions(session)
    points = []
    for row in store.history_totals(session=session, start=start, end=end, bank_id=bank):
        run = runs[row.pop("run_id")]
        stale = (run.lending_version, run.market_version) != (now["lending"], now["market"])
        points.append(
            HistoryPoint(
                **row, run_id=run.run_id, kind=run.kind, computed_at=run.computed_at, stale=stale
            )
        )
    notes = [f"{len(points)} stored valuations from {start} to {end}"]
    if len(points) > 1:
        gaps = np.diff([p.as_of.toordinal() for p in points])
        notes.append(f"spacing {int(gaps.min())} to {int(gaps.max())} days")
    if any(p.stale for p in points):
        notes.append(
            f"{sum(p.stale for p in points)} points were valued before the latest change of "
            "lending or market data (each says so: stale)"
        )
    sources = sorted({r.data_source for r in runs.values()})
    return ExposureHistory(
        start, end, bank, tuple(points), "; ".join(sources) or "no stored valuation", tuple(notes)
    )


@dataclass(frozen=True, slots=True, eq=False)
class Concentration:
    """How concentrated the valued collateral is among pledgors on ``as_of``: the share of the
    largest 1, 5 and 10 pledgors, the Herfindahl–Hirschman index Σ s² (s a pledgor's share of
    collateral value; 1/n for n equal pledgors) overall and per instrument."""

    as_of: dt.date
    bank: str | None
    pledgors: int
    top_shares: MappingProxyType[str, float]
    herfindahl: float
    by_instrument_herfindahl: MappingProxyType[str, float]
    source: RunSource = field(repr=False)
    #: the largest pledgors, ``(pledgor USCC, collateral value CNY)``, largest first (ties by
    #: USCC), at most :data:`TOP_PLEDGORS`
    top: tuple[tuple[str, float], ...] = ()
    #: the valued collateral in scope (the denominator of the shares), CNY
    collateral_value_cny: float = 0.0


def _hhi(values: pd.Series) -> float:
    total = float(values.sum())
    return float(((values / total) ** 2).sum()) if total > 0 else 0.0


def concentration(session: Session, as_of: dt.date, bank: str | None = None) -> Concentration:
    """Pledgor concentration of the stored valuation of ``as_of`` (summed per pledgor by SQL).

    Raises
    ------
    MissingDataError
        No valuation of ``as_of`` is stored.
    """
    as_of = _check_date(as_of, "as_of")
    run = stored_run(session, as_of)
    rows = pd.DataFrame(
        store.pledgor_values(session=session, run_id=run.run_id, bank_id=bank),
        columns=["pledgor", "instrument", "value"],
    )
    summed = rows.groupby("pledgor")["value"].sum()
    order = sorted(summed.items(), key=lambda kv: (-float(kv[1]), str(kv[0])))
    by_pledgor = pd.Series([v for _, v in order], index=[str(k) for k, _ in order], dtype=float)
    total = float(by_pledgor.sum())
    tops = {f"top_{n}": float(by_pledgor.head(n).sum() / total) if total else 0.0
            for n in (1, 5, 10)}  # fmt: skip
    per_instrument = {str(i): _hhi(g["value"]) for i, g in rows.groupby("instrument")}
    return Concentration(
        as_of, bank, len(by_pledgor), MappingProxyType(tops), _hhi(by_pledgor),
        MappingProxyType(per_instrument), _source(session, run),
        tuple((str(u), float(v)) for u, v in by_pledgor.head(TOP_PLEDGORS).items()),
        total,
    )  # fmt: skip
