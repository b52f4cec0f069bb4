"""Synthetic price histories for the collateral tests: one trade on every SSE business day."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from carbonfin._quantlib import advance, business_days
from carbonfin.pricing import PriceHistory

START = dt.date(2013, 1, 4)


def garch_t_returns(
    rng: np.random.Generator, n: int, omega: float, alpha: float, beta: float
) -> np.ndarray:
    """``n`` decimal returns of a GARCH(1,1) with unit-variance Student-t(4) shocks (fat tails,
    volatility clustering), drawn from ``rng``, variance starting at 4e-4."""
    out, h = np.empty(n), 4e-4
    for t in range(n):
        out[t] = math.sqrt(h) * rng.standard_t(4) * math.sqrt(0.5)
        h = omega + alpha * out[t] ** 2 + beta * h
    return out


def trading_days(n: int, start: dt.date = START) -> list[dt.date]:
    end = advance(start, n - 1)  # exactly n business days: no look into unpublished years
    days = business_days(start, end)
    assert len(days) >= n
    return days[:n]


def history_from_returns(
    log_returns: np.ndarray,
    *,
    volume_t: float | np.ndarray = 1000.0,
    price0: float = 40.0,
    instrument: str = "SHEA",
    start: dt.date = START,
    limit_frac: float | None = 0.5,
) -> PriceHistory:
    """Closes ``price0·exp(cumsum(r))`` on consecutive business days (first close = price0)."""
    r = np.asarray(log_returns, dtype=float)
    closes = price0 * np.exp(np.r_[0.0, np.cumsum(r)])
    days = trading_days(len(closes), start)
    vol = np.broadcast_to(np.asarray(volume_t, dtype=float), closes.shape)
    frame = pd.DataFrame(
        {
            "date": days,
            "close": closes,
            "vwap": closes,
            "volume_t": vol,
            "amount_cny": vol * closes,
        }
    )
    return PriceHistory.from_frame(frame, instrument, limit_frac=limit_frac)
