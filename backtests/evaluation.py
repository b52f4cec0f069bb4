"""The statistics of a run: one row per (job, confidence) or (haircut job, pledge size).

One-day VaR: Kupiec's proportion of failures, Christoffersen's independence and conditional
coverage, the traffic light on the whole sample (zones generalised through the binomial
cumulative probabilities) and on its last 250 days (Basel's own window), and the
Acerbi–Szekely Z2 test of the ES. Multi-day VaR and the haircut: realised ``h``-day outcomes
overlap (consecutive windows share ``h − 1`` days), so the hits are autocorrelated and the χ² law
of the full-sample LR does not hold; coverage is tested by
:func:`backtests.stats.kupiec_non_overlapping` (Kupiec on each of the ``h`` non-overlapping
subsamples, Bonferroni-combined) and the zone and Christoffersen's test use the non-overlapping
subsample that starts on the first test date.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from backtests import stats
from backtests.engine import ForecastSeries, HaircutSeries
from carbonfin.errors import InvalidInputError

__all__ = ["TestRow", "evaluate", "exceptions_by_year"]

Z2_SIMULATIONS = 2_000
#: degrees of freedom of the Student-t under which the Z2 p-value of a model without a
#: parametric tail (historical simulation) is simulated
DEFAULT_TAIL_DF = 5.0


@dataclass(frozen=True, slots=True)
class TestRow:
    """One line of the test table."""

    dataset: str
    kind: str
    model: str
    horizon_days: int
    confidence: float
    first_date: str
    last_date: str
    observations: int
    exceptions: int
    expected: float
    test: str
    statistic: float
    p_value: float
    reject: bool
    zone: str
    zone_last_250: str
    plus_factor: float
    independence_p: float
    conditional_coverage_p: float
    es_z2: float
    es_p_value: float
    pledge_t: float
    fit_note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _zone(x: int, n: int, coverage: float) -> tuple[str, float]:
    """Zone and plus factor; "n/a" when the sample is so small that even no exception would
    reach the yellow zone's 95% cumulative probability (the zones say nothing there)."""
    if sps.binom.pmf(0, n, 1.0 - coverage) >= 0.95:
        return f"n/a ({n} outcomes)", math.nan
    tl = stats.traffic_light(x, n, coverage)
    return tl.zone, tl.plus_factor


def _zone_last(hits: np.ndarray, coverage: float) -> str:
    if len(hits) < 250:
        return "n/a (<250 days)"
    return stats.traffic_light(int(hits[-250:].sum()), 250, coverage).zone


def _es_test(series: ForecastSeries) -> tuple[float, float, str]:
    """Z2 with the p-value simulated under a Student-t per day matched to the day's VaR."""
    alpha = 1.0 - series.spec.es_level
    v, e, x = series.var_es, series.es, series.realised
    ok = np.isfinite(v) & np.isfinite(e) & np.isfinite(x) & (v >= 0) & (e > 0) & (e >= v)
    if ok.sum() < 20:
        return math.nan, math.nan, "ES test skipped: too few days with a positive VaR and ES"
    finite_df = series.tail_df[np.isfinite(series.tail_df)]
    if np.isinf(series.tail_df).all():
        df = math.inf
    else:
        df = float(np.median(finite_df)) if len(finite_df) else DEFAULT_TAIL_DF
        df = max(df, 2.5)
    q = (
        sps.norm.ppf(1 - alpha)
        if math.isinf(df)
        else -sps.t.ppf(alpha, df) * math.sqrt((df - 2) / df)
    )
    scale = np.maximum(v[ok], 1e-12) / q
    res = stats.acerbi_szekely_z2(
        x[ok],
        v[ok],
        e[ok],
        alpha=alpha,
        sampler=stats.student_t_sampler(scale, df),
        simulations=Z2_SIMULATIONS,
        seed=series.spec.seed,
    )
    return res.statistic, res.p_value, f"Z2 null: Student-t, df {df:.3g}, matched to each VaR"


def _fit_note(series: ForecastSeries) -> str:
    log = series.fit_log
    if log.refits == 0 and log.failed == 0:
        return ""
    parts = [
        f"{log.refits} refits ({log.warm_started} warm)",
        f"{log.failed} failed",
        f"{log.non_stationary} non-stationary",
    ]
    if log.hs_fallback_days:
        parts.append(f"{log.hs_fallback_days} days on HS fallback")
    if log.fallbacks:
        parts.append("fallback: " + "; ".join(log.fallbacks))
    return ", ".join(parts)


def _var_rows(series: ForecastSeries) -> list[TestRow]:
    spec, h = series.spec, series.spec.horizon_days
    ok = np.isfinite(series.realised)
    rows = []
    z2, z2_p, _ = _es_test(series) if h == 1 else (math.nan, math.nan, "")
    for c in spec.confidences:
        valid = ok & np.isfinite(series.var[c])
        hits = series.hits(c)[valid]
        if len(hits) == 0:
            continue
        sub = hits if h == 1 else stats.non_overlapping(hits, h)
        x, n = int(sub.sum()), len(sub)
        if h == 1:
            test = stats.kupiec(x, n, c)
            name, stat, p, rej = "Kupiec POF", test.statistic, test.p_value, test.reject
        elif len(hits) >= h:
            nov = stats.kupiec_non_overlapping(hits, h, c)
            name, stat, p, rej = (
                f"Kupiec on {h} non-overlapping subsamples, Bonferroni",
                nov.statistic,
                nov.p_value,
                nov.reject,
            )
        else:
            name, stat, p, rej = "too few outcomes", math.nan, math.nan, False
        zone, plus = _zone(x, n, c)
        ch = stats.christoffersen(sub, c)
        rows.append(
            TestRow(
                spec.instrument,
                "var",
                spec.model,
                h,
                c,
                str(series.dates[0]),
                str(series.dates[-1]),
                len(hits),
                int(hits.sum()),
                float(len(hits) * (1 - c)),
                name,
                float(stat),
                float(p),
                bool(rej),
                zone,
                _zone_last(sub, c),
                plus,
                ch.p_value,
                ch.cc_p_value,
                z2,
                z2_p,
                math.nan,
                _fit_note(series),
            )
        )
    return rows


def _haircut_rows(series: HaircutSeries) -> list[TestRow]:
    rows = []
    coverage = 0.99  # the haircut's confidence (policy: Basel CRE22.60)
    for j, q in enumerate(series.quantities_t):
        ok = np.isfinite(series.loss_frac[:, j]) & np.isfinite(series.haircut_frac[:, j])
        if not ok.any():
            continue
        hits = series.loss_frac[ok, j] > series.haircut_frac[ok, j]
        # outcomes of consecutive test dates overlap by (T_L - step) days
        step = series.spec.haircut_step_days
        horizon = max(1, math.ceil(float(np.median(series.liquidation_days[ok, j])) / step))
        horizon = min(horizon, len(hits))
        nov = stats.kupiec_non_overlapping(hits, horizon, coverage)
        sub = stats.non_overlapping(hits, horizon)
        zone, plus = _zone(int(sub.sum()), len(sub), coverage)
        ind_p, cc_p = _christoffersen(sub, coverage)
        dates = series.dates[ok]
        rows.append(
            TestRow(
                series.spec.instrument,
                "haircut",
                f"haircut ({series.spec.model}, defaults)",
                int(np.median(series.liquidation_days[ok, j])),
                coverage,
                str(dates[0]),
                str(dates[-1]),
                len(hits),
                int(hits.sum()),
                float(len(hits) * (1 - coverage)),
                f"Kupiec on {horizon} non-overlapping subsamples, Bonferroni",
                nov.statistic,
                nov.p_value,
                nov.reject,
                zone,
                "n/a",
                plus,
                ind_p,
                cc_p,
                math.nan,
                math.nan,
                q,
                "; ".join(f"{k}: {v} dates" for k, v in series.skipped.items()),
            )
        )
    return rows


def _christoffersen(hits: np.ndarray, coverage: float) -> tuple[float, float]:
    """Christoffersen's independence and conditional-coverage p-values; NaN where the sample
    has too few outcomes for the test."""
    try:
        ch = stats.christoffersen(hits, coverage)
    except InvalidInputError:
        return math.nan, math.nan
    return ch.p_value, ch.cc_p_value


def evaluate(results: tuple[ForecastSeries | HaircutSeries, ...]) -> list[TestRow]:
    """The test table of a run."""
    rows: list[TestRow] = []
    for res in results:
        try:
            rows += _haircut_rows(res) if isinstance(res, HaircutSeries) else _var_rows(res)
        except InvalidInputError as exc:  # e.g. too few outcomes for a statistic
            raise InvalidInputError(f"{res.spec.key}: {exc}") from None
    return rows


def exceptions_by_year(series: ForecastSeries, confidence: float) -> dict[int, tuple[int, int]]:
    """{year: (exceptions, observations)} of a VaR series."""
    hits = series.hits(confidence)
    years = np.array([d.year for d in series.dates])
    return {
        int(y): (int(hits[years == y].sum()), int((years == y).sum())) for y in np.unique(years)
    }
