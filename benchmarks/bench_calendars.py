"""China calendars: vectorised business-day counts and advances against a loop over QuantLib.

Gap days between 100,000 (start, end) pairs in 2013-2026 (the count a price history needs between
consecutive trade dates) and 100,000 advances by -10..10 business days, with
``carbonfin.calendars`` (one numpy call each) and with a Python loop over QuantLib's
``China.IB`` (``businessDaysBetween`` / ``advance``). The results are checked equal first. Also
times building the four calendars (State Council data + projection to 2099). Run:
``python benchmarks/bench_calendars.py`` (or ``make bench``).
"""

from __future__ import annotations

import time

import numpy as np

N = 100_000
REPEATS = 5


def _best(fn: object, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    t0 = time.perf_counter()
    from carbonfin import calendars

    for name in calendars.CALENDAR_NAMES:
        calendars.get_calendar(name)
    build = time.perf_counter() - t0
    print(f"build 4 calendars (2013-2099, incl. imports): {build:.2f} s")

    from carbonfin._quantlib import ql, quantlib_calendar

    cal = calendars.get_calendar("China.IB")
    qcal = quantlib_calendar("China.IB")
    rng = np.random.default_rng(0)
    starts = np.datetime64("2013-02-04") + rng.integers(0, 4950, N).astype("timedelta64[D]")
    ends = starts + rng.integers(1, 15, N).astype("timedelta64[D]")
    ends = np.minimum(ends, np.datetime64("2026-12-31"))
    steps = rng.integers(-10, 11, N)
    qs = [ql.Date(int(str(d)[8:10]), int(str(d)[5:7]), int(str(d)[:4])) for d in starts]
    qe = [ql.Date(int(str(d)[8:10]), int(str(d)[5:7]), int(str(d)[:4])) for d in ends]

    def ours_gap() -> np.ndarray:
        return cal.business_days_between_array(starts, ends, include_first=False, include_last=True)

    def ql_gap() -> list[int]:
        return [qcal.businessDaysBetween(a, b, False, True) for a, b in zip(qs, qe, strict=True)]

    def ours_adv() -> np.ndarray:
        return cal.advance_array(starts, steps)

    def ql_adv() -> list[object]:
        return [qcal.advance(a, ql.Period(int(n), ql.Days)) for a, n in zip(qs, steps, strict=True)]

    assert list(ours_gap()) == ql_gap()
    adv = ours_adv()
    qadv = ql_adv()
    assert all(
        str(a) == f"{b.year():04d}-{b.month():02d}-{b.dayOfMonth():02d}"  # type: ignore[attr-defined]
        for a, b in zip(adv, qadv, strict=True)
    )
    for label, ours, theirs in (
        ("gap days (business_days_between_array)", ours_gap, ql_gap),
        ("advance (advance_array)", ours_adv, ql_adv),
    ):
        t_ours = _best(ours)
        t_ql = _best(theirs, 2)
        print(
            f"{label:42s} {N:,} pairs: carbonfin {t_ours * 1e3:7.1f} ms "
            f"({N / t_ours / 1e6:5.1f} M/s) | QuantLib loop {t_ql * 1e3:7.1f} ms "
            f"| ratio {t_ql / t_ours:5.1f}x"
        )


if __name__ == "__main__":
    main()
