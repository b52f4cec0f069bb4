"""Provisional China holiday schedules for years whose State Council notice is not on file.

The statutory days come from 全国年节及纪念日放假办法 as revised by 国务院令第795号 (2024-11-10, in
force 2025-01-01): New Year 1 day, Spring Festival 4 days (除夕 and 正月初一 to 初三), Qingming 1,
Labour Day 2 (1-2 May), Dragon Boat 1, Mid-Autumn 1, National Day 3 (1-3 October). Their lunar
and solar-term dates come from the ``holidays`` library (vacanza/holidays), not from astronomy
written here.

The days off around them follow the 调休 principles the State Council published with that
revision ("除个别特殊情形外，春节自农历除夕起，放假调休8天；国庆节自10月1日起，放假调休7天；劳动节
放假调休5天；元旦、清明节、端午节、中秋节分别放假调休或连休3天（如逢周三，则只在当日放假；国庆节
放假如逢中秋节，则合并放假8天）"):

- Spring Festival: 8 days from 除夕 (除夕 to 正月初七);
- National Day: 1-7 October; merged with Mid-Autumn into 8 days when Mid-Autumn falls on
  1-7 October (then 1-8 October) or on 28-30 September (then 8 days from Mid-Autumn);
- Labour Day: 1-5 May;
- New Year, Qingming, Dragon Boat, Mid-Autumn: 3 days with the weekend, so the weekdays off are
  Monday→Mon, Tuesday→Mon+Tue, Wednesday→Wed only, Thursday→Thu+Fri, Friday→Fri,
  Saturday/Sunday→the following Monday.

The weekend days that the notice will declare working days are not projected: a provisional year
has none, so ``China.IB`` equals the exchange calendars there (conservative: fewer business
days). Applied to 2025 and 2026, these rules give exactly the published weekday closures (tested).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from carbonfin._china_schedule import Holiday, Notice, YearSchedule
from carbonfin.errors import DataIntegrityError

__all__ = ["PROJECTION_NOTICE", "project_year", "statutory_days"]

_D = dt.timedelta

#: The rule a provisional year follows, cited in place of a notice.
PROJECTION_NOTICE = Notice(
    title=(
        "provisional projection: 全国年节及纪念日放假办法 (国务院令第795号, 2024-11-10) statutory "
        "days, lunar dates from the `holidays` library, and the State Council's 2024 调休 "
        "principles"
    ),
    number="国务院令第795号",
    date=dt.date(2024, 11, 10),
    url="https://www.gov.cn/gongbao/2024/issue_11726/202411/content_6989774.html",
    note="no State Council notice for this year is on file; weekend working days not projected",
)

# English names the `holidays` library gives the statutory days (language="en_US").
_EVE = "Chinese New Year's Eve"
_NEW_YEAR_LUNAR = "Chinese New Year (Spring Festival)"
_QINGMING = "Tomb-Sweeping Day"
_DRAGON = "Dragon Boat Festival"
_MID_AUTUMN = "Mid-Autumn Festival"


@cache
def statutory_days(year: int) -> dict[str, tuple[dt.date, ...]]:
    """The statutory days of ``year`` by English name, from the ``holidays`` library."""
    import holidays  # a runtime dependency; imported here to keep module import cheap

    cal = holidays.country_holidays("CN", years=year, observed=False, language="en_US")
    out: dict[str, list[dt.date]] = {}
    for day, names in cal.items():
        for raw in str(names).split("; "):
            name = raw.replace(" (estimated)", "")
            out.setdefault(name, []).append(day)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _one_day_block(day: dt.date) -> tuple[dt.date, ...]:
    """Days off for a 1-day statutory holiday under the 3-day rule (weekend days included)."""
    wd = day.weekday()
    if wd == 0:  # Monday: Sat-Mon
        return (day - _D(2), day - _D(1), day)
    if wd == 1:  # Tuesday: Sun-Tue (Monday bridged)
        return (day - _D(2), day - _D(1), day)
    if wd == 2:  # Wednesday: that day only
        return (day,)
    if wd == 3:  # Thursday: Thu-Sat (Friday bridged)
        return (day, day + _D(1), day + _D(2))
    if wd == 4:  # Friday: Fri-Sun
        return (day, day + _D(1), day + _D(2))
    if wd == 5:  # Saturday: Sat-Mon
        return (day, day + _D(1), day + _D(2))
    return (day - _D(1), day, day + _D(1))  # Sunday: Sat-Mon


def _span(first: dt.date, n: int) -> tuple[dt.date, ...]:
    return tuple(first + _D(i) for i in range(n))


def project_year(year: int, *, last_published: int) -> YearSchedule:
    """The provisional schedule of ``year`` (see the module notes)."""
    stat = statutory_days(year)
    eve = stat[_EVE][0]
    qingming = stat[_QINGMING][0]
    dragon = stat[_DRAGON][0]
    mid_autumn = stat[_MID_AUTUMN][0]
    if year < 2025 or stat[_NEW_YEAR_LUNAR][0] != eve + _D(1):
        raise DataIntegrityError(
            f"cannot project {year}: the projection follows the 2025 statutory schedule and needs "
            f"除夕 the day before 正月初一 (holidays library gave {stat.get(_EVE)})"
        )
    oct1 = dt.date(year, 10, 1)
    periods: list[tuple[str, str, tuple[dt.date, ...]]]
    if oct1 <= mid_autumn <= oct1 + _D(6):
        national = ("中秋节、国庆节", "Mid-Autumn Festival and National Day", _span(oct1, 8))
        periods = []
    elif oct1 - _D(3) <= mid_autumn < oct1:
        national = ("中秋节、国庆节", "Mid-Autumn Festival and National Day", _span(mid_autumn, 8))
        periods = []
    else:
        national = ("国庆节", "National Day", _span(oct1, 7))
        periods = [("中秋节", "Mid-Autumn Festival", _one_day_block(mid_autumn))]
    periods = [
        ("元旦", "New Year's Day", _one_day_block(dt.date(year, 1, 1))),
        ("春节", "Spring Festival", _span(eve, 8)),
        ("清明节", "Qingming Festival", _one_day_block(qingming)),
        ("劳动节", "Labour Day", _span(dt.date(year, 5, 1), 5)),
        ("端午节", "Dragon Boat Festival", _one_day_block(dragon)),
        *periods,
        national,
    ]
    holidays_ = tuple(Holiday(n, en, days, (), PROJECTION_NOTICE) for n, en, days in periods)
    note = (
        f"No State Council notice for {year} is on file (last published: {last_published}); "
        f"this schedule is projected and may differ from the notice when it is published."
    )
    return YearSchedule(year, True, (PROJECTION_NOTICE,), holidays_, (), note)
