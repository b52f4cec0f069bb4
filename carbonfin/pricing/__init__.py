"""Pricing: price history, volatility models, forward curves, options on allowances, scenarios."""

from __future__ import annotations

from carbonfin.pricing.options import (
    IMPLIED_VOL_REASONS,
    Black76Greeks,
    ImpliedVol,
    black76,
    black76_greeks,
    implied_vol,
    solve_implied_vol,
)

__all__ = [
    "IMPLIED_VOL_REASONS",
    "Black76Greeks",
    "ImpliedVol",
    "black76",
    "black76_greeks",
    "implied_vol",
    "solve_implied_vol",
]
