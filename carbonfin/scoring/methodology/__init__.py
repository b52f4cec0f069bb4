"""Versioned scoring methodologies, loaded from the TOML files of this folder (``v1.toml`` …)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from carbonfin.errors import DataIntegrityError, InvalidInputError

__all__ = ["FACTORS", "Methodology", "available_versions", "load_methodology"]

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


@dataclass(frozen=True, slots=True)
class Methodology:
    """A scoring methodology: factor weights and rules, grade cut-offs, loan-pricing rule."""

    version: str
    published: dt.date
    max_points: dict[str, float]
    factors: dict[str, dict[str, Any]]
    colour_bounds: tuple[float, float, float]  # dark green, light green, yellow lower bounds
    loan_pricing: dict[str, float]
    benchmark_min_firms: int
    sources: dict[str, str]

    def factor(self, name: str) -> dict[str, Any]:
        return self.factors[name]


def available_versions() -> list[str]:
    files = resources.files("carbonfin.scoring.methodology").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


@cache
def load_methodology(version: str = "v1") -> Methodology:
    """Load methodology ``version`` (e.g. ``"v1"``); raise for an unknown version."""
    if version not in available_versions():
        raise InvalidInputError(
            f"unknown methodology version {version!r}; available: {available_versions()}"
        )
    text = resources.files("carbonfin.scoring.methodology").joinpath(f"{version}.toml")
    try:
        raw = tomllib.loads(text.read_text(encoding="utf-8"))
        factors = {name: dict(raw["factors"][name]) for name in FACTORS}
        max_points = {name: float(spec["max_points"]) for name, spec in factors.items()}
        grades = raw["grades"]
        method = Methodology(
            version=str(raw["version"]),
            published=raw["published"],
            max_points=max_points,
            factors=factors,
            colour_bounds=(
                float(grades["dark_green"]),
                float(grades["light_green"]),
                float(grades["yellow"]),
            ),
            loan_pricing={k: float(v) for k, v in raw["loan_pricing"].items() if k != "source"},
            benchmark_min_firms=int(raw["benchmark"]["min_firms"]),
            sources={name: str(spec["source"]) for name, spec in factors.items()}
            | {"grades": str(grades["source"]), "loan_pricing": str(raw["loan_pricing"]["source"])},
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise DataIntegrityError(f"methodology {version} is malformed: {exc!r}") from exc
    if method.version != version:
        raise DataIntegrityError(f"{version}.toml declares version {method.version!r}")
    if abs(sum(max_points.values()) - 100.0) > 1e-9:
        raise DataIntegrityError(
            f"methodology {version}: factor points sum to {sum(max_points.values())}, not 100"
        )
    return method
