"""The backtests' fast paths give the core model's numbers on every date, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.engine import JobSpec, _levels
from backtests.forecasts import _FORECASTS, _forecast_hs_vw, _forecast_registry, _prepare
from tests.collateral.synthetic import garch_t_returns, history_from_returns


def _returns(n: int, seed: int) -> np.ndarray:
    """GARCH-like t returns with runs of no change (thin trading: zero returns)."""
    rng = np.random.default_rng(seed)
    out = garch_t_returns(rng, n, omega=2e-5, alpha=0.1, beta=0.85)
    out[rng.random(n) < 0.2] = 0.0
    return out


@pytest.mark.parametrize("h", [1, 5, 20])
@pytest.mark.parametrize("seed", [1, 2])
def test_hs_vw_fast_path_equals_the_core_model_each_date(h: int, seed: int) -> None:
    """hs-vw's EWMA variances computed once give, date by date and level by level, the bytes
    ``VolatilityWeightedHS.measure`` gives on that date's inputs (the registry path)."""
    history = history_from_returns(_returns(700, seed))
    spec = JobSpec("SHEA", "hs-vw", h, lookback_days=250, confidences=(0.99, 0.975),
                   es_level=0.975)  # fmt: skip
    data = _prepare(history, spec, h)
    fast = _forecast_hs_vw(history, data, spec, _levels(spec))
    core = _forecast_registry(history, data, spec, _levels(spec))
    assert _FORECASTS["hs-vw"] is _forecast_hs_vw
    assert len(data.test_idx) > 400
    for c in (0.99, 0.975):
        assert fast[0][c].tobytes() == core[0][c].tobytes()
    assert fast[1].tobytes() == core[1].tobytes()
    assert np.isfinite(fast[1]).all()
    assert fast[4] == core[4]  # the same note in the report
