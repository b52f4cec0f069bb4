"""The history series of the dashboard: exposure totals and the margin-call count over the last
year, from stored valuations.

The one place that knows where the series comes from: it calls
``carbonfin.lending.exposure.history`` when that function exists (issue 20, point 3: the
stored-valuation series of the exposure work) and otherwise answers ``None`` with the reason, so
the page says the series is not available instead of drawing a made-up one.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from sqlalchemy.orm import Session

__all__ = ["series"]


def series(state: Any, session: Session, as_of: dt.date, bank: str | None) -> dict[str, Any]:
    """``{"points": [(date, collateral CNY, outstanding CNY, margin calls)], "source": …}`` over
    the year before ``as_of``; ``points`` is empty (and ``reason`` says why) when no stored
    series is available."""
    try:
        module = importlib.import_module("carbonfin.lending.exposure")
    except ImportError:
        module = None
    fn = getattr(module, "history", None)
    if fn is None:
        return {
            "points": [],
            "reason": "no stored-valuation history in this version (carbonfin.lending.exposure)",
        }
    start = as_of - dt.timedelta(days=365)
    return {"points": list(fn(session=session, start=start, end=as_of, bank_id=bank)),
            "reason": None}  # fmt: skip
