"""The compiled haircut formula and top-up solve (``carbonfin/collateral/_kernels.py``) against
the numpy code they replace in the book valuation, bit for bit: ``haircut_components`` and the
numpy formula of ``formula.py`` on the same inputs (including the formula's edge cases: no
daily volume, no ADV, an infinite impact coefficient, no yearly volume), and the reference
top-up solver of ``reference_topup.py``; and each loan's top-up independent of the others."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from carbonfin.collateral import _kernels, market_risk_profile
from carbonfin.collateral.book_haircut import pledge_haircuts
from carbonfin.collateral.formula import FormulaInputs, add_ons, raw_haircut, schedule_liquidation
from carbonfin.collateral.haircut import haircut_components
from carbonfin.collateral.topup import topup_tonnes
from tests.collateral import reference_topup
from tests.collateral.synthetic import history_from_returns

RNG = np.random.default_rng(31)
THIN = history_from_returns(RNG.normal(0, 0.02, 900), volume_t=300.0, price0=50.0)
LIQUID = history_from_returns(RNG.normal(0, 0.015, 900), volume_t=40_000.0, price0=70.0)
PROFILES = [market_risk_profile(h, as_of=h.dates[-1]) for h in (THIN, LIQUID)]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=float).view(np.int64)


def _book(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    code = rng.integers(0, 2, n)
    eligible = np.where(rng.random(n) < 0.05, 0.0, np.exp(rng.normal(np.log(20_000), 2.0, n)))
    position = np.maximum(eligible, 1e-9) * rng.uniform(1.0, 5.0, n)
    share = np.where(rng.random(n) < 0.1, 1.0, rng.uniform(0.0, 1.0, n))
    return code, eligible, position, share, rng.random(n) < 0.3, rng.random(n) < 0.4


@pytest.mark.parametrize("seed", [1, 2])
def test_book_kernel_equals_haircut_components_bit_for_bit(seed: int) -> None:
    code, eligible, position, share, mismatch, covered = _book(5_000, seed)
    got = pledge_haircuts(PROFILES, code, eligible, position, share, mismatch, covered)
    for k, prof in enumerate(PROFILES):
        at = code == k
        q = np.maximum(eligible[at], 1e-9)
        ref = haircut_components(
            prof, q, position_t=np.maximum(position[at], q), book_share=share[at],
            loan_currency_mismatch=mismatch[at], pledgor_covered=covered[at],
        )  # fmt: skip
        for name in _kernels.OUTPUTS:
            np.testing.assert_array_equal(_bits(got[name][at]), _bits(getattr(ref, name)), name)


EDGES = {
    "no daily sale": {"daily_sale_t": 0.0},
    "no adv": {"adv_t": 0.0},
    "infinite impact": {"impact_coef": np.inf},
    "no yearly volume": {"year_volume_t": 0.0},
    "no yearly volume, flat slope": {"year_volume_t": 0.0, "market_slope": 0.0},
}


@pytest.mark.parametrize("change", list(EDGES.values()), ids=list(EDGES))
def test_book_kernel_equals_the_numpy_formula_at_its_edges(change: dict[str, float]) -> None:
    f = dataclasses.replace(FormulaInputs.of(PROFILES[0]), **change)
    code, eligible, position, share, mismatch, covered = _book(3_000, 9)
    code[:] = 0
    out = np.empty((len(_kernels.OUTPUTS), len(code)))
    table = _kernels.formula_table([f])
    _kernels.book_haircuts(code, eligible, position, share, mismatch, covered, table, out)
    pos = np.maximum(position, np.maximum(eligible, 1e-9))
    with np.errstate(divide="ignore", invalid="ignore"):
        liq, sale, var_days, days, impact = schedule_liquidation(f, pos)
        conc, _, fx, ww = add_ons(f, pos, share, mismatch, covered, var_days, liq)
        market, apc, dq, raw = raw_haircut(f, len(pos), liq, conc, fx, ww)
    total = np.minimum(raw, 1.0)
    expected = (market, apc, liq, conc, fx, ww, dq, total - raw, total, days, sale, var_days,
                impact)  # fmt: skip
    for name, got, want in zip(_kernels.OUTPUTS, out, expected, strict=True):
        np.testing.assert_array_equal(got, want, name)  # NaN where the numpy formula has one


def test_a_loan_s_top_up_does_not_depend_on_the_others() -> None:
    """Each loan is solved on its own: half the loans, in reverse order, get the same tonnes."""
    n = 4_000
    code, eligible, position, _, mismatch, covered = _book(n, 4)
    table = _kernels.formula_table([FormulaInputs.of(p) for p in PROFILES])
    q = np.maximum(eligible, 1.0)
    args = [code, q, np.full(n, 60.0), q * 60.0 * np.linspace(0.5, 3.0, n), mismatch, covered,
            position + q, (position + q) * 3]  # fmt: skip
    whole = np.empty(n)
    _kernels.solve_topups(*args, table, 30, whole)
    some = np.arange(n)[::-2]
    part = np.empty(len(some))
    _kernels.solve_topups(*(np.ascontiguousarray(a[some]) for a in args), table, 30, part)
    assert np.isfinite(whole).sum() > n // 2
    np.testing.assert_array_equal(_bits(part), _bits(whole[some]))


@pytest.mark.parametrize("iterations", [2, 30])
def test_top_up_kernel_equals_the_reference_solver(iterations: int) -> None:
    """Converged, unconverged (two rounds: the bracket runs) and impossible top-ups."""
    rng = np.random.default_rng(iterations)
    n = 2_000
    q = np.exp(rng.normal(np.log(3_000), 1.5, n))
    position = q * rng.uniform(1.0, 3.0, n)
    need = q * 50.0 * rng.uniform(0.3, 6.0, n)
    args = (np.full(n, 50.0), need, rng.random(n) < 0.3, rng.random(n) < 0.4, position,
            position * rng.uniform(1.0, 8.0, n))  # fmt: skip
    got = topup_tonnes(PROFILES[0], q, *args, iterations=iterations)
    ref = reference_topup.topup_tonnes(PROFILES[0], q, *args, iterations=iterations)
    assert np.isfinite(got).sum() > 100
    assert np.isnan(got).sum() > 10
    np.testing.assert_array_equal(_bits(got), _bits(ref))
