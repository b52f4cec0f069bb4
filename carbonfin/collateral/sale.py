"""The liquidation component of a haircut: a position sold gradually, or in one block.

:func:`liquidation_component` is the vectorised rule (see :mod:`carbonfin.collateral.haircut`
for the combination and :mod:`carbonfin.collateral.liquidity` for the daily volume, the variance
of a linear sell-down and the square-root impact); the other functions explain it in a
haircut's breakdown.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from carbonfin.collateral.formula import FormulaInputs, schedule_liquidation
from carbonfin.collateral.market_risk import MarketRiskProfile
from carbonfin.errors import InvalidInputError

__all__ = [
    "liquidation_component",
    "liquidation_inputs",
    "liquidation_method",
    "liquidity_sources",
    "position_of",
]


def liquidation_component(
    p: MarketRiskProfile, pos: np.ndarray, liquidation: str, f: FormulaInputs
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(liquidation component, sale days T_L, variance days, liquidation days, impact) of
    positions of ``pos`` tonnes; ``f`` holds the profile's numbers (anti-procyclical market
    haircut ``f.with_apc``).

    ``"schedule"``: ``T_L = ceil(pos / (participation × ADV))`` (1 to the longest schedule),
    ``scale_haircut(H_apc, T_M, T_V, N_R) − with_apc + impact`` with ``T_V`` the variance days
    of the linear sale (:func:`carbonfin.collateral.formula.schedule_liquidation`). ``"block"``:
    ``block_frac × (1 − with_apc)``, refused for a position larger than the largest day of the
    block lookback.
    """
    if liquidation != "block":
        return schedule_liquidation(f, pos)
    tm, n = p.holding_days, len(pos)
    if p.block_discount_frac is None:
        raise InvalidInputError(
            f"`liquidation='block'` needs a block-trade price band; {p.series} has none "
            "(see its market rules)"
        )
    too_big = pos > p.max_day_volume_t
    if too_big.any():
        raise InvalidInputError(
            f"`liquidation='block'` is not supported by the data for a position of "
            f"{float(pos[np.argmax(too_big)]):,.0f} t: the largest day in the block lookback "
            f"traded {p.max_day_volume_t:,.0f} t"
        )
    ones = np.ones(n)
    liq = np.full(n, p.block_discount_frac * (1.0 - f.with_apc))
    return liq, ones, np.full(n, float(tm)), np.full(n, float(tm)), np.zeros(n)


def position_of(
    quantity_t: float, other_t: float, bank_t: float | None, book_share: float | None
) -> tuple[float, float]:
    """(position tonnes, book share) of one pledge from the rest of its position
    (``other_t``) and the bank's whole position (``bank_t``) or a given ``book_share``."""
    for name, value in (("other_position_t", other_t), ("bank_position_t", bank_t)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (value >= 0 and value < float("inf"))
        ):
            raise InvalidInputError(f"`{name}` must be a finite number >= 0; got {value!r}")
    position = float(quantity_t) + float(other_t)
    if bank_t is not None:
        if book_share is not None:
            raise InvalidInputError("give `bank_position_t` or `book_share`, not both")
        if bank_t < position:
            raise InvalidInputError(
                f"`bank_position_t` {bank_t:,.0f} t is below the position {position:,.0f} t"
            )
        return position, position / bank_t
    return position, 0.0 if book_share is None else float(book_share)


def liquidation_method(p: MarketRiskProfile, liquidation: str, arrays: Any) -> str:
    """The method text of the liquidation component of one pledge (``arrays``: HaircutArrays)."""
    if liquidation == "block":
        return f"block trade at up to {p.block_discount_frac or 0.0:.0%} below market"
    vol = p.volume
    stat = "stated" if vol is None or vol.stated else vol.statistic.replace("_", " ")
    return (
        f"gradual sale of the {float(arrays.position_t[0]):,.0f} t position over "
        f"{int(arrays.sale_days[0])} business days after the {p.holding_days}-day holding period "
        f"(linear sell-down: variance of {float(arrays.variance_days[0]):.1f} days) at "
        f"{p.participation_frac:.0%} of a {p.adv_t:,.0f} t daily volume ({stat}), plus "
        f"square-root price impact {float(arrays.impact[0]):.2%}"
    )


def liquidation_inputs(p: MarketRiskProfile, arrays: Any) -> dict[str, Any]:
    """The inputs of the liquidation component of one pledge (``arrays``: HaircutArrays)."""
    volume = p.volume.inputs() if p.volume is not None else {}
    return {
        "position_t": float(arrays.position_t[0]),
        "adv_t": p.adv_t,
        "adv_statistic": volume.get("statistic", "unspecified"),
        "adv_stated": volume.get("stated", False),
        "volume": MappingProxyType(volume),
        "adv_window_days": p.adv_window_days,
        "participation_frac": p.participation_frac,
        "sale_days": int(arrays.sale_days[0]),
        "variance_days": float(arrays.variance_days[0]),
        "liquidation_days": int(arrays.liquidation_days[0]),
        "max_days": p.max_liquidation_days,
        "impact_frac": float(arrays.impact[0]),
        "daily_vol": p.daily_vol,
        "largest_day_volume_t": p.max_day_volume_t,
        "block_discount_frac": p.block_discount_frac,
    }


def liquidity_sources(p: MarketRiskProfile) -> str:
    """The sources of the liquidity rules the profile was measured with."""
    lr = p.liquidity
    if lr is None:
        return "liquidity rules not recorded"
    return "; ".join(
        (lr.sources["statistic"], lr.sources["block_min"], lr.sources["sale"], lr.sources["impact"])
    )
