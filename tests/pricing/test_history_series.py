"""PriceHistory, issue 9 items 17, 20, 21 and issue 10 item 2: stale marks and their flags, bad
ticks, series outside the engine's instruments, one calendar for the whole series."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from carbonfin._quantlib import business_days
from carbonfin.errors import (
    InvalidInputError,
    MissingDataError,
    ProvisionalCalendarWarning,
    StaleDataError,
    UnknownInstrumentError,
)
from carbonfin.pricing import PriceHistory
from carbonfin.rules import default_max_mark_age_days, market_rules
from tests.pricing.test_history import ROWS, _frame
from tests.realdata import REAL_SHEA

D = dt.date


# --- item 17: marks have a maximum age and state the flags of the quotes they use -----------


def test_a_mark_older_than_the_rules_allow_is_refused_naming_the_dates() -> None:
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA")  # last close 2024-10-11
    assert h.max_mark_age_days == market_rules()["SHEA"].max_mark_age_days == 20
    # the CLI case of the issue: a mark 13 years after the last close
    with pytest.raises(StaleDataError, match=r"2024-10-11, .* before 2040-01-01 \(limit 20\)"):
        h.mark(D(2040, 1, 1))
    # 20 SSE business days after 2024-10-11 is the last day allowed; the 21st is refused
    after = business_days(D(2024, 10, 12), D(2024, 12, 31))
    assert h.mark(after[19]).age_days == 20
    with pytest.raises(StaleDataError, match="21 business days before"):
        h.mark(after[20])
    assert h.mark(after[20], max_age_days=21).price_cny_per_t == 60.0  # overridable
    with pytest.warns(ProvisionalCalendarWarning, match="2027-2040 on the China.SEEE calendar"):
        assert h.mark(D(2040, 1, 1), max_age_days=10_000).last_date == D(2024, 10, 11)
    with pytest.raises(InvalidInputError, match="`max_age_days` must be an integer >= 0"):
        h.mark(after[0], max_age_days=-1)
    # a StaleDataError is still a MissingDataError for callers that catch the broader class
    assert issubclass(StaleDataError, MissingDataError)


def test_the_mark_states_the_flags_of_the_quotes_it_used() -> None:
    rows = [*ROWS, (D(2024, 10, 14), 60.0, 70.0, 60.0, 70.0, 66.0, 100, 6600.0)]  # +16.7%
    h = PriceHistory.from_frame(_frame(rows), "SHEA")
    m = h.mark(D(2024, 10, 14))
    assert m.price_cny_per_t == 70.0
    assert dict(m.flags) == {"limit_breach": (D(2024, 10, 14),)}
    assert "flagged limit_breach: 2024-10-14" in m.summary()
    with pytest.raises(TypeError):
        m.flags["stale"] = ()  # type: ignore[index]
    # skipping the flagged close falls back to the one before it
    clean = h.mark(D(2024, 10, 14), exclude=("limit_breach",))
    assert (clean.price_cny_per_t, clean.last_date, dict(clean.flags)) == (
        60.0,
        D(2024, 10, 11),
        {},
    )
    assert clean.excluded == ("limit_breach",)
    # a VWAP window lists every flagged day it averaged
    v = h.mark(D(2024, 10, 14), method="vwap", window_days=2)
    assert v.trade_days == 2
    assert dict(v.flags) == {"limit_breach": (D(2024, 10, 14),)}
    assert h.mark(D(2024, 10, 9)).flags == {}


# --- item 20: bad ticks ---------------------------------------------------------------------

# the case: a close of 5.11 beside a VWAP of 25.11, high and low missing
TICK_ROWS = [
    (D(2024, 3, 4), None, None, None, 25.00, 25.05, 1000, 25050.0),
    (D(2024, 3, 5), None, None, None, 25.20, 25.15, 1000, 25150.0),
    (D(2024, 3, 6), None, None, None, 5.11, 25.11, 1000, 25110.0),
    (D(2024, 3, 7), None, None, None, 25.30, 25.28, 1000, 25280.0),
    (D(2024, 3, 8), None, None, None, None, 25.40, 1000, 25400.0),  # a VWAP, no close
    (D(2024, 3, 11), None, None, None, 25.50, 25.45, 1000, 25450.0),
]


def test_a_close_far_from_the_vwap_is_a_suspect_print() -> None:
    h = PriceHistory.from_frame(_frame(TICK_ROWS), "SHEA")
    assert h.flags["suspect_print"].tolist() == [False, False, True, False, False, False]
    r = h.returns(per="trade")
    assert r.values.min() == pytest.approx(math.log(5.11 / 25.20))  # the −163% / +163% pair
    clean = h.returns(per="trade", exclude=("suspect_print",))
    assert (clean.n_dropped, clean.n_substituted, clean.excluded) == (1, 0, ("suspect_print",))
    # 03-05 -> 03-07 now spans 2 business days: ln(25.30 / 25.20)
    np.testing.assert_allclose(
        clean.values, np.log([25.20 / 25.00, 25.30 / 25.20, 25.50 / 25.30]), rtol=1e-12
    )
    assert list(clean.gap_days) == [1.0, 2.0, 2.0]
    assert "dropped 1 observation(s) flagged suspect_print" in clean.summary()
    # VWAP where there is no close: 03-08 is substituted
    mixed = h.returns(per="trade", price="close_else_vwap", exclude=("suspect_print",))
    assert (mixed.n_dropped, mixed.n_substituted) == (1, 1)
    assert mixed.values[-1] == pytest.approx(math.log(25.50 / 25.40))
    vwap = h.returns(per="trade", price="vwap")
    assert len(vwap) == 5
    assert vwap.n_substituted == 0
    assert vwap.price == "vwap"
    # the threshold is a parameter: 5.11 vs 25.11 is a 391% gap
    assert not PriceHistory.from_frame(_frame(TICK_ROWS), "SHEA", suspect_frac=4.0).flag_counts()[
        "suspect_print"
    ]
    with pytest.raises(InvalidInputError, match="unknown flags"):
        h.returns(exclude=("bad_tick",))
    with pytest.raises(InvalidInputError, match="`price` must be one of"):
        h.returns(price="open")  # type: ignore[arg-type]


def test_the_range_decides_whether_the_close_or_the_vwap_is_suspect() -> None:
    rows = list(TICK_ROWS)
    # the close 25.20 lies in the day's range, the VWAP 16.90 does not: the VWAP is the bad print
    rows[1] = (D(2024, 3, 5), 25.0, 25.5, 24.9, 25.20, 16.90, 1000, 16900.0)
    h = PriceHistory.from_frame(_frame(rows), "SHEA")
    assert bool(h.flags.loc[D(2024, 3, 5), "suspect_vwap"])
    assert not bool(h.flags.loc[D(2024, 3, 5), "suspect_print"])


@pytest.mark.realdata
def test_real_shea_suspect_prints() -> None:
    if not REAL_SHEA.exists():
        pytest.skip(f"real SHEA quotes not available at {REAL_SHEA}")
    h = PriceHistory.from_frame(pd.read_csv(REAL_SHEA), "SHEA", strict=False)
    flags = h.flags
    # 2019-06-28: close 23.64 beside a VWAP of 42.10 with the range 40.25-44.15
    assert list(flags.index[flags["suspect_print"]]) == [D(2019, 6, 28)]
    # VWAPs outside a range that holds the close: 63.60 (2019-10-10), 29.83 (2020-06-04),
    # 16.92 (2020-10-16)
    assert list(flags.index[flags["suspect_vwap"]]) == [
        D(2019, 10, 10),
        D(2020, 6, 4),
        D(2020, 10, 16),
    ]
    r = h.returns(per="trade", exclude=("suspect_print",))
    assert (len(r), r.n_dropped) == (991, 1)
    # the file leaves the volume empty on 476 rows: unknown, not zero
    counts = h.flag_counts()
    assert (counts["missing_volume"], counts["zero_volume"]) == (476, 0)


# --- item 21: series outside the engine's instruments ---------------------------------------


def _eua() -> pd.DataFrame:
    # weekdays 2025-04-14..2025-04-25 (Good Friday 04-18 and Easter Monday 04-21 are TARGET
    # holidays), no volume column, a +25% move (no limit in the EU ETS)
    dates = pd.bdate_range("2025-04-14", "2025-04-25").date
    close = [65.0, 66.0, 65.5, 66.2, None, None, 82.75, 80.0, 79.0, 78.5]
    return pd.DataFrame({"date": dates, "close": close, "vwap": close})


def test_a_series_with_its_own_name_calendar_and_no_limit() -> None:
    h = PriceHistory.from_frame(_eua(), name="EUA", calendar="TARGET", limit_frac=None,
                                currency="EUR")  # fmt: skip
    assert (h.name, h.instrument, h.limit_frac, h.calendar) == ("EUA", None, None, "TARGET")
    counts = h.flag_counts()
    assert counts["limit_breach"] == 0  # +25% is no breach without a limit
    assert counts["missing_volume"] == 10  # absent volume is unknown …
    assert counts["zero_volume"] == 0  # … not zero
    assert counts["non_business_day"] == 2  # Good Friday and Easter Monday rows
    r = h.returns(per="trade")
    assert r.name == "EUA"
    assert r.to_series().name == "EUA"
    # 04-17 -> 04-22 spans one TARGET business day (04-22): the Easter holidays do not count
    assert list(r.gap_days) == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert h.summary().startswith("EUA: 10 rows")
    assert "no price limit" in h.summary()
    m = h.mark(D(2025, 4, 25))
    assert (m.name, m.currency, m.price_per_t, m.instrument) == ("EUA", "EUR", 78.5, None)
    assert m.max_age_days == default_max_mark_age_days()
    assert "EUA mark on 2025-04-25: 78.5000 EUR/t" in m.summary()
    # the weekday calendar counts Good Friday and Easter Monday
    weekdays = PriceHistory.from_frame(_eua(), name="EUA", calendar="weekdays", limit_frac=None)
    assert list(weekdays.returns(per="trade").gap_days)[3] == 3.0
    assert weekdays.flag_counts()["non_business_day"] == 0


def test_a_series_without_a_calendar_counts_its_own_rows() -> None:
    h = PriceHistory.from_frame(_eua(), name="EUA", calendar=None, limit_frac=0.10)
    r = h.returns(per="trade")
    assert list(r.gap_days) == [1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0]  # two rows without a close
    assert h.flag_counts()["limit_breach"] == 0  # +25% over 3 sessions: within 1.1^3 - 1 = 33%
    assert h.flag_counts()["non_business_day"] == 0
    m = h.mark(D(2025, 4, 30))  # past the last row: rows, then weekdays (stated)
    assert m.age_days == 3
    assert any("weekdays" in note for note in m.notes)


def test_a_china_pilot_series_by_name_and_bad_settings() -> None:
    h = PriceHistory.from_frame(_frame(ROWS), name="HBEA", calendar="China.SSE", limit_frac=0.10)
    assert h.returns().name == "HBEA"
    assert list(h.returns().gap_days) == [1.0, 2.0, 1.0, 1.0, 1.0]  # the SSE holiday gap
    with pytest.raises(UnknownInstrumentError, match="pass `calendar` and `limit_frac`"):
        PriceHistory.from_frame(_frame(ROWS), name="HBEA")
    with pytest.raises(InvalidInputError, match=r"unknown calendar 'China\.XYZ'"):
        PriceHistory.from_frame(_frame(ROWS), name="HBEA", calendar="China.XYZ", limit_frac=None)
    with pytest.raises(InvalidInputError, match=r"`limit_frac` must be in \(0, 1\) or None"):
        PriceHistory.from_frame(_frame(ROWS), "SHEA", limit_frac=1.5)
    with pytest.raises(InvalidInputError, match=r"`instrument`.*or a `name`"):
        PriceHistory.from_frame(_frame(ROWS))
    with pytest.raises(InvalidInputError, match=r"`as_of` must be a datetime\.date"):
        h.mark("2024-10-08")  # type: ignore[arg-type]


# --- issue 10 item 2: one calendar for the gap-day count across the whole series ------------


def _closes_on(days: list[dt.date]) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    close = 60.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, len(days))))
    return pd.DataFrame({"date": days, "close": np.round(close, 2), "volume_t": 100.0,
                         "amount_cny": np.round(close, 2) * 100.0})  # fmt: skip


def test_a_series_into_2027_keeps_the_gap_days_of_its_2026_part() -> None:
    # every third SEEE business day from 2026-09-01; the 2026 part crosses National Day
    days_2026 = business_days(D(2026, 9, 1), D(2026, 12, 31), "China.SEEE")[::3]
    only_2026 = PriceHistory.from_frame(_closes_on(days_2026), "SHEA").returns()
    assert only_2026.provisional_years == ()
    # every gap is 3 business days, the one across National Day (10-01..10-08) too; the weekday
    # count the old code switched to for the whole series made that one 8
    assert set(only_2026.gap_days) == {3.0}
    # 2027: closes on 2027-01-05, 2027-02-03 and 2027-02-17, around Spring Festival (2027-02-06,
    # the lunar date the issue gives from an independent library)
    days_2027 = [D(2027, 1, 5), D(2027, 2, 3), D(2027, 2, 17)]
    both = PriceHistory.from_frame(_closes_on(days_2026 + days_2027), "SHEA")
    with pytest.warns(ProvisionalCalendarWarning, match="2027 on the China.SEEE calendar"):
        r = both.returns()
    n = len(only_2026)
    np.testing.assert_array_equal(r.gap_days[:n], only_2026.gap_days)
    assert r.provisional_years == (2027,)
    assert r.provisional
    assert "provisional for 2027" in r.summary()
    assert "provisional for 2027" in both.summary()
    # 02-03 -> 02-17 spans 10 weekdays; the projected Spring Festival closure takes some of them
    weekdays = int(np.busday_count(D(2027, 2, 4), D(2027, 2, 18)))
    assert weekdays == 10
    assert 1 <= r.gap_days[-1] < weekdays


@pytest.mark.parametrize("year", [2027, 2028, 2029, 2030], ids=str)
def test_returns_and_vwap_marks_in_provisional_years(year: int) -> None:
    days = [d.date() for d in pd.bdate_range(f"{year}-06-01", f"{year}-06-30")]
    h = PriceHistory.from_frame(_closes_on(days), "SHEA")
    with pytest.warns(ProvisionalCalendarWarning, match=f"{year}.*provisional"):
        r = h.returns()
    assert r.provisional_years == (year,)
    assert len(r) == len(days) - 1
    with pytest.warns(ProvisionalCalendarWarning, match="provisional"):
        m = h.mark(days[-1], method="vwap", window_days=5)
    assert (m.trade_days, m.provisional_years) == (5, (year,))
    assert "provisional" in m.summary()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.mark("2024-10-08"), r"`as_of` must be a datetime\.date"),
        (lambda h: h.mark(dt.datetime(2024, 10, 8)), r"`as_of` must be a datetime\.date"),
        (lambda h: h.between("2024-10-01"), r"`start` must be a datetime\.date"),
        (lambda h: h.returns(exclude=5), "`exclude` must be a flag name"),
        (lambda h: h.mark(D(2024, 10, 8), window_days=2.5), "`window_days` must be an integer"),
        (
            lambda h: PriceHistory.from_frame(_frame(ROWS), "SHEA", currency=5),
            "`currency` must be a currency code",
        ),
        (
            lambda h: PriceHistory.from_frame(
                _frame(
                    [(D(2012, 1, 4), 1, 1, 1, 1, 1, 1, 1.0), (D(2012, 1, 5), 1, 1, 1, 1, 1, 1, 1.0)]
                ),
                "SHEA",
            ),
            "covers 2013-01-01 to 2099-12-31",
        ),
    ],
    ids=[
        "as_of-str",
        "as_of-datetime",
        "between-str",
        "exclude-int",
        "window-float",
        "currency-int",
        "before-calendar-data",
    ],
)
def test_bad_arguments_raise_the_engines_error(
    call: Callable[[PriceHistory], object], message: str
) -> None:
    # issue 9 item 13: engine errors, not a bare TypeError/ValueError from numpy or pandas
    h = PriceHistory.from_frame(_frame(ROWS), "SHEA")
    with pytest.raises(InvalidInputError, match=message):
        call(h)
