"""The out-of-sample choice of the default model (issue 19, point 7): the rule of ``pick`` on
hand-made rows, and the walk on a synthetic series whose 20-day losses are known."""

from __future__ import annotations

import numpy as np
import pytest

from backtests import select_default
from backtests.select_default import Row, evaluate, pick
from tests.collateral.synthetic import history_from_returns


def _row(cand: str, series: str, x: int, n: int, m100: float, zone: str = "green") -> Row:
    return Row(series, cand, n, x, 0.5, zone, (0.3, m100, 1.0), 0)


def test_pick_takes_the_cheapest_model_that_passes() -> None:
    rows = [
        # hs: 1 exception in 100 (Kupiec p ~ 1): passes; median 100 kt 60%
        _row("hs", "a", 1, 100, 0.60), _row("hs", "b", 0, 100, 0.50),
        # ewma: 12 exceptions in 200 (p < 1e-5): fails, however cheap
        _row("ewma", "a", 6, 100, 0.20), _row("ewma", "b", 6, 100, 0.20),
        # t: passes but dearer (median 0.80)
        _row("t", "a", 0, 100, 0.80), _row("t", "b", 0, 100, 0.80),
        # hs-vw: cheaper but red on one series
        _row("hs-vw", "a", 0, 100, 0.40), _row("hs-vw", "b", 1, 100, 0.40, zone="red"),
        # a series without test dates does not count
        _row("t", "c", 0, 0, float("nan")),
    ]  # fmt: skip
    assert pick(rows) == "hs"


def test_walk_counts_exceptions_on_non_overlapping_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    # The walk (which dates, which 20-day losses, what counts as an exception) is the same for
    # every candidate; it is checked with hs and the baselines. The t candidate measured its art.
    # 28 buffer path (~120 maximum-likelihood fits) on each of the 27 dates: 200-380 s of the
    # suite for rows this test never looked at. The models' haircuts are tested in
    # tests/collateral; `python -m backtests.select_default` walks every candidate.
    monkeypatch.setattr(select_default, "CANDIDATES", ("hs",))
    rng = np.random.default_rng(1)
    hist = history_from_returns(rng.normal(0, 0.01, 1300))
    rows = {r.candidate: r for r in evaluate("synthetic", hist)}
    assert set(rows) == {"hs", *select_default.BASELINES}
    # every 20th business day from day 750 with 20 days after it: (1301 - 20 - 750) / 20 -> 27
    assert rows["flat-25"].dates == len(range(750, 1301 - 20, 20))
    # a 25% fall in 20 days is a 14-sigma event at 1% a day: no flat-25 exception
    assert rows["flat-25"].exceptions == 0
    assert rows["flat-25"].median_frac == (0.25, 0.25, 0.25)
    assert rows["hs"].dates == rows["flat-25"].dates
