"""Filtered historical simulation read on a few days only: what the carbon-cost outlook needs
(prices at five surrender deadlines of paths about 1,270 business days long).

:func:`filtered_historical_at` draws exactly the returns of
:func:`carbonfin.pricing.scenarios.filtered_historical` (same seed, same recursion, same
compiled kernel) and returns the same prices on the chosen days, bit for bit; what it leaves out
is the ``paths × days`` matrices of cumulative sums and of prices that nobody reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.pricing.scenarios import (
    _MAX_LOG_MOVE,
    LimitArg,
    _check_common,
    _fhs_returns,
    _limit,
)
from carbonfin.pricing.volatility import VolFit

__all__ = ["ScenarioMarks", "filtered_historical_at"]


@dataclass(frozen=True, slots=True, eq=False)
class ScenarioMarks:
    """Prices of scenario paths on chosen days only: ``prices[:, k]`` is each path's price
    ``days[k]`` business days after the start (read-only)."""

    method: str
    start_price: float
    days: tuple[int, ...]
    prices: np.ndarray
    seed: int | None
    limit_frac: float | None
    limit_source: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.prices.flags.writeable = False


def filtered_historical_at(
    fit: VolFit,
    start_price: float,
    days: tuple[int, ...] | list[int] | np.ndarray,
    n_paths: int = 10_000,
    *,
    seed: int = 0,
    instrument: Instrument | str = Instrument.SHEA,
    limit_frac: LimitArg = "rules",
    max_variance: float | None = None,
) -> ScenarioMarks:
    """The prices of :func:`filtered_historical` paths on ``days`` only (business days after the
    start, each >= 1): bit for bit ``filtered_historical(..., max(days), ...).prices[:, d - 1]``
    for the same seed. The same returns are drawn; their running sum is taken in place and only
    the chosen days are exponentiated, instead of a ``paths × days`` matrix of cumulative sums
    and another of prices (the carbon-cost outlook needs five deadlines of ~1,270 days).
    """
    want = np.asarray(days, dtype=np.int64).reshape(-1)
    if not len(want) or (want < 1).any():
        raise InvalidInputError(f"`days` must be business-day counts >= 1; got {days!r}")
    limit = _limit(limit_frac, instrument)
    _check_common(start_price, int(want.max()), n_paths, limit[0])
    out, notes = _fhs_returns(fit, int(want.max()), n_paths, seed, limit, max_variance)
    np.cumsum(out, axis=1, out=out)  # the same running sum as _paths, without a second matrix
    cum = np.clip(out[:, want - 1], -_MAX_LOG_MOVE, _MAX_LOG_MOVE)
    prices = start_price * np.exp(cum)
    if not np.isfinite(prices).all():
        raise InvalidInputError(f"`start_price` {start_price!r} leaves no room for price moves")
    return ScenarioMarks(
        f"FHS ({fit.model}-{fit.dist})", float(start_price), tuple(int(d) for d in want),
        prices, seed, limit[0], limit[1], tuple(notes),
    )  # fmt: skip
