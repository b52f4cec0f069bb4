"""The dashboard's numbers: one adapter over the engine, so the page shows the regulator API's
figures and no new ones.

Every function takes the scope it may see (``bank``: a bank's own id, or ``None`` for the
regulator's whole book) and filters **before** computing: a bank's view is computed from its
own loans and pledges only (:meth:`carbonfin.lending.book.ValuedBook.for_bank`), so no figure
on its page is derived from another bank's rows.

Sources: exposures from :func:`carbonfin.lending.exposure.summary` over the stored valuation
of the date (valued and stored first when missing or older than the data): the same SQL and the
same numbers as ``GET /v1/regulator/exposures``;
concentration as ``GET /v1/regulator/concentration`` (Herfindahl–Hirschman index Σ s² of the
pledgors' shares of collateral value); utilisation thresholds from the collateral policy
(``carbonfin/rules/collateral.toml`` ``[ltv]``, via the valuation); stress results as stored by
``carbonfin stress --save`` (:mod:`carbonfin.store.stress`); marks from the valuation's market-risk
profiles.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from api.dashboard.charts import Bin, Threshold
from carbonfin.errors import CarbonfinError
from carbonfin.lending import exposure
from carbonfin.lending.book import ValuedBook
from carbonfin.store.stress import load_stress_runs

__all__ = [
    "GROUPINGS",
    "Concentration",
    "Exposures",
    "Utilisation",
    "concentration",
    "default_as_of",
    "exposures",
    "margin_calls",
    "price_series",
    "stress_runs",
    "utilisation",
    "valued_book",
]

GROUPINGS = ("bank", "instrument", "vintage", "industry")
_EDGES = tuple(round(0.1 * i, 1) for i in range(16))  # 0.0 … 1.5, then ≥ 1.5 (as /ltv)


def default_as_of(state: Any) -> dt.date:
    """The last quote date of the market (the newest day the book can be valued on)."""
    last = []
    for code in ("SHEA", "CEA", "CCER"):
        try:
            dates = state.data.history(code).dates
        except CarbonfinError:  # an instrument without prices is skipped
            continue
        if dates:
            last.append(max(dates))
    return max(last) if last else dt.date.today()


def valued_book(state: Any, session: Session, as_of: dt.date, bank: str | None) -> ValuedBook:
    """The book that stood on ``as_of``, valued, restricted to ``bank`` (``None``: all)."""
    valued: ValuedBook = state.book.book(session, as_of).for_bank(bank)
    return valued


@dataclass(frozen=True, slots=True)
class Exposures:
    """The exposures of the book in scope grouped one way: ``rows`` (dicts with ``key`` and
    the figures of :class:`carbonfin.lending.exposure.ExposureFigures`, largest collateral value
    first) and ``total`` (the same figures for the book in scope)."""

    by: str
    rows: tuple[dict[str, Any], ...]
    total: dict[str, Any]


def exposures(
    state: Any, session: Session, as_of: dt.date, bank: str | None
) -> dict[str, Exposures | None]:
    """Exposures grouped by bank, instrument, vintage and industry from the stored valuation of
    ``as_of`` (:func:`carbonfin.lending.exposure.summary`, valued and stored first by
    :func:`~carbonfin.lending.exposure.refresh` when missing or stale), restricted to ``bank``
    in SQL; ``None`` per grouping when the book in scope holds no pledge."""
    exposure.refresh(state.sessions, as_of, state.data)
    result = exposure.summary(session, as_of, bank)
    if result.total.pledges == 0:
        return dict.fromkeys(GROUPINGS)
    total = result.total.as_dict()
    return {
        by: Exposures(by, tuple(f.as_dict() for f in result.rows(by)), total) for by in GROUPINGS
    }


@dataclass(frozen=True, slots=True)
class Concentration:
    """Pledgors' shares of collateral value (largest first) and the Herfindahl index."""

    pledgors: int
    top: tuple[tuple[str, str, float, float], ...]  # uscc, name, value CNY, share
    top_shares: dict[str, float]
    herfindahl: float
    by_instrument: dict[str, float]


def _hhi(values: pd.Series) -> float:
    total = float(values.sum())
    return float(((values / total) ** 2).sum()) if total > 0 else 0.0


def concentration(
    valued: ValuedBook, names: dict[str, str], show: int = 10
) -> Concentration | None:
    """The concentration of the valued pledges in scope (as ``/v1/regulator/concentration``)."""
    if valued.valuation is None:
        return None
    p = valued.valuation.pledges
    if "pledgor_uscc" not in p.columns:
        p = p.join(valued.book.pledges.set_index("pledge_id")["pledgor_uscc"], on="pledge_id")
    who = p["pledgor_uscc"].astype(str)
    by = p.groupby(who)["market_value_cny"].sum().sort_values(ascending=False)
    total = float(by.sum())
    top = tuple(
        (str(u), names.get(str(u), str(u)), float(v), float(v) / total if total else 0.0)
        for u, v in by.head(show).items()
    )
    return Concentration(
        pledgors=len(by),
        top=top,
        top_shares={
            f"top_{n}": float(by.head(n).sum() / total) if total else 0.0 for n in (1, 5, 10)
        },
        herfindahl=_hhi(by),
        by_instrument={
            str(i): _hhi(g.groupby(who.loc[g.index])["market_value_cny"].sum())
            for i, g in p.groupby("instrument")
        },
    )


@dataclass(frozen=True, slots=True)
class Utilisation:
    """Loans by utilisation (loan / lendable value = LTV / (1 − haircut)) with the policy's
    trigger levels, and the LTV quantiles."""

    bins: tuple[Bin, ...]
    ltv_bins: tuple[Bin, ...]
    thresholds: tuple[Threshold, ...]
    ltv_quantiles: dict[str, float]
    states: dict[str, int]
    loans: int
    policy_source: str


def _bins(values: np.ndarray) -> tuple[Bin, ...]:
    edges = np.append(np.array(_EDGES), np.inf)
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    over = int(np.isinf(values).sum())  # no lendable value at all: beyond every bin
    return tuple(
        Bin(float(lo), None if math.isinf(hi) else float(hi), int(n) + (over if i == 15 else 0))
        for i, (lo, hi, n) in enumerate(zip(edges[:-1], edges[1:], counts, strict=True))
    )


def utilisation(valued: ValuedBook) -> Utilisation | None:
    """The utilisation and LTV distributions of the valued loans in scope."""
    v = valued.valuation
    if v is None:
        return None
    loans = v.loans
    th = v.thresholds
    ltv = loans["ltv"].to_numpy(dtype=float)
    qs = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    finite = ltv[np.isfinite(ltv)]
    return Utilisation(
        bins=_bins(loans["utilisation"].to_numpy(dtype=float)),
        ltv_bins=_bins(ltv),
        thresholds=(
            Threshold(th.target_utilisation, "target", "target"),
            Threshold(th.warning_utilisation, "warning", "warning"),
            Threshold(th.margin_call_utilisation, "margin call", "margin-call"),
            Threshold(th.liquidation_utilisation, "liquidation", "liquidation"),
        ),
        ltv_quantiles={f"p{round(q * 100)}": float(np.quantile(finite, q)) for q in qs}
        if len(finite)
        else {},
        states=valued.state_counts(),
        loans=len(loans),
        policy_source=f"policy {v.policy_version}: {th.source}",
    )


def margin_calls(valued: ValuedBook, show: int = 15) -> tuple[list[dict[str, Any]], int]:
    """The loans at or above the warning level, highest utilisation first (at most ``show``),
    and how many there are (as ``GET /v1/margin-calls``)."""
    v = valued.valuation
    if v is None:
        return [], 0
    loans = v.loans
    calls = loans[loans["state"] != "ok"].sort_values("utilisation", ascending=False)
    rows = [{str(k): v for k, v in r.items()} for r in calls.head(show).to_dict("records")]
    return rows, len(calls)


def stress_runs(session: Session, as_of: dt.date, bank: str | None) -> list[dict[str, Any]]:
    """The newest stored stress run of each scenario on or before ``as_of``, for the book in
    scope: the regulator sees whole-book runs (scope ``all``) with their per-bank rows; a bank
    sees its own row of those runs and runs stored for its own book, never a total."""
    newest: dict[str, dict[str, Any]] = {}
    for run in load_stress_runs(session=session, limit=1000):
        if run.as_of > as_of or run.scenario in newest:
            continue
        res = run.results
        if bank is None and run.scope == "all":
            newest[run.scenario] = {
                "scenario": run.scenario, "as_of": run.as_of, "seed": run.seed,
                "loss_cny": float(res["loss_cny"]),
                "value_before_cny": float(res["value_before_cny"]),
                "value_after_cny": float(res["value_after_cny"]),
                "uncovered_cny": float(res["uncovered_cny"]),
                "loans_called_before": int(res["loans_called_before"]),
                "loans_called_after": int(res["loans_called_after"]),
                "by_bank": [dict(r) for r in res["by_bank"]],
                "moves": dict(run.inputs.get("moves", {})),
            }  # fmt: skip
        elif bank is not None and run.scope in ("all", bank):
            rows = [dict(r) for r in res["by_bank"] if r.get("bank_id") == bank]
            if rows:
                newest[run.scenario] = {
                    "scenario": run.scenario, "as_of": run.as_of, "seed": run.seed,
                    "by_bank": rows, "moves": dict(run.inputs.get("moves", {})),
                }  # fmt: skip
    return [newest[k] for k in sorted(newest)]


def price_series(
    state: Any, valued: ValuedBook, as_of: dt.date, days: int = 365
) -> list[dict[str, Any]]:
    """Closes over the ``days`` before ``as_of`` of each instrument of the book in scope, with
    the mark its valuation used (price, method, last trade date, age)."""
    v = valued.valuation
    if v is None:
        return []
    out = []
    for inst, profile in sorted(v.profiles.items(), key=lambda kv: str(kv[0].value)):
        closes = state.data.history(inst.value).closes()
        window = closes[(closes.index > as_of - dt.timedelta(days=days)) & (closes.index <= as_of)]
        out.append(
            {
                "instrument": inst.value,
                "points": tuple((d, float(c)) for d, c in window.items()),
                "mark": profile.mark,
            }
        )
    return out
