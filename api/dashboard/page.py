"""The dashboard page's content: the numbers of :mod:`api.dashboard.numbers` for one scope and
date, with their charts (:mod:`api.dashboard.charts`), as a plain dict for the template."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.dashboard import charts, history, numbers
from carbonfin.store.models import Firm

__all__ = ["build_page"]

_TOTAL_COLUMNS = (
    ("collateral_value_cny", "Collateral value", "CNY"),
    ("lendable_value_cny", "Lendable value", "CNY"),
    ("loan_outstanding_cny", "Loans outstanding (allocated)", "CNY"),
    ("outstanding_by_quantity_cny", "of which allocated by tonnes", "CNY"),
    ("pledges", "Pledges", "count"),
    ("pledges_not_valued", "Pledges not valued", "count"),
    ("loans", "Loans", "count"),
    ("loans_outstanding_unknown", "Loans without a CNY amount", "count"),
)


def _exposure_block(table: numbers.Exposures | None, by: str) -> dict[str, Any]:
    if table is None:
        return {
            "by": by,
            "rows": [],
            "svg": charts.bar_chart(
                [], chart_id=f"exp-{by}", title=f"Collateral value by {by}", unit="CNY"
            ),
        }
    rows = list(table.rows)
    bars = [(str(r["key"]), float(r["collateral_value_cny"])) for r in rows]
    svg = charts.bar_chart(
        bars,
        chart_id=f"exp-{by}",
        title=f"Collateral value by {by} (million CNY)",
        unit="CNY",
        scale=1e6,
        scale_label="m",
        decimals=1,
    )
    return {"by": by, "rows": rows, "svg": svg}


def _names(session: Session) -> dict[str, str]:
    return {str(u): str(n) for u, n in session.execute(select(Firm.uscc, Firm.name)).all()}


def build_page(state: Any, session: Session, as_of: dt.date, bank: str | None) -> dict[str, Any]:
    """Everything the page shows for ``bank`` (``None``: every bank) on ``as_of``.

    Raises
    ------
    carbonfin.errors.CarbonfinError
        The book cannot be valued on ``as_of`` (no prices yet, a date outside the data).
    """
    valued = numbers.valued_book(state, session, as_of, bank)  # the call list and marks only
    stored = numbers.stored_summary(state, session, as_of, bank)
    tables = numbers.exposures(stored)
    by_bank = tables["bank"]
    total = by_bank.total if by_bank is not None else None
    conc = numbers.concentration(session, as_of, bank, _names(session))
    util = numbers.utilisation(session, as_of, bank)
    calls, _ = numbers.margin_calls(valued)
    n_calls = numbers.open_calls(stored)
    stress = numbers.stress_runs(session, as_of, bank)
    prices = numbers.price_series(state, valued, as_of)
    hist = history.series(session, as_of, bank)
    return {
        "as_of": as_of,
        "scope": bank,
        "source": stored.source.data_source,
        "notes": [*stored.source.describe(), numbers.PER_REQUEST_NOTE],
        "policy": stored.source.policy_version if util is not None else None,
        "total": total,
        "total_columns": _TOTAL_COLUMNS,
        "exposures": [_exposure_block(tables[by], by) for by in numbers.GROUPINGS],
        "concentration": conc,
        "concentration_svg": charts.bar_chart(
            [(f"{n} ({u[-6:]})", v) for u, n, v, _ in conc.top] if conc else [],
            chart_id="concentration",
            title="Largest pledgors by collateral value (million CNY)",
            unit="CNY",
            scale=1e6,
            scale_label="m",
            decimals=1,
        ),
        "utilisation": util,
        "utilisation_svg": charts.histogram(
            util.bins if util else (),
            chart_id="utilisation",
            title="Loans by utilisation (LTV ÷ (1 − haircut)), with the policy's trigger levels",
            x_label="utilisation (loan ÷ lendable value)",
            thresholds=util.thresholds if util else (),
        ),
        "calls": calls,
        "calls_count": n_calls,
        "stress": stress,
        "stress_svg": _stress_svg(stress, bank),
        "prices": [
            {
                **p,
                "svg": charts.line_chart(
                    [charts.Series(f"{p['instrument']} close", p["points"])],
                    chart_id=f"price-{p['instrument'].lower()}",
                    title=f"{p['instrument']} closes over the last year (CNY per tonne)",
                    y_label="CNY/t",
                    from_zero=False,
                    markers=[
                        (
                            p["mark"].last_date,
                            p["mark"].price_cny_per_t,
                            f"mark used ({p['mark'].method})",
                        )
                    ],
                ),
            }
            for p in prices
        ],
        "history": hist,
        "computed_at": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "market_last": numbers.default_as_of(state),
    }


def _stress_svg(stress: list[dict[str, Any]], bank: str | None) -> str:
    """Uncovered exposure after each stored scenario, per bank (a bank: its own row)."""
    bars = [
        (f"{run['scenario']} · {r['bank_id']}", float(r["uncovered_cny"]))
        for run in stress
        for r in run["by_bank"]
    ]
    return charts.bar_chart(
        bars,
        chart_id="stress",
        title="Uncovered exposure after each stored stress scenario, by bank (million CNY)",
        unit="CNY",
        scale=1e6,
        scale_label="m",
        decimals=2,
    )
