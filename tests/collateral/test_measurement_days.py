"""The measurement path on ``datetime64`` day grids gives the profiles of the ``dt.date`` path,
bit for bit.

The digests in ``tests/data/measurement_days_pinned.json`` were computed by the code before the
change (main at 5c131de, where the grids, marks and returns were searched as ``dt.date`` object
arrays) with ``profile_digest``: every float is written with ``float.hex``, so any change of a
single bit of the base haircut, the anti-procyclicality result, the daily volume, the largest day
or the data-quality inputs fails the test. The cases: the shipped sample (SHEA, CEA, with
no-trade days and suspect prints; models hs, t, hs-vw), and random series on the weekday
calendar, on a China calendar with no-trade days, and without a calendar (the series' own rows),
under each anti-procyclicality method.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carbonfin.collateral import market_risk_profile
from carbonfin.collateral.measurement import ReplayCache
from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.pricing.history import PriceHistory
from tests.collateral.synthetic import history_from_returns

#: case -> (series, as_of, model, anti-procyclicality)
CASES: dict[str, tuple[str, dt.date, str, str]] = {
    "SHEA-2017": ("SHEA", dt.date(2017, 3, 1), "hs", "buffer"),
    "SHEA-2020": ("SHEA", dt.date(2020, 6, 15), "hs", "buffer"),
    "SHEA-2024": ("SHEA", dt.date(2024, 2, 7), "hs", "buffer"),
    "SHEA-2026": ("SHEA", dt.date(2026, 9, 24), "hs", "buffer"),
    "SHEA-2026-stressed": ("SHEA", dt.date(2026, 9, 24), "hs", "stressed"),
    "SHEA-2026-floor": ("SHEA", dt.date(2026, 9, 24), "hs", "floor"),
    "SHEA-2025-t": ("SHEA", dt.date(2025, 5, 20), "t", "buffer"),
    "SHEA-2025-hs-vw": ("SHEA", dt.date(2025, 5, 20), "hs-vw", "buffer"),
    "CEA-2025": ("CEA", dt.date(2025, 11, 3), "hs", "buffer"),
    "weekdays-buffer": ("weekdays", dt.date(2018, 12, 3), "hs", "buffer"),
    "weekdays-stressed": ("weekdays", dt.date(2018, 12, 3), "hs", "stressed"),
    "china-gaps-buffer": ("china-gaps", dt.date(2018, 3, 1), "hs", "buffer"),
    "china-gaps-floor": ("china-gaps", dt.date(2018, 3, 1), "hs", "floor"),
    "own-rows-buffer": ("own-rows", dt.date(2018, 12, 3), "hs", "buffer"),
}


def _random_frame(seed: int, n: int, start: dt.date) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, periods=n).date
    r = 0.02 * rng.standard_t(3, n)
    closes = 40.0 * np.exp(np.cumsum(r))
    volume = rng.gamma(1.5, 800.0, n)
    return pd.DataFrame({"date": days, "close": closes, "vwap": closes * (1 + 0.001 * r),
                         "volume_t": volume, "amount_cny": volume * closes})  # fmt: skip


@cache
def _history(series: str) -> PriceHistory:
    if series in ("SHEA", "CEA"):
        prices = load_table("prices")
        frame = prices[prices["instrument"] == series].drop(columns="instrument")
        return PriceHistory.from_frame(frame.reset_index(drop=True), series)
    if series == "china-gaps":
        rng = np.random.default_rng(21)
        r = 0.015 * rng.standard_t(4, 1400)
        hist = history_from_returns(r, volume_t=rng.gamma(2.0, 500.0, 1401))
        quotes = hist.quotes.reset_index()
        gone = rng.random(len(quotes)) < 0.3  # no-trade days: no close, no volume
        gone[0] = False
        quotes.loc[gone, ["close", "vwap", "volume_t", "amount_cny"]] = np.nan
        quotes = quotes.drop(columns=["open", "high", "low"])
        return PriceHistory.from_frame(quotes, "SHEA", limit_frac=0.5)
    frame = _random_frame(7, 1500, dt.date(2013, 5, 6))
    calendar = "weekdays" if series == "weekdays" else None
    if calendar is None:
        frame = frame.iloc[np.random.default_rng(8).random(len(frame)) > 0.2]
    return PriceHistory.from_frame(frame, None, name=series, calendar=calendar, limit_frac=None,
                                   currency="CNY")  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return float(value).hex()
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def profile_digest(case: str) -> str:
    series, as_of, model, apc = CASES[case]
    return _digest(_history(series), as_of, model, apc)


def _digest(
    history: PriceHistory, as_of: dt.date, model: str, apc: str, cache: ReplayCache | None = None
) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = market_risk_profile(history, as_of=as_of, model=model, cache=cache,
                                anti_procyclicality=apc)  # type: ignore[arg-type]  # fmt: skip
    fields = {
        "base": p.base_frac, "apc": p.apc_frac, "apc_inputs": dict(p.apc_inputs),
        "adv": p.adv_t, "max_day": p.max_day_volume_t, "trade_frac": p.trade_day_frac,
        "n_returns": p.n_returns, "dq": dict(p.data_quality_inputs), "vol": p.daily_vol,
        "lookback_start": p.inputs["lookback_start"], "log_loss": p.inputs["log_loss"],
        "notes": len(p.notes), "excluded": p.n_excluded_prints,
    }  # fmt: skip
    return _text(fields)


#: made by the code at main 5c131de (the ``dt.date`` path): ``profile_digest`` of every case
PINNED: dict[str, str] = json.loads(
    (Path(__file__).parents[1] / "data" / "measurement_days_pinned.json").read_text()
)["digests"]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_profile_is_the_date_path_bit_for_bit(case: str) -> None:
    assert profile_digest(case) == PINNED[case]


@pytest.mark.parametrize(
    ("series", "model", "first", "last"),
    [
        ("SHEA", "hs", dt.date(2016, 12, 1), dt.date(2017, 2, 20)),  # the path starts later
        ("SHEA", "hs", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("CEA", "t", dt.date(2025, 9, 1), dt.date(2025, 10, 15)),
        ("china-gaps", "hs", dt.date(2016, 6, 1), dt.date(2016, 8, 31)),
        ("own-rows", "hs", dt.date(2018, 9, 3), dt.date(2018, 11, 30)),
    ],
    ids=["SHEA-early", "SHEA-2026", "CEA-t", "china-gaps", "own-rows"],
)
def test_replay_cache_gives_the_same_profiles(
    series: str, model: str, first: dt.date, last: dt.date
) -> None:
    """A replay date by date with one ReplayCache (prices prepared once, the buffer path's past
    measures reused) gives every profile of the replay without it, bit for bit, refusals
    included; every calendar day of the span, holidays and weekends too."""
    history, cache = _history(series), ReplayCache(_history(series))
    day, n = first, 0
    while day <= last:
        try:
            want = _digest(history, day, model, "buffer")
        except MissingDataError as exc:
            with pytest.raises(MissingDataError, match=re.escape(str(exc))):
                _digest(history, day, model, "buffer", cache)
        else:
            assert _digest(history, day, model, "buffer", cache) == want, day
            n += 1
        day += dt.timedelta(days=1)
    assert n > 20


def test_replay_cache_refuses_another_history() -> None:
    cache = ReplayCache(_history("SHEA"))
    with pytest.raises(InvalidInputError, match="`cache` was made for another history"):
        _digest(_history("CEA"), dt.date(2025, 11, 3), "hs", "buffer", cache)
