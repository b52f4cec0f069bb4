"""The QuantLib adapter's calendar helpers (China calendars delegate to carbonfin.calendars)."""

from __future__ import annotations

import datetime as dt

import pytest

from carbonfin._quantlib import advance, business_days, evaluation_date, is_business_day
from carbonfin.errors import InvalidInputError, ProvisionalCalendarWarning

D = dt.date


def test_national_day_2024_closes_the_exchange() -> None:
    # 国办发明电〔2023〕7号: National Day holiday 1-7 October 2024.
    week = business_days(D(2024, 9, 30), D(2024, 10, 8))
    assert week == [D(2024, 9, 30), D(2024, 10, 8)]


def test_official_weekend_working_days_are_interbank_but_not_exchange_days() -> None:
    # 2024 Spring Festival: 10-17 February off, Sunday 18 February a working day (调休).
    assert not is_business_day(D(2024, 2, 12))
    assert not is_business_day(D(2024, 2, 18), "China.SSE")
    assert is_business_day(D(2024, 2, 18), "China.IB")


def test_first_national_ets_trading_day() -> None:
    assert is_business_day(D(2021, 7, 16))  # CEA first trade, a Friday
    assert advance(D(2024, 9, 30), 1) == D(2024, 10, 8)


def test_dates_after_the_last_published_year_are_answered_provisionally() -> None:
    # issue 10: these raised "beyond the holiday data" (QuantLib knows China only to 2026).
    # 2027-02-10 is 正月初五, inside the projected Spring Festival (除夕 5 Feb + 8 days).
    with pytest.warns(ProvisionalCalendarWarning, match=r"China\.SSE: 2027"):
        assert not is_business_day(D(2027, 2, 10))
    with pytest.warns(ProvisionalCalendarWarning):
        assert advance(D(2027, 2, 4), 1) == D(2027, 2, 15)


def test_bad_calendar_input() -> None:
    with pytest.raises(InvalidInputError, match="before"):
        business_days(D(2024, 2, 1), D(2024, 1, 1))
    with pytest.raises(InvalidInputError, match="unknown calendar"):
        is_business_day(D(2024, 1, 2), "Mars")


def test_evaluation_date_is_restored() -> None:
    from carbonfin._quantlib import ql

    before = ql.Settings.instance().evaluationDate
    with evaluation_date(D(2024, 5, 6)) as inside:
        assert inside == ql.Date(6, 5, 2024)
    assert ql.Settings.instance().evaluationDate == before


def test_evaluation_date_is_serialised_across_threads() -> None:
    # issue 9 item 12: QuantLib's evaluation date is one global; without the lock, threads valued
    # with each other's date (this test failed on the unguarded context manager).
    import math
    import threading
    import time

    from carbonfin._quantlib import ql, to_ql_date

    target = D(2030, 1, 1)
    results: dict[int, list[float]] = {}
    errors: list[BaseException] = []

    def value(i: int) -> None:
        today = D(2026, 1, 5) + dt.timedelta(days=30 * i)
        out = []
        try:
            for _ in range(5):
                with evaluation_date(today):
                    time.sleep(0.002)  # let the other threads try to move the global date
                    curve = ql.FlatForward(0, ql.NullCalendar(), 0.05, ql.Actual365Fixed())
                    out.append(curve.discount(to_ql_date(target)))
                    assert ql.Settings.instance().evaluationDate == to_ql_date(today)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)
        results[i] = out

    threads = [threading.Thread(target=value, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, got in results.items():
        today = D(2026, 1, 5) + dt.timedelta(days=30 * i)
        # continuous compounding at 5% from each thread's own date, ACT/365F written out
        expected = math.exp(-0.05 * (target - today).days / 365.0)
        assert got == pytest.approx([expected] * 5, rel=1e-12)


def test_evaluation_date_blocks_nest_in_one_thread() -> None:
    from carbonfin._quantlib import ql

    with evaluation_date(D(2026, 3, 2)), evaluation_date(D(2026, 3, 3)) as inner:
        assert inner == ql.Date(3, 3, 2026)
    with evaluation_date(D(2026, 3, 2)) as outer:
        with evaluation_date(D(2026, 3, 3)):
            pass
        assert ql.Settings.instance().evaluationDate == outer
