"""Volatility fits on the real SHEA quotes (../shared/data/real; skips where absent): the time
unit (issue 9 item 7), stationarity (item 16) and model selection (item 8) on real data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from carbonfin.errors import CarbonfinWarning, NonStationaryWarning
from carbonfin.pricing import PriceHistory, fit_garch, select_model
from tests.realdata import REAL_SHEA

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def shea() -> PriceHistory:
    if not REAL_SHEA.exists():
        pytest.skip(f"real SHEA quotes not available at {REAL_SHEA}")
    return PriceHistory.from_frame(pd.read_csv(REAL_SHEA), "SHEA", strict=False)


def test_garch_t_on_real_shea_is_flagged_not_printed_as_nonsense(shea: PriceHistory) -> None:
    # the review: "persistence 1.0000 ... annualised 12509966.36%" without a warning
    with pytest.warns(NonStationaryWarning):
        fit = fit_garch(shea.returns(), "garch", "t")
    assert not fit.is_stationary
    assert "12509966" not in fit.summary()
    assert "not meaningful" in fit.summary()
    assert 0.2 < fit.annualised_vol() < 2.0


def test_the_time_unit_on_real_shea(shea: PriceHistory) -> None:
    r = shea.returns()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CarbonfinWarning)
        gap_aware = fit_garch(r, "garch", "normal")
        per_trade = fit_garch(r, "garch", "normal", time_unit="trade")
    assert gap_aware.time_unit == "business_day"
    assert per_trade.time_unit == "trade"
    assert gap_aware.mean_gap_days == pytest.approx(1.58, abs=0.01)
    # both describe the same market: annualised within a factor of 2.5 of each other
    assert 0.4 < gap_aware.annualised_vol() / per_trade.annualised_vol() < 2.5
    # the per-trade fit's persistence is per trade; annualisation uses trades per year
    assert per_trade.steps_per_year == pytest.approx(243 / 1.58, rel=0.01)


def test_selection_on_real_shea_marks_the_integrated_fits(shea: PriceHistory) -> None:
    sel = select_model(shea.returns())
    assert sel.best.is_stationary
    integrated = [f for f in sel.fits if not f.is_stationary]
    assert len(integrated) >= 2  # GARCH-t and GJR-t sit on the boundary
    assert all(f.warnings for f in integrated)
    assert all(math.isnan(f.unconditional_variance) for f in integrated)
    assert np.isfinite(sel.best.next_vol())
