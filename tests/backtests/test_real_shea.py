"""The standard models over the real SHEA quotes (read in place from ../shared/data/real; skipped
where the file is absent). Figures in docs/backtests.md come from the full suite."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.evaluation import evaluate
from backtests.runner import Dataset, run, standard_jobs
from carbonfin.pricing.history import PriceHistory
from tests.realdata import REAL_SHEA

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REAL_SHEA.exists(), reason=f"no real SHEA file at {REAL_SHEA}"),
]


def test_hs_and_ewma_over_real_shea() -> None:
    history = PriceHistory.from_csv(REAL_SHEA, "SHEA", strict=False)
    ds = [Dataset("SHEA-real", history, f"real SHEA quotes {REAL_SHEA.name}")]
    result = run(ds, standard_jobs(ds, models=("hs", "ewma"), horizons=(1,), haircut=False))
    assert not result.errors
    rows = {r.model: r for r in evaluate(result.results)}
    hs = result.results[0]
    # every business day from the first with 750 business days of history is a test date,
    # traded or not: about 40% of them have no close in the real file
    closes = set(history.closes().index)
    no_trade = np.mean([d not in closes for d in hs.dates])
    assert 0.2 < no_trade < 0.6
    assert str(hs.dates[0]) >= "2019-11-01"
    # measured: HS 99% 1-day VaR is not rejected over 2019-12..2023-05; EWMA-normal has more
    # exceptions than HS (fat tails: docs/backtests.md)
    assert rows["ewma"].exceptions > rows["hs"].exceptions
    assert rows["hs"].observations == len(hs.dates)
