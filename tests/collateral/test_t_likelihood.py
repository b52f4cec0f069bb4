"""The Student-t model's likelihood is scipy's ``stats.t.logpdf`` sum bit for bit (the fast path
skips scipy's argument handling only), so the ``"t"`` model's fits are unchanged; and the cached
``datetime64`` dates of a history are its dates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from carbonfin.collateral.models import _t_nll, t_fit
from tests.data.backtest_reference import make_reference as ref


@pytest.mark.parametrize("seed", range(5))
def test_t_likelihood_is_scipy_s_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        r = rng.standard_t(3, int(rng.integers(50, 900))) * 10 ** rng.uniform(-3, -1)
        x = np.array([rng.uniform(2.05, 60.0), rng.uniform(1e-4, 0.1)])
        assert _t_nll(x, r) == -float(stats.t.logpdf(r, x[0], 0.0, x[1]).sum())


def test_t_fit_recovers_the_parameters() -> None:
    # 20,000 draws of 0.02·t(4): the maximum-likelihood estimates are within a few percent
    r = 0.02 * np.random.default_rng(7).standard_t(4.0, 20_000)
    nu, scale = t_fit(r)
    assert nu == pytest.approx(4.0, rel=0.08)
    assert scale == pytest.approx(0.02, rel=0.03)


def test_history_days_are_its_dates() -> None:
    history = ref.datasets()[0].history
    assert history.days.tolist() == history.dates
    assert not history.days.flags.writeable
    window = history.between(history.dates[10], history.dates[99])
    assert window.days.tolist() == window.dates
