"""PriceHistory: validation, flags, returns across no-trade days, marks; and the real SHEA file."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.pricing import PriceHistory
from tests.realdata import REAL_SHEA

D = dt.date
REAL_FILE = REAL_SHEA


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["date", "open", "high", "low", "close", "vwap", "volume_t", "amount_cny"]
    return pd.DataFrame(rows, columns=cols)


# 2024-09-30 (Mon) .. 2024-10-11: National Day holiday 2024-10-01..07 closes the SSE
ROWS = [
    (D(2024, 9, 26), 50.0, 51.0, 49.5, 50.0, 50.2, 1000, 50200.0),
    (D(2024, 9, 27), 50.0, 56.0, 50.0, 55.0, 54.0, 2000, 108000.0),  # +10% (at the limit)
    (D(2024, 9, 30), None, None, None, None, None, 0, 0.0),  # no trade
    (D(2024, 10, 8), 55.0, 56.0, 54.0, 60.5, 55.5, 500, 27750.0),  # +10% over a holiday gap
    (D(2024, 10, 9), 60.0, 61.0, 59.0, 60.0, 60.0, 10, 600.0),
    (D(2024, 10, 10), 60.0, 60.0, 60.0, 60.0, 60.0, 10, 600.0),
    (D(2024, 10, 11), 60.0, 60.0, 60.0, 60.0, 60.0, 10, 600.0),
]


def test_trade_to_trade_returns_and_gap_scaling() -> None:
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA")
    r = h.returns(kind="log", per="trade")
    closes = [50.0, 55.0, 60.5, 60.0, 60.0, 60.0]
    np.testing.assert_allclose(r.values, np.diff(np.log(closes)), rtol=1e-12, atol=1e-16)
    # 09-27 -> 10-08 spans two SSE business days (09-30 and 10-08), the holiday does not count
    assert list(r.gap_days) == [1.0, 2.0, 1.0, 1.0, 1.0]
    scaled = h.returns(per="business_day")
    assert scaled.values[1] == pytest.approx(math.log(60.5 / 55.0) / math.sqrt(2.0))
    simple = h.returns(kind="simple", per="trade")
    assert simple.values[0] == pytest.approx(0.1)


def test_flags_are_set_not_dropped() -> None:
    rows = [*ROWS, (D(2024, 10, 12), 60.0, 60.0, 60.0, 60.0, 60.0, 10, 600.0)]  # a Saturday
    rows += [(D(2024, 10, 14), 60.0, 70.0, 60.0, 70.0, 66.0, 100, 6600.0)]  # +16.7%: block trade
    h = PriceHistory.from_frame(_frame(rows), "SHEA", stale_run=4)
    assert len(h.quotes) == len(rows)
    counts = h.flag_counts()
    assert counts["no_close"] == 1
    assert counts["zero_volume"] == 1
    assert counts["limit_breach"] == 1  # the two +10% moves are at, not beyond, the limit
    assert bool(h.flags.loc[D(2024, 10, 14), "limit_breach"])
    # 2024-10-12 was an official working Saturday, but the SSE is closed on weekends
    assert bool(h.flags.loc[D(2024, 10, 12), "non_business_day"])
    assert counts["stale"] == 4  # 60.0 on 10-09, 10-10, 10-11 and 10-12
    assert PriceHistory.from_frame(_frame(rows), "SHEA").flag_counts()["stale"] == 0  # run < 5
    assert "limit_breach" in h.summary()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({2: (D(2024, 9, 27), 50, 56, 50, 55, 54, 1, 54.0)}, "duplicate date 2024-09-27"),
        ({1: (D(2024, 9, 25), 50, 56, 50, 55, 54, 1, 54.0)}, "not sorted: 2024-09-25 comes after"),
        ({1: (D(2024, 9, 27), 50, 56, 50, -55, 54, 1, 54.0)}, "2024-09-27: close price must be"),
        ({1: (D(2024, 9, 27), 50, 56, 50, math.inf, 54, 1, 54.0)}, "2024-09-27: close price"),
        ({1: (D(2024, 9, 27), 50, 49, 50, 49.5, 49.5, 1, 49.5)}, "2024-09-27: high 49.0 is below"),
        ({1: (D(2024, 9, 27), 50, 56, 50, 55, 54, -1, 54.0)}, "2024-09-27: volume_t must be"),
    ],
    ids=["duplicate", "unsorted", "negative", "infinite", "high-below-low", "negative-volume"],
)
def test_bad_rows_are_refused_naming_the_date(change: dict[int, tuple], message: str) -> None:
    rows = list(ROWS)
    for i, row in change.items():
        rows[i] = row
    with pytest.raises(InvalidInputError, match=message):
        PriceHistory.from_frame(_frame(rows), "SHEA")


def test_non_strict_mode_flags_an_inverted_range() -> None:
    rows = list(ROWS)
    rows[1] = (D(2024, 9, 27), 50, 49, 50, 49.5, 49.5, 1, 49.5)
    h = PriceHistory.from_frame(_frame(rows), "SHEA", strict=False)
    assert bool(h.flags.loc[D(2024, 9, 27), "inconsistent_range"])
    assert math.isnan(h.quotes.loc[D(2024, 9, 27), "high"])
    assert h.quotes.loc[D(2024, 9, 27), "close"] == 49.5


def test_other_bad_frames() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        PriceHistory.from_frame(pd.DataFrame(), "SHEA")
    with pytest.raises(InvalidInputError, match="unknown instrument 'EUA'"):
        PriceHistory.from_frame(_frame(ROWS), "EUA")
    mixed = _frame(ROWS).assign(instrument=["SHEA"] * 6 + ["CEA"])
    with pytest.raises(InvalidInputError, match=r"also holds rows of \['CEA'\]"):
        PriceHistory.from_frame(mixed, "SHEA")
    with pytest.raises(InvalidInputError, match="no close column"):
        PriceHistory.from_frame(_frame(ROWS).drop(columns="close"), "SHEA")


def test_marks() -> None:
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA")
    last = h.mark(D(2024, 10, 8))
    assert (last.price_cny_per_t, last.last_date, last.age_days) == (60.5, D(2024, 10, 8), 0)
    stale = h.mark(D(2024, 9, 30))  # no trade that day: the 09-27 close, one business day old
    assert (stale.price_cny_per_t, stale.age_days) == (55.0, 1)
    with pytest.raises(MissingDataError, match="1 business days before 2024-09-30"):
        h.mark(D(2024, 9, 30), max_age_days=0)
    # VWAP over the last 3 business days to 10-09 (09-30, 10-08, 10-09): amount / volume
    v = h.mark(D(2024, 10, 9), method="vwap", window_days=3)
    assert v.price_cny_per_t == pytest.approx((27750.0 + 600.0) / 510.0)
    assert (v.first_date, v.last_date, v.trade_days) == (D(2024, 10, 8), D(2024, 10, 9), 2)
    with pytest.raises(MissingDataError, match="no SHEA quotes on or before 2024-01-01"):
        h.mark(D(2024, 1, 1))
    with pytest.raises(InvalidInputError, match="`method` must be"):
        h.mark(D(2024, 10, 9), method="twap")  # type: ignore[arg-type]


def test_between_restricts_the_window() -> None:
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA").between(D(2024, 9, 30), D(2024, 10, 9))
    assert h.dates[0] == D(2024, 9, 30)
    assert h.dates[-1] == D(2024, 10, 9)
    with pytest.raises(MissingDataError):
        h.between(D(2025, 1, 1), D(2025, 2, 1))


@pytest.mark.realdata
def test_copes_with_the_real_shea_quotes() -> None:
    if not REAL_FILE.exists():
        pytest.skip(f"real SHEA quotes not available at {REAL_FILE}")
    raw = pd.read_csv(REAL_FILE)
    # the republished file swaps high and low on some rows: strict mode says where
    with pytest.raises(InvalidInputError, match=r"2019-05-16: high 41\.03 is below low 42\.03"):
        PriceHistory.from_frame(raw, "SHEA")
    h = PriceHistory.from_frame(raw, "SHEA", strict=False)
    counts = h.flag_counts()
    assert len(h.quotes) == 1563  # nothing dropped (PROVENANCE.md: 1,563 rows)
    assert len(h.closes()) == 993  # 993 rows carry a close
    assert counts["inconsistent_range"] == 11
    assert counts["no_close"] == 1563 - 993  # incl. the days with a VWAP but no close
    assert counts["limit_breach"] > 20  # block trades and gaps beyond ±10%
    assert counts["stale"] > 0
    r = h.returns(per="trade")
    assert len(r) == 992
    # a trade-to-trade return spans 1.58 business days on average: annualise per-trade returns
    # with the trades in a year (243 / mean gap), not with 243 business days (that gave ~91%);
    # the per-business-day returns (divided by sqrt(gap)) annualise with 243
    per_year = 243 / float(r.gap_days.mean())
    assert 0.68 < float(np.std(r.values, ddof=1)) * math.sqrt(per_year) < 0.77
    daily = h.returns(per="business_day").values
    assert 0.78 < float(np.std(daily, ddof=1)) * math.sqrt(243) < 0.88
    assert float(pd.Series(r.values).kurt()) + 3 > 20
    assert r.gap_days.max() > 5  # sparse trading: multi-day gaps between closes
    mark = h.mark(D(2023, 5, 5), method="vwap", window_days=10)
    assert mark.trade_days >= 1


def test_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    _frame(ROWS).to_csv(path, index=False)
    h = PriceHistory.from_csv(path, "SHEA")
    assert len(h.closes()) == 6
    with pytest.raises(InvalidInputError, match="no such price file"):
        PriceHistory.from_csv(tmp_path / "missing.csv", "SHEA")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a readable CSV"):
        PriceHistory.from_csv(tmp_path / "empty.csv", "SHEA")


def test_limit_breach_compounds_the_limit_over_the_gap() -> None:
    # issue 9 item 6. 2024-09-27 -> 2024-10-08 spans g = 2 SSE business days (09-30 had no
    # close; 10-01..07 is the National Day holiday). With L = 10% the largest listed moves over
    # two sessions are 1.1^2 - 1 = +21% and 1 - 0.9^2 = -19%.
    def history(close_1008: float) -> PriceHistory:
        rows = list(ROWS)
        rows[3] = (D(2024, 10, 8), None, None, None, close_1008, None, 500, 500 * close_1008)
        rows[4] = (D(2024, 10, 9), None, None, None, close_1008, None, 10, 10 * close_1008)
        return PriceHistory.from_frame(_frame(rows), "SHEA")

    def breach(close_1008: float) -> bool:
        return bool(history(close_1008).flags.loc[D(2024, 10, 8), "limit_breach"])

    assert not breach(55.0 * 1.15)  # +15% over 2 days: within +21% (the old code flagged it)
    assert not breach(55.0 * 1.21)  # exactly at the compounded limit
    assert breach(55.0 * 1.22)
    assert not breach(55.0 * 0.85)  # -15% over 2 days: within -19%
    assert not breach(55.0 * 0.81)
    assert breach(55.0 * 0.80)


@pytest.mark.realdata
def test_real_shea_limit_breaches_across_gaps() -> None:
    # issue 9 item 6: 39 moves beyond ±10% on the real SHEA quotes, 11 of them within the limit
    # compounded over their gap of business days, so 28 remain.
    if not REAL_FILE.exists():
        pytest.skip(f"real SHEA quotes not available at {REAL_FILE}")
    h = PriceHistory.from_frame(pd.read_csv(REAL_FILE), "SHEA", strict=False)
    r = h.returns(kind="simple", per="trade")
    assert int((np.abs(r.values) > 0.10 + 1e-6).sum()) == 39  # the one-day test
    assert h.flag_counts()["limit_breach"] == 28


def test_quotes_flags_and_returns_are_read_only() -> None:
    # issue 9 item 13: a frozen result must not be changeable through its arrays or frames
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA")
    quotes = h.quotes
    quotes.loc[D(2024, 10, 8), "close"] = 1.0  # the caller's copy, not the history's
    quotes["extra"] = 1.0
    flags = h.flags
    flags.loc[D(2024, 10, 8), "limit_breach"] = True
    assert h.quotes.loc[D(2024, 10, 8), "close"] == 60.5
    assert "extra" not in h.quotes.columns
    assert not bool(h.flags.loc[D(2024, 10, 8), "limit_breach"])
    with pytest.raises(ValueError, match="read-only"):
        h.quotes["close"].to_numpy()[0] = 1.0
    r = h.returns()
    for array in (r.values, r.dates, r.gap_days):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[1]
    # the frame passed in does not share memory with the history
    frame = _frame(ROWS)
    h2 = PriceHistory.from_frame(frame, "SHEA")
    frame.loc[3, "close"] = 1.0
    assert h2.quotes.loc[D(2024, 10, 8), "close"] == 60.5
