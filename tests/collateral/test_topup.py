"""Top-up tonnes against an independent root finder (scipy's brentq on the scalar equation).

The fixed-point iteration converges slowly where the haircut is steep in the position; the solver
must then still find the tonnes (bracket and bisection), not report that none exists.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from carbonfin.collateral import market_risk_profile
from carbonfin.collateral.haircut import haircut_components
from carbonfin.collateral.topup import topup_tonnes
from tests.collateral.synthetic import history_from_returns

RNG = np.random.default_rng(29)
THIN = history_from_returns(RNG.normal(0, 0.02, 900), volume_t=300.0, price0=50.0)
PROFILE = market_risk_profile(THIN, as_of=THIN.dates[-1])
PRICE = 50.0


def _lendable(q: float, x: float, position: float) -> float:
    """Lendable value of ``q + x`` tonnes; the bank holds 4 × the position before the top-up."""
    share = (position + x) / (4 * position + x)
    h = haircut_components(
        PROFILE, np.array([q + x]), position_t=np.array([position + x]), book_share=share
    )
    return (q + x) * PRICE * (1.0 - float(h.total[0]))


def _reference(q: float, need: float, position: float) -> float:
    """Smallest whole tonne restoring ``need``: a fine scan for the first sign change, brentq."""
    f = lambda x: _lendable(q, x, position) - need  # noqa: E731
    if f(0.0) >= 0:
        return 0.0
    grid = np.concatenate([[0.0], np.geomspace(1.0, 1e9, 4000)])
    values = np.array([f(g) for g in grid])
    up = np.flatnonzero(values >= 0)
    if not len(up):
        return math.nan
    k = up[0]
    return math.ceil(brentq(f, grid[k - 1], grid[k], xtol=1e-6) - 1e-9)


@pytest.mark.parametrize("ratio", [1.05, 1.2, 1.5, 2.0, 3.0])
def test_top_up_tonnes_equal_an_independent_root_finder(ratio: float) -> None:
    q = np.array([500.0, 2_000.0, 8_000.0])
    need = q * PRICE * ratio * 0.6
    got = topup_tonnes(
        PROFILE, q, np.full(3, PRICE), need, np.zeros(3, bool), np.zeros(3, bool), q, q * 4
    )
    for k in range(3):
        ref = _reference(q[k], need[k], q[k])
        if math.isnan(ref):
            assert math.isnan(got[k])
            continue
        # the smallest whole tonne restoring the target (one more where f is flat within a tonne)
        assert ref <= got[k] <= ref + 1, (q[k], ratio)
        assert _lendable(q[k], got[k], q[k]) >= need[k] * (1 - 1e-12)


def test_an_unconverged_fixed_point_still_finds_the_tonnes() -> None:
    """Two rounds of the fixed point cannot converge here; the bracket finds the same answer."""
    q = np.array([2_000.0])
    need = q * PRICE * 0.9
    args = (PROFILE, q, np.full(1, PRICE), need, np.zeros(1, bool), np.zeros(1, bool), q, q * 4)
    full = topup_tonnes(*args)
    few = topup_tonnes(*args, iterations=2)
    assert np.isfinite(full[0])
    assert abs(few[0] - full[0]) <= 1.0
