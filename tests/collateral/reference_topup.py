"""The top-up solver and haircut arithmetic as they were before the shared formula
(``carbonfin/collateral/formula.py``): kept as the reference that the faster code must equal to
the last bit (``test_topup.py``). One instrument per call, the haircut of each fixed-point round
through the public ``haircut_components``-era arithmetic written out with the public helpers
(``scale_haircut``, ``sale_variance_days``, ``impact_frac``). Not used by the engine.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from carbonfin.collateral.currency import SUPERVISORY_FX_HAIRCUT_10D
from carbonfin.collateral.liquidity import impact_frac, sale_variance_days
from carbonfin.collateral.market_risk import MarketRiskProfile
from carbonfin.collateral.scaling import scale_haircut
from carbonfin.collateral.topup import largest_per_group


def old_components(
    p: MarketRiskProfile,
    pos: np.ndarray,
    share_b: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
) -> SimpleNamespace:
    """The gradual-sale haircut of positions ``pos`` exactly as ``haircut_components`` computed
    it before the shared formula (no floor or cap)."""
    n, pol = len(pos), p.policy
    tm, nr = p.holding_days, p.remargin_days
    market = np.full(n, scale_haircut(p.base_frac, tm, tm, nr))
    with_apc = scale_haircut(p.apc_frac, tm, tm, nr)
    apc = np.full(n, with_apc) - market
    daily = p.participation_frac * p.adv_t
    with np.errstate(divide="ignore"):
        sale = np.ceil(pos / daily) if daily > 0 else np.full(n, np.inf)
    sale = np.clip(sale, 1.0, p.max_liquidation_days)
    var_days = sale_variance_days(tm, sale)
    impact = impact_frac(pos, p.adv_t, p.daily_vol, rules=p.liquidity)
    impact = np.where(np.isfinite(impact), impact, 1.0)
    liq = np.asarray(scale_haircut(p.apc_frac, tm, var_days, nr)) - with_apc + impact
    conc = pol.concentration
    with np.errstate(divide="ignore"):
        share_m = pos / p.year_volume_t if p.year_volume_t > 0 else np.full(n, np.inf)
    concentration = np.minimum(
        conc.market_slope * np.maximum(share_m - conc.market_threshold_frac, 0.0)
        + conc.book_slope * np.maximum(share_b - conc.book_threshold_frac, 0.0),
        conc.max_addon_frac,
    )
    fx = np.where(mismatch, scale_haircut(SUPERVISORY_FX_HAIRCUT_10D, 10, var_days, nr), 0.0)
    wrong_way = np.where(covered, pol.wrong_way_frac * (with_apc + liq), 0.0)
    dq = np.full(n, p.data_quality_frac)
    raw = market + apc + liq + concentration + fx + wrong_way + dq
    return SimpleNamespace(
        market=market, anti_procyclicality=apc, liquidation=liq, concentration=concentration,
        currency=fx, wrong_way=wrong_way, data_quality=dq, total=np.minimum(raw, 1.0),
        sale_days=sale, variance_days=var_days, liquidation_days=tm + sale - 1.0, impact=impact,
        market_share=share_m,
    )  # fmt: skip


_MAX_T = 1e12  # beyond this no top-up is "found": more than any registry holds
_GROWTH = 1.5  # bracket search ratio


def loan_topups(
    *,
    short: np.ndarray,
    need: np.ndarray,
    lend: np.ndarray,
    loan_pos: np.ndarray,
    value: np.ndarray,
    lendable: np.ndarray,
    eligible: np.ndarray,
    inst_code: np.ndarray,
    codes: np.ndarray,
    pos_code: np.ndarray,
    position: np.ndarray,
    book_share: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    profiles: list[MarketRiskProfile],
) -> tuple[np.ndarray, np.ndarray]:
    """Top-up tonnes of each loan short of its target, in its largest pledge's position.

    The main pledge is the loan's largest by value (the first of equals); the loan's pledges in
    the main pledge's position all take that position's new haircut. Returns the tonnes (NaN for
    a loan not short, or where no quantity restores the target) and the main instrument of each
    secured loan (``None`` for a loan without pledges).
    """
    n_loans = len(short)
    secured = np.bincount(loan_pos, minlength=n_loans) > 0
    main = largest_per_group(loan_pos, value, n_loans)
    topup_q = np.full(n_loans, np.nan)
    main_inst = np.full(n_loans, None, dtype=object)
    main_inst[secured] = codes[main[secured]]
    main_code = np.where(secured, inst_code[np.maximum(main, 0)], -1)
    # each loan's tonnes, value and lendable value in its main pledge's position (one pass)
    in_pos = pos_code == pos_code[main[loan_pos]]
    q_in = np.bincount(loan_pos, weights=eligible * in_pos, minlength=n_loans)
    v_in = np.bincount(loan_pos, weights=value * in_pos, minlength=n_loans)
    l_in = np.bincount(loan_pos, weights=lendable * in_pos, minlength=n_loans)
    for k, prof in enumerate(profiles):
        here = np.flatnonzero(short & (main_code == k))
        if not len(here):
            continue
        m = main[here]
        bank_t = np.divide(position[m], book_share[m], out=position[m].copy(),
                           where=book_share[m] > 0)  # fmt: skip
        topup_q[here] = topup_tonnes(
            prof, q_in[here], v_in[here] / np.maximum(q_in[here], 1e-9),
            need[here] - (lend[here] - l_in[here]), mismatch[m], covered[m], position[m], bank_t,
        )  # fmt: skip
    return topup_q, main_inst


class _Problem:
    """``f(x)`` of a set of loans (see the module notes), evaluated on any subset of them."""

    def __init__(
        self,
        prof: MarketRiskProfile,
        quantity: np.ndarray,
        price: np.ndarray,
        need: np.ndarray,
        mismatch: np.ndarray,
        covered: np.ndarray,
        position: np.ndarray,
        bank_t: np.ndarray,
    ) -> None:
        self.prof, self.q, self.price, self.need = prof, quantity, price, need
        self.mismatch, self.covered = mismatch, covered
        self.position, self.bank_t = position, bank_t

    def keep(self, i: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tonnes ``q + x`` and the fraction ``1 − h`` they keep after their position's haircut."""
        q_new = np.maximum(self.q[i] + x, 1e-9)
        pos_new = np.maximum(self.position[i] + x, q_new)
        bank_new = self.bank_t[i] + x
        share = np.divide(pos_new, bank_new, out=np.ones(len(i)), where=bank_new > 0)
        out = old_components(
            self.prof, pos_new, np.minimum(share, 1.0), self.mismatch[i], self.covered[i]
        )
        return q_new, 1.0 - out.total

    def f(self, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Lendable value of ``q + x`` tonnes less the need (``>= 0``: the target is met)."""
        q_new, keep = self.keep(i, x)
        gap: np.ndarray = q_new * self.price[i] * np.maximum(keep, 0.0) - self.need[i]
        return gap


def topup_tonnes(
    prof: MarketRiskProfile,
    quantity: np.ndarray,
    price: np.ndarray,
    need: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    position: np.ndarray,
    bank_t: np.ndarray,
    iterations: int = 30,
) -> np.ndarray:
    """Extra tonnes ``x`` with ``(q + x)·P·(1 − h(position + x)) >= need`` (NaN where none).

    ``q`` is the loan's tonnes in the position that receives the top-up, ``position`` the whole
    position and ``bank_t`` the bank's whole position in the instrument (both grow by ``x``).
    Fixed-point rounds, then a bracket and bisection for the loans they leave unconverged
    (module notes).
    """
    pb = _Problem(prof, quantity, price, need, mismatch, covered, position, bank_t)
    x = np.zeros_like(quantity)
    done = np.zeros(len(x), dtype=bool)
    live = np.ones(len(x), dtype=bool)  # still iterating (finite and not converged)
    for _ in range(iterations):
        if not live.any():
            break
        i = np.flatnonzero(live)
        _, keep = pb.keep(i, x[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(keep > 0, need[i] / (price[i] * keep) - quantity[i], np.inf)
        new = np.maximum(new, 0.0)
        conv = np.isfinite(new) & (np.abs(new - x[i]) <= np.maximum(1.0, 1e-9 * new))
        runaway = ~np.isfinite(new) | (new > _MAX_T)
        x[i] = np.where(runaway, np.inf, new)
        done[i[conv]] = True
        live[i[conv | runaway]] = False
    ok = done & np.isfinite(x) & (x < _MAX_T)
    result = np.where(ok, np.ceil(x - 1e-9), math.nan)
    # a converged iterate is within a tonne of the solution, possibly below it: check the tonnes
    i = np.flatnonzero(ok)
    short = i[pb.f(i, result[i]) < 0]
    live[short] = True
    x[short] = result[short]
    if live.any():
        i = np.flatnonzero(live)
        result[i] = _bracket_and_bisect(pb, i, x[i])
    return result


def _bracket_and_bisect(pb: _Problem, i: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Whole tonnes ``b ≥ lo`` with ``f(b) ≥ 0`` within one tonne of a crossing (NaN if none)."""
    lo = lo.copy()
    hi = np.full(len(i), np.nan)
    step = np.maximum(1.0, 0.01 * lo)
    open_ = np.ones(len(i), dtype=bool)  # no bracket yet
    while open_.any():
        j = np.flatnonzero(open_)
        trial = lo[j] + step[j]
        found = pb.f(i[j], trial) >= 0
        hi[j[found]] = trial[found]
        lo[j[~found]] = trial[~found]
        step[j] *= _GROWTH
        open_[j[found]] = False
        open_[j[~found & (trial > _MAX_T)]] = False
    live = np.flatnonzero(np.isfinite(hi) & (hi - lo > 1.0))
    while len(live):
        mid = 0.5 * (lo[live] + hi[live])
        up = pb.f(i[live], mid) >= 0
        hi[live[up]] = mid[up]
        lo[live[~up]] = mid[~up]
        live = live[hi[live] - lo[live] > 1.0]
    return np.where(np.isfinite(hi), np.ceil(hi - 1e-9), math.nan)
