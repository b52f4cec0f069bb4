"""Book valuations and margin calls as stored: what the monitor computed for each pledge and loan
on a valuation date.

Valuations and margin calls are idempotent per valuation date: saving a date again replaces that
date's rows for the pledges (valuations) and loans (margin calls) in the batch, so re-running a
day's valuation never duplicates it, and a loan that is no longer in call on a re-run loses its
call. Writes happen in the caller's session: every input is checked before anything is written,
and a failure raises, so the caller's transaction rolls back and nothing of the batch is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.store.models import CollateralValuation, Loan, MarginCall, Pledge
from carbonfin.store.repositories import _require_institution

__all__ = [
    "LTV_MAX",
    "MARGIN_CALL_COLUMNS",
    "VALUATION_COLUMNS",
    "BookWriteReport",
    "load_book_valuation",
    "load_margin_calls",
    "save_book_valuation",
    "save_margin_calls",
]

_CHUNK = 2_000

#: An LTV at or above this is stored as NULL (the collateral is worth next to nothing); the
#: row's ``state`` says what it means.
LTV_MAX = 1.0e9


#: Columns of a valuation record: required unless marked optional in the docstring of
#: :func:`save_book_valuation`.
VALUATION_COLUMNS = (
    "pledge_id",
    "loan_id",
    "bank_id",
    "instrument",
    "vintage",
    "quantity_t",
    "eligible_quantity_t",
    "price_cny_per_t",
    "mark_date",
    "market_value_cny",
    "haircut_frac",
    "lendable_value_cny",
    "loan_currency",
    "loan_outstanding",
    "loan_outstanding_cny",
    "ltv",
    "state",
    "model",
    "detail",
)
_VALUATION_REQUIRED = (
    "pledge_id",
    "price_cny_per_t",
    "market_value_cny",
    "haircut_frac",
    "lendable_value_cny",
    "loan_currency",
    "loan_outstanding",
    "loan_outstanding_cny",
    "state",
)
_FROM_PLEDGE = ("loan_id", "bank_id", "instrument", "vintage", "quantity_t")

#: Columns of a margin-call record (see :func:`save_margin_calls`).
MARGIN_CALL_COLUMNS = (
    "loan_id",
    "bank_id",
    "state",
    "ltv",
    "target_ltv",
    "collateral_value_cny",
    "loan_outstanding_cny",
    "topup_cash_cny",
    "topup_quantity_t",
    "instrument",
    "detail",
)
_CALL_REQUIRED = ("loan_id", "state", "collateral_value_cny", "loan_outstanding_cny")

_PLACES = {"money": 4, "price": 6, "fraction": 8, "ratio": 8}


@dataclass(frozen=True, slots=True)
class BookWriteReport:
    """What one :func:`save_book_valuation` call stored for its valuation date."""

    valuation_date: dt.date
    valuations_written: int
    valuations_replaced: int
    margin_calls_written: int
    margin_calls_replaced: int


def _records(data: pd.DataFrame | Iterable[Mapping[str, Any]], what: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True).copy()
    else:
        try:
            frame = pd.DataFrame.from_records(list(data))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{what} must be a frame or mappings: {exc}") from exc
    return frame


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _decimal(value: object, kind: str, field: str, row: str) -> Decimal:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"`{field}` of {row} must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"`{field}` of {row} must be finite; got {value!r}")
    try:
        return Decimal(repr(number)).quantize(
            Decimal(1).scaleb(-_PLACES[kind]), rounding=ROUND_HALF_EVEN
        )
    except InvalidOperation as exc:  # pragma: no cover - repr of a finite float always parses
        raise InvalidInputError(f"`{field}` of {row} is not a decimal: {value!r}") from exc


def _optional_decimal(value: object, kind: str, field: str, row: str) -> Decimal | None:
    return None if _missing(value) else _decimal(value, kind, field, row)


def _ltv(value: object, row: str) -> Decimal | None:
    if _missing(value):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"`ltv` of {row} must be a number; got {value!r}") from None
    if math.isnan(number) or number < 0:
        raise InvalidInputError(f"`ltv` of {row} must be >= 0 or infinite; got {value!r}")
    return None if number >= LTV_MAX else _decimal(number, "ratio", "ltv", row)


def _int(value: object, field: str, row: str, *, positive: bool = False) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"`{field}` of {row} must be whole tonnes; got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or number < (1 if positive else 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidInputError(f"`{field}` of {row} must be whole tonnes {bound}; got {value!r}")
    return int(number)


def _date(value: object, field: str, row: str) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInputError(f"`{field}` of {row} must be a date; got {value!r}") from None


def _json(value: object, row: str) -> dict[str, Any] | None:
    if _missing(value) if not isinstance(value, Mapping) else False:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"`detail` of {row} must be a mapping; got {type(value).__name__}")

    def default(obj: object) -> object:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, dt.date | Decimal):
            return str(obj)
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    try:
        out: dict[str, Any] = json.loads(json.dumps(dict(value), default=default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"`detail` of {row} cannot be stored as JSON: {exc}") from exc
    return out


def _text(value: object, field: str, row: str, max_len: int) -> str:
    if _missing(value) or not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"`{field}` of {row} must be a non-empty string; got {value!r}")
    if len(value) > max_len:
        raise InvalidInputError(f"`{field}` of {row} is longer than {max_len}: {value!r}")
    return value


def _check_date_and_time(valuation_date: dt.date, computed_at: dt.datetime | None) -> dt.datetime:
    if not isinstance(valuation_date, dt.date) or isinstance(valuation_date, dt.datetime):
        raise InvalidInputError(f"`valuation_date` must be a date; got {valuation_date!r}")
    if computed_at is None:
        return dt.datetime.now(dt.UTC)
    if computed_at.tzinfo is None:
        raise InvalidInputError("`computed_at` must be timezone-aware")
    return computed_at


def _checked_keys(
    frame: pd.DataFrame,
    required: tuple[str, ...],
    known: tuple[str, ...],
    key: str,
    what: str,
) -> list[str]:
    """Check a batch's columns and that ``key`` is unique; return the keys."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{what} lack the columns {missing}")
    unknown = sorted(set(frame.columns) - set(known))
    if unknown:
        raise InvalidInputError(f"{what} have unknown columns {unknown}; known: {list(known)}")
    ids = [str(x) for x in frame[key]]
    dup = pd.Series(ids)[pd.Series(ids).duplicated()]
    if not dup.empty:
        raise InvalidInputError(f"{what}: {key} {dup.iloc[0]!r} appears twice in one batch")
    return ids


def _stored_pledges(session: Session, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """``pledge_id -> (loan_id, bank_id, instrument, vintage, quantity_t)``; refuse unknown ids."""
    known: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in session.execute(
            select(
                Pledge.pledge_id,
                Pledge.loan_id,
                Loan.bank_id,
                Pledge.instrument,
                Pledge.vintage,
                Pledge.quantity_t,
            )
            .join(Loan, Loan.loan_id == Pledge.loan_id)
            .where(Pledge.pledge_id.in_(chunk))
        ):
            known[row[0]] = tuple(row[1:])
    absent = [p for p in ids if p not in known]
    if absent:
        raise InvalidInputError(
            f"valuations name pledges that are not in the database: {absent[:5]}"
            + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        )
    return known


def _valuation_rows(
    session: Session, frame: pd.DataFrame, valuation_date: dt.date, computed_at: dt.datetime
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    ids = _checked_keys(frame, _VALUATION_REQUIRED, VALUATION_COLUMNS, "pledge_id", "valuations")
    known = _stored_pledges(session, ids)
    rows = []
    for rec in frame.to_dict("records"):
        pid = str(rec["pledge_id"])
        name = f"pledge {pid}"
        stored = dict(zip(_FROM_PLEDGE, known[pid], strict=True))
        for col in ("loan_id", "bank_id"):
            if col in rec and not _missing(rec[col]) and str(rec[col]) != stored[col]:
                raise InvalidInputError(
                    f"`{col}` of {name} is {rec[col]!r} but the pledge belongs to {stored[col]!r}"
                )
        haircut = _decimal(rec["haircut_frac"], "fraction", "haircut_frac", name)
        if not Decimal(0) <= haircut <= Decimal(1):
            raise InvalidInputError(
                f"`haircut_frac` of {name} must be in [0, 1]; got {rec['haircut_frac']!r}"
            )
        price = _decimal(rec["price_cny_per_t"], "price", "price_cny_per_t", name)
        if price <= 0:
            raise InvalidInputError(
                f"`price_cny_per_t` of {name} must be > 0; got {rec['price_cny_per_t']!r}"
            )
        quantity = rec.get("quantity_t", stored["quantity_t"])
        eligible = rec.get("eligible_quantity_t")
        rows.append(
            {
                "valuation_date": valuation_date,
                "pledge_id": pid,
                "loan_id": stored["loan_id"],
                "bank_id": stored["bank_id"],
                "instrument": Instrument.parse(rec.get("instrument", stored["instrument"])).value,
                "vintage": stored["vintage"]
                if _missing(rec.get("vintage"))
                else _int(rec["vintage"], "vintage", name),
                "quantity_t": _int(quantity, "quantity_t", name, positive=True),
                "eligible_quantity_t": None
                if _missing(eligible)
                else _int(eligible, "eligible_quantity_t", name),
                "price_cny_per_t": price,
                "mark_date": _date(rec.get("mark_date"), "mark_date", name),
                "market_value_cny": _decimal(
                    rec["market_value_cny"], "money", "market_value_cny", name
                ),
                "haircut_frac": haircut,
                "lendable_value_cny": _decimal(
                    rec["lendable_value_cny"], "money", "lendable_value_cny", name
                ),
                "loan_currency": _text(rec["loan_currency"], "loan_currency", name, 3),
                "loan_outstanding": _decimal(
                    rec["loan_outstanding"], "money", "loan_outstanding", name
                ),
                "loan_outstanding_cny": _decimal(
                    rec["loan_outstanding_cny"], "money", "loan_outstanding_cny", name
                ),
                "ltv": _ltv(rec.get("ltv"), name),
                "state": _text(rec["state"], "state", name, 20),
                "model": None
                if _missing(rec.get("model"))
                else _text(rec["model"], "model", name, 40),
                "detail": _json(rec.get("detail"), name),
                "computed_at": computed_at,
            }
        )
    return rows


def _call_rows(
    session: Session, frame: pd.DataFrame, valuation_date: dt.date, computed_at: dt.datetime
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    ids = _checked_keys(frame, _CALL_REQUIRED, MARGIN_CALL_COLUMNS, "loan_id", "margin calls")
    banks: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stmt = select(Loan.loan_id, Loan.bank_id).where(Loan.loan_id.in_(chunk))
        banks.update({str(loan): str(bank) for loan, bank in session.execute(stmt)})
    absent = [x for x in ids if x not in banks]
    if absent:
        raise InvalidInputError(
            f"margin calls name loans that are not in the database: {absent[:5]}"
        )
    rows = []
    for rec in frame.to_dict("records"):
        loan = str(rec["loan_id"])
        name = f"loan {loan}"
        if "bank_id" in rec and not _missing(rec["bank_id"]) and rec["bank_id"] != banks[loan]:
            raise InvalidInputError(
                f"`bank_id` of {name} is {rec['bank_id']!r} but the loan is {banks[loan]!r}'s"
            )
        topup_t = rec.get("topup_quantity_t")
        instrument = rec.get("instrument")
        rows.append(
            {
                "valuation_date": valuation_date,
                "loan_id": loan,
                "bank_id": banks[loan],
                "state": _text(rec["state"], "state", name, 20),
                "ltv": _ltv(rec.get("ltv"), name),
                "target_ltv": _optional_decimal(rec.get("target_ltv"), "ratio", "target_ltv", name),
                "collateral_value_cny": _decimal(
                    rec["collateral_value_cny"], "money", "collateral_value_cny", name
                ),
                "loan_outstanding_cny": _decimal(
                    rec["loan_outstanding_cny"], "money", "loan_outstanding_cny", name
                ),
                "topup_cash_cny": _optional_decimal(
                    rec.get("topup_cash_cny"), "money", "topup_cash_cny", name
                ),
                "topup_quantity_t": None
                if _missing(topup_t)
                else _int(math.ceil(float(topup_t)), "topup_quantity_t", name),  # type: ignore[arg-type]
                "instrument": None
                if _missing(instrument)
                else Instrument.parse(str(instrument)).value,
                "detail": _json(rec.get("detail"), name),
                "computed_at": computed_at,
            }
        )
    return rows


def _replace(
    session: Session,
    model: type[CollateralValuation] | type[MarginCall],
    key_column: Any,
    valuation_date: dt.date,
    keys: list[str],
    rows: list[dict[str, Any]],
    what: str,
) -> int:
    replaced = 0
    for start in range(0, len(keys), _CHUNK):
        result = session.execute(
            delete(model).where(
                model.valuation_date == valuation_date,
                key_column.in_(keys[start : start + _CHUNK]),
            )
        )
        replaced += int(getattr(result, "rowcount", 0) or 0)
    try:
        for start in range(0, len(rows), _CHUNK):
            session.execute(insert(model), rows[start : start + _CHUNK])
        session.flush()
    except IntegrityError as exc:
        raise DataIntegrityError(
            f"{what} of {valuation_date} violate a database constraint (the transaction is "
            f"rolled back: nothing was written): {str(exc.orig).splitlines()[0]}"
        ) from exc
    return replaced


def save_book_valuation(
    *,
    session: Session,
    valuation_date: dt.date,
    valuations: pd.DataFrame | Iterable[Mapping[str, Any]],
    margin_calls: pd.DataFrame | Iterable[Mapping[str, Any]] | None = None,
    computed_at: dt.datetime | None = None,
) -> BookWriteReport:
    """Store a book valuation of ``valuation_date`` (and its margin calls) in one transaction.

    ``valuations`` has one row per pledge with the columns :data:`VALUATION_COLUMNS`. Required:
    ``pledge_id``, ``price_cny_per_t`` (> 0), ``market_value_cny``, ``haircut_frac`` (in
    [0, 1]), ``lendable_value_cny``, ``loan_currency``, ``loan_outstanding`` (in the loan's
    currency), ``loan_outstanding_cny``, ``state`` (e.g. ``ok``, ``warning``, ``margin_call``,
    ``liquidation``). Optional: ``loan_id``, ``bank_id``, ``instrument``, ``vintage``,
    ``quantity_t`` (taken from the stored pledge when absent; a ``loan_id`` or ``bank_id`` that
    contradicts the pledge is refused), ``eligible_quantity_t``, ``mark_date``, ``ltv`` (an
    infinite or >= :data:`LTV_MAX` LTV is stored as NULL), ``model`` and ``detail`` (a JSON
    mapping, e.g. the haircut breakdown). Money is rounded half-even to 4 decimals, prices to
    6, fractions and ratios to 8.

    Idempotent per valuation date: the date's stored rows for the same pledges are replaced.
    ``margin_calls``, when given, is saved by :func:`save_margin_calls` for the loans of the
    valued pledges, so that a loan no longer in call loses its call. Everything is checked before
    anything is written; on any error nothing of the batch is stored (the caller's transaction
    rolls back).
    """
    at = _check_date_and_time(valuation_date, computed_at)
    frame = _records(valuations, "valuations")
    rows = _valuation_rows(session, frame, valuation_date, at)
    call_rows: list[dict[str, Any]] = []
    loans = sorted({r["loan_id"] for r in rows})
    if margin_calls is not None:
        call_rows = _call_rows(session, _records(margin_calls, "margin calls"), valuation_date, at)
        outside = sorted({r["loan_id"] for r in call_rows} - set(loans))
        if outside:
            raise InvalidInputError(
                f"margin calls for loans without a valued pledge in this batch: {outside[:5]}"
            )
    replaced = _replace(
        session,
        CollateralValuation,
        CollateralValuation.pledge_id,
        valuation_date,
        [r["pledge_id"] for r in rows],
        rows,
        "valuations",
    )
    calls_replaced = 0
    if margin_calls is not None:
        calls_replaced = _replace(
            session,
            MarginCall,
            MarginCall.loan_id,
            valuation_date,
            loans,
            call_rows,
            "margin calls",
        )
    return BookWriteReport(valuation_date, len(rows), replaced, len(call_rows), calls_replaced)


def save_margin_calls(
    *,
    session: Session,
    valuation_date: dt.date,
    calls: pd.DataFrame | Iterable[Mapping[str, Any]],
    loan_ids: Iterable[str] | None = None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Store the margin calls (and warnings, liquidations) of ``valuation_date``; return how many.

    ``calls`` has the columns :data:`MARGIN_CALL_COLUMNS`; required ``loan_id``, ``state``,
    ``collateral_value_cny``, ``loan_outstanding_cny``; ``bank_id`` is taken from the loan.
    Idempotent per valuation date: the date's stored calls of the loans in ``loan_ids`` (the
    loans that were evaluated; default: the loans in ``calls``) are replaced, so a loan
    evaluated again and no longer in call loses its call.
    """
    at = _check_date_and_time(valuation_date, computed_at)
    rows = _call_rows(session, _records(calls, "margin calls"), valuation_date, at)
    scope = sorted({str(x) for x in loan_ids} if loan_ids is not None else set())
    scope = sorted(set(scope) | {r["loan_id"] for r in rows})
    _replace(session, MarginCall, MarginCall.loan_id, valuation_date, scope, rows, "margin calls")
    return len(rows)


def load_book_valuation(
    *, session: Session, valuation_date: dt.date, bank_id: str | None = None
) -> pd.DataFrame:
    """The stored valuations of one date (all banks or one), by pledge id; money, prices,
    fractions and ratios as ``Decimal``."""
    stmt = (
        select(CollateralValuation)
        .where(CollateralValuation.valuation_date == valuation_date)
        .order_by(CollateralValuation.pledge_id)
    )
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.where(CollateralValuation.bank_id == bank_id)
    cols = ["valuation_date", *VALUATION_COLUMNS, "computed_at"]
    records = [{c: getattr(r, c) for c in cols} for r in session.scalars(stmt)]
    return pd.DataFrame.from_records(records, columns=cols)


def load_margin_calls(
    *,
    session: Session,
    valuation_date: dt.date | None = None,
    bank_id: str | None = None,
) -> pd.DataFrame:
    """Stored margin calls, by date and loan id; optionally one date's and one bank's."""
    stmt = select(MarginCall).order_by(MarginCall.valuation_date, MarginCall.loan_id)
    if valuation_date is not None:
        stmt = stmt.where(MarginCall.valuation_date == valuation_date)
    if bank_id is not None:
        _require_institution(session, bank_id)
        stmt = stmt.where(MarginCall.bank_id == bank_id)
    cols = ["valuation_date", *MARGIN_CALL_COLUMNS, "computed_at"]
    records = [{c: getattr(r, c) for c in cols} for r in session.scalars(stmt)]
    return pd.DataFrame.from_records(records, columns=cols)
