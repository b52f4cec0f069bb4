"""Carbon-performance scores: industry benchmarks, the vectorised methodology, the score card.

:func:`score_panel` scores a whole population (the frame of :func:`build_panel`) in one pass of
array operations; :func:`score_firm` returns the :class:`Score` of one firm-year, computed by the
same code on that firm's rows, so a card and a batch never disagree.

Every factor earns points up to its maximum (``methodology/v1.1.toml``). A factor is *scored*,
*missing* (its inputs are absent: 0 points, and the confidence falls), *not applicable* (e.g.
compliance for a firm outside the market, the change factors in a firm's first year), *benchmark
unavailable* or *not yet due* (from v1.1); the last three are left out and the score is taken
over the applicable maximum (:mod:`carbonfin.scoring.factors`). Each factor's *contribution* is
its points scaled to the 0-100 score and rounded to 4 decimals; the score is their sum.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.scoring import factors
from carbonfin.scoring.factors import SCORED, STATUS, PanelInputs
from carbonfin.scoring.ids import unknown_member, validate_uscc
from carbonfin.scoring.input_hash import HASH_ENCODING
from carbonfin.scoring.input_hash import start_row_hash as _start_row_hash
from carbonfin.scoring.methodology import (
    DEFAULT_VERSION,
    FACTORS,
    Methodology,
    load_methodology,
)

if TYPE_CHECKING:
    from carbonfin.scoring.carbon_card import CarbonCostCard

__all__ = [
    "HASH_ENCODING",
    "STATUS",
    "FactorScore",
    "Grade",
    "Score",
    "efficiency_grade",
    "industry_benchmarks",
    "scorable_year",
    "score_firm",
    "score_panel",
]

_EPS = 1e-12


class Grade(enum.StrEnum):
    """Four-colour carbon-account grade (after Quzhou's carbon account)."""

    DARK_GREEN = "dark_green"
    LIGHT_GREEN = "light_green"
    YELLOW = "yellow"
    RED = "red"

    @classmethod
    def _missing_(cls, value: object) -> Grade:
        raise unknown_member(cls, value)


def efficiency_grade(k_ratio: float | np.ndarray, version: str = DEFAULT_VERSION) -> Any:
    """Zhejiang carbon-efficiency grade 1 (best) … 5 of a K ratio (firm / industry intensity).

    K <= 0.6: 1; (0.6, 0.8]: 2; (0.8, 1.2]: 3; (1.2, 2.0]: 4; > 2.0: 5 — upper bounds
    inclusive. Accepts a scalar (returns ``int``) or an array (returns an int array).
    """
    bounds = np.asarray(load_methodology(version).efficiency.grade_upper_bounds)
    k = np.asarray(k_ratio, dtype=float)
    if np.any(~np.isfinite(k)) or np.any(k < 0):
        raise InvalidInputError(f"`k_ratio` must be finite and >= 0; got {k_ratio!r}")
    grades = np.searchsorted(bounds, k, side="left") + 1
    return int(grades) if grades.ndim == 0 else grades.astype(int)


def industry_benchmarks(panel: pd.DataFrame, methodology: Methodology) -> pd.DataFrame:
    """Industry-average intensity (tCO2e per CNY of value added) per sector and year.

    Rule (methodology ``[benchmark]``): total emissions / total value added of the sector's
    firm-years with complete emissions, positive value added and at most half of their emissions
    estimated; with fewer than ``min_firms`` such firms in a year, the sector's pooled value over
    all years. Columns ``sector, year, benchmark_intensity, benchmark_firms, benchmark_basis``.
    """
    usable = panel[
        panel["emissions_tco2e"].notna()
        & (panel["value_added_cny"] > 0)
        & (panel["quality_estimated"].fillna(1.0) <= 0.5)
    ]
    by_year = usable.groupby(["sector", "year"]).agg(
        emissions=("emissions_tco2e", "sum"),
        value_added=("value_added_cny", "sum"),
        firms=("uscc", "nunique"),
    )
    pooled = usable.groupby("sector").agg(
        emissions=("emissions_tco2e", "sum"), value_added=("value_added_cny", "sum")
    )
    grid = panel[["sector", "year"]].drop_duplicates()
    out = grid.merge(by_year.reset_index(), on=["sector", "year"], how="left")
    out = out.merge(pooled.add_prefix("pooled_").reset_index(), on="sector", how="left")
    enough = out["firms"].fillna(0) >= methodology.benchmark_min_firms
    out["benchmark_intensity"] = np.where(
        enough,
        out["emissions"] / out["value_added"],
        out["pooled_emissions"] / out["pooled_value_added"],
    )
    out["benchmark_firms"] = out["firms"].fillna(0).astype(int)
    out["benchmark_basis"] = np.where(enough, "sector-year", "sector pooled over years")
    return out[["sector", "year", "benchmark_intensity", "benchmark_firms", "benchmark_basis"]]


_HASH_COLUMNS = [
    "uscc",
    "sector",
    "year",
    "emissions_tco2e",
    "value_added_cny",
    "emissions_prev_tco2e",
    "value_added_prev_cny",
    "has_prev_year",
    "facilities_missing",
    "quality_verified",
    "quality_metered",
    "quality_self_reported",
    "quality_estimated",
    "covered",
    "shortfall_t",
    "surrender_on_time",
    "compliance_state",
    "facilities_complete",
    "disclosed",
    "target_year",
    "net_zero_year",
    "electricity_mwh",
    "green_certificates",
    "benchmark_intensity",
]


#: the colour grades' texts by code (0 dark green … 3 red), an object array: a frame takes them
#: without converting each row's text
_GRADE_TEXTS = np.array(
    [Grade.DARK_GREEN.value, Grade.LIGHT_GREEN.value, Grade.YELLOW.value, Grade.RED.value],
    dtype=object,
)
_GRADE_TEXTS.flags.writeable = False


def _methodology(version: str | Methodology) -> Methodology:
    return version if isinstance(version, Methodology) else load_methodology(version)


def score_panel(
    panel: pd.DataFrame,
    version: str | Methodology = DEFAULT_VERSION,
    benchmarks: pd.DataFrame | Mapping[str, float] | None = None,
    *,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Score every firm-year of ``panel`` (from :func:`build_panel`) with methodology ``version``.

    ``version``: a published version (``"v1.1"`` …) or a :class:`Methodology` object (e.g. a
    draft parsed with :func:`~carbonfin.scoring.methodology.parse_methodology`).
    ``benchmarks``: industry intensities from outside (a mapping sector -> intensity, or a frame
    with ``sector, year, benchmark_intensity``); by default computed from the panel itself.
    ``as_of``: the scoring date (from v1.1 required): a compliance year whose surrender
    deadline is after it is *not yet due*, and a surrender dated after it is not yet known.

    Returns one row per firm-year: ``uscc, year, sector, score, colour_grade,
    efficiency_grade, k_ratio, intensity, benchmark_intensity, benchmark_basis, confidence,
    loan_adjustment_bp, compliance_deadline, as_of, input_hash, methodology_version,
    methodology_hash`` and for each factor ``<factor>_points``, ``<factor>_max``,
    ``<factor>_contribution``, ``<factor>_status`` (a code of
    :data:`~carbonfin.scoring.factors.STATUS`), ``<factor>_value`` (its input metric).
    """
    m = _methodology(version)
    if as_of is not None and (not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime)):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    if panel.empty:
        raise MissingDataError("the panel is empty: nothing to score")
    df = _attach_benchmarks(panel, m, benchmarks)
    x = PanelInputs.from_frame(df)
    eff, intensity, k, grade = factors.efficiency(x, m)
    state = factors.compliance_state(x, m, as_of)
    df["compliance_state"] = state
    hashes = _start_row_hash(df, _HASH_COLUMNS, m)  # hashed on a worker thread meanwhile
    results = {
        "efficiency": eff,
        **factors.changes(x, m, intensity),
        "data_quality": factors.data_quality(x, m),
        "compliance": factors.compliance(x, m, state),
        "disclosure": factors.disclosure(x, m),
        "green_power": factors.green_power(x, m),
    }
    counted = {
        f: np.logical_or.reduce([results[f].status == s for s in factors.COUNTED]) for f in FACTORS
    }
    applicable_max = sum(np.where(counted[f], m.max_points[f], 0.0) for f in FACTORS)
    scored_max = sum(np.where(results[f].status == SCORED, m.max_points[f], 0.0) for f in FACTORS)
    uscc = df["uscc"]
    cols: dict[str, Any] = {
        # the default text dtype as it is (no re-inference); any other (e.g. "string", whose
        # missing value is NA) through numpy, so the frame's dtype is "str" as before
        "uscc": uscc.array if uscc.dtype == "str" else uscc.to_numpy(),
        "year": df["year"].to_numpy(int),
        "sector": df["sector"].to_numpy(),
    }
    # each factor's points scaled to 0-100 over the applicable maximum, rounded to 4 dp
    total = np.zeros(len(df))
    for f in FACTORS:
        r = results[f]
        contribution = np.round(r.points * 100.0 / applicable_max, 4)
        total += contribution
        cols[f"{f}_points"] = r.points
        cols[f"{f}_max"] = np.where(counted[f], m.max_points[f], 0.0)
        cols[f"{f}_contribution"] = contribution
        cols[f"{f}_status"] = r.status
        cols[f"{f}_value"] = r.value
    score = np.round(total, 4)
    dark, light, yellow = m.colour_bounds
    cols["score"] = score
    grade_code = np.select(
        [score >= dark - _EPS, score >= light - _EPS, score >= yellow - _EPS], [0, 1, 2], 3
    )
    cols["colour_grade"] = _GRADE_TEXTS[grade_code]  # one str object per grade, shared
    graded = np.isfinite(k)
    cols["efficiency_grade"] = pd.arrays.IntegerArray(
        np.where(graded, grade, 0).astype("int64"), ~graded
    )
    cols["k_ratio"] = k
    cols["intensity"] = intensity
    cols["benchmark_intensity"] = x.num["benchmark_intensity"]
    cols["benchmark_basis"] = df["benchmark_basis"].to_numpy()
    quality = results["data_quality"].value
    cols["confidence"] = np.round(
        scored_max / applicable_max * (0.5 + 0.5 * np.nan_to_num(quality, nan=0.0)), 6
    )
    lp = m.loan_pricing
    adjustment = np.clip(
        -(score - lp.base_score) * lp.bp_per_point, -lp.max_discount_bp, lp.max_premium_bp
    )
    cols["loan_adjustment_bp"] = np.round(adjustment, 4) + 0.0
    cols["compliance_deadline"] = df["surrender_deadline"].to_numpy()
    cols["as_of"] = np.full(len(df), as_of, dtype=object)
    cols["input_hash"] = hashes()
    cols["methodology_version"] = m.version
    cols["methodology_hash"] = m.content_hash
    return _frame(cols)


def _frame(cols: dict[str, Any]) -> pd.DataFrame:
    """The score frame, each column a block of its own (``copy=False``: pandas would otherwise
    stack the 34 float columns into one new 27 MB block per 100,000 rows, a copy that costs more
    than the scoring). No column may share memory with the caller's panel or with another column
    (the frame may be written to): an array this function does not own outright is copied."""
    seen: set[int] = set()
    for name, values in cols.items():
        if isinstance(values, np.ndarray):
            if not (values.flags.owndata and values.flags.writeable) or id(values) in seen:
                values = cols[name] = values.copy()
            seen.add(id(values))
        elif isinstance(values, pd.api.extensions.ExtensionArray):
            cols[name] = values.copy()  # from the panel
    return pd.DataFrame(cols, copy=False)


def _attach_benchmarks(
    panel: pd.DataFrame, m: Methodology, benchmarks: pd.DataFrame | Mapping[str, float] | None
) -> pd.DataFrame:
    derived = {"benchmark_intensity", "compliance_state"}
    required = (set(_HASH_COLUMNS) - derived) | {"surrender_date", "surrender_deadline"}
    missing = sorted(required - set(panel.columns))
    if missing:
        raise InvalidInputError(f"the panel lacks columns {missing}; build it with build_panel")
    if benchmarks is None:
        table = industry_benchmarks(panel, m)
    elif isinstance(benchmarks, Mapping):
        bad = {k: v for k, v in benchmarks.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise InvalidInputError(f"benchmark intensities must be finite and > 0; got {bad}")
        grid = panel[["sector", "year"]].drop_duplicates()
        table = grid.assign(benchmark_intensity=grid["sector"].map(benchmarks).astype(float))
    else:
        need = {"sector", "year", "benchmark_intensity"}
        if not need <= set(benchmarks.columns):
            raise InvalidInputError(
                f"`benchmarks` needs the columns {sorted(need)}; got {list(benchmarks.columns)}"
            )
        table = benchmarks
    table = table.assign(benchmark_basis=table.get("benchmark_basis", "supplied"))
    out = panel.drop(columns=["benchmark_intensity", "benchmark_basis"], errors="ignore")
    out = out.reset_index(drop=True)
    row = _table_rows(out, table)
    for c in ("benchmark_intensity", "benchmark_basis"):
        out[c] = pd.api.extensions.take(table[c].to_numpy(), row, allow_fill=True)
    available = np.isfinite(out["benchmark_intensity"].to_numpy(dtype=float, na_value=np.nan))
    out["benchmark_basis"] = np.where(available, out["benchmark_basis"], "unavailable")
    return out


def _table_rows(panel: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """For each panel row, the row of ``table`` with its sector and year (-1 if none): a left
    many-to-one join, keys equal by value (NaN matching NaN, as in ``DataFrame.merge``)."""
    keys = []
    for c in ("sector", "year"):
        left, right = panel[c], table[c]
        numeric = all(pd.api.types.is_numeric_dtype(k) for k in (left.dtype, right.dtype))
        if numeric:  # numbers equal by value (2020 == 2020.0), every missing value as NaN
            both = np.concatenate([k.to_numpy(float, na_value=np.nan) for k in (left, right)])
        else:
            both = np.concatenate([left.to_numpy(object), right.to_numpy(object)])
        keys.append(pd.factorize(both, use_na_sentinel=False)[0])
    key = keys[0] * (int(keys[1].max(initial=0)) + 1) + keys[1]
    ours, theirs = key[: len(panel)], key[len(panel) :]
    if len(np.unique(theirs)) < len(theirs):
        raise pd.errors.MergeError(
            "Merge keys are not unique in right dataset; not a many-to-one merge"
        )
    row = np.full(int(key.max(initial=0)) + 1, -1, dtype=np.int64)
    row[theirs] = np.arange(len(theirs))
    return np.asarray(row[ours])


@dataclass(frozen=True, slots=True)
class FactorScore:
    """One factor on a score card."""

    name: str
    points: float
    max_points: float
    contribution: float
    status: str
    value: float | None
    description: str
    source: str


@dataclass(frozen=True, slots=True)
class Score:
    """A firm-year's carbon-performance score card (see the module notes)."""

    uscc: str
    year: int
    sector: str
    methodology_version: str
    methodology_hash: str
    score: float
    colour_grade: Grade
    efficiency_grade: int | None
    k_ratio: float | None
    intensity: float | None
    benchmark_intensity: float | None
    benchmark_basis: str
    factors: tuple[FactorScore, ...]
    reasons: tuple[str, ...]
    confidence: float
    loan_adjustment_bp: float
    input_hash: str
    as_of: dt.date | None
    #: the carbon cost at risk, attached by
    #: :func:`carbonfin.scoring.carbon_card.with_carbon_cost`; it does not change the score
    carbon_cost: CarbonCostCard | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], methodology: Methodology | None = None) -> Score:
        """Build the card from one row of :func:`score_panel` (scored with ``methodology``,
        by default the published version the row names)."""
        m = methodology or load_methodology(str(row["methodology_version"]))
        if str(row["methodology_hash"]) != m.content_hash:
            raise InvalidInputError(
                f"the row was scored with methodology file {row['methodology_hash']}, not "
                f"{m.version} ({m.content_hash}); pass the methodology it was scored with"
            )

        def opt(x: Any) -> float | None:
            return None if x is None or pd.isna(x) else float(x)

        factors = tuple(
            FactorScore(
                f,
                float(row[f"{f}_points"]),
                float(row[f"{f}_max"]),
                float(row[f"{f}_contribution"]),
                STATUS[int(row[f"{f}_status"])],
                opt(row[f"{f}_value"]),
                m.factor(f).description,
                m.sources[f],
            )
            for f in FACTORS
        )
        grade = row["efficiency_grade"]
        return cls(
            uscc=str(row["uscc"]),
            year=int(row["year"]),
            sector=str(row["sector"]),
            methodology_version=m.version,
            methodology_hash=m.content_hash,
            score=float(row["score"]),
            colour_grade=Grade(row["colour_grade"]),
            efficiency_grade=None if pd.isna(grade) else int(grade),
            k_ratio=opt(row["k_ratio"]),
            intensity=opt(row["intensity"]),
            benchmark_intensity=opt(row["benchmark_intensity"]),
            benchmark_basis=str(row["benchmark_basis"]),
            factors=factors,
            reasons=_reasons(factors, row),
            confidence=float(row["confidence"]),
            loan_adjustment_bp=float(row["loan_adjustment_bp"]),
            input_hash=str(row["input_hash"]),
            as_of=None if row["as_of"] is None or pd.isna(row["as_of"]) else row["as_of"],
        )

    def to_record(self) -> dict[str, Any]:
        """The persisted form (``carbonfin.store``): decimals as exact strings."""
        return {
            "uscc": self.uscc,
            "year": self.year,
            "methodology_version": self.methodology_version,
            "score": _canonical(self.score, 4),
            "colour_grade": self.colour_grade.value,
            "efficiency_grade": self.efficiency_grade,
            "confidence": _canonical(self.confidence, 6),
            "loan_adjustment_bp": _canonical(self.loan_adjustment_bp, 4),
            "input_hash": self.input_hash,
            "detail": {
                "factors": [
                    {
                        "name": f.name,
                        "points": round(f.points, 6),
                        "max": f.max_points,
                        "contribution": f"{f.contribution:.4f}",
                        "status": f.status,
                    }
                    for f in self.factors
                ],
                "k_ratio": self.k_ratio,
                "benchmark_basis": self.benchmark_basis,
                "reasons": list(self.reasons),
                "methodology_hash": self.methodology_hash,
                "as_of": None if self.as_of is None else self.as_of.isoformat(),
            }
            | ({} if self.carbon_cost is None else {"carbon_cost": self.carbon_cost.to_record()}),
        }

    def summary(self) -> str:
        eff = "n/a" if self.efficiency_grade is None else str(self.efficiency_grade)
        lines = [
            f"{self.uscc} {self.year} ({self.sector}): score {self.score:.1f} / 100, "
            f"{self.colour_grade.value.replace('_', ' ')}, efficiency grade {eff}, "
            f"confidence {self.confidence:.0%}, methodology {self.methodology_version}"
            + ("" if self.as_of is None else f", as of {self.as_of.isoformat()}"),
            f"  suggested loan-rate adjustment {self.loan_adjustment_bp:+.1f} bp",
        ]
        lines += [
            f"  {f.name:18s} {f.points:6.2f}/{f.max_points:4.0f} -> {f.contribution:6.2f}"
            f"  {f.status}"
            for f in self.factors
        ]
        lines += [f"  - {r}" for r in self.reasons]
        if self.carbon_cost is not None:
            lines.append(self.carbon_cost.summary())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _canonical(value: float, places: int) -> str:
    """A decimal string with ``places`` decimals at most and no trailing zeros (as stored)."""
    text = format(Decimal(f"{value:.{places}f}").normalize(), "f")
    return "0" if text in ("-0", "") else text


def _reasons(factors: tuple[FactorScore, ...], row: Mapping[str, Any]) -> tuple[str, ...]:
    """The three factors that moved the score most, in words (largest shortfall or gain); a
    factor left out (benchmark unavailable, not yet due) is named first."""
    words = []
    for f in factors:
        if f.status == "not applicable":
            continue
        if f.status == "benchmark unavailable":
            words.append(
                (
                    math.inf,  # a factor left out is said first
                    f"efficiency: no industry benchmark for {row['sector']} in {row['year']}; "
                    f"not scored (left out of the maximum)",
                )
            )
            continue
        if f.status == "not yet due":
            deadline = row.get("compliance_deadline")
            when = "" if deadline is None or pd.isna(deadline) else f" (deadline {deadline})"
            words.append(
                (
                    math.inf,
                    f"compliance: the {row['year']} surrender is not yet due{when}; not scored",
                )
            )
            continue
        if f.status == "missing":
            words.append(
                (
                    f.max_points,
                    f"{f.name.replace('_', ' ')}: data missing, 0 of {f.max_points:.0f} points",
                )
            )
            continue
        lost = f.max_points - f.points
        detail = ""
        if f.name == "efficiency" and f.value is not None:
            detail = f" (K = {f.value:.2f} against the {row['sector']} benchmark)"
        elif f.name in ("intensity_change", "absolute_change") and f.value is not None:
            detail = f" ({f.value:+.1%} on the previous year)"
        elif f.name == "data_quality" and f.value is not None:
            detail = f" (quality index {f.value:.2f})"
        elif f.name == "compliance" and f.value is not None:
            detail = " (shortfall)" if f.value > 0 else ""
        elif f.name == "green_power" and f.value is not None:
            detail = f" ({f.value:.0%} of electricity)"
        verb = "lost" if lost > f.points else "earned"
        amount = lost if verb == "lost" else f.points
        words.append(
            (
                max(lost, f.points),
                f"{f.name.replace('_', ' ')}{detail}: {verb} "
                f"{amount:.1f} of {f.max_points:.0f} points",
            )
        )
    words.sort(key=lambda w: -w[0])
    return tuple(w for _, w in words[:3])


def scorable_year(uscc: str, years: list[int], year: int | None, as_of: dt.date | None) -> int:
    """The year to score: ``year`` if the firm has it, else its latest; with a scoring date
    ``as_of``, only years that ended before it (a year's records are complete only after its
    31 December), so a card is never built from data its date could not have seen."""
    have = sorted(set(years))
    usable = have if as_of is None else [y for y in have if y < as_of.year]
    if year is None:
        if not usable:
            raise MissingDataError(
                f"no year of firm {uscc} ended before the scoring date {as_of}; it has {have}"
            )
        return usable[-1]
    if year not in have:
        raise MissingDataError(f"no account data for firm {uscc} in {year}; it has {have}")
    if as_of is not None and year >= as_of.year:
        raise InvalidInputError(
            f"the {year} records of firm {uscc} are complete only after {year}-12-31; the "
            f"scoring date {as_of} is too early to score {year}"
        )
    return year


def score_firm(
    panel: pd.DataFrame,
    uscc: str,
    year: int | None = None,
    version: str | Methodology = DEFAULT_VERSION,
    benchmarks: pd.DataFrame | Mapping[str, float] | None = None,
    *,
    as_of: dt.date | None = None,
) -> Score:
    """The score card of one firm in ``year`` (default: its latest year) on date ``as_of``.

    Benchmarks are computed from the whole ``panel`` (as in batch scoring) unless supplied.
    ``as_of`` as in :func:`score_panel`.
    """
    validate_uscc(uscc)
    rows = panel[panel["uscc"] == uscc]
    if rows.empty:
        raise MissingDataError(f"no account data for firm {uscc}")
    year = scorable_year(uscc, [int(y) for y in rows["year"]], year, as_of)
    m = _methodology(version)
    if benchmarks is None:
        benchmarks = industry_benchmarks(panel, m)
    scored = score_panel(rows[rows["year"] == year], m, benchmarks, as_of=as_of)
    return Score.from_row({str(k): v for k, v in scored.iloc[0].to_dict().items()}, m)
