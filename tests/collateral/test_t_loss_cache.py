"""``t_loss`` keeps scipy's t quantile and density per (ν, level): the same numbers bit for bit."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from carbonfin.collateral.models import _t_pdf, _t_ppf, t_loss


def _direct(nu: float, scale: float, days: int, confidence: float, measure: str) -> float:
    """t_loss as it was written before the cache (scipy called on every call)."""
    s = scale * math.sqrt(days)
    z = float(stats.t.ppf(confidence, nu))
    if measure == "var":
        return s * z
    return s * (nu + z * z) / (nu - 1.0) * float(stats.t.pdf(z, nu)) / (1.0 - confidence)


def test_t_loss_is_bit_for_bit_scipy_and_reuses_the_quantile() -> None:
    rng = np.random.default_rng(21)
    _t_ppf.cache_clear()
    _t_pdf.cache_clear()
    for nu, scale in zip(rng.uniform(2.05, 60.0, 200), rng.uniform(1e-3, 0.1, 200), strict=True):
        for days in (1, 10, 20):  # a backtest date: one fit, every horizon and level
            for c, m in ((0.99, "var"), (0.975, "var"), (0.975, "es")):
                got = t_loss(float(nu), float(scale), days, c, m)
                assert got.hex() == _direct(float(nu), float(scale), days, c, m).hex()
    info = _t_ppf.cache_info()
    assert info.misses == 400  # 2 levels per ν, each computed once
    assert info.hits == 1400
    assert _t_pdf.cache_info().misses == 200
