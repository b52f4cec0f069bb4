"""The dashboard's numbers: one adapter over the engine, so the page shows the regulator API's
figures and no new ones.

Every function takes the scope it may see (``bank``: a bank's own id, or ``None`` for the
regulator's whole book) and filters **before** computing: a bank's view is computed from its
own loans and pledges only (:meth:`carbonfin.lending.book.ValuedBook.for_bank`), so no figure
on its page is derived from another bank's rows.

Sources: exposures from :func:`carbonfin.lending.exposure.summary` over the stored valuation
of the date (valued and stored first when missing or older than the data): the same SQL and the
same numbers as ``GET /v1/regulator/exposures``;
concentration from the same stored run by :func:`carbonfin.lending.exposure.concentration` (the
SQL behind ``GET /v1/regulator/concentration``: Herfindahl–Hirschman index Σ s² of the pledgors'
shares of collateral value); the utilisation and LTV distribution, loans by state and the number
of open margin calls from the same run (:mod:`carbonfin.lending.ltv`, SQL ``GROUP BY`` over its
loan rows and its exposure totals); utilisation thresholds from the collateral policy
(``carbonfin/rules/collateral.toml`` ``[ltv]``); stress results as stored by
``carbonfin stress --save`` (:mod:`carbonfin.store.stress`).

Valued on request (and said so in the page's notes, :data:`PER_REQUEST_NOTE`): the list of open
margin calls with their top-up cash and tonnes, and the marks drawn on the price charts, come
from the book valued in the service's memory (``app.state.book``) — a stored run holds neither
the top-up tonnes (the engine's solve over the pledgor's positions) nor the market-risk profiles
behind the marks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.dashboard.charts import Bin, Threshold
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import CarbonfinError
from carbonfin.lending import exposure, ltv
from carbonfin.lending.book import ValuedBook
from carbonfin.store.stress import load_stress_runs

__all__ = [
    "GROUPINGS",
    "PER_REQUEST_NOTE",
    "Concentration",
    "Exposures",
    "Utilisation",
    "concentration",
    "default_as_of",
    "exposures",
    "margin_calls",
    "open_calls",
    "price_series",
    "stored_summary",
    "stress_runs",
    "utilisation",
    "valued_book",
]

GROUPINGS = ("bank", "instrument", "vintage", "industry")
_EDGES = tuple(round(0.1 * i, 1) for i in range(16))  # 0.0 … 1.5, then ≥ 1.5 (as /ltv)
_STATES = ("ok", "warning", "margin_call", "liquidation")
PER_REQUEST_NOTE = (
    "open margin-call list (top-up cash and tonnes) and the price marks: the book valued on "
    "request in the service's memory for this date, not read from the stored run (a run stores "
    "neither the top-up tonnes nor the marks' market-risk profiles); every other figure is the "
    "stored run's, aggregated in SQL"
)


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


def stored_summary(
    state: Any, session: Session, as_of: dt.date, bank: str | None
) -> exposure.ExposureSummary:
    """The exposure summary of the stored valuation of ``as_of`` for the scope (valued and stored
    first by :func:`~carbonfin.lending.exposure.refresh` when missing or stale), restricted to
    ``bank`` in SQL: the run every stored figure of the page comes from, with its freshness."""
    exposure.refresh(state.sessions, as_of, state.data)
    return exposure.summary(session, as_of, bank)


def exposures(result: exposure.ExposureSummary) -> dict[str, Exposures | None]:
    """Exposures grouped by bank, instrument, vintage and industry from the stored summary
    (:func:`stored_summary`); ``None`` per grouping when the book in scope holds no pledge."""
    if result.total.pledges == 0:
        return dict.fromkeys(GROUPINGS)
    total = result.total.as_dict()
    return {
        by: Exposures(by, tuple(f.as_dict() for f in result.rows(by)), total) for by in GROUPINGS
    }


def open_calls(result: exposure.ExposureSummary) -> int:
    """Loans at or above the warning level in the stored run (warning, margin call, liquidation:
    the loans ``GET /v1/margin-calls`` lists)."""
    return sum(int(result.states.get(s, 0)) for s in _STATES[1:])


@dataclass(frozen=True, slots=True)
class Concentration:
    """Pledgors' shares of collateral value (largest first) and the Herfindahl index."""

    pledgors: int
    top: tuple[tuple[str, str, float, float], ...]  # uscc, name, value CNY, share
    top_shares: dict[str, float]
    herfindahl: float
    by_instrument: dict[str, float]


def concentration(
    session: Session, as_of: dt.date, bank: str | None, names: dict[str, str]
) -> Concentration | None:
    """The concentration of the valued pledges in scope of the stored run of ``as_of``
    (:func:`carbonfin.lending.exposure.concentration`: the figures of
    ``GET /v1/regulator/concentration``), the largest pledgors named; ``None`` when no pledge
    in scope is valued."""
    c = exposure.concentration(session, as_of, bank)
    if c.pledgors == 0:
        return None
    total = c.collateral_value_cny
    return Concentration(
        pledgors=c.pledgors,
        top=tuple((u, names.get(u, u), v, v / total if total else 0.0) for u, v in c.top),
        top_shares=dict(c.top_shares),
        herfindahl=c.herfindahl,
        by_instrument=dict(c.by_instrument_herfindahl),
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


def _bins(counts: tuple[int, ...]) -> tuple[Bin, ...]:
    tops: list[float | None] = [*_EDGES[1:], None]
    return tuple(Bin(lo, hi, int(n)) for lo, hi, n in zip(_EDGES, tops, counts, strict=True))


def utilisation(session: Session, as_of: dt.date, bank: str | None) -> Utilisation | None:
    """The utilisation and LTV distributions of the valued loans in scope of the stored run of
    ``as_of``, by SQL (:func:`carbonfin.lending.ltv.histograms` and
    :func:`~carbonfin.lending.ltv.distribution`, the figures of ``GET /v1/regulator/ltv``);
    ``None`` when no loan in scope is valued. A loan with nothing lendable (or of no value) is
    counted in the open last bin."""
    dist = ltv.distribution(session, as_of, bank)
    if dist.loans == 0:
        return None
    counts = ltv.histograms(session, as_of, _EDGES, bank)
    th = collateral_policy().ltv
    states = {s: int(dist.states.get(s, 0)) for s in _STATES}
    states["not_valued"] = dist.not_valued
    return Utilisation(
        bins=_bins(counts["utilisation"]),
        ltv_bins=_bins(counts["ltv"]),
        thresholds=(
            Threshold(th.target_utilisation, "target", "target"),
            Threshold(th.warning_utilisation, "warning", "warning"),
            Threshold(th.margin_call_utilisation, "margin call", "margin-call"),
            Threshold(th.liquidation_utilisation, "liquidation", "liquidation"),
        ),
        ltv_quantiles=dict(dist.quantiles),
        states=states,
        loans=dist.loans,
        policy_source=f"policy {dist.source.policy_version}: {th.source}",
    )


def margin_calls(valued: ValuedBook, show: int = 15) -> tuple[list[dict[str, Any]], int]:
    """The loans at or above the warning level, highest utilisation first (at most ``show``),
    and how many there are (as ``GET /v1/margin-calls``), from the book valued on request
    (:data:`PER_REQUEST_NOTE`)."""
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
