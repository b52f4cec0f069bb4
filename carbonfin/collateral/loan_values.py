"""The numbers of a book valuation after its labels are coded: haircuts, values, LTVs, top-ups.

:func:`book_numbers` is the numeric half of :func:`~carbonfin.collateral.monitor.value_book`:
three compiled passes (:mod:`carbonfin.collateral._kernels`) that hold the GIL only to start,

1. the haircut components of every pledge (``book_haircuts``);
2. each pledge's value and lendable value, each loan's collateral and lendable value, LTV,
   utilisation, state, effective haircut, target LTV and cash top-up (``book_loans``; the state
   is the highest threshold of the policy's ``[ltv]`` the utilisation reaches);
3. the top-up tonnes of each loan at or above the warning level (``book_topups``, see
   :mod:`carbonfin.collateral.topup`),

so that ``value_book`` runs it in a thread while it builds the frames' text columns. Each pass
does the same operations in the same order as the numpy code it replaced, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from carbonfin.collateral.book_haircut import pledge_haircuts
from carbonfin.collateral.market_risk import MarketRiskProfile
from carbonfin.collateral.policy import LtvThresholds
from carbonfin.collateral.topup import book_topup_tonnes

__all__ = ["BookNumbers", "book_numbers"]


@dataclass(frozen=True, slots=True, eq=False)
class BookNumbers:
    """Per pledge: ``haircut`` (components by name), ``value`` and ``lendable`` (CNY). Per loan
    (every row of the loans, secured or not): ``loan`` (the sums and ratios by name, see
    :data:`carbonfin.collateral._kernels.LOAN_OUTPUTS`), ``state`` (index into the states),
    ``secured`` (has a pledge), ``topup_t`` (NaN when not short or none restores the target)
    and ``main`` (the loan's largest pledge, -1 if none)."""

    haircut: dict[str, np.ndarray]
    value: np.ndarray
    lendable: np.ndarray
    loan: dict[str, np.ndarray]
    state: np.ndarray
    secured: np.ndarray
    topup_t: np.ndarray
    main: np.ndarray


def book_numbers(
    profiles: Sequence[MarketRiskProfile],
    *,
    inst_code: np.ndarray,
    eligible: np.ndarray,
    price: np.ndarray,
    position: np.ndarray,
    book_share: np.ndarray,
    pos_code: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
    loan_pos: np.ndarray,
    outstanding_cny: np.ndarray,
    thresholds: LtvThresholds,
) -> BookNumbers:
    """Haircut, value and LTV every pledge and loan, and the top-ups (module notes).

    Parameters
    ----------
    profiles
        One market-risk profile per instrument code.
    inst_code, loan_pos, pos_code
        Each pledge's instrument (index into ``profiles``), loan (row of ``outstanding_cny``)
        and position code.
    eligible, price
        Eligible tonnes (>= 0) and price (CNY/t) of each pledge.
    position, book_share
        Tonnes of each pledge's position and its share of the bank's position, in [0, 1].
    mismatch, covered
        Whether the pledge's loan is not in CNY; whether its pledgor is a covered emitter.
    outstanding_cny
        Each loan's outstanding amount in CNY.
    thresholds
        The policy's utilisation thresholds and target.
    """
    from carbonfin.collateral import _kernels

    haircut = pledge_haircuts(profiles, inst_code, eligible, position, book_share, mismatch,
                              covered)  # fmt: skip
    n, n_loans = len(loan_pos), len(outstanding_cny)
    value, lendable = np.empty(n), np.empty(n)
    loan = np.zeros((len(_kernels.LOAN_OUTPUTS), n_loans))
    state, count = np.zeros(n_loans, dtype=np.int64), np.zeros(n_loans, dtype=np.int64)
    th = thresholds
    limits = np.array([th.warning_utilisation, th.margin_call_utilisation,
                       th.liquidation_utilisation, th.target_utilisation], dtype=float)  # fmt: skip
    kernel = cast(Callable[..., None], _kernels.book_loans)
    kernel(
        np.ascontiguousarray(loan_pos, dtype=np.int64),
        np.ascontiguousarray(eligible, dtype=float), np.ascontiguousarray(price, dtype=float),
        haircut["total"], np.ascontiguousarray(outstanding_cny, dtype=float), limits, value,
        lendable, loan, state, count,
    )  # fmt: skip
    per_loan = {name: loan[k] for k, name in enumerate(_kernels.LOAN_OUTPUTS)}
    topup_t, main = book_topup_tonnes(
        short=state > 0, need=per_loan["need"], lend=per_loan["lendable_value_cny"],
        loan_pos=loan_pos, value=value, lendable=lendable, eligible=eligible,
        inst_code=inst_code, pos_code=pos_code, position=position, book_share=book_share,
        mismatch=mismatch, covered=covered, profiles=list(profiles),
    )  # fmt: skip
    return BookNumbers(haircut, value, lendable, per_loan, state, count > 0, topup_t, main)
