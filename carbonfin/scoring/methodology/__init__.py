"""Versioned scoring methodologies, loaded from the TOML files of this folder (``v1.toml`` …).

A loaded :class:`Methodology` is immutable all the way down: typed frozen specs holding tuples
and read-only mappings (``types.MappingProxyType``). It is cached and shared by every score in a
long-running process, so nothing may change it in place; a change is a new file (a new version).

Every file is validated when it is loaded (:func:`parse_methodology`): grade bounds ascending,
factor weights summing to the maximum score, fractions in [0, 1], ordered cut-offs. Its
``content_hash`` (BLAKE2b-256 of the file's bytes) enters every score's input hash, so a score
says exactly which rules produced it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from carbonfin.errors import DataIntegrityError, InvalidInputError

__all__ = [
    "DEFAULT_VERSION",
    "FACTORS",
    "MAX_SCORE",
    "TIERS",
    "BenchmarkSpec",
    "CarbonCostSpec",
    "ChangeSpec",
    "ComplianceSpec",
    "DataQualitySpec",
    "DisclosureSpec",
    "EfficiencySpec",
    "FactorSpec",
    "GreenPowerSpec",
    "LoanPricingSpec",
    "Methodology",
    "available_versions",
    "load_methodology",
    "parse_methodology",
]

#: The factors of the methodology, in the order of the score card.
FACTORS = (
    "efficiency",
    "intensity_change",
    "absolute_change",
    "data_quality",
    "compliance",
    "disclosure",
    "green_power",
)

#: The data-quality tiers of the account (``carbonfin.scoring.account.DataQuality`` values).
TIERS = ("verified", "metered", "self_reported", "estimated")

#: The factors' maximum points add up to this (the score is on a 0-100 scale).
MAX_SCORE = 100.0

#: The version used when none is named (the latest published).
DEFAULT_VERSION = "v1.1"


@dataclass(frozen=True, slots=True)
class FactorSpec:
    """What every factor has: its weight, a description and the source of its rule."""

    name: str
    max_points: float
    description: str
    source: str


@dataclass(frozen=True, slots=True)
class EfficiencySpec(FactorSpec):
    """Carbon efficiency: grade upper bounds (inclusive) of K and the share of points per grade."""

    grade_upper_bounds: tuple[float, ...]
    grade_points_frac: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ChangeSpec(FactorSpec):
    """A year-on-year change: full points at or below ``full_points_at``, none at or above
    ``zero_points_at`` (changes as decimals, -0.10 = a 10% fall), linear between."""

    full_points_at: float
    zero_points_at: float


@dataclass(frozen=True, slots=True)
class DataQualitySpec(FactorSpec):
    """Tier values (0-1) of the emission-weighted quality index.

    ``scale_by_reporting_share`` (from v1.1): the index is multiplied by the share of the firm's
    facilities with a complete report, so missing facility data lowers it.
    """

    tier_value: Mapping[str, float]
    scale_by_reporting_share: bool


@dataclass(frozen=True, slots=True)
class ComplianceSpec(FactorSpec):
    """Share of points when surrendered on time, late, or short.

    ``before_deadline`` (from v1.1 ``"not_yet_due"``): a year whose surrender deadline is after
    the scoring date and which is not yet surrendered in full is left out of the score; v1
    (``"late"``) scored it as late.
    """

    on_time_frac: float
    late_frac: float
    shortfall_frac: float
    before_deadline: Literal["late", "not_yet_due"]


@dataclass(frozen=True, slots=True)
class DisclosureSpec(FactorSpec):
    """Points for published emissions, a reduction target and net zero by ``net_zero_by``."""

    disclosed_points: float
    target_points: float
    net_zero_points: float
    net_zero_by: int


@dataclass(frozen=True, slots=True)
class GreenPowerSpec(FactorSpec):
    """Green-certificate share of electricity (decimal) that earns full points."""

    full_points_share: float


@dataclass(frozen=True, slots=True)
class LoanPricingSpec:
    """Suggested loan-rate adjustment: ``bp_per_point`` off per point above ``base_score``."""

    base_score: float
    bp_per_point: float
    max_discount_bp: float
    max_premium_bp: float
    source: str


@dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    """Industry benchmark rule; ``when_unavailable`` says how a sector-year without one scores.

    ``"missing"`` (v1): the efficiency factor is missing, 0 points counted in the maximum;
    ``"not_scored"`` (from v1.1): status *benchmark unavailable*, left out of the maximum.
    """

    min_firms: int
    description: str
    when_unavailable: Literal["missing", "not_scored"]


@dataclass(frozen=True, slots=True)
class CarbonCostSpec:
    """From v1.2: the loan-rate premium for the carbon cost at risk (not a score factor).

    ``premium_bp = min(max_premium_bp, bp_per_pct_point · 100 · max(0, share − free_below_share))``
    with ``share`` the 99% carbon cost as a share of value added (annual average), plus
    ``coverage_flag_bp`` when the loan's interest coverage after that cost is below the floor.
    """

    measure: str
    free_below_share: float
    bp_per_pct_point: float
    max_premium_bp: float
    coverage_flag_bp: float
    description: str
    source: str


@dataclass(frozen=True, slots=True)
class Methodology:
    """A scoring methodology: factor specs, grade cut-offs, loan-pricing and benchmark rules."""

    version: str
    published: dt.date
    summary: str
    content_hash: str
    changes: tuple[str, ...]
    efficiency: EfficiencySpec
    intensity_change: ChangeSpec
    absolute_change: ChangeSpec
    data_quality: DataQualitySpec
    compliance: ComplianceSpec
    disclosure: DisclosureSpec
    green_power: GreenPowerSpec
    colour_bounds: tuple[float, float, float]  # dark green, light green, yellow lower bounds
    loan_pricing: LoanPricingSpec
    benchmark: BenchmarkSpec
    max_points: Mapping[str, float]
    sources: Mapping[str, str]
    carbon_cost: CarbonCostSpec | None = None

    @property
    def benchmark_min_firms(self) -> int:
        return self.benchmark.min_firms

    def factor(self, name: str) -> FactorSpec:
        """The spec of factor ``name`` (one of :data:`FACTORS`)."""
        if name not in FACTORS:
            raise InvalidInputError(f"unknown factor {name!r}; factors: {list(FACTORS)}")
        spec: FactorSpec = getattr(self, name)
        return spec


def available_versions() -> list[str]:
    files = resources.files("carbonfin.scoring.methodology").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


@cache
def load_methodology(version: str = DEFAULT_VERSION) -> Methodology:
    """Load methodology ``version`` (e.g. ``"v1.1"``); raise for an unknown version.

    Cached: every caller shares one immutable object.
    """
    if version not in available_versions():
        raise InvalidInputError(
            f"unknown methodology version {version!r}; available: {available_versions()}"
        )
    path = resources.files("carbonfin.scoring.methodology").joinpath(f"{version}.toml")
    return parse_methodology(path.read_bytes(), version=version)


class _Reader:
    """Typed reads from the raw TOML, naming the field in every error."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def _get(self, key: str) -> Any:
        if key not in self.raw:
            raise DataIntegrityError(f"{self.where}: `{key}` is missing")
        return self.raw[key]

    def sub(self, key: str) -> _Reader:
        value = self._get(key)
        if not isinstance(value, Mapping):
            raise DataIntegrityError(f"{self.where}: `{key}` must be a table")
        return _Reader(value, f"{self.where}.{key}")

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise DataIntegrityError(f"{self.where}: `{key}` must be a non-empty string")
        return value

    def number(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataIntegrityError(f"{self.where}: `{key}` must be a number; got {value!r}")
        if not (math.isfinite(value) and lo <= value <= hi):
            raise DataIntegrityError(
                f"{self.where}: `{key}` must be in [{lo:g}, {hi:g}]; got {value!r}"
            )
        return float(value)

    def numbers(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            raise DataIntegrityError(f"{self.where}: `{key}` must be a non-empty list")
        reader = _Reader({str(i): v for i, v in enumerate(value)}, f"{self.where}.{key}")
        return tuple(reader.number(str(i), lo, hi) for i in range(len(value)))

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.raw.get(key, default)
        if value not in options:
            raise DataIntegrityError(
                f"{self.where}: `{key}` must be one of {options}; got {value!r}"
            )
        return str(value)


def _common(r: _Reader, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "max_points": r.number("max_points", 0.0, MAX_SCORE),
        "description": r.text("description"),
        "source": r.text("source"),
    }


def _efficiency(r: _Reader) -> EfficiencySpec:
    bounds = r.numbers("grade_upper_bounds", 0.0)
    fracs = r.numbers("grade_points_frac", 0.0, 1.0)
    if any(b <= a for a, b in itertools.pairwise(bounds)) or bounds[0] <= 0:
        raise DataIntegrityError(
            f"{r.where}: `grade_upper_bounds` must be positive and strictly ascending; "
            f"got {list(bounds)}"
        )
    if len(fracs) != len(bounds) + 1:
        raise DataIntegrityError(
            f"{r.where}: `grade_points_frac` needs one share per grade ({len(bounds) + 1}); "
            f"got {len(fracs)}"
        )
    if any(b > a for a, b in itertools.pairwise(fracs)):
        raise DataIntegrityError(
            f"{r.where}: `grade_points_frac` must not rise from grade 1 to the last; "
            f"got {list(fracs)}"
        )
    return EfficiencySpec(
        **_common(r, "efficiency"), grade_upper_bounds=bounds, grade_points_frac=fracs
    )


def _change(r: _Reader, name: str) -> ChangeSpec:
    full, zero = r.number("full_points_at", -1.0, 10.0), r.number("zero_points_at", -1.0, 10.0)
    if not full < zero:
        raise DataIntegrityError(
            f"{r.where}: `full_points_at` ({full}) must be below `zero_points_at` ({zero})"
        )
    return ChangeSpec(**_common(r, name), full_points_at=full, zero_points_at=zero)


def _data_quality(r: _Reader) -> DataQualitySpec:
    tiers = r.sub("tier_value")
    if set(tiers.raw) != set(TIERS):
        raise DataIntegrityError(
            f"{tiers.where}: needs exactly the tiers {list(TIERS)}; got {sorted(tiers.raw)}"
        )
    scale = r.raw.get("scale_by_reporting_share", False)
    if not isinstance(scale, bool):
        raise DataIntegrityError(f"{r.where}: `scale_by_reporting_share` must be true or false")
    return DataQualitySpec(
        **_common(r, "data_quality"),
        tier_value=MappingProxyType({t: tiers.number(t, 0.0, 1.0) for t in TIERS}),
        scale_by_reporting_share=scale,
    )


def _compliance(r: _Reader) -> ComplianceSpec:
    on_time, late = r.number("on_time_frac", 0.0, 1.0), r.number("late_frac", 0.0, 1.0)
    short = r.number("shortfall_frac", 0.0, 1.0)
    if not on_time >= late >= short:
        raise DataIntegrityError(
            f"{r.where}: shares must satisfy on_time_frac >= late_frac >= shortfall_frac; "
            f"got {on_time}, {late}, {short}"
        )
    before = r.choice("before_deadline", ("late", "not_yet_due"), "late")
    return ComplianceSpec(
        **_common(r, "compliance"),
        on_time_frac=on_time,
        late_frac=late,
        shortfall_frac=short,
        before_deadline=before,  # type: ignore[arg-type]
    )


def _disclosure(r: _Reader) -> DisclosureSpec:
    spec = DisclosureSpec(
        **_common(r, "disclosure"),
        disclosed_points=r.number("disclosed_points", 0.0),
        target_points=r.number("target_points", 0.0),
        net_zero_points=r.number("net_zero_points", 0.0),
        net_zero_by=int(r.number("net_zero_by", 2000, 2200)),
    )
    if spec.disclosed_points + spec.target_points + spec.net_zero_points <= 0:
        raise DataIntegrityError(f"{r.where}: the disclosure points add up to 0")
    return spec


def _grades(r: _Reader) -> tuple[float, float, float]:
    yellow = r.number("yellow", 0.0, MAX_SCORE)
    light = r.number("light_green", 0.0, MAX_SCORE)
    dark = r.number("dark_green", 0.0, MAX_SCORE)
    if not 0 < yellow < light < dark:
        raise DataIntegrityError(
            f"{r.where}: lower bounds must ascend 0 < yellow < light_green < dark_green; "
            f"got {yellow}, {light}, {dark}"
        )
    r.text("source")
    return dark, light, yellow


def _carbon_cost(top: _Reader) -> CarbonCostSpec | None:
    """The optional ``[carbon_cost]`` table (from v1.2); ``None`` when the file has none."""
    if "carbon_cost" not in top.raw:
        return None
    r = top.sub("carbon_cost")
    return CarbonCostSpec(
        measure=r.choice("measure", ("car99_share_value_added",), "car99_share_value_added"),
        free_below_share=r.number("free_below_share", 0.0, 1.0),
        bp_per_pct_point=r.number("bp_per_pct_point", 0.0, 100.0),
        max_premium_bp=r.number("max_premium_bp", 0.0, 500.0),
        coverage_flag_bp=r.number("coverage_flag_bp", 0.0, 500.0),
        description=r.text("description"),
        source=r.text("source"),
    )


def parse_methodology(content: bytes | str, *, version: str | None = None) -> Methodology:
    """Parse and validate a methodology file's ``content``; raise :class:`DataIntegrityError`.

    ``version``: the version the file must declare (its file name); ``None`` skips that check.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    label = f"methodology {version or '(unnamed)'}"
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataIntegrityError(f"{label} is not valid UTF-8 TOML: {exc}") from exc
    top = _Reader(raw, label)
    declared = top.text("version")
    if version is not None and declared != version:
        raise DataIntegrityError(f"{version}.toml declares version {declared!r}")
    published = top._get("published")
    if not isinstance(published, dt.date) or isinstance(published, dt.datetime):
        raise DataIntegrityError(f"{label}: `published` must be a date; got {published!r}")
    factors = top.sub("factors")
    unknown = sorted(set(factors.raw) - set(FACTORS))
    if unknown:
        raise DataIntegrityError(f"{label}: unknown factors {unknown}; factors: {list(FACTORS)}")
    specs: dict[str, FactorSpec] = {
        "efficiency": _efficiency(factors.sub("efficiency")),
        "intensity_change": _change(factors.sub("intensity_change"), "intensity_change"),
        "absolute_change": _change(factors.sub("absolute_change"), "absolute_change"),
        "data_quality": _data_quality(factors.sub("data_quality")),
        "compliance": _compliance(factors.sub("compliance")),
        "disclosure": _disclosure(factors.sub("disclosure")),
        "green_power": GreenPowerSpec(
            **_common(factors.sub("green_power"), "green_power"),
            full_points_share=factors.sub("green_power").number("full_points_share", 1e-9, 1.0),
        ),
    }
    total = sum(s.max_points for s in specs.values())
    if abs(total - MAX_SCORE) > 1e-9:
        raise DataIntegrityError(
            f"{label}: factor max_points sum to {total:g}, not the maximum score {MAX_SCORE:g}"
        )
    grades = top.sub("grades")
    lp = top.sub("loan_pricing")
    bench = top.sub("benchmark")
    changes = raw.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(c, str) for c in changes):
        raise DataIntegrityError(f"{label}: `changes` must be a list of strings")
    return Methodology(
        version=declared,
        published=published,
        summary=top.text("summary"),
        content_hash=hashlib.blake2b(data, digest_size=32).hexdigest(),
        changes=tuple(changes),
        efficiency=specs["efficiency"],  # type: ignore[arg-type]
        intensity_change=specs["intensity_change"],  # type: ignore[arg-type]
        absolute_change=specs["absolute_change"],  # type: ignore[arg-type]
        data_quality=specs["data_quality"],  # type: ignore[arg-type]
        compliance=specs["compliance"],  # type: ignore[arg-type]
        disclosure=specs["disclosure"],  # type: ignore[arg-type]
        green_power=specs["green_power"],  # type: ignore[arg-type]
        colour_bounds=_grades(grades),
        loan_pricing=LoanPricingSpec(
            base_score=lp.number("base_score", 0.0, MAX_SCORE),
            bp_per_point=lp.number("bp_per_point", 0.0),
            max_discount_bp=lp.number("max_discount_bp", 0.0),
            max_premium_bp=lp.number("max_premium_bp", 0.0),
            source=lp.text("source"),
        ),
        benchmark=BenchmarkSpec(
            min_firms=int(bench.number("min_firms", 1, 10_000)),
            description=bench.text("description"),
            when_unavailable=bench.choice(  # type: ignore[arg-type]
                "when_unavailable", ("missing", "not_scored"), "missing"
            ),
        ),
        max_points=MappingProxyType({f: specs[f].max_points for f in FACTORS}),
        sources=MappingProxyType(
            {f: specs[f].source for f in FACTORS}
            | {"grades": grades.text("source"), "loan_pricing": lp.text("source")}
        ),
        carbon_cost=_carbon_cost(top),
    )
