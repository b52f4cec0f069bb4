"""FX and cross-border RMB participation: fixings and conversion, China calendars and spot dates,
CIP forwards and participant eligibility. (The currency-mismatch haircut is a collateral haircut
component: :mod:`carbonfin.collateral.currency`.)"""

from __future__ import annotations

from carbonfin.conventions import MoneyMarketRate
from carbonfin.fx.calendars import (
    Pair,
    is_joint_business_day,
    modified_following,
    spot_date,
    spot_lag,
    tenor_end,
)
from carbonfin.fx.eligibility import EligibilityDecision, Participant, evaluate
from carbonfin.fx.forwards import ForwardQuote, LegDiscount, forward_points, forward_rate
from carbonfin.fx.rates import (
    DECIMAL_CONTEXT,
    Conversion,
    RateLeg,
    RateQuote,
    RateStore,
    check_pairs,
    convert,
    round_money,
    settlement_currency,
)

__all__ = [
    "DECIMAL_CONTEXT",
    "Conversion",
    "EligibilityDecision",
    "ForwardQuote",
    "LegDiscount",
    "MoneyMarketRate",
    "Pair",
    "Participant",
    "RateLeg",
    "RateQuote",
    "RateStore",
    "check_pairs",
    "convert",
    "evaluate",
    "forward_points",
    "forward_rate",
    "is_joint_business_day",
    "modified_following",
    "round_money",
    "settlement_currency",
    "spot_date",
    "spot_lag",
    "tenor_end",
]
