"""The haircut formula on arrays, after validation: the one copy of the arithmetic.

:func:`~carbonfin.collateral.haircut.haircut_components` (one profile, checked inputs) and the
top-up solver of :mod:`carbonfin.collateral.topup` (many loans of several instruments at once,
inside an iteration whose inputs are valid by construction) both evaluate the haircut here, so
the two can never drift apart. The rule, its sources and the meaning of each term are in the notes
of :mod:`carbonfin.collateral.haircut`; the scaling is that of
:func:`~carbonfin.collateral.scaling.scale_haircut`, the sell-down variance and the impact those
of :func:`~carbonfin.collateral.liquidity.sale_variance_days` and
:func:`~carbonfin.collateral.liquidity.impact_frac` (the same operations in the same order, so
the results agree to the last bit; ``tests/collateral/test_topup.py`` checks it).

Every number of a profile the formula uses is a field of :class:`FormulaInputs`. Nothing here
validates: callers pass positions > 0, book shares in [0, 1] and profiles that passed their own
checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from carbonfin.collateral.currency import SUPERVISORY_FX_HAIRCUT_10D
from carbonfin.collateral.liquidity import liquidity_rules
from carbonfin.collateral.market_risk import MarketRiskProfile
from carbonfin.collateral.scaling import scale_haircut

__all__ = [
    "FormulaInputs",
    "add_ons",
    "raw_haircut",
    "scaled",
    "schedule_liquidation",
    "total_haircut",
]


def scaled(base: float, base_days: float, days: np.ndarray, remargin_days: float) -> np.ndarray:
    """``min(1, H·sqrt(T/T_B)·sqrt((N_R + T − 1)/T))`` without checks (see ``scale_haircut``),
    in place on two temporaries."""
    out = days / base_days
    np.sqrt(out, out=out)
    out *= base
    adj = days + remargin_days
    adj -= 1.0
    adj /= days
    np.sqrt(adj, out=adj)
    out *= adj
    np.minimum(out, 1.0, out=out)
    return out


@dataclass(frozen=True, slots=True)
class FormulaInputs:
    """The numbers of a market-risk profile that the haircut formula uses.

    ``market`` and ``with_apc`` are the market haircut over the holding period before and after
    anti-procyclicality (``scale_haircut(H, T_M, T_M, N_R)``); ``daily_sale_t`` is
    participation × ADV; ``impact_coef`` the square-root law's ``average × Y × σ_daily``.
    """

    market: float
    with_apc: float
    apc_frac: float
    holding_days: float
    remargin_days: float
    daily_sale_t: float
    max_days: float
    adv_t: float
    impact_coef: float
    year_volume_t: float
    market_threshold_frac: float
    market_slope: float
    book_threshold_frac: float
    book_slope: float
    max_addon_frac: float
    wrong_way_frac: float
    data_quality_frac: float

    @classmethod
    def of(cls, p: MarketRiskProfile) -> FormulaInputs:
        """The inputs of one profile (floats)."""
        tm, nr = float(p.holding_days), float(p.remargin_days)
        lr = p.liquidity or liquidity_rules()
        conc = p.policy.concentration
        return cls(
            market=scale_haircut(p.base_frac, tm, tm, nr),
            with_apc=scale_haircut(p.apc_frac, tm, tm, nr),
            apc_frac=float(p.apc_frac),
            holding_days=tm,
            remargin_days=nr,
            daily_sale_t=p.participation_frac * p.adv_t,
            max_days=float(p.max_liquidation_days),
            adv_t=float(p.adv_t),
            impact_coef=lr.impact_average_frac * lr.impact_y * p.daily_vol,
            year_volume_t=float(p.year_volume_t),
            market_threshold_frac=conc.market_threshold_frac,
            market_slope=conc.market_slope,
            book_threshold_frac=conc.book_threshold_frac,
            book_slope=conc.book_slope,
            max_addon_frac=conc.max_addon_frac,
            wrong_way_frac=p.policy.wrong_way_frac,
            data_quality_frac=float(p.data_quality_frac),
        )


def schedule_liquidation(
    f: FormulaInputs, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(liquidation component, sale days T_L, variance days T_V, liquidation days, impact) of a
    gradual sale of positions of ``pos`` tonnes (> 0)."""
    tm, n = f.holding_days, len(pos)
    if f.daily_sale_t > 0:
        sale = pos / f.daily_sale_t
        np.ceil(sale, out=sale)
    else:
        sale = np.full(n, np.inf)
    np.clip(sale, 1.0, f.max_days, out=sale)
    # T_V = T_M + (T_L − 1)(2T_L − 1) / (6T_L)
    var_days = sale - 1.0
    tmp = 2.0 * sale
    tmp -= 1.0
    var_days *= tmp
    np.multiply(sale, 6.0, out=tmp)
    var_days /= tmp
    var_days += tm
    if f.adv_t > 0:  # square-root impact, capped at 1
        impact = pos / f.adv_t
        np.sqrt(impact, out=impact)
        impact *= f.impact_coef
        np.minimum(impact, 1.0, out=impact)
        if not math.isfinite(f.impact_coef):
            impact = np.where(np.isfinite(impact), impact, 1.0)
    else:
        impact = np.ones(n)
    liq = scaled(f.apc_frac, tm, var_days, f.remargin_days)
    liq -= f.with_apc
    liq += impact
    days = sale + tm
    days -= 1.0
    return liq, sale, var_days, days, impact


def add_ons(
    f: FormulaInputs,
    pos: np.ndarray,
    book_share: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    var_days: np.ndarray,
    liq: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(concentration, market share, currency, wrong-way) components of positions of ``pos``
    tonnes with book share ``book_share``, sold over ``var_days`` with liquidation ``liq``."""
    n = len(pos)
    share_m = pos / f.year_volume_t if f.year_volume_t > 0 else np.full(n, np.inf)
    concentration = share_m - f.market_threshold_frac
    np.maximum(concentration, 0.0, out=concentration)
    concentration *= f.market_slope
    book = book_share - f.book_threshold_frac
    np.maximum(book, 0.0, out=book)
    book *= f.book_slope
    concentration += book
    np.minimum(concentration, f.max_addon_frac, out=concentration)
    fx = np.zeros(n)
    m = np.flatnonzero(mismatch)
    if len(m):
        fx[m] = scaled(SUPERVISORY_FX_HAIRCUT_10D, 10.0, var_days[m], f.remargin_days)
    wrong_way = np.zeros(n)
    c = np.flatnonzero(covered)
    if len(c):
        wrong_way[c] = f.wrong_way_frac * (f.with_apc + liq[c])
    return concentration, share_m, fx, wrong_way


def _sum(
    f: FormulaInputs, liq: np.ndarray, conc: np.ndarray, fx: np.ndarray, ww: np.ndarray
) -> np.ndarray:
    """``market + anti_procyclicality + liquidation + concentration + currency + wrong_way +
    data_quality``, added in that order (market + anti-procyclicality is one number)."""
    raw = liq + (f.market + (f.with_apc - f.market))
    raw += conc
    raw += fx
    raw += ww
    raw += f.data_quality_frac
    return raw


def raw_haircut(
    f: FormulaInputs,
    n: int,
    liq: np.ndarray,
    concentration: np.ndarray,
    fx: np.ndarray,
    wrong_way: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(market, anti-procyclicality, data quality, raw sum) of ``n`` elements: the components
    added in the order of the combination rule."""
    market = np.full(n, f.market)
    apc = np.full(n, f.with_apc - f.market)
    dq = np.full(n, f.data_quality_frac)
    return market, apc, dq, _sum(f, liq, concentration, fx, wrong_way)


def total_haircut(
    f: FormulaInputs,
    pos: np.ndarray,
    book_share: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
) -> np.ndarray:
    """The total haircut (gradual sale, no policy floor or cap) of positions of ``pos`` tonnes."""
    liq, _, var_days, _, _ = schedule_liquidation(f, pos)
    conc, _, fx, ww = add_ons(f, pos, book_share, mismatch, covered, var_days, liq)
    raw = _sum(f, liq, conc, fx, ww)
    np.minimum(raw, 1.0, out=raw)
    return raw
