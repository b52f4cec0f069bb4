"""The methodology's factors, vectorised: each turns panel columns into points, a status and the
factor's input metric for every firm-year at once.

A factor's *status* says how it entered the score:

* ``SCORED`` — inputs present, points earned;
* ``MISSING`` — inputs the firm should have provided are absent: 0 points, counted in the
  maximum (withholding data never helps);
* ``NOT_APPLICABLE`` — the factor does not apply (compliance outside the market, the change
  factors in a first year, green power without electricity use): left out of the maximum;
* ``BENCHMARK_UNAVAILABLE`` (from v1.1) — no industry benchmark for the sector and year: the
  firm had nothing to provide, so efficiency is left out of the maximum, not penalised;
* ``NOT_YET_DUE`` (from v1.1) — the compliance year's surrender deadline is after the scoring
  date and the firm has not yet surrendered in full: left out, not scored as late.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError
from carbonfin.scoring._inputs import as_bool, as_days
from carbonfin.scoring.methodology import TIERS, Methodology

__all__ = [
    "BENCHMARK_UNAVAILABLE",
    "COUNTED",
    "MISSING",
    "NOT_APPLICABLE",
    "NOT_YET_DUE",
    "SCORED",
    "STATUS",
    "FactorResult",
    "PanelInputs",
]

SCORED, MISSING, NOT_APPLICABLE, BENCHMARK_UNAVAILABLE, NOT_YET_DUE = 0, 1, 2, 3, 4
STATUS = {
    SCORED: "scored",
    MISSING: "missing",
    NOT_APPLICABLE: "not applicable",
    BENCHMARK_UNAVAILABLE: "benchmark unavailable",
    NOT_YET_DUE: "not yet due",
}
#: Statuses whose maximum counts in the applicable maximum of the score.
COUNTED = (SCORED, MISSING)

# compliance state codes (hashed as the scored input)
ON_TIME, LATE, SHORTFALL, DUE_LATER = 0.0, 1.0, 2.0, 3.0

_NUMERIC = (
    "emissions_tco2e",
    "value_added_cny",
    "emissions_prev_tco2e",
    "value_added_prev_cny",
    "facilities",
    "facilities_missing",
    "facilities_complete",
    "shortfall_t",
    "target_year",
    "net_zero_year",
    "electricity_mwh",
    "green_certificates",
    "benchmark_intensity",
    *(f"quality_{t}" for t in TIERS),
)
_BOOLEAN = ("has_prev_year", "covered", "surrender_on_time", "disclosed")


def _float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype) and series.name not in _BOOLEAN:
        raise InvalidInputError(f"the panel column `{series.name}` must be numeric; got booleans")
    try:
        return np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"the panel column `{series.name}` must be numeric; got dtype {series.dtype} "
            f"(e.g. {series.dropna().iloc[0]!r})"
        ) from None


def _days(series: pd.Series, name: str) -> np.ndarray:
    """Dates as datetime64[D] (NaT where missing)."""
    return as_days(series, f"panel.{name}")


@dataclass(frozen=True, slots=True)
class PanelInputs:
    """The panel's scoring inputs as numpy arrays, type-checked (booleans: value and known)."""

    num: dict[str, np.ndarray]
    flag: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    surrender_date: np.ndarray
    surrender_deadline: np.ndarray

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> PanelInputs:
        num = {c: _float(df[c]) for c in _NUMERIC}
        flag, known = {}, {}
        for c in _BOOLEAN:
            b = as_bool(df[c], f"panel.{c}")
            known[c] = b.notna().to_numpy(dtype=bool)
            flag[c] = b.fillna(False).to_numpy(dtype=bool)
        return cls(
            num,
            flag,
            known,
            _days(df["surrender_date"], "surrender_date"),
            _days(df["surrender_deadline"], "surrender_deadline"),
        )


@dataclass(frozen=True, slots=True)
class FactorResult:
    points: np.ndarray
    status: np.ndarray
    value: np.ndarray


def _linear(change: np.ndarray, full_at: float, zero_at: float) -> np.ndarray:
    """1 at or below ``full_at``, 0 at or above ``zero_at``, linear between."""
    return np.asarray(np.clip((zero_at - change) / (zero_at - full_at), 0.0, 1.0))


def efficiency(
    x: PanelInputs, m: Methodology
) -> tuple[FactorResult, np.ndarray, np.ndarray, np.ndarray]:
    """K = (emissions / value added) / industry intensity, graded (Zhejiang 碳效码).

    Returns the factor, the intensity, K and the grade (0 where not graded).
    """
    va, em = x.num["value_added_cny"], x.num["emissions_tco2e"]
    bench = x.num["benchmark_intensity"]
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(va > 0, em / va, np.nan)
        k = intensity / bench
    ok = np.isfinite(k)
    spec = m.efficiency
    grade = np.where(ok, np.searchsorted(spec.grade_upper_bounds, np.where(ok, k, 0.0)) + 1, 0)
    last = len(spec.grade_points_frac) - 1
    frac = np.asarray(spec.grade_points_frac)[np.clip(grade - 1, 0, last)]
    no_bench = ~(np.isfinite(bench) & (bench > 0))
    unavailable = BENCHMARK_UNAVAILABLE if m.benchmark.when_unavailable == "not_scored" else MISSING
    status = np.where(ok, SCORED, np.where(no_bench, unavailable, MISSING))
    points = np.where(ok, frac * spec.max_points, 0.0)
    return FactorResult(points, status, k), intensity, k, grade


def changes(x: PanelInputs, m: Methodology, intensity: np.ndarray) -> dict[str, FactorResult]:
    """Year-on-year change of intensity and of absolute emissions (linear scales)."""
    has_prev = x.flag["has_prev_year"]
    em, em_prev = x.num["emissions_tco2e"], x.num["emissions_prev_tco2e"]
    va_prev = x.num["value_added_prev_cny"]
    with np.errstate(divide="ignore", invalid="ignore"):
        int_prev = np.where(va_prev > 0, em_prev / va_prev, np.nan)
        int_change = intensity / int_prev - 1.0
        abs_change = em / em_prev - 1.0
    out = {}
    for spec, change in ((m.intensity_change, int_change), (m.absolute_change, abs_change)):
        good = has_prev & np.isfinite(change)
        share = _linear(np.where(good, change, 0.0), spec.full_points_at, spec.zero_points_at)
        out[spec.name] = FactorResult(
            np.where(good, share * spec.max_points, 0.0),
            np.where(~has_prev, NOT_APPLICABLE, np.where(good, SCORED, MISSING)),
            np.where(has_prev, change, np.nan),
        )
    return out


def data_quality(x: PanelInputs, m: Methodology) -> FactorResult:
    """Emission-weighted tier value of the complete facility reports.

    v1: missing unless every facility filed a report. From v1.1 (``scale_by_reporting_share``):
    multiplied by the share of the firm's facilities that reported both scopes, so a facility
    whose report is absent or blank lowers the index; missing only if none reported.
    """
    spec = m.data_quality
    raw = sum(x.num[f"quality_{t}"] * spec.tier_value[t] for t in TIERS)
    raw = np.asarray(raw, dtype=float)
    if spec.scale_by_reporting_share:
        n, done = x.num["facilities"], x.num["facilities_complete"]
        with np.errstate(divide="ignore", invalid="ignore"):
            quality = raw * np.where(n > 0, done / n, np.nan)
        ok = (done > 0) & np.isfinite(quality)
    else:
        ok = (x.num["facilities_missing"] == 0) & np.isfinite(raw)
        quality = raw
    quality = np.where(ok, quality, np.nan)
    return FactorResult(
        np.where(ok, quality * spec.max_points, 0.0), np.where(ok, SCORED, MISSING), quality
    )


def compliance_state(x: PanelInputs, m: Methodology, as_of: dt.date | None) -> np.ndarray:
    """ON_TIME, LATE, SHORTFALL or DUE_LATER per covered firm-year; NaN where unknown or not
    covered. v1 ignores the scoring date (a year without a surrender is late); from v1.1 a year
    whose deadline is after ``as_of`` and not yet surrendered in full is DUE_LATER, and a
    surrender dated after ``as_of`` is not yet known."""
    covered = x.flag["covered"] & x.known["covered"]
    shortfall = x.num["shortfall_t"]
    if m.compliance.before_deadline == "late":
        on_time = x.flag["surrender_on_time"]
        known = covered & x.known["surrender_on_time"] & np.isfinite(shortfall)
        state = np.where(shortfall > 0, SHORTFALL, np.where(on_time, ON_TIME, LATE))
        return np.where(known, state, np.nan)
    if as_of is None:
        raise InvalidInputError(
            f"methodology {m.version} needs the scoring date `as_of`: a compliance year whose "
            "surrender deadline is after it is not yet due"
        )
    day = np.datetime64(as_of, "D")
    deadline, surrendered_on = x.surrender_deadline, x.surrender_date
    surrendered = ~np.isnat(surrendered_on) & (surrendered_on <= day)
    full = surrendered & (shortfall == 0)
    due = ~np.isnat(deadline) & (deadline <= day)
    in_time = surrendered & (surrendered_on <= deadline)
    state = np.where(
        ~due,
        np.where(full, ON_TIME, DUE_LATER),
        np.where(shortfall > 0, SHORTFALL, np.where(in_time, ON_TIME, LATE)),
    )
    known = covered & ~np.isnat(deadline) & (np.isfinite(shortfall) | ~due)
    return np.where(known, state, np.nan)


def compliance(x: PanelInputs, m: Methodology, state: np.ndarray) -> FactorResult:
    """Points by the compliance state (shares of the methodology's compliance rule)."""
    spec = m.compliance
    covered = x.flag["covered"] & x.known["covered"]
    frac = np.select(
        [state == ON_TIME, state == LATE, state == SHORTFALL],
        [spec.on_time_frac, spec.late_frac, spec.shortfall_frac],
        0.0,
    )
    scored = np.isin(state, (ON_TIME, LATE, SHORTFALL))
    uncovered = ~covered & x.known["covered"]
    status = np.select(
        [uncovered, state == DUE_LATER, scored], [NOT_APPLICABLE, NOT_YET_DUE, SCORED], MISSING
    )
    return FactorResult(
        np.where(scored, frac * spec.max_points, 0.0),
        status,
        np.where(covered, x.num["shortfall_t"], np.nan),
    )


def disclosure(x: PanelInputs, m: Methodology) -> FactorResult:
    """Published emissions, a reduction target, net zero by the methodology's year.

    ``disclosed`` missing (not reported either way) makes the factor missing.
    """
    spec = m.disclosure
    known = x.known["disclosed"]
    net_zero = np.nan_to_num(x.num["net_zero_year"], nan=9999.0)
    pts = (
        x.flag["disclosed"] * spec.disclosed_points
        + np.isfinite(x.num["target_year"]) * spec.target_points
        + (net_zero <= spec.net_zero_by) * spec.net_zero_points
    ).astype(float)
    total = spec.disclosed_points + spec.target_points + spec.net_zero_points
    return FactorResult(
        np.where(known, pts * spec.max_points / total, 0.0),
        np.where(known, SCORED, MISSING),
        np.where(known, pts, np.nan),
    )


def green_power(x: PanelInputs, m: Methodology) -> FactorResult:
    """Green certificates (1 = 1 MWh) over electricity use; full points at the saturation share."""
    spec = m.green_power
    elec, certs = x.num["electricity_mwh"], x.num["green_certificates"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(elec > 0, np.minimum(certs / elec, 1.0), np.nan)
    good = np.isfinite(share)
    return FactorResult(
        np.where(good, np.minimum(share / spec.full_points_share, 1.0) * spec.max_points, 0.0),
        np.where(good, SCORED, np.where(elec == 0, NOT_APPLICABLE, MISSING)),
        share,
    )
