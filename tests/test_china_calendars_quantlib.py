"""carbonfin.calendars against QuantLib's own China calendars, for every year both cover, and the
QuantLib adapter's BespokeCalendar copies against carbonfin.calendars."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from carbonfin import _quantlib
from carbonfin._quantlib import ql, quantlib_calendar, to_ql_date
from carbonfin.calendars import FIRST_YEAR, get_calendar, last_published_year

D = dt.date


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(i) for i in range((last - first).days + 1)]


def _quantlib_last_china_year() -> int:
    """Last year in which QuantLib's China.SSE knows a holiday besides 1 January (from 2027 on,
    QuantLib 1.44 knows only New Year)."""
    cal = quantlib_calendar("China.SSE")
    year = FIRST_YEAR
    while True:
        nxt = year + 1
        closed = [
            d
            for d in _days(D(nxt, 1, 2), D(nxt, 12, 31))
            if d.weekday() < 5 and not cal.isBusinessDay(to_ql_date(d))
        ]
        if not closed:
            return year
        year = nxt


COVERED_LAST = min(_quantlib_last_china_year(), last_published_year())


def test_quantlib_covers_2026_from_the_version_floor() -> None:
    # pyproject pins QuantLib>=1.42: earlier releases treat 2026-02-17 (Spring Festival) as an SSE
    # business day (issue 10). This fails on such a release.
    assert COVERED_LAST >= 2026
    assert not quantlib_calendar("China.SSE").isBusinessDay(ql.Date(17, 2, 2026))


@pytest.mark.parametrize("name", ["China.SSE", "China.IB"])
def test_quantlib_china_agrees_on_every_covered_year(name: str) -> None:
    ours = get_calendar(name)
    theirs = quantlib_calendar(name)
    days = _days(D(FIRST_YEAR, 1, 1), D(COVERED_LAST, 12, 31))
    mine = ours.is_business_day_array(days)
    qls = np.array([theirs.isBusinessDay(to_ql_date(d)) for d in days])
    diff = [d for d, a, b in zip(days, mine, qls, strict=True) if a != b]
    assert diff == []


@pytest.mark.parametrize("name", ["China.SEEE", "China.CEA"])
def test_carbon_exchanges_differ_from_sse_only_on_its_own_closure(name: str) -> None:
    # The SSE closed on 除夕 2024 (Fri 9 Feb), a State Council working day; no SEEE notice on file.
    days = _days(D(FIRST_YEAR, 1, 1), D(COVERED_LAST, 12, 31))
    ours = get_calendar(name).is_business_day_array(days)
    sse = get_calendar("China.SSE").is_business_day_array(days)
    assert [d for d, a, b in zip(days, ours, sse, strict=True) if a != b] == [D(2024, 2, 9)]


@pytest.mark.parametrize("name", ["China.SSE", "China.SEEE", "China.CEA", "China.IB"])
def test_adapter_bespoke_calendar_is_a_copy_of_ours(name: str) -> None:
    bespoke = _quantlib.calendar(name)
    days = _days(D(2013, 1, 1), D(2031, 12, 31))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = get_calendar(name).is_business_day_array(days)
    theirs = [bespoke.isBusinessDay(to_ql_date(d)) for d in days]
    assert list(ours) == theirs


def test_advance_and_between_match_quantlib() -> None:
    rng = np.random.default_rng(7)
    theirs = quantlib_calendar("China.IB")
    ours = get_calendar("China.IB")
    span = (D(COVERED_LAST, 12, 1) - D(2013, 2, 1)).days
    for _ in range(400):
        a = D(2013, 2, 1) + dt.timedelta(int(rng.integers(span)))
        b = a + dt.timedelta(int(rng.integers(-40, 40)))
        n = int(rng.integers(-12, 13))
        assert ours.advance(a, n) == _quantlib.from_ql_date(
            theirs.advance(to_ql_date(a), ql.Period(n, ql.Days))
        )
        for first, last in ((True, False), (False, True), (True, True), (False, False)):
            assert ours.business_days_between(
                a, b, include_first=first, include_last=last
            ) == theirs.businessDaysBetween(to_ql_date(a), to_ql_date(b), first, last)
        for conv, qconv in (
            ("following", ql.Following),
            ("modified_following", ql.ModifiedFollowing),
            ("preceding", ql.Preceding),
            ("modified_preceding", ql.ModifiedPreceding),
        ):
            assert ours.adjust(a, conv) == _quantlib.from_ql_date(
                theirs.adjust(to_ql_date(a), qconv)
            )


def test_curve_pillars_roll_on_our_calendar_and_say_when_provisional() -> None:
    # FR007-style deposit (T+1) traded Thu 5 Nov 2026: 3M from Fri 6 Nov 2026 is Sat 6 Feb 2027,
    # inside the projected 2027 Spring Festival (除夕 5 Feb to 正月初七 12 Feb), so Modified
    # Following rolls it to Mon 15 Feb 2027. QuantLib's own China.IB (which knows only 1 January
    # after 2026) would roll to Mon 8 Feb.
    from carbonfin.errors import ProvisionalCalendarWarning
    from carbonfin.pricing import bootstrap_curve

    assert _quantlib.from_ql_date(
        quantlib_calendar("China.IB").adjust(ql.Date(6, 2, 2027), ql.ModifiedFollowing)
    ) == D(2027, 2, 8)
    with pytest.warns(ProvisionalCalendarWarning, match=r"pillar dates 2027-02-15"):
        curve = bootstrap_curve(D(2026, 11, 5), {"3M": 0.016}, convention="FR007")
    assert curve.times[-1] == pytest.approx((D(2027, 2, 15) - D(2026, 11, 5)).days / 365.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_curve(D(2026, 3, 2), {"1M": 0.016, "3M": 0.017}, convention="FR007")
