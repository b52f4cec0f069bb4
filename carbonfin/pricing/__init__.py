"""Pricing: price history, volatility models, forward curves, options on allowances, scenarios.

The hot paths (:func:`black76`, :func:`black76_greeks`, :func:`implied_vol`) are vectorised
numba kernels; volatility models go through ``arch``; curves and American options through
QuantLib.
"""

from __future__ import annotations

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
