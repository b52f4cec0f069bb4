"""The EMIR RTS 153/2013 art. 28(1)(a) buffer as a state machine, worked by hand (issue 19,
point 6: the old "buffer" was a permanent x1.25), and the stress-responsive model ``hs-vw``
against a hand-written EWMA recursion."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.collateral import market_risk_profile
from carbonfin.collateral.apc_buffer import buffer_path
from carbonfin.collateral.models import ModelInputs, get_model
from carbonfin.errors import InvalidInputError
from tests.collateral.synthetic import history_from_returns
from tests.realdata import REAL_SHEA


def test_buffer_is_drawn_while_the_base_rises_and_rebuilt_as_it_falls() -> None:
    base = [0.20, 0.21, 0.26, 0.30, 0.32, 0.28, 0.22, 0.20]
    p = buffer_path(base, buffer_frac=0.25, rise_frac=0.10, rise_window=20)
    # by hand (F = 1.25 B; a significant rise: B > 1.10 x min of the previous B):
    # t0 start full                                   A = 0.25
    # t1 0.21 <= 1.1 x 0.20: full                     A = 1.25 x 0.21 = 0.2625
    # t2 0.26 >  0.22: drawn, A = min(0.325, max(0.26, 0.2625)) = 0.2625
    # t3 A = min(0.375, max(0.30, 0.2625)) = 0.30 = B: exhausted
    # t4 A = min(0.40, max(0.32, 0.30)) = 0.32: exhausted
    # t5 B falls to 0.28: A = min(0.35, max(0.28, 0.32)) = 0.32: drawn (rebuilding)
    # t6 B = 0.22: A = min(0.275, max(0.22, 0.32)) = 0.275 = F: full
    # t7 B = 0.20, no rise, full:                     A = 0.25
    expected = [0.25, 0.2625, 0.2625, 0.30, 0.32, 0.32, 0.275, 0.25]
    np.testing.assert_allclose(p.applied, expected, atol=1e-12)
    assert p.states == ("full", "full", "drawn", "exhausted", "exhausted", "drawn", "full",
                        "full")  # fmt: skip
    # the old rule, a permanent x1.25, would have applied 0.325, 0.375, 0.40 at t2-t4
    assert p.applied[4] < 1.25 * base[4]
    np.testing.assert_allclose(p.drawn_frac[[0, 3, 6]], [0.0, 1.0, 0.0], atol=1e-12)


def test_a_small_rise_moves_the_full_buffer_with_the_base() -> None:
    p = buffer_path([0.20, 0.205, 0.21], rise_frac=0.10)
    np.testing.assert_allclose(p.applied, [0.25, 0.25625, 0.2625])
    assert set(p.states) == {"full"}


def test_buffer_refuses_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="`base_frac`"):
        buffer_path([])
    with pytest.raises(InvalidInputError, match="`buffer_frac`"):
        buffer_path([0.1], buffer_frac=1.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 0.8), min_size=1, max_size=60))
def test_applied_haircut_lies_between_base_and_full_buffer(base: list[float]) -> None:
    p = buffer_path(base)
    b = np.asarray(base)
    assert np.all(p.applied >= b - 1e-12)
    assert np.all(p.applied <= np.minimum(1.0, 1.25 * b) + 1e-12)


def _ewma_by_hand(r: np.ndarray, lam: float = 0.94, w: int = 30) -> tuple[np.ndarray, float]:
    """RiskMetrics (Technical Document 1996, 5.2): s2[t] = lam s2[t-1] + (1-lam) r[t-1]^2 from
    s2[w] = mean(r[:w]^2); returns s2[w:] and the next day's s2."""
    s2 = [float(np.mean(r[:w] ** 2))]
    for t in range(w + 1, len(r) + 1):
        s2.append(lam * s2[-1] + (1 - lam) * r[t - 1] ** 2)
    return np.array(s2[:-1]), s2[-1]


def test_volatility_weighted_hs_against_a_hand_recursion() -> None:
    rng = np.random.default_rng(3)
    r = rng.standard_normal(400) * 0.02
    s2, nxt = _ewma_by_hand(r)
    z = r[30:] / np.sqrt(s2)
    sums = np.array([z[i : i + 20].sum() for i in range(len(z) - 19)])
    expected = -math.sqrt(nxt) * float(np.quantile(sums, 0.01))
    x = ModelInputs(log_marks=np.r_[0.0, np.cumsum(r)], returns=r, gap_days=np.ones(400),
                    all_returns=r, holding_days=20, confidence=0.99, measure="var")  # fmt: skip
    res = get_model("hs-vw").measure(x)
    assert res.inputs["vw_log_loss"] == pytest.approx(expected, rel=1e-10)
    assert res.log_loss == max(res.inputs["vw_log_loss"], res.inputs["hs_log_loss"])


def test_hs_vw_answers_a_fall_that_hs_barely_sees() -> None:
    # two calm years (1% a day), then a 25% fall over 10 business days
    rng = np.random.default_rng(5)
    calm = rng.standard_normal(800) * 0.01
    fall = np.full(10, math.log(0.75) / 10)
    hist = history_from_returns(np.r_[calm, fall], limit_frac=None)
    before, after = hist.dates[800], hist.dates[810]
    kw = {"anti_procyclicality": "none"}
    hs0, hs1 = (market_risk_profile(hist, as_of=d, model="hs", **kw).base_frac  # type: ignore[arg-type]
                for d in (before, after))  # fmt: skip
    vw0, vw1 = (market_risk_profile(hist, as_of=d, model="hs-vw", **kw).base_frac  # type: ignore[arg-type]
                for d in (before, after))  # fmt: skip
    assert vw1 - vw0 > 2 * (hs1 - hs0)
    assert vw1 > 0.15  # EWMA vol after ten -2.9% days ~ 1.25%/day; HS stays near 2-3%


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_SHEA.exists(), reason=f"no real SHEA file at {REAL_SHEA}")
def test_on_real_shea_hs_vw_rises_within_20_days_of_a_fall() -> None:
    # real SHEA: the mark fell 25% within 20 business days from 2021-01-11 (docs/collateral.md,
    # fall episodes); hs moved by 0.1 point over the next 20 days, hs-vw by about 29 points
    from carbonfin.pricing import PriceHistory

    hist = PriceHistory.from_csv(REAL_SHEA, "SHEA", strict=False)
    start = dt.date(2021, 1, 11)
    later = hist.session_days(start, start + dt.timedelta(days=40))[20]
    hs = [market_risk_profile(hist, as_of=d, model="hs").apc_frac for d in (start, later)]
    vw = [market_risk_profile(hist, as_of=d, model="hs-vw").apc_frac for d in (start, later)]
    assert abs(hs[1] - hs[0]) < 0.02
    assert vw[1] - vw[0] > 0.15
