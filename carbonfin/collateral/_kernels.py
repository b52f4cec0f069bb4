"""Compiled haircut formula and top-up solve: one pass over pledges or loans, no temporaries.

The same arithmetic as :mod:`carbonfin.collateral.formula` and the fixed-point, bracket and
bisection of :mod:`carbonfin.collateral.topup`, operation by operation and in the same order
(``min``/``max`` propagate NaN as numpy's ``minimum``/``maximum`` do; no fast-math, so no fused
multiply-add), element by element instead of one numpy pass per operation: the results are the
same to the last bit (``tests/collateral/test_kernels.py`` checks it against the numpy formula
and the reference solver). Each loan's solve is independent of the others, so the order in which
they run changes no answer.

A profile's numbers reach the kernels as one row of a float table (:func:`formula_table`, columns
in the order of :data:`COLUMNS`), so a change of the formula's inputs is a change of this file and
numba's cache (stamped with this file only) is renewed with it. Each kernel runs on the calling
thread and releases the GIL, so :func:`carbonfin.collateral.loan_values.book_numbers` runs them
in a thread while ``value_book`` builds its text columns (the second core). Cold compilation
of the four kernels: about 12.5 CPU-s (19-23 s wall at load 5) on two cores (cached
afterwards, see :mod:`carbonfin.pricing._jit`).
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
from numba import njit, types

from carbonfin.collateral.currency import SUPERVISORY_FX_HAIRCUT_10D
from carbonfin.collateral.formula import FormulaInputs
from carbonfin.pricing import _jit

_jit.configure_cache()  # a writable cache directory for the compiled kernels (see pricing._jit)

__all__ = [
    "COLUMNS",
    "LOAN_OUTPUTS",
    "MAX_T",
    "OUTPUTS",
    "book_haircuts",
    "book_loans",
    "book_topups",
    "formula_table",
    "solve_topups",
]

#: the columns of a profile's row in :func:`formula_table` (the fields of FormulaInputs and the
#: supervisory 10-day FX haircut)
COLUMNS = (
    "market", "with_apc", "apc_frac", "holding_days", "remargin_days", "daily_sale_t",
    "max_days", "adv_t", "impact_coef", "year_volume_t", "market_threshold_frac",
    "market_slope", "book_threshold_frac", "book_slope", "max_addon_frac", "wrong_way_frac",
    "data_quality_frac", "fx_10d",
)  # fmt: skip
(MARKET, WITH_APC, APC, TM, NR, DAILY, MAX_DAYS, ADV, IMPACT, YEAR, M_THR, M_SLOPE, B_THR,
 B_SLOPE, MAX_ADD, WW, DQ, FX10) = range(len(COLUMNS))  # fmt: skip
if set(COLUMNS[:-1]) != {f.name for f in fields(FormulaInputs)}:  # pragma: no cover
    raise ImportError("collateral._kernels.COLUMNS no longer matches FormulaInputs")

#: the outputs of :func:`book_haircuts`, one row each of its (13, n) array
OUTPUTS = (
    "market", "anti_procyclicality", "liquidation", "concentration", "currency", "wrong_way",
    "data_quality", "policy_bounds", "total", "liquidation_days", "sale_days", "variance_days",
    "impact",
)  # fmt: skip
MAX_T = 1e12  # beyond this no top-up is "found": more than any registry holds
GROWTH = 1.5  # bracket search ratio

_TABLE = types.Array(types.float64, 2, "C", readonly=True)
_F = types.Array(types.float64, 1, "C", readonly=True)
_B = types.Array(types.boolean, 1, "C", readonly=True)
_I = types.Array(types.int64, 1, "C", readonly=True)
_BOOK_SIG = types.void(_I, _F, _F, _F, _B, _B, _TABLE, types.Array(types.float64, 2, "C"))
_TOPUP_SIG = types.void(_I, _F, _F, _F, _B, _B, _F, _F, _TABLE, types.int64,
                        types.Array(types.float64, 1, "C"))  # fmt: skip


def formula_table(numbers: list[FormulaInputs]) -> np.ndarray:
    """One row of floats per profile, in the order of :data:`COLUMNS` (read-only)."""
    table = np.array(
        [[float(getattr(f, c)) for c in COLUMNS[:-1]] + [SUPERVISORY_FX_HAIRCUT_10D]
         for f in numbers],
        dtype=float,
    ).reshape(len(numbers), len(COLUMNS))  # fmt: skip
    table.flags.writeable = False
    return table


@njit(cache=True, error_model="numpy")
def _min(a: float, b: float) -> float:
    """numpy's ``minimum``: NaN if either is NaN."""
    return a if (a < b or a != a) else b


@njit(cache=True, error_model="numpy")
def _max(a: float, b: float) -> float:
    """numpy's ``maximum``: NaN if either is NaN."""
    return a if (a > b or a != a) else b


@njit(cache=True, error_model="numpy")
def _scaled(base: float, base_days: float, days: float, remargin: float) -> float:
    """formula.scaled of one element."""
    out = math.sqrt(days / base_days) * base
    adj = math.sqrt(((days + remargin) - 1.0) / days)
    return _min(out * adj, 1.0)


@njit(cache=True, error_model="numpy")
def _haircut(
    t: np.ndarray, k: int, pos: float, share_b: float, mismatch: bool, covered: bool
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """(liquidation, sale days, variance days, impact, concentration, currency, wrong-way,
    raw sum, total) of one position: formula.schedule_liquidation, add_ons and _sum."""
    tm = t[k, TM]
    sale = np.ceil(pos / t[k, DAILY]) if t[k, DAILY] > 0 else math.inf
    sale = _min(_max(sale, 1.0), t[k, MAX_DAYS])
    var_days = (sale - 1.0) * (2.0 * sale - 1.0) / (sale * 6.0) + tm
    if t[k, ADV] > 0:
        impact = _min(math.sqrt(pos / t[k, ADV]) * t[k, IMPACT], 1.0)
        if not math.isfinite(t[k, IMPACT]) and not math.isfinite(impact):
            impact = 1.0
    else:
        impact = 1.0
    with_apc = t[k, WITH_APC]
    liq = (_scaled(t[k, APC], tm, var_days, t[k, NR]) - with_apc) + impact
    share_m = pos / t[k, YEAR] if t[k, YEAR] > 0 else math.inf
    conc = _max(share_m - t[k, M_THR], 0.0) * t[k, M_SLOPE]
    conc = _min(conc + _max(share_b - t[k, B_THR], 0.0) * t[k, B_SLOPE], t[k, MAX_ADD])
    fx = _scaled(t[k, FX10], 10.0, var_days, t[k, NR]) if mismatch else 0.0
    ww = t[k, WW] * (with_apc + liq) if covered else 0.0
    raw = liq + (t[k, MARKET] + (with_apc - t[k, MARKET]))
    raw = (((raw + conc) + fx) + ww) + t[k, DQ]
    return liq, sale, var_days, impact, conc, fx, ww, raw, _min(raw, 1.0)


@njit(cache=True, error_model="numpy")
def _book_rows(code, eligible, position, share, mismatch, covered, t, out, lo, hi):  # type: ignore[no-untyped-def]
    for i in range(lo, hi):
        k = code[i]
        q = _max(eligible[i], 1e-9)  # a zero eligible quantity is worth nothing anyway
        pos = _max(position[i], q)
        liq, sale, var_days, impact, conc, fx, ww, raw, total = _haircut(
            t, k, pos, share[i], mismatch[i], covered[i]
        )
        out[0, i] = t[k, MARKET]
        out[1, i] = t[k, WITH_APC] - t[k, MARKET]
        out[2, i] = liq
        out[3, i] = conc
        out[4, i] = fx
        out[5, i] = ww
        out[6, i] = t[k, DQ]
        out[7, i] = total - raw
        out[8, i] = total
        out[9, i] = (sale + t[k, TM]) - 1.0
        out[10, i] = sale
        out[11, i] = var_days
        out[12, i] = impact


@njit(_BOOK_SIG, cache=True, nogil=True, error_model="numpy")
def book_haircuts(code, eligible, position, share, mismatch, covered, t, out):  # type: ignore[no-untyped-def]
    """The haircut components (rows of ``out``, named in :data:`OUTPUTS`) of each pledge of
    profile ``code`` with eligible tonnes ``eligible`` in a position of ``position`` tonnes."""
    _book_rows(code, eligible, position, share, mismatch, covered, t, out, 0, code.shape[0])


@njit(cache=True, error_model="numpy")
def _gap(t, k, q, price, need, position, bank_t, mismatch, covered, x):  # type: ignore[no-untyped-def]
    """(``1 − h`` of ``q + x`` tonnes, their lendable value less the need): topup._Problem."""
    q_new = _max(q + x, 1e-9)
    pos_new = _max(position + x, q_new)
    bank_new = bank_t + x
    share = _min(pos_new / bank_new if bank_new > 0 else 1.0, 1.0)
    keep = 1.0 - _haircut(t, k, pos_new, share, mismatch, covered)[8]
    return keep, q_new * price * _max(keep, 0.0) - need


@njit(cache=True, error_model="numpy")
def _bracket(t, k, q, price, need, position, bank_t, mismatch, covered, lo):  # type: ignore[no-untyped-def]
    """topup._bracket_and_bisect of one loan."""
    hi = math.nan
    step = _max(1.0, 0.01 * lo)
    while True:
        trial = lo + step
        if _gap(t, k, q, price, need, position, bank_t, mismatch, covered, trial)[1] >= 0:
            hi = trial
            break
        lo = trial
        step *= GROWTH
        if trial > MAX_T:
            break
    while math.isfinite(hi) and hi - lo > 1.0:
        mid = 0.5 * (lo + hi)
        if _gap(t, k, q, price, need, position, bank_t, mismatch, covered, mid)[1] >= 0:
            hi = mid
        else:
            lo = mid
    return np.ceil(hi - 1e-9) if math.isfinite(hi) else math.nan


@njit(cache=True, error_model="numpy")
def _solve_one(t, k, q, price, need, position, bank_t, mismatch, covered, iterations):  # type: ignore[no-untyped-def]
    """topup._solve of one loan: fixed point, the check of its whole tonnes, then bracket."""
    x, done, live = 0.0, False, True
    for _ in range(iterations):
        keep = _gap(t, k, q, price, need, position, bank_t, mismatch, covered, x)[0]
        new = _max(need / (price * keep) - q if keep > 0 else math.inf, 0.0)
        conv = math.isfinite(new) and abs(new - x) <= _max(1.0, 1e-9 * new)
        runaway = not math.isfinite(new) or new > MAX_T
        x = math.inf if runaway else new
        done = done or conv
        if conv or runaway:
            live = False
            break
    if done and math.isfinite(x) and x < MAX_T:
        result = np.ceil(x - 1e-9)
        # a converged iterate is within a tonne of the solution, possibly below it
        if not _gap(t, k, q, price, need, position, bank_t, mismatch, covered, result)[1] < 0:
            return result
        x, live = result, True
    if not live:
        return math.nan
    return _bracket(t, k, q, price, need, position, bank_t, mismatch, covered, x)


@njit(cache=True, error_model="numpy")
def _topup_rows(code, q, price, need, mismatch, covered, position, bank_t, t, it, out, lo, hi):  # type: ignore[no-untyped-def]
    for i in range(lo, hi):
        out[i] = _solve_one(t, code[i], q[i], price[i], need[i], position[i], bank_t[i],
                            mismatch[i], covered[i], it)  # fmt: skip


@njit(_TOPUP_SIG, cache=True, nogil=True, error_model="numpy")
def solve_topups(code, q, price, need, mismatch, covered, position, bank_t, t, it, out):  # type: ignore[no-untyped-def]
    """Top-up tonnes of each loan into ``out`` (NaN where none): topup._solve, loan by loan."""
    _topup_rows(code, q, price, need, mismatch, covered, position, bank_t, t, it, out, 0,
                code.shape[0])  # fmt: skip


_BOOK_TOPUP_SIG = types.void(
    _I, _F, _F, _F, _I, _I, _F, _F, _B, _B, _B, _F, _F, _TABLE, types.int64,
    types.Array(types.float64, 1, "C"), types.Array(types.int64, 1, "C"),
)  # fmt: skip


@njit(cache=True, error_model="numpy")
def _main_pledges(loan_pos, value, main):  # type: ignore[no-untyped-def]
    """topup.largest_per_group into ``main``: the first pledge of each loan with its largest
    value (``np.maximum.at``: a NaN value makes the loan's largest NaN), -1 if none."""
    n = loan_pos.shape[0]
    top = np.full(main.shape[0], -np.inf)
    for i in range(n):
        top[loan_pos[i]] = _max(top[loan_pos[i]], value[i])
    main[:] = n
    for i in range(n):
        j = loan_pos[i]
        if value[i] == top[j] and i < main[j]:
            main[j] = i
    for j in range(main.shape[0]):
        if main[j] == n:
            main[j] = -1


@njit(_BOOK_TOPUP_SIG, cache=True, nogil=True, error_model="numpy")
def book_topups(loan_pos, value, lendable, eligible, inst_code, pos_code, position, book_share,  # type: ignore[no-untyped-def]
                mismatch, covered, short, need, lend, t, it, tonnes, main):  # fmt: skip
    """topup.book_topup_tonnes of a whole book: each loan's main pledge into ``main``, the
    tonnes of each short secured loan into ``tonnes`` (NaN for the others). Sums over a loan's
    pledges in pledge order (as ``np.bincount``); releases the GIL."""
    n, n_loans = loan_pos.shape[0], short.shape[0]
    _main_pledges(loan_pos, value, main)
    count = np.zeros(n_loans, dtype=np.int64)
    q_in, v_in, l_in = np.zeros(n_loans), np.zeros(n_loans), np.zeros(n_loans)
    for i in range(n):
        j = loan_pos[i]
        count[j] += 1
        m = main[j] if main[j] >= 0 else n + main[j]
        w = 1.0 if pos_code[i] == pos_code[m] else 0.0
        q_in[j] += eligible[i] * w
        v_in[j] += value[i] * w
        l_in[j] += lendable[i] * w
    for j in range(n_loans):
        tonnes[j] = math.nan
        if count[j] == 0 or not short[j]:
            continue
        k = inst_code[max(main[j], 0)]
        m = main[j] if main[j] >= 0 else n + main[j]
        bank_t = position[m] / book_share[m] if book_share[m] > 0 else position[m]
        tonnes[j] = _solve_one(t, k, q_in[j], v_in[j] / _max(q_in[j], 1e-9),
                               need[j] - (lend[j] - l_in[j]), position[m], bank_t, mismatch[m],
                               covered[m], it)  # fmt: skip


#: the per-loan outputs of :func:`book_loans`, one row each of its (8, n_loans) array
LOAN_OUTPUTS = (
    "collateral_value_cny", "lendable_value_cny", "ltv", "utilisation", "haircut_frac",
    "target_ltv", "need", "topup_cash_cny",
)  # fmt: skip
_LOANS_SIG = types.void(
    _I, _F, _F, _F, _F, _F, types.Array(types.float64, 1, "C"),
    types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C"),
    types.Array(types.int64, 1, "C"), types.Array(types.int64, 1, "C"),
)  # fmt: skip


@njit(cache=True, error_model="numpy")
def _ratio(o: float, d: float) -> float:
    """``o / d`` where ``d > 0``, else infinite (``o > 0``) or 0."""
    if d > 0:
        return o / d
    return math.inf if o > 0 else 0.0


@njit(_LOANS_SIG, cache=True, nogil=True, error_model="numpy")
def book_loans(loan_pos, eligible, price, total, outstanding_cny, th, value, lendable, out,  # type: ignore[no-untyped-def]
               state, count):  # fmt: skip
    """Each pledge's value and lendable value, and each loan's sums, LTV, utilisation, state
    (0-3: thresholds ``th[:3]`` reached), effective haircut, target LTV (``th[3]``: the target
    utilisation), lendable value needed and cash top-up (NaN when not short): the numpy of
    ``value_book``, element by element, sums in pledge order (as ``np.bincount``). ``out``
    (rows named in :data:`LOAN_OUTPUTS`) and ``count`` start at zero; releases the GIL."""
    for i in range(loan_pos.shape[0]):
        v = eligible[i] * price[i]
        lend = v * (1.0 - total[i])
        value[i], lendable[i] = v, lend
        j = loan_pos[i]
        out[0, j] += v
        out[1, j] += lend
        count[j] += 1
    for j in range(outstanding_cny.shape[0]):
        o, coll, lend = outstanding_cny[j], out[0, j], out[1, j]
        out[2, j] = _ratio(o, coll)
        util = _ratio(o, lend)
        out[3, j] = util
        state[j] = int(util >= th[0]) + int(util >= th[1]) + int(util >= th[2])
        eff_h = 1.0 - lend / coll if coll > 0 else 1.0
        out[4, j] = eff_h
        out[5, j] = th[3] * (1.0 - eff_h)
        need = o / th[3]
        out[6, j] = need
        out[7, j] = _max(need - lend, 0.0) if state[j] > 0 else math.nan
