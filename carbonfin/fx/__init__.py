"""FX and cross-border RMB participation: fixings and conversion, China calendars and spot dates,
CIP forwards and participant eligibility. (The currency-mismatch haircut is a collateral haircut
component: :mod:`carbonfin.collateral.currency`.)"""

from __future__ import annotations

from carbonfin.fx.calendars import Pair, is_joint_business_day, spot_date
from carbonfin.fx.eligibility import EligibilityDecision, Participant, evaluate
from carbonfin.fx.forwards import ForwardQuote, forward_points, forward_rate
from carbonfin.fx.rates import (
    Conversion,
    RateQuote,
    RateStore,
    check_pairs,
    convert,
    round_money,
    settlement_currency,
)

__all__ = [
    "Conversion",
    "EligibilityDecision",
    "ForwardQuote",
    "Pair",
    "Participant",
    "RateQuote",
    "RateStore",
    "check_pairs",
    "convert",
    "evaluate",
    "forward_points",
    "forward_rate",
    "is_joint_business_day",
    "round_money",
    "settlement_currency",
    "spot_date",
]
