"""Sample SHEA statistics against the real SHEA quotes (../shared/data/real; skips if absent).

The real series also holds close-to-close moves beyond ±10% (block trades, multi-day gaps); the
sample applies the listed-trade limit to every close. So the comparison is made on real returns
clipped at the limit, and the raw real figures are printed alongside for the record.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carbonfin._quantlib import business_days
from carbonfin.data import load_table
from tests.realdata import REAL_SHEA

REAL_FILE = REAL_SHEA
START, END = dt.date(2016, 11, 18), dt.date(2023, 5, 5)
LIMIT = np.log1p(0.10)

pytestmark = pytest.mark.realdata


def _stats(closes: pd.Series, volume: pd.Series, n_days: int) -> dict[str, float]:
    r = np.diff(np.log(closes.to_numpy()))
    r = np.clip(r, np.log1p(-0.10), LIMIT)
    traded_volume = volume[volume > 0]
    return {
        "std_per_trade": float(r.std(ddof=1)),
        "kurtosis": float(pd.Series(r).kurt() + 3),
        "close_share": len(closes) / n_days,
        "limit_share": float((np.abs(r) >= np.log1p(0.095)).mean()),
        "zero_share": float((r == 0).mean()),
        "median_volume": float(traded_volume.median()),
        "june_volume_share": float(
            volume[[d.month == 6 for d in volume.index]].sum() / volume.sum()
        ),
    }


def test_sample_matches_real_shea_statistics() -> None:
    if not REAL_FILE.exists():
        pytest.skip(f"real SHEA quotes not available at {REAL_FILE}")
    n_days = len(business_days(START, END))
    real = pd.read_csv(REAL_FILE, parse_dates=["date"])
    real["date"] = real["date"].dt.date
    real_closes = real.dropna(subset=["close"]).set_index("date")["close"]
    real_volume = real.set_index("date")["volume_t"].fillna(0)
    sample = load_table("prices")
    sample = sample[(sample["instrument"] == "SHEA") & sample["date"].between(START, END)]
    s_closes = sample.dropna(subset=["close_cny_per_t"]).set_index("date")["close_cny_per_t"]
    s_volume = sample.set_index("date")["volume_t"].astype(float)
    got = _stats(s_closes, s_volume, n_days)
    ref = _stats(real_closes, real_volume, n_days)
    print("\nstatistic            real(clipped)  sample")
    for key in ref:
        print(f"{key:20s} {ref[key]:12.4f} {got[key]:10.4f}")
    assert got["std_per_trade"] == pytest.approx(ref["std_per_trade"], rel=0.35)
    assert got["kurtosis"] > ref["kurtosis"] * 0.9  # real clipped: ~3.9
    assert got["close_share"] == pytest.approx(ref["close_share"], abs=0.10)
    assert got["limit_share"] == pytest.approx(ref["limit_share"], abs=0.03)
    assert got["zero_share"] == pytest.approx(ref["zero_share"], abs=0.05)
    assert got["june_volume_share"] == pytest.approx(ref["june_volume_share"], abs=0.15)
    ratio = got["median_volume"] / ref["median_volume"]
    assert 0.1 < ratio < 10
