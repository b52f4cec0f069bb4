"""Stored stress results (table ``stress_runs``, migration 0008).

:func:`save_stress_run` stores a record of :func:`carbonfin.collateral.stress_record` in the
caller's session (the caller's write transaction commits it); storing the same run (scenario,
as-of, scope, seed) again replaces it; :func:`record_stress_run` does so in a write transaction
of its own (the service's stress route: committed before it answers). :func:`load_stress_runs`
reads whole runs back, newest as-of first.

:func:`stress_results_by_bank` is what a page of stress results per scenario and bank reads: one
row per (stored run, bank), filtered by scenario, as-of and bank. Tenancy lives here, once: with
``bank_id`` given, only that bank's rows of the runs that covered it (scope ``"all"`` or the bank
itself) come back, with nothing of the run that describes other banks' books — no whole-book
totals, no other bank's row, no per-instrument or per-industry breakdown, and the moves only
where the run was of the bank's own book (a whole-book run's moves name the instruments other
banks hold).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.errors import InvalidInputError
from carbonfin.store.models import StressRun
from carbonfin.store.transactions import write_transaction

__all__ = [
    "BankStressResult",
    "StoredStressRun",
    "load_stress_runs",
    "record_stress_run",
    "save_stress_run",
    "stress_results_by_bank",
]

_FIELDS = ("scenario", "as_of", "scope", "seed", "inputs", "model_versions", "results")


@dataclass(frozen=True, slots=True)
class StoredStressRun:
    """One stored stress run (read-only mappings)."""

    id: int
    scenario: str
    as_of: dt.date
    scope: str
    seed: int
    inputs: Mapping[str, Any]
    model_versions: Mapping[str, Any]
    results: Mapping[str, Any]


def save_stress_run(*, session: Session, record: Mapping[str, Any]) -> tuple[int, bool]:
    """Store one stress run; returns ``(id, replaced)``.

    Raises
    ------
    InvalidInputError
        A field of the record is missing or of the wrong type.
    """
    missing = [f for f in _FIELDS if f not in record]
    if missing:
        raise InvalidInputError(f"stress record is missing {missing}")
    if not isinstance(record["as_of"], dt.date):
        raise InvalidInputError(f"stress record `as_of` must be a date; got {record['as_of']!r}")
    key = (
        (StressRun.scenario == record["scenario"]) & (StressRun.as_of == record["as_of"])
        & (StressRun.scope == record["scope"]) & (StressRun.seed == int(record["seed"]))
    )  # fmt: skip
    replaced = session.execute(delete(StressRun).where(key)).rowcount > 0  # type: ignore[attr-defined]
    row = StressRun(**{f: record[f] for f in _FIELDS})
    session.add(row)
    session.flush()
    return int(row.id), replaced


def load_stress_runs(
    *,
    session: Session,
    scenario: str | None = None,
    as_of: dt.date | None = None,
    scope: str | None = None,
    limit: int = 100,
) -> list[StoredStressRun]:
    """Stored stress runs, newest as-of first, filtered by any of scenario, as-of and scope."""
    q = select(StressRun).order_by(StressRun.as_of.desc(), StressRun.id.desc()).limit(limit)
    if scenario is not None:
        q = q.where(StressRun.scenario == scenario)
    if as_of is not None:
        q = q.where(StressRun.as_of == as_of)
    if scope is not None:
        q = q.where(StressRun.scope == scope)
    return [
        StoredStressRun(
            r.id,
            r.scenario,
            r.as_of,
            r.scope,
            r.seed,
            MappingProxyType(dict(r.inputs)),
            MappingProxyType(dict(r.model_versions)),
            MappingProxyType(dict(r.results)),
        )
        for r in session.scalars(q)
    ]


def record_stress_run(
    *, sessions: sessionmaker[Session], record: Mapping[str, Any]
) -> tuple[int, bool]:
    """Store one stress run in a write transaction of its own, committed when this returns;
    ``(id, replaced)`` as :func:`save_stress_run`."""
    with write_transaction(sessions) as session:
        return save_stress_run(session=session, record=record)


@dataclass(frozen=True, slots=True)
class BankStressResult:
    """One bank's result in one stored stress run (money in CNY; ``None`` where a run stored
    before the field existed lacks it).

    ``loans``: the bank's secured loans in the run; ``called_before`` / ``called_after``: of
    them, at margin call or liquidation before and after the shock; ``moves``: the price move of
    each instrument (fractions), only for a run of the bank's own book (empty otherwise, see
    the module notes); ``model_versions``: haircut model and version, policy, scenario source.
    """

    run_id: int
    scenario: str
    as_of: dt.date
    scope: str
    seed: int
    bank_id: str
    loans: int
    called_before: int | None
    called_after: int
    outstanding_cny: float
    value_before_cny: float | None
    value_after_cny: float | None
    topup_cash_cny: float
    uncovered_cny: float
    moves: Mapping[str, float]
    model_versions: Mapping[str, Any]
    data_source: str

    @property
    def loss_cny(self) -> float | None:
        """Fall in the bank's collateral value (CNY), if the run stored the values."""
        if self.value_before_cny is None or self.value_after_cny is None:
            return None
        return self.value_before_cny - self.value_after_cny


def _opt_float(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    return None if v is None else float(v)


def _bank_row(r: StressRun, row: Mapping[str, Any], own_book: bool) -> BankStressResult:
    """One bank's row of a stored run (``own_book``: the moves may be shown)."""
    inputs = dict(r.inputs)
    moves = {str(k): float(v) for k, v in dict(inputs.get("moves", {})).items()}
    before = row.get("called_before")
    return BankStressResult(
        run_id=int(r.id), scenario=r.scenario, as_of=r.as_of, scope=r.scope, seed=int(r.seed),
        bank_id=str(row["bank_id"]), loans=int(row["loans"]),
        called_before=None if before is None else int(before), called_after=int(row["called"]),
        outstanding_cny=float(row["outstanding_cny"]),
        value_before_cny=_opt_float(row, "value_before_cny"),
        value_after_cny=_opt_float(row, "value_after_cny"),
        topup_cash_cny=float(row["topup_cash_cny"]), uncovered_cny=float(row["uncovered_cny"]),
        moves=MappingProxyType(moves if own_book else {}),
        model_versions=MappingProxyType(dict(r.model_versions)),
        data_source=str(inputs.get("data_source", "unspecified")),
    )  # fmt: skip


def stress_results_by_bank(
    *,
    session: Session,
    scenario: str | None = None,
    as_of: dt.date | None = None,
    bank_id: str | None = None,
    limit: int = 100,
) -> list[BankStressResult]:
    """Stored stress results per run and bank, newest as-of first, then by bank.

    Parameters
    ----------
    session
        A read session.
    scenario, as_of
        Filters (``None``: any).
    bank_id
        ``None`` for every bank (the regulator); a bank id for that bank's rows only, from the
        runs of the whole book (scope ``"all"``) and of its own book (scope = the bank id).
    limit
        Most runs read (each gives one row per bank it covers), >= 1.

    Returns
    -------
    list of BankStressResult
        Empty when nothing matches (a bank learns nothing of runs that did not cover it).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"`limit` must be an integer >= 1; got {limit!r}")
    q = select(StressRun).order_by(StressRun.as_of.desc(), StressRun.id.desc()).limit(limit)
    if scenario is not None:
        q = q.where(StressRun.scenario == scenario)
    if as_of is not None:
        q = q.where(StressRun.as_of == as_of)
    if bank_id is not None:
        q = q.where(StressRun.scope.in_(("all", bank_id)))
    out: list[BankStressResult] = []
    for r in session.scalars(q):
        own_book = bank_id is None or r.scope == bank_id
        rows = sorted(dict(r.results).get("by_bank", []), key=lambda x: str(x.get("bank_id")))
        out += [
            _bank_row(r, row, own_book)
            for row in rows
            if bank_id is None or row.get("bank_id") == bank_id
        ]
    return out
