"""The LTV distribution of the book on a date, from its stored valuation run (SQL).

What ``GET /v1/regulator/ltv`` answers: the valued loans' LTV quantiles, a histogram in
10-point buckets from 0 to 150 % (the last bucket open), and the loans by state — for every bank
or one — computed by the database over the stored valuation of the date
(:mod:`carbonfin.store.exposure`), not from a book held in memory.

Quantiles are ``numpy.quantile``'s default (linear interpolation between order statistics,
Hyndman & Fan type 7): for ``n`` LTVs sorted ascending and ``h = (n − 1)·q``, the value is
``x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])``; the two order statistics come from SQL. The LTVs
are the stored ones (rounded to 8 decimals); a loan whose collateral is worth nothing has no
finite LTV and is in no bucket and no quantile, but in its state's count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from sqlalchemy.orm import Session

from carbonfin.lending.exposure import RunSource, _source
from carbonfin.lending.valuation_runs import check_date, stored_run
from carbonfin.store import exposure as store

__all__ = ["EDGES", "QUANTILES", "LtvDistribution", "distribution", "histograms"]

#: Bucket edges (LTV as a decimal): 0.0, 0.1, … 1.5 (as ``numpy.arange(0, 1.51, 0.1)``: the
#: edges the route has always answered with), then 1.5 and above.
EDGES = tuple(float(x) for x in np.arange(0.0, 1.51, 0.1))
#: The quantiles reported.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@dataclass(frozen=True, slots=True, eq=False)
class LtvDistribution:
    """The valued loans' LTVs on ``as_of`` (one bank's or all): ``quantiles`` (``p10`` …
    ``p99``; empty when no loan has a finite LTV), ``histogram`` (``(from, to, loans)``, ``to``
    ``None`` for the open last bucket), ``states`` (valued loans by state) and ``loans``
    (valued loans); ``not_valued``: loans set aside (in no figure above)."""

    as_of: dt.date
    bank: str | None
    loans: int
    quantiles: MappingProxyType[str, float]
    histogram: tuple[tuple[float, float | None, int], ...]
    states: MappingProxyType[str, int]
    not_valued: int
    source: RunSource = field(repr=False)


def _quantiles(values: dict[int, float], n: int) -> dict[str, float]:
    out = {}
    for q in QUANTILES:
        h = (n - 1) * q
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        x_lo, x_hi = values[lo], values[hi]
        out[f"p{round(q * 100)}"] = x_lo + (h - lo) * (x_hi - x_lo)
    return out


def distribution(session: Session, as_of: dt.date, bank: str | None = None) -> LtvDistribution:
    """The LTV distribution of the stored valuation of ``as_of`` (call
    :func:`carbonfin.lending.exposure.refresh` first to value it when missing or stale).

    Parameters
    ----------
    session
        A read session.
    as_of
        The date.
    bank
        One bank's loans, or ``None`` for every bank's.

    Raises
    ------
    MissingDataError
        No valuation of ``as_of`` is stored.
    """
    as_of = check_date(as_of, "as_of")
    run = stored_run(session, as_of)
    counts = store.ltv_histogram(session=session, run_id=run.run_id, edges=EDGES, bank_id=bank)
    n = sum(counts)
    quantiles: dict[str, float] = {}
    if n:
        ranks = [
            r for q in QUANTILES for r in (math.floor((n - 1) * q), math.floor((n - 1) * q) + 1)
        ]
        values = store.ltv_order_statistics(
            session=session, run_id=run.run_id, ranks=[min(r, n - 1) for r in ranks], bank_id=bank
        )
        quantiles = _quantiles(values, n)
    loans, states = store.loan_states(session=session, run_id=run.run_id, bank_id=bank)
    all_states = store.state_counts(session=session, run_id=run.run_id, bank_id=bank)
    tops: list[float | None] = [*EDGES[1:], None]
    return LtvDistribution(
        as_of=as_of,
        bank=bank,
        loans=loans,
        quantiles=MappingProxyType(quantiles),
        histogram=tuple((lo, hi, c) for lo, hi, c in zip(EDGES, tops, counts, strict=True)),
        states=MappingProxyType(states),
        not_valued=all_states.get("not_valued", 0),
        source=_source(session, run),
    )


def histograms(
    session: Session, as_of: dt.date, edges: tuple[float, ...], bank: str | None = None
) -> dict[str, tuple[int, ...]]:
    """The valued loans of the stored valuation of ``as_of`` counted by LTV and by utilisation
    (loan ÷ lendable value) in the bins of ``edges`` (the last one open), by SQL
    (:func:`carbonfin.store.exposure.loan_histograms`): what the dashboard's utilisation chart
    draws.

    Raises
    ------
    MissingDataError
        No valuation of ``as_of`` is stored.
    """
    as_of = check_date(as_of, "as_of")
    run = stored_run(session, as_of)
    counts = store.loan_histograms(session=session, run_id=run.run_id, edges=edges, bank_id=bank)
    return {k: tuple(v) for k, v in counts.items()}
