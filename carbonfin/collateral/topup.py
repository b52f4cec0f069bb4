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

Each loan's solve is independent of the others: it runs compiled, loan by loan
(:func:`carbonfin.collateral._kernels.solve_topups`), the same operations in the same order as
the numpy solver it replaced (``tests/collateral/reference_topup.py``), bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from carbonfin.collateral.formula import FormulaInputs
from carbonfin.collateral.market_risk import MarketRiskProfile

__all__ = ["book_topup_tonnes", "largest_per_group", "topup_tonnes"]


def book_topup_tonnes(
    *,
    short: np.ndarray,
    need: np.ndarray,
    lend: np.ndarray,
    loan_pos: np.ndarray,
    value: np.ndarray,
    lendable: np.ndarray,
    eligible: np.ndarray,
    inst_code: np.ndarray,
    pos_code: np.ndarray,
    position: np.ndarray,
    book_share: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    profiles: list[MarketRiskProfile],
) -> tuple[np.ndarray, np.ndarray]:
    """Top-up tonnes of each loan short of its target, in its largest pledge's position, and
    each loan's main pledge.

    The main pledge is the loan's largest by value (the first of equals; -1 for a loan without
    pledges); the loan's pledges in the main pledge's position all take that position's new
    haircut. Returns the tonnes (NaN for a loan not short or without pledges, or where no
    quantity restores the target) and the main pledge's index. One compiled pass
    (:func:`carbonfin.collateral._kernels.book_topups`) that releases the GIL, so a caller may
    run it in a thread beside other work."""
    from carbonfin.collateral import _kernels

    tonnes, main = np.empty(len(short)), np.empty(len(short), dtype=np.int64)
    f64 = [np.ascontiguousarray(a, dtype=float) for a in (value, lendable, eligible)]
    i64 = [np.ascontiguousarray(a, dtype=np.int64) for a in (inst_code, pos_code)]
    size = [np.ascontiguousarray(a, dtype=float) for a in (position, book_share)]
    flags = [np.ascontiguousarray(a, dtype=bool) for a in (mismatch, covered, short)]
    kernel = cast(Callable[..., None], _kernels.book_topups)
    kernel(
        np.ascontiguousarray(loan_pos, dtype=np.int64), *f64, *i64, *size, *flags,
        *(np.ascontiguousarray(a, dtype=float) for a in (need, lend)),
        _kernels.formula_table([FormulaInputs.of(p) for p in profiles]), 30, tonnes, main,
    )  # fmt: skip
    return tonnes, main


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
    return _solve([FormulaInputs.of(prof)], code, quantity, price, need, mismatch, covered,
                  position, bank_t, iterations=iterations)  # fmt: skip


def _solve(
    numbers: list[FormulaInputs],
    code: np.ndarray,
    quantity: np.ndarray,
    price: np.ndarray,
    need: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    position: np.ndarray,
    bank_t: np.ndarray,
    *,
    iterations: int,
) -> np.ndarray:
    """The tonnes of every loan (module notes: fixed point, then bracket), compiled
    (:func:`carbonfin.collateral._kernels.solve_topups`); ``code`` picks each loan's row of
    ``numbers``."""
    from carbonfin.collateral import _kernels

    out = np.empty(len(code))
    f64 = [np.ascontiguousarray(a, dtype=float) for a in (quantity, price, need)]
    flags = [np.ascontiguousarray(a, dtype=bool) for a in (mismatch, covered)]
    sizes = [np.ascontiguousarray(a, dtype=float) for a in (position, bank_t)]
    kernel = cast(Callable[..., None], _kernels.solve_topups)
    kernel(
        np.ascontiguousarray(code, dtype=np.int64), *f64, *flags, *sizes,
        _kernels.formula_table(numbers), int(iterations), out,
    )  # fmt: skip
    return out
