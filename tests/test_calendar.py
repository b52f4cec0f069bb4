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
