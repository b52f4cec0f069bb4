"""Type checks at the entry of the account and the scores: every column is what it claims to be.

A frame from a CSV, a database or a notebook can hold a number as text, a boolean as ``NaN`` or
``"False"``, a missing value as ``None``, ``NaN``, ``pd.NA`` or ``NaT``. Here each input column
is checked against its kind and normalised: numbers to ``float64`` (missing -> NaN), booleans
to pandas' nullable ``boolean`` (missing -> ``NA``, never ``True``), dates to ``datetime.date``
or ``None``. A value of the wrong kind raises :class:`InvalidInputError` naming the frame, the
column, the row and the value; a missing value stays missing and the score marks the factor
*missing*. Key columns (identities, years) may not be missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError

__all__ = ["ACCOUNT_COLUMNS", "as_bool", "as_date", "as_days", "as_number", "checked_frames"]

Kind = Literal["key", "text", "number", "bool", "date"]

#: The account columns that scoring reads, with their kind (``key``: text or integer
#: identity that may not be missing). Other columns pass through unchecked.
ACCOUNT_COLUMNS: Mapping[str, Mapping[str, Kind]] = {
    "firms": {
        "uscc": "key",
        "sector": "key",
        "industry_code": "text",
        "discloses_emissions": "bool",
        "target_year": "number",
        "target_reduction_frac": "number",
        "net_zero_year": "number",
    },
    "facilities": {"facility_id": "key", "uscc": "key"},
    "facility_emissions": {
        "facility_id": "key",
        "year": "key",
        "scope1_tco2e": "number",
        "scope2_tco2e": "number",
        "data_quality": "key",
    },
    "firm_years": {
        "uscc": "key",
        "year": "key",
        "output_qty": "number",
        "value_added_cny": "number",
        "revenue_cny": "number",
        "equity_cny": "number",
        "debt_cny": "number",
        "electricity_mwh": "number",
        "green_certificates": "number",
        "disclosed": "bool",
    },
    "compliance": {
        "uscc": "key",
        "year": "key",
        "instrument": "key",
        "allocated_t": "number",
        "surrendered_t": "number",
        "ccer_used_t": "number",
        "shortfall_t": "number",
        "surrender_date": "date",
    },
}

_YEAR_KEYS = {"year"}


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _bad(where: str, series: pd.Series, mask: np.ndarray, expected: str) -> InvalidInputError:
    i = int(np.flatnonzero(mask)[0])
    value = series.iloc[i]
    count = int(mask.sum())
    more = f" (and {count - 1} more)" if count > 1 else ""
    return InvalidInputError(
        f"{where}: expected {expected}; row {series.index[i]!r} holds {value!r} "
        f"({type(value).__name__}){more}"
    )


def as_number(series: pd.Series, where: str) -> pd.Series:
    """``series`` as float64; every kind of missing value becomes NaN; text or booleans raise."""
    if pd.api.types.is_bool_dtype(series.dtype):
        raise InvalidInputError(f"{where}: expected numbers; got the boolean dtype {series.dtype}")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return pd.Series(
            series.to_numpy(dtype=float, na_value=np.nan), index=series.index, name=series.name
        )
    values = series.to_numpy(dtype=object)
    ok = np.array(
        [
            _is_missing(v)
            or (
                isinstance(v, int | float | Decimal | np.integer | np.floating)
                and not isinstance(v, bool | np.bool_)
            )
            for v in values
        ],
        dtype=bool,
    )
    if not ok.all():
        raise _bad(where, series, ~ok, "numbers")
    out = np.array([np.nan if _is_missing(v) else float(v) for v in values], dtype=float)
    return pd.Series(out, index=series.index, name=series.name)


def as_bool(series: pd.Series, where: str) -> pd.Series:
    """``series`` as pandas' nullable ``boolean``: True/False, 1/0; missing -> NA; else raise.

    A missing value stays missing: ``NaN`` is never read as True (``bool(nan)`` is True).
    """
    if isinstance(series.dtype, pd.BooleanDtype) or series.dtype == bool:
        return series.astype("boolean")
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "boolean" and series.dtype == object:  # bools and missing: convert each once
        codes, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
        flags = np.array([bool(u) for u in uniques] + [False])
        return pd.Series(
            pd.arrays.BooleanArray(flags[codes], codes < 0), index=series.index, name=series.name
        )
    if kind in ("boolean", "empty"):
        return series.astype(object).astype("boolean")
    if pd.api.types.is_numeric_dtype(series.dtype):
        x = series.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(x)
        bad_numbers = ~missing & (x != 0) & (x != 1)
        if bad_numbers.any():
            raise _bad(where, series, bad_numbers, "booleans (True/False, 1/0, or missing)")
        return pd.Series(
            pd.arrays.BooleanArray(x == 1, missing), index=series.index, name=series.name
        )
    values = series.to_numpy(dtype=object)
    n = len(values)
    flag, missing, bad = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for i, v in enumerate(values):
        if _is_missing(v):
            missing[i] = True
        elif isinstance(v, bool | np.bool_) or (
            isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
        ):
            flag[i] = bool(v)
        else:
            bad[i] = True
    if bad.any():
        raise _bad(where, series, bad, "booleans (True/False, 1/0, or missing)")
    return pd.Series(pd.arrays.BooleanArray(flag, missing), index=series.index, name=series.name)


def as_days(series: pd.Series, where: str) -> np.ndarray:
    """``series`` as ``datetime64[D]`` (NaT where missing), vectorised where the types allow."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "date" and series.dtype == object:  # few distinct dates: convert each once
        codes, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
        if all(type(d) is dt.date for d in uniques):  # a datetime (a date too) takes the long way
            days = [np.datetime64(d, "D") for d in uniques]
            return np.array([*days, np.datetime64("NaT")], dtype="datetime64[D]")[codes]
    if kind in ("date", "datetime", "datetime64", "empty") or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        stamps = pd.to_datetime(series.astype(object), errors="coerce")
        bad = stamps.isna().to_numpy(dtype=bool) & ~series.isna().to_numpy(dtype=bool)
        if not bad.any():
            return np.asarray(stamps.to_numpy(dtype="datetime64[D]"))
    dates = as_date(series, where)
    return np.array(
        [np.datetime64("NaT") if d is None else np.datetime64(d, "D") for d in dates],
        dtype="datetime64[D]",
    )


def as_date(series: pd.Series, where: str) -> pd.Series:
    """``series`` as ``datetime.date`` objects (ISO text accepted); missing -> None."""
    values = series.to_numpy(dtype=object)
    out: list[dt.date | None] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if _is_missing(v):
            out.append(None)
        elif isinstance(v, dt.datetime | pd.Timestamp):
            out.append(v.date())
        elif isinstance(v, dt.date):
            out.append(v)
        elif isinstance(v, np.datetime64):
            out.append(pd.Timestamp(v).date())
        elif isinstance(v, str):
            try:
                out.append(dt.date.fromisoformat(v))
            except ValueError:
                bad[i] = True
                out.append(None)
        else:
            bad[i] = True
            out.append(None)
    if bad.any():
        raise _bad(where, series, bad, "dates (datetime.date or ISO text)")
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


def _as_key(series: pd.Series, where: str, year: bool) -> pd.Series:
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        raise _bad(where, series, missing, "a value in every row (it is a key)")
    if year:
        numbers = as_number(series, where).to_numpy()
        whole = numbers == np.round(numbers)
        if not whole.all():
            raise _bad(where, series, ~whole, "whole years")
        return pd.Series(numbers.astype(int), index=series.index, name=series.name)
    text = np.array([isinstance(v, str) for v in series.to_numpy(dtype=object)], dtype=bool)
    if not text.all():
        raise _bad(where, series, ~text, "text")
    return series.astype(object)


def _as_text(series: pd.Series, where: str) -> pd.Series:
    values = series.to_numpy(dtype=object)
    ok = np.array([_is_missing(v) or isinstance(v, str) for v in values], dtype=bool)
    if not ok.all():
        raise _bad(where, series, ~ok, "text")
    return series.astype(object)


def checked_frames(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Copies of the account frames with every scoring column checked and normalised."""
    out = {}
    for name, columns in ACCOUNT_COLUMNS.items():
        frame = frames[name]
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInputError(f"`{name}` must be a DataFrame; got {type(frame).__name__}")
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise InvalidInputError(f"`{name}` lacks the columns {absent}")
        frame = frame.reset_index(drop=True).copy()
        for col, kind in columns.items():
            where = f"{name}.{col}"
            if kind == "key":
                frame[col] = _as_key(frame[col], where, col in _YEAR_KEYS)
            elif kind == "text":
                frame[col] = _as_text(frame[col], where)
            elif kind == "number":
                frame[col] = as_number(frame[col], where)
            elif kind == "bool":
                frame[col] = as_bool(frame[col], where)
            else:
                frame[col] = as_date(frame[col], where)
        out[name] = frame
    return out
