"""Top-up tonnes that bring a short loan back to its target utilisation, vectorised over loans.

A loan short of its target lendable value ``need`` receives extra tonnes ``x`` in the position of
its largest pledge. The haircut of that position rises with its size (liquidation horizon, price
impact, market share), so ``x`` solves

    f(x) = (q + x)·P·(1 − h(position + x)) − need = 0,

with ``q`` the loan's tonnes in the position and ``P`` their price. The answer is the smallest
``x ≥ 0`` with ``f(x) ≥ 0``, rounded up to a whole tonne; NaN where no quantity up to 10¹² t
restores the target (the haircut reaches 100% first, or the lendable value peaks below the need).

Method
    1. Fixed-point iteration ``x ← need / (P·(1 − h(position + x))) − q`` from ``x = 0``. The map
       is increasing in ``x`` (the haircut rises with the position), so the iterates rise
       monotonically towards the smallest solution and each is a lower bound of it; an iterate at
       which the haircut is already 100%, or beyond 10¹² t, proves there is none.
    2. Where the iteration has not converged after its rounds (the map's slope is close to 1 when
       the haircut is steep in the position), or its rounded answer falls short of the target
       (convergence is to within a tonne), a bracket: from the last iterate (``f < 0``) the
       search steps up geometrically (ratio 1.5) to the first point with ``f ≥ 0``, then bisects
       to one tonne. The tonnes returned always satisfy ``f ≥ 0`` at the bracket's upper end; on a
       non-monotone ``f`` they may exceed the smallest solution by less than the bracket's step,
       never fall short of the target. No bracket up to 10¹² t gives NaN (none found).
"""

from __future__ import annotations

import math

import numpy as np

from carbonfin.collateral.formula import FormulaInputs, total_haircut
from carbonfin.collateral.market_risk import MarketRiskProfile
from carbonfin.errors import InvalidInputError

__all__ = ["largest_per_group", "loan_topups", "topup_tonnes"]

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
    # every short loan of every instrument in one solve: each loan carries its instrument's
    # numbers (the iteration is loan by loan; batching changes no loan's answer)
    here = np.flatnonzero(short & (main_code >= 0))
    here = here[np.argsort(main_code[here], kind="stable")]  # instrument by instrument
    if len(here):
        m = main[here]
        bank_t = np.divide(position[m], book_share[m], out=position[m].copy(),
                           where=book_share[m] > 0)  # fmt: skip
        topup_q[here] = _solve(
            _Problem([FormulaInputs.of(p) for p in profiles], main_code[here], q_in[here],
                     v_in[here] / np.maximum(q_in[here], 1e-9),
                     need[here] - (lend[here] - l_in[here]), mismatch[m], covered[m],
                     position[m], bank_t),
            iterations=30,
        )  # fmt: skip
    return topup_q, main_inst


def largest_per_group(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the largest ``value`` in each group (the first of equal ones; -1 if empty or
    NaN). Unbuffered ``ufunc.at`` reductions: no sort of the book."""
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, group, value)
    at_top = np.flatnonzero(value == top[group])
    n = len(group)
    out = np.full(n_groups, n, dtype=np.int64)
    np.minimum.at(out, group[at_top], at_top)
    out[out == n] = -1
    return out


class _Problem:
    """``f(x)`` of a set of loans (see the module notes), evaluated on any subset of them.

    ``numbers[k]`` are the formula's inputs of profile ``k`` and ``code`` the profile of each
    loan, in ascending order (the loans of one instrument are evaluated together).
    """

    def __init__(
        self,
        numbers: list[FormulaInputs],
        code: np.ndarray,
        quantity: np.ndarray,
        price: np.ndarray,
        need: np.ndarray,
        mismatch: np.ndarray,
        covered: np.ndarray,
        position: np.ndarray,
        bank_t: np.ndarray,
    ) -> None:
        if len(code) and (np.diff(code) < 0).any():
            raise InvalidInputError("top-up loans must be ordered by their profile code")
        self.numbers, self.code, self.q, self.price, self.need = (
            numbers,
            code,
            quantity,
            price,
            need,
        )
        self.mismatch, self.covered = mismatch, covered
        self.position, self.bank_t = position, bank_t

    def keep(self, i: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tonnes ``q + x`` and the fraction ``1 − h`` they keep after their position's haircut
        (``i`` ascending)."""
        q_new = np.maximum(self.q[i] + x, 1e-9)
        pos_new = np.maximum(self.position[i] + x, q_new)
        bank_new = self.bank_t[i] + x
        share = np.divide(pos_new, bank_new, out=np.ones(len(i)), where=bank_new > 0)
        share = np.minimum(share, 1.0)
        mismatch, covered = self.mismatch[i], self.covered[i]
        total = np.empty(len(i))
        bounds = np.searchsorted(self.code[i], np.arange(len(self.numbers) + 1))
        for k, f in enumerate(self.numbers):
            a, b = bounds[k], bounds[k + 1]
            if b > a:
                total[a:b] = total_haircut(f, pos_new[a:b], share[a:b], mismatch[a:b],
                                           covered[a:b])  # fmt: skip
        return q_new, 1.0 - total

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
    code = np.zeros(len(quantity), dtype=np.int64)
    pb = _Problem(
        [FormulaInputs.of(prof)], code, quantity, price, need, mismatch, covered, position, bank_t
    )
    return _solve(pb, iterations=iterations)


def _solve(pb: _Problem, *, iterations: int) -> np.ndarray:
    """The tonnes of every loan of ``pb`` (module notes: fixed point, then bracket)."""
    quantity, price, need = pb.q, pb.price, pb.need
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
