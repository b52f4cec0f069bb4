"""Pricing: price history, volatility models, forward curves, options on allowances, scenarios.

The hot paths (:func:`black76`, :func:`black76_greeks`, :func:`implied_vol`) are vectorised
numba kernels; volatility models go through ``arch``; curves and American options through
QuantLib.

Names are imported lazily (PEP 562): ``from carbonfin.pricing import PriceHistory`` loads the price
history alone, not numba, arch or QuantLib's option engines, so a command that needs one piece
starts fast. To export a new name, add it to ``_EXPORTS`` (name -> module) and, for type
checkers, to the ``TYPE_CHECKING`` imports; ``tests/test_startup.py`` checks both agree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonfin.pricing.american import AmericanPrice, american_option
    from carbonfin.pricing.forward import (
        CarryFit,
        DiscountCurve,
        ForwardCurve,
        bootstrap_curve,
        calibrate_carry,
        flat_curve,
    )
    from carbonfin.pricing.history import Mark, PriceHistory, Returns
    from carbonfin.pricing.options import (
        IMPLIED_VOL_REASONS,
        Black76Greeks,
        ImpliedVol,
        black76,
        black76_greeks,
        implied_vol,
        solve_implied_vol,
    )
    from carbonfin.pricing.scenarios import (
        STRESS_WINDOWS,
        MertonCalibration,
        ScenarioPaths,
        StudentTCalibration,
        calibrate_merton,
        calibrate_student_t,
        filtered_historical,
        merton_jump,
        replay_window,
        student_t,
    )
    from carbonfin.pricing.selection import ModelSelection, select_model
    from carbonfin.pricing.volatility import (
        STATIONARITY_TOL,
        TRADING_DAYS_PER_YEAR,
        EwmaResult,
        VolFit,
        ewma,
        fit_garch,
    )

_EXPORTS: dict[str, str] = {
    "AmericanPrice": "american",
    "american_option": "american",
    "CarryFit": "forward",
    "DiscountCurve": "forward",
    "ForwardCurve": "forward",
    "bootstrap_curve": "forward",
    "calibrate_carry": "forward",
    "flat_curve": "forward",
    "Mark": "history",
    "PriceHistory": "history",
    "Returns": "history",
    "IMPLIED_VOL_REASONS": "options",
    "Black76Greeks": "options",
    "ImpliedVol": "options",
    "black76": "options",
    "black76_greeks": "options",
    "implied_vol": "options",
    "solve_implied_vol": "options",
    "STRESS_WINDOWS": "scenarios",
    "MertonCalibration": "scenarios",
    "ScenarioPaths": "scenarios",
    "StudentTCalibration": "scenarios",
    "calibrate_merton": "scenarios",
    "calibrate_student_t": "scenarios",
    "filtered_historical": "scenarios",
    "merton_jump": "scenarios",
    "replay_window": "scenarios",
    "student_t": "scenarios",
    "ModelSelection": "selection",
    "select_model": "selection",
    "STATIONARITY_TOL": "volatility",
    "TRADING_DAYS_PER_YEAR": "volatility",
    "EwmaResult": "volatility",
    "VolFit": "volatility",
    "ewma": "volatility",
    "fit_garch": "volatility",
}

__all__ = [
    "IMPLIED_VOL_REASONS",
    "STATIONARITY_TOL",
    "STRESS_WINDOWS",
    "TRADING_DAYS_PER_YEAR",
    "AmericanPrice",
    "Black76Greeks",
    "CarryFit",
    "DiscountCurve",
    "EwmaResult",
    "ForwardCurve",
    "ImpliedVol",
    "Mark",
    "MertonCalibration",
    "ModelSelection",
    "PriceHistory",
    "Returns",
    "ScenarioPaths",
    "StudentTCalibration",
    "VolFit",
    "american_option",
    "black76",
    "black76_greeks",
    "bootstrap_curve",
    "calibrate_carry",
    "calibrate_merton",
    "calibrate_student_t",
    "ewma",
    "filtered_historical",
    "fit_garch",
    "flat_curve",
    "implied_vol",
    "merton_jump",
    "replay_window",
    "select_model",
    "solve_implied_vol",
    "student_t",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'carbonfin.pricing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"carbonfin.pricing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
