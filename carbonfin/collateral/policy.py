"""The collateral policy (``carbonfin/rules/collateral.toml``) as typed, frozen objects.

Haircut defaults, anti-procyclicality parameters, liquidation data per instrument, add-on
schedules and loan-to-value thresholds are data with a version and a source, never literals in
code. :func:`collateral_policy` parses the file once; callers may pass their own
:class:`CollateralPolicy` (a bank's committee-approved variant) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from carbonfin.errors import DataIntegrityError
from carbonfin.instruments import Instrument
from carbonfin.rules import load_rules_toml

__all__ = [
    "AntiProcyclicality",
    "CollateralPolicy",
    "Concentration",
    "DataQualityPolicy",
    "LiquidationPolicy",
    "LtvThresholds",
    "collateral_policy",
]


@dataclass(frozen=True, slots=True)
class LiquidationPolicy:
    """How fast a position of one instrument can be sold (see the TOML for sources)."""

    adv_window_days: int
    participation_frac: float
    max_days: int


@dataclass(frozen=True, slots=True)
class AntiProcyclicality:
    """EMIR RTS 153/2013 art. 28(1) parameters."""

    default: str
    buffer_frac: float
    stressed_weight: float
    stressed_window_days: int
    floor_lookback_years: int
    source: str
    #: art. 28(1)(a) buffer state machine (carbonfin.collateral.apc_buffer): a significant rise
    #: is the base above (1 + buffer_rise_frac) x its minimum over buffer_rise_window_days; the
    #: path is run over the last buffer_history_days business days
    buffer_rise_frac: float = 0.10
    buffer_rise_window_days: int = 20
    buffer_history_days: int = 120
    buffer_source: str = ""


@dataclass(frozen=True, slots=True)
class Concentration:
    market_threshold_frac: float
    market_slope: float
    book_threshold_frac: float
    book_slope: float
    max_addon_frac: float
    source: str


@dataclass(frozen=True, slots=True)
class DataQualityPolicy:
    fresh_mark_days: int
    stale_addon_per_day: float
    max_stale_addon: float
    max_mark_age_days: int
    min_trade_day_frac: float
    thin_trading_addon: float
    few_returns: int
    few_returns_addon: float
    source: str


@dataclass(frozen=True, slots=True)
class LtvThresholds:
    """Trigger levels on utilisation = LTV / (1 − haircut) = loan / lendable value."""

    warning_utilisation: float
    margin_call_utilisation: float
    liquidation_utilisation: float
    target_utilisation: float
    source: str


@dataclass(frozen=True, slots=True)
class CollateralPolicy:
    """The whole collateral policy of one version."""

    version: str
    confidence: float
    holding_days: int
    remargin_days: int
    lookback_days: int
    min_returns: int
    fhs_paths: int
    fhs_seed: int
    anti_procyclicality: AntiProcyclicality
    liquidation: MappingProxyType[Instrument, LiquidationPolicy]
    concentration: Concentration
    wrong_way_frac: float
    wrong_way_source: str
    data_quality: DataQualityPolicy
    ltv: LtvThresholds
    sources: MappingProxyType[str, str]


def _parse(raw: dict[str, Any]) -> CollateralPolicy:
    h = raw["haircut"]
    liq = raw["liquidation"]
    per_instrument = {
        Instrument.parse(code): LiquidationPolicy(
            int(spec["adv_window_days"]), float(spec["participation_frac"]), int(spec["max_days"])
        )
        for code, spec in liq.items()
        if code != "sources"
    }
    missing = set(Instrument) - set(per_instrument)
    if missing:
        raise DataIntegrityError(
            f"collateral.toml has no liquidation data for {sorted(m.value for m in missing)}"
        )
    sources = {f"haircut.{k}": str(v) for k, v in h["sources"].items()}
    sources |= {f"liquidation.{k}": str(v) for k, v in liq["sources"].items()}
    ww = raw["wrong_way"]
    return CollateralPolicy(
        version=str(raw["version"]),
        confidence=float(h["confidence"]),
        holding_days=int(h["holding_days"]),
        remargin_days=int(h["remargin_days"]),
        lookback_days=int(h["lookback_days"]),
        min_returns=int(h["min_returns"]),
        fhs_paths=int(h["fhs_paths"]),
        fhs_seed=int(h["fhs_seed"]),
        anti_procyclicality=AntiProcyclicality(**raw["anti_procyclicality"]),
        liquidation=MappingProxyType(per_instrument),
        concentration=Concentration(**raw["concentration"]),
        wrong_way_frac=float(ww["covered_emitter_frac"]),
        wrong_way_source=str(ww["source"]),
        data_quality=DataQualityPolicy(**raw["data_quality"]),
        ltv=LtvThresholds(**raw["ltv"]),
        sources=MappingProxyType(sources),
    )


@cache
def collateral_policy() -> CollateralPolicy:
    """The shipped collateral policy (parsed once; immutable, safe to share)."""
    raw = load_rules_toml("collateral.toml")
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"collateral.toml is missing or mistypes a field: {exc}") from exc
