"""Pricing's adapter to QuantLib: curve bootstrapping and American options.

Everything QuantLib-specific stays here; callers get plain floats, dates and tuples. QuantLib's
global evaluation date is only changed inside :func:`carbonfin._quantlib.evaluation_date`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence

from carbonfin import calendars as china
from carbonfin._quantlib import (
    calendar,
    day_counter,
    evaluation_date,
    from_ql_date,
    ql,
    to_ql_date,
)
from carbonfin.conventions import DayCount
from carbonfin.errors import InvalidInputError, ProvisionalCalendarWarning


def _period(tenor: str) -> object:
    try:
        return ql.Period(tenor.strip().upper())
    except (RuntimeError, TypeError, AttributeError):
        raise InvalidInputError(
            f"malformed tenor {tenor!r}; expected e.g. 'ON', '1W', '3M', '1Y'"
        ) from None


def deposit_curve_nodes(
    as_of: dt.date,
    quotes: Sequence[tuple[str, float]],
    *,
    calendar_name: str,
    day_count: DayCount,
    settlement_days: int,
) -> list[tuple[dt.date, float]]:
    """Bootstrap a log-linear discount curve from deposit (money-market) quotes.

    Returns the curve's nodes ``(date, discount factor)``, the first being ``as_of`` with 1.0.
    """
    cal = calendar(calendar_name)
    dc = day_counter(day_count)
    helpers = []
    for tenor, rate in quotes:
        period = ql.Period(1, ql.Days) if tenor.strip().upper() in ("ON", "O/N") else _period(tenor)
        helpers.append(
            ql.DepositRateHelper(
                ql.QuoteHandle(ql.SimpleQuote(rate)),
                period,
                settlement_days,
                cal,
                ql.ModifiedFollowing,
                False,
                dc,
            )
        )
    with evaluation_date(as_of):
        axis = day_counter(DayCount.ACT_365F)  # the curve time axis, as DiscountCurve.times
        curve = ql.PiecewiseLogLinearDiscount(to_ql_date(as_of), helpers, axis)
        try:
            nodes = [(from_ql_date(d), float(v)) for d, v in curve.nodes()]
        except RuntimeError as exc:
            raise InvalidInputError(f"the deposit curve could not be bootstrapped: {exc}") from None
    if calendar_name in china.CALENDAR_RULES:
        late = [d for d, _ in nodes if china.is_provisional(d)]
        if late:
            warnings.warn(
                f"deposit curve on {calendar_name}: pillar dates {late[0].isoformat()} to "
                f"{late[-1].isoformat()} were rolled on a provisional calendar (no State Council "
                f"holiday notice on file after {china.last_published_year()})",
                ProvisionalCalendarWarning,
                stacklevel=3,
            )
    return nodes


def american_vanilla(
    spot: float,
    strike: float,
    expiry_days: int,
    vol: float,
    rate: float,
    dividend_yield: float,
    call: bool,
    method: str,
    steps: int,
) -> tuple[float, float]:
    """(American price, European price) of a vanilla option on a spot asset with a yield.

    Flat continuously compounded curves on ACT/365F; ``method`` is ``"baw"`` (Barone-Adesi and
    Whaley 1987) or ``"binomial"`` (Cox-Ross-Rubinstein tree with ``steps`` steps).
    """
    today = dt.date(2000, 1, 3)  # any date: only the day count to expiry matters
    with evaluation_date(today):
        ref = to_ql_date(today)
        dc = day_counter(DayCount.ACT_365F)
        maturity = ref + expiry_days
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(spot)),
            ql.YieldTermStructureHandle(ql.FlatForward(ref, dividend_yield, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(ref, rate, dc)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(ref, ql.NullCalendar(), vol, dc)),
        )
        american = ql.VanillaOption(payoff, ql.AmericanExercise(ref, maturity))
        if method == "baw":
            american.setPricingEngine(ql.BaroneAdesiWhaleyApproximationEngine(process))
        else:
            american.setPricingEngine(ql.BinomialVanillaEngine(process, "crr", steps))
        european = ql.VanillaOption(payoff, ql.EuropeanExercise(maturity))
        european.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        return float(american.NPV()), float(european.NPV())
