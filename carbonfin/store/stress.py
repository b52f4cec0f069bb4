"""Stored stress results (table ``stress_runs``, migration 0008).

:func:`save_stress_run` stores a record of :func:`carbonfin.collateral.stress_record` in the
caller's session (the caller's write transaction commits it); storing the same run (scenario,
as-of, scope, seed) again replaces it. :func:`load_stress_runs` reads them back, newest as-of
first, for the CLI and the regulator's stress route.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError
from carbonfin.store.models import StressRun

__all__ = ["StoredStressRun", "load_stress_runs", "save_stress_run"]

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
