"""Repositories: read and write the database, hand the core plain values.

Frames returned here have exactly the columns and dtypes of :func:`carbonfin.data.load_table` for
the same table (decimals as float64 for computation, nullable ints as ``Int64``, dates as
``datetime.date``), so code written against the sample files runs unchanged on the database.
Writes happen inside the caller's session (see :func:`carbonfin.store.database.session_scope`),
so a failure rolls back everything written in that transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Insert, Select, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carbonfin.data.schema import TABLES, Table, load_table
from carbonfin.errors import DataIntegrityError, InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.store.models import (
    SAMPLE_MODELS,
    AuditEntry,
    Base,
    Institution,
    Loan,
    Pledge,
    PledgeRelease,
    Price,
    RegistrationNumber,
    ScoreRecord,
)

__all__ = [
    "SEED_REQUIRED",
    "InstitutionInfo",
    "SeedReport",
    "account_frames",
    "data_summary",
    "fx_fixings",
    "institutions",
    "load_score_records",
    "loans",
    "pledges",
    "prices",
    "read_table",
    "record_audit",
    "require_bank",
    "save_score_records",
    "seed",
]

ProgressFn = Callable[[str, int, int], None]

#: Tables a seed folder must fill: without them every data command would fail or mislead.
SEED_REQUIRED = ("institutions", "firms", "firm_years", "prices", "fx_fixings", "loans")
_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class InstitutionInfo:
    institution_id: str
    name: str
    name_zh: str
    kind: str
    uscc: str | None  # None for the platform operator
    swift_bic: str | None

    @property
    def read_only(self) -> bool:
        """The central-bank branch monitors; it never writes."""
        return self.kind == "central_bank"


@dataclass(frozen=True, slots=True)
class SeedReport:
    """Rows inserted and rows already present (skipped) per table."""

    inserted: dict[str, int]
    skipped: dict[str, int]
    ledger_entries: int = 0

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())


# --- reading ---------------------------------------------------------------------------------


def _frame(
    session: Session, table: Table, stmt: Select[Any], extra: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows of ``stmt`` (the table's columns, then ``extra`` text columns) as a typed frame."""
    rows = session.execute(stmt).all()
    raw = pd.DataFrame.from_records(rows, columns=[*table.column_names, *extra])
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        series = raw[col.name]
        match col.kind:
            case "decimal" | "float":
                out[col.name] = pd.to_numeric(series.map(_to_float), errors="raise").astype(
                    "float64"
                )
            case "int":
                out[col.name] = pd.Series(
                    [None if pd.isna(v) else int(v) for v in series], dtype="Int64"
                )
            case "bool":
                out[col.name] = pd.Series(
                    [None if pd.isna(v) else bool(v) for v in series], dtype="boolean"
                )
            case _:
                out[col.name] = series.astype(object).where(series.notna(), None)
    for name in extra:
        out[name] = raw[name].astype(object).where(raw[name].notna(), None)
    return pd.DataFrame(out, columns=[*table.column_names, *extra])


def _to_float(value: object) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    return float(value)  # type: ignore[arg-type]


def _select(name: str) -> tuple[Table, type[Base], Select[Any]]:
    table = TABLES[name]
    model = SAMPLE_MODELS[name]
    columns = [getattr(model, c) for c in table.column_names]
    order = [getattr(model, k) for k in table.key]
    return table, model, select(*columns).order_by(*order)


def read_table(*, session: Session, name: str) -> pd.DataFrame:
    """The whole table ``name`` as a frame with the sample-file columns, ordered by its key."""
    if name not in SAMPLE_MODELS:
        raise InvalidInputError(f"unknown table {name!r}; known: {sorted(SAMPLE_MODELS)}")
    table, _model, stmt = _select(name)
    return _frame(session, table, stmt)


def prices(
    *,
    session: Session,
    instrument: Instrument,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Daily quotes of one instrument between ``start`` and ``end`` inclusive, by date."""
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"start {start} is after end {end}")
    table, _model, stmt = _select("prices")
    stmt = stmt.where(Price.instrument == instrument.value)
    if start is not None:
        stmt = stmt.where(Price.date >= start)
    if end is not None:
        stmt = stmt.where(Price.date <= end)
    frame = _frame(session, table, stmt)
    if frame.empty:
        raise MissingDataError(
            f"no {instrument.value} prices in the database"
            + (f" between {start} and {end}" if start or end else "")
            + "; run `carbonfin db seed`"
        )
    return frame


def fx_fixings(*, session: Session) -> pd.DataFrame:
    """Every FX fixing, ordered by pair and date."""
    return read_table(session=session, name="fx_fixings")


def account_frames(*, session: Session) -> dict[str, pd.DataFrame]:
    """The carbon-account tables: firms, facilities, facility_emissions, firm_years, compliance."""
    names = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
    return {name: read_table(session=session, name=name) for name in names}


def loans(*, session: Session, bank_id: str | None = None) -> pd.DataFrame:
    """Loans, all or one bank's only (a bank never sees another bank's book)."""
    table, _model, stmt = _select("loans")
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.where(Loan.bank_id == bank_id)
    return _frame(session, table, stmt)


def pledges(*, session: Session, bank_id: str | None = None) -> pd.DataFrame:
    """Pledges, all or those securing one bank's loans."""
    table, _model, stmt = _select("pledges")
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.join(Loan, Loan.loan_id == Pledge.loan_id).where(Loan.bank_id == bank_id)
    return _frame(session, table, stmt)


def _require_institution(session: Session, institution_id: str) -> None:
    if session.get(Institution, institution_id) is None:
        raise MissingDataError(f"unknown institution {institution_id!r}")


def require_bank(session: Session, bank_id: str) -> None:
    """Refuse an id that names no bank (an unknown one, or the central bank's or operator's):
    a filter by it would answer an empty book, and unknown is not zero."""
    row = session.get(Institution, bank_id)
    if row is None or row.kind != "bank":
        raise MissingDataError(f"unknown bank {bank_id!r}")


def institutions(*, session: Session) -> list[InstitutionInfo]:
    """Every institution, banks first, by id."""
    rows = session.scalars(
        select(Institution).order_by(Institution.kind, Institution.institution_id)
    )
    return [
        InstitutionInfo(r.institution_id, r.name, r.name_zh, r.kind, r.uscc, r.swift_bic)
        for r in rows
    ]


def data_summary(*, session: Session) -> dict[str, Any]:
    """Row counts per table and each instrument's date range (for ``carbonfin info``)."""
    counts = {
        name: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in SAMPLE_MODELS.items()
    }
    ranges = {
        str(inst): (first, last, int(n), int(traded or 0))
        for inst, first, last, n, traded in session.execute(
            select(
                Price.instrument,
                func.min(Price.date),
                func.max(Price.date),
                func.count(),
                func.count(Price.close_cny_per_t),
            ).group_by(Price.instrument)
        )
    }
    banks = int(
        session.scalar(
            select(func.count()).select_from(Institution).where(Institution.kind == "bank")
        )
        or 0
    )
    return {"counts": counts, "price_ranges": ranges, "banks": banks}


# --- writing ---------------------------------------------------------------------------------


def _python_value(value: object, kind: str) -> object:
    if (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    ):
        return None
    match kind:
        case "decimal":
            # repr gives the shortest decimal that round-trips the float read from the file,
            # which is the decimal written in the file (at most 6 places).
            try:
                return Decimal(repr(float(value)))  # type: ignore[arg-type]
            except (InvalidOperation, ValueError) as exc:  # pragma: no cover - checked by loader
                raise DataIntegrityError(f"not a decimal: {value!r}") from exc
        case "int":
            return int(value)  # type: ignore[call-overload]
        case "float":
            return float(value)  # type: ignore[arg-type]
        case "bool":
            return bool(value)
        case _:
            return value


def _insert_all(model: type[Base]) -> Insert:
    """A bulk INSERT of ``model`` that sends a row's ``None`` as NULL instead of leaving the
    column out, so that every row has the same columns and a chunk goes to the database as one
    batched statement. (The ORM's default groups consecutive rows by which columns are non-null:
    the sample's nullable columns split its 67,000 rows into 7,368 statements, 8.7 s of a seed
    on PostgreSQL.) The seeded models have no column defaults, so NULL is what leaving a column
    out would store."""
    return insert(model).execution_options(render_nulls=True)


def _records(frame: pd.DataFrame, table: Table) -> list[dict[str, object]]:
    kinds = [(c.name, c.kind) for c in table.columns]
    return [
        {name: _python_value(v, kind) for (name, kind), v in zip(kinds, row, strict=True)}
        for row in frame[table.column_names].itertuples(index=False, name=None)
    ]


def seed(
    *,
    session: Session,
    directory: Path | None = None,
    progress: ProgressFn | None = None,
) -> SeedReport:
    """Load the sample market (default: the shipped files) into the database.

    Idempotent: rows whose key is already present are skipped, so seeding twice inserts nothing the
    second time. Every file is read and checked (types, manifest checksum) before anything is
    written, and everything is written in the caller's transaction, so a failure leaves the
    database as it was.
    """
    frames = {name: load_table(name, directory) for name in SAMPLE_MODELS}
    empty = [TABLES[name].filename for name in SEED_REQUIRED if frames[name].empty]
    if empty:
        raise DataIntegrityError(
            f"{directory or 'the sample folder'}: {', '.join(empty)} "
            f"{'holds' if len(empty) == 1 else 'hold'} no rows; a seed needs rows in "
            f"{', '.join(TABLES[n].filename for n in SEED_REQUIRED)} (nothing was written)"
        )
    total = sum(len(f) for f in frames.values())
    done = 0
    new_loans: list[dict[str, object]] = []
    inserted: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for name, model in SAMPLE_MODELS.items():
        table = TABLES[name]
        key_cols = [getattr(model, k) for k in table.key]
        existing = {tuple(row) for row in session.execute(select(*key_cols))}
        records = _records(frames[name], table)
        new = [r for r in records if tuple(r[k] for k in table.key) not in existing]
        for start in range(0, len(new), _CHUNK):
            try:
                session.execute(_insert_all(model), new[start : start + _CHUNK])
            except IntegrityError as exc:
                raise DataIntegrityError(
                    f"{table.filename} violates a database constraint (the transaction is rolled "
                    f"back: nothing was written): {str(exc.orig).splitlines()[0]}"
                ) from exc
            if progress is not None:
                progress(name, done + min(start + _CHUNK, len(new)), total)
        done += len(records)
        if progress is not None:
            progress(name, done, total)
        inserted[name] = len(new)
        skipped[name] = len(records) - len(new)
        if name == "loans":
            new_loans = new
        if name == "pledges":
            _seed_releases(session, new)
            _seed_registrations(session, new)
    session.flush()
    entries = _seed_ledger(session, new_loans, frames["prices"])
    if any(inserted.values()) and inspect(session.connection()).has_table("data_versions"):
        from carbonfin.store.transactions import bump_data_version

        # caches of market-derived results (every API worker's) key on these versions (a
        # database before migration 0004 has none)
        bump_data_version(session, "market")
        if inserted.get("loans") or inserted.get("pledges"):
            bump_data_version(session, "lending")
    return SeedReport(inserted, skipped, entries)


def _seed_ledger(session: Session, new_loans: list[dict[str, object]], prices: pd.DataFrame) -> int:
    """The ledger of the loans a seed inserted (:func:`carbonfin.store.ledger.seed_entries`),
    their balances known as of the sample's last quote. A database at a revision before the
    ledger (a migration test) has no ledger table: migration 0005 then writes it."""
    from sqlalchemy import inspect

    from carbonfin.store.ledger import seed_entries
    from carbonfin.store.models import LoanLedgerEntry

    if not new_loans or not inspect(session.connection()).has_table("loan_ledger"):
        return 0
    as_known = max(prices["date"]) if not prices.empty else dt.date.today()
    rows = seed_entries(new_loans, as_known=as_known, recorded_at=dt.datetime.now(dt.UTC))
    for start in range(0, len(rows), _CHUNK):
        session.execute(_insert_all(LoanLedgerEntry), rows[start : start + _CHUNK])
    return len(rows)


def _seed_releases(session: Session, pledges: list[dict[str, object]]) -> None:
    """The release record of each seeded pledge the sample marks released: its whole quantity on
    its release date (the pledge history is the release records; the sample file carries only the
    final state)."""
    from sqlalchemy import inspect

    if not pledges or not inspect(session.connection()).has_table("pledge_releases"):
        return  # a database before migration 0006 (a migration test): 0006 writes them
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "pledge_id": p["pledge_id"],
            "release_date": p["release_date"] or p["registration_date"],
            "quantity_t": p["quantity_t"],
            "reason": "other",
            "substitute_pledge_id": None,
            "recorded_at": now,
            "client": "sample seed",
        }
        for p in pledges
        if (p["status"] == "released" or p["release_date"] is not None)
        and (p["release_date"] is not None or p["registration_date"] is not None)
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(_insert_all(PledgeRelease), rows[start : start + _CHUNK])


def _seed_registrations(session: Session, pledges: list[dict[str, object]]) -> None:
    """Each seeded pledge's registration number under its loan's bank (table
    ``pledge_registrations``; a database before migration 0010 has none: 0009 writes them)."""
    from sqlalchemy import inspect

    if not pledges or not inspect(session.connection()).has_table("pledge_registrations"):
        return
    ids = [p["pledge_id"] for p in pledges if p["registration_no"] is not None]
    rows = session.execute(
        select(Pledge.pledge_id, Loan.bank_id, Pledge.registration_no)
        .join(Loan, Loan.loan_id == Pledge.loan_id)
        .where(Pledge.pledge_id.in_(ids))
    ).all()
    regs = [{"bank_id": b, "registration_no": n, "pledge_id": i} for i, b, n in rows]
    for start in range(0, len(regs), _CHUNK):
        session.execute(_insert_all(RegistrationNumber), regs[start : start + _CHUNK])


# --- scores and audit ------------------------------------------------------------------------

_SCORE_KEYS = (
    "uscc",
    "year",
    "methodology_version",
    "score",
    "colour_grade",
    "efficiency_grade",
    "confidence",
    "loan_adjustment_bp",
    "input_hash",
    "detail",
)


def save_score_records(
    *, session: Session, records: Iterable[Mapping[str, Any]], computed_at: dt.datetime
) -> int:
    """Persist scores (as produced by ``Score.to_record()``); return how many were new.

    A score already stored with the same firm, year, methodology version and input hash is the
    same score (the methodology is deterministic) and is not stored twice.
    """
    if computed_at.tzinfo is None:
        raise InvalidInputError("computed_at must be timezone-aware")
    rows: list[dict[str, Any]] = []
    for record in records:
        missing = [k for k in _SCORE_KEYS if k not in record]
        if missing:
            raise InvalidInputError(f"score record lacks {missing}")
        row = {k: record[k] for k in _SCORE_KEYS}
        for k in ("score", "confidence", "loan_adjustment_bp"):
            row[k] = Decimal(str(row[k]))
        row["computed_at"] = computed_at
        rows.append(row)
    if not rows:
        return 0
    existing = {
        tuple(r)
        for r in session.execute(
            select(
                ScoreRecord.uscc,
                ScoreRecord.year,
                ScoreRecord.methodology_version,
                ScoreRecord.input_hash,
            ).where(ScoreRecord.uscc.in_({r["uscc"] for r in rows}))
        )
    }
    new = [
        r
        for r in rows
        if (r["uscc"], r["year"], r["methodology_version"], r["input_hash"]) not in existing
    ]
    for start in range(0, len(new), _CHUNK):
        session.execute(insert(ScoreRecord), new[start : start + _CHUNK])
    return len(new)


def load_score_records(
    *,
    session: Session,
    uscc: str | None = None,
    year: int | None = None,
    methodology_version: str | None = None,
) -> list[dict[str, Any]]:
    """Stored scores as records (the keys of ``Score.to_record()`` plus ``computed_at``)."""
    stmt = select(ScoreRecord).order_by(
        ScoreRecord.uscc, ScoreRecord.year, ScoreRecord.computed_at, ScoreRecord.score_id
    )
    if uscc is not None:
        stmt = stmt.where(ScoreRecord.uscc == uscc)
    if year is not None:
        stmt = stmt.where(ScoreRecord.year == year)
    if methodology_version is not None:
        stmt = stmt.where(ScoreRecord.methodology_version == methodology_version)
    out = []
    for r in session.scalars(stmt):
        record: dict[str, Any] = {k: getattr(r, k) for k in _SCORE_KEYS}
        for k in ("score", "confidence", "loan_adjustment_bp"):
            record[k] = _canonical_decimal(record[k])
        record["computed_at"] = r.computed_at
        out.append(record)
    return out


def _canonical_decimal(value: Decimal) -> str:
    """``Decimal`` as a plain string without the trailing zeros the column scale adds."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def record_audit(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one audit entry in the caller's transaction. Never pass secrets in ``detail``."""
    forbidden = _secret_keys(detail or {})
    if forbidden:
        raise InvalidInputError(f"audit detail must not carry secrets; found keys {forbidden}")
    session.add(
        AuditEntry(
            at=at or dt.datetime.now(dt.UTC),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=dict(detail) if detail is not None else None,
        )
    )


def _secret_keys(detail: Mapping[str, Any]) -> Sequence[str]:
    words = ("secret", "password", "token", "api_key")
    return sorted(k for k in detail if any(w in k.lower() for w in words))
