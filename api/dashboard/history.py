"""The history series of the dashboard: exposure totals and the margin-call count over the last
year, from stored valuations.

The one place that knows where the series comes from: it calls
``carbonfin.lending.exposure.history(session, start, end, bank)`` (issue 20, point 3: the
stored-valuation series of the exposure work) when that function exists, and otherwise answers
no points with the reason, so the page says the series is not available instead of drawing a
made-up one. Nothing here computes a point: a date with no stored valuation is a gap.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from sqlalchemy.orm import Session

from api.dashboard import charts

__all__ = ["series"]


def _history_function() -> Any:
    try:
        module = importlib.import_module("carbonfin.lending.exposure")
    except ImportError:
        return None
    return getattr(module, "history", None)


def series(session: Session, as_of: dt.date, bank: str | None) -> dict[str, Any]:
    """The year before ``as_of``: ``points`` (one per stored valuation date), ``svg_value`` and
    ``svg_calls`` (the charts), ``source`` and ``notes``; or no points and ``reason``."""
    fn = _history_function()
    if fn is None:
        return {
            "points": [],
            "reason": "no stored-valuation history in this version (carbonfin.lending.exposure)",
        }
    start = as_of - dt.timedelta(days=365)
    found = fn(session, start, as_of, bank)
    points = list(found.points)
    if not points:
        return {
            "points": [],
            "reason": f"no valuation stored between {start} and {as_of} "
            "(`carbonfin book snapshot` stores one)",
            "notes": list(found.notes),
        }
    days = [p.as_of for p in points]

    def line(name: str, attr: str, kind: str) -> charts.Series:
        return charts.Series(name, tuple(zip(days, (float(getattr(p, attr)) for p in points),
                                             strict=True)), kind)  # fmt: skip

    return {
        "points": points,
        "source": found.source,
        "notes": list(found.notes),
        "svg_value": charts.line_chart(
            [
                line("collateral value", "collateral_value_cny", "a"),
                line("loans outstanding", "loan_outstanding_cny", "b"),
                line("lendable value", "lendable_value_cny", "c"),
            ],
            chart_id="history-value",
            title=f"Exposure totals, {start} to {as_of} (million CNY)",
            y_label="m CNY",
            scale=1e6,
        ),
        "svg_calls": charts.line_chart(
            [
                line("margin calls (margin-call or liquidation level)", "margin_calls", "b"),
                line("warnings", "warnings", "a"),
            ],
            chart_id="history-calls",
            title=f"Loans at the warning and margin-call levels, {start} to {as_of}",
            y_label="loans",
        ),
    }
