"""Reading a frame of daily quotes and computing its data-quality flags (vectorised).

Used by :class:`~carbonfin.pricing.history.PriceHistory`; see its module notes for what each flag
means.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError

PRICE_COLUMNS = ("open", "high", "low", "close", "vwap")
#: accepted spellings of each column (the store/sample names and the real file's names)
ALIASES = {
    "open": ("open", "open_cny_per_t"),
    "high": ("high", "high_cny_per_t"),
    "low": ("low", "low_cny_per_t"),
    "close": ("close", "close_cny_per_t"),
    "vwap": ("vwap", "vwap_cny_per_t"),
    "volume_t": ("volume_t", "volume"),
    "amount_cny": ("amount_cny", "turnover_cny", "amount"),
}
# a close-to-close move counts as beyond the limit only past the limit plus one tick of rounding
LIMIT_SLACK = 1e-6
# relative tolerance of "inside the day's range"
RANGE_TOL = 1e-9


def pick_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The quote columns under their plain names (absent ones as NaN), as floats."""
    out = {}
    for name, aliases in ALIASES.items():
        found = [a for a in aliases if a in frame.columns]
        if name == "close" and not found:
            raise InvalidInputError(
                f"price frame has no close column (expected one of {list(aliases)}); "
                f"columns are {list(frame.columns)}"
            )
        try:
            out[name] = (
                pd.to_numeric(frame[found[0]], errors="raise").astype(float)
                if found
                else pd.Series(np.nan, index=frame.index)
            )
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"price frame has a non-numeric value: {exc}") from None
    return pd.DataFrame(out)


def parse_dates(frame: pd.DataFrame) -> list[dt.date]:
    """The frame's dates (a ``date`` column or a date index), checked unique and sorted."""
    if "date" in frame.columns:
        raw = frame["date"]
    elif isinstance(frame.index, pd.DatetimeIndex) or frame.index.name == "date":
        raw = pd.Series(frame.index, index=frame.index)
    else:
        raise InvalidInputError("price frame needs a `date` column or a date index")
    try:
        parsed = pd.to_datetime(raw, errors="raise")
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"price frame has a malformed date: {exc}") from None
    if parsed.isna().any():
        raise InvalidInputError(
            f"price frame has a missing date in row {int(parsed.isna().argmax())}"
        )
    dates = [d.date() for d in parsed]
    for prev, cur in itertools.pairwise(dates):
        if cur == prev:
            raise InvalidInputError(f"duplicate date {cur.isoformat()} in the price history")
        if cur < prev:
            raise InvalidInputError(
                f"dates are not sorted: {cur.isoformat()} comes after {prev.isoformat()}"
            )
    return dates


def check_values(quotes: pd.DataFrame) -> None:
    """Refuse infinite or non-positive prices and negative or infinite volumes, naming the date."""
    for cols, low_ok, what in (
        (PRICE_COLUMNS, False, "> 0"),
        (("volume_t", "amount_cny"), True, ">= 0"),
    ):
        for col in cols:
            values = quotes[col].to_numpy()
            positive = values >= 0 if low_ok else values > 0
            bad = ~np.isnan(values) & ~(np.isfinite(values) & positive)
            if bad.any():
                at = quotes.index[int(np.argmax(bad))]
                noun = f"{col} price" if col in PRICE_COLUMNS else col
                raise InvalidInputError(
                    f"{at.isoformat()}: {noun} must be finite and {what}; "
                    f"got {values[np.argmax(bad)]!r}"
                )


def stale_runs(close: np.ndarray, run: int) -> np.ndarray:
    """Mark closes that belong to a run of at least ``run`` equal consecutive closes."""
    flags = np.zeros(len(close), dtype=bool)
    idx = np.flatnonzero(~np.isnan(close))
    if len(idx) < run:
        return flags
    values = close[idx]
    change = np.r_[True, values[1:] != values[:-1]]
    run_id = np.cumsum(change)
    lengths = np.bincount(run_id)
    flags[idx[lengths[run_id] >= run]] = True
    return flags


def limit_breaches(close: np.ndarray, positions: np.ndarray, limit: float | None) -> np.ndarray:
    """Closes whose move from the previous close exceeds the limit compounded over the gap.

    A daily limit ``L`` applies to each session's move from the previous session's reference
    price, so over a gap of ``g`` business days without a close the largest listed move is
    ``(1 + L)^g - 1`` up and ``1 - (1 - L)^g`` down; only a move beyond that (plus rounding
    slack) is flagged. ``positions`` are the rows' session positions (gap = their difference,
    at least 1); ``limit=None`` (no limit) flags nothing.
    """
    breach = np.zeros(len(close), dtype=bool)
    has = np.flatnonzero(~np.isnan(close))
    if limit is None or len(has) < 2:
        return breach
    trade_close = close[has]
    gap = np.maximum(np.diff(positions[has]), 1).astype(float)
    move = trade_close[1:] / trade_close[:-1] - 1.0
    up = (1.0 + limit) ** gap - 1.0
    down = 1.0 - (1.0 - limit) ** gap
    breach[has[1:]] = (move > up + LIMIT_SLACK) | (move < -down - LIMIT_SLACK)
    return breach


def suspect_prints(quotes: pd.DataFrame, suspect_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose close and VWAP are more than ``suspect_frac`` apart, split by which is suspect.

    The gap is ``max(close, vwap) / min(close, vwap) - 1``. The row is ``suspect_vwap`` when the
    day's high and low are present, the close lies inside them and the VWAP does not (the range
    corroborates the close); otherwise it is ``suspect_print`` (the close is the doubtful price).
    """
    close = quotes["close"].to_numpy()
    vwap = quotes["vwap"].to_numpy()
    high = quotes["high"].to_numpy()
    low = quotes["low"].to_numpy()
    with np.errstate(invalid="ignore"):
        gap = np.fmax(close, vwap) / np.fmin(close, vwap) - 1.0
        far = ~np.isnan(close) & ~np.isnan(vwap) & (gap > suspect_frac)

        def inside(x: np.ndarray) -> np.ndarray:
            return (x >= low * (1 - RANGE_TOL)) & (x <= high * (1 + RANGE_TOL))

        vwap_wrong = far & inside(close) & ~inside(vwap)
    return far & ~vwap_wrong, vwap_wrong


def close_outside_range(quotes: pd.DataFrame) -> np.ndarray:
    close = quotes["close"].to_numpy()
    return (close > quotes["high"].to_numpy() * (1 + RANGE_TOL)) | (
        close < quotes["low"].to_numpy() * (1 - RANGE_TOL)
    )
