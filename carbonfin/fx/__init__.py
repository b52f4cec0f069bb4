"""FX and cross-border RMB participation: fixings and conversion, China calendars and spot dates,
CIP forwards, participant eligibility and the currency-mismatch haircut."""

from __future__ import annotations

from carbonfin.fx.calendars import Pair, is_joint_business_day, spot_date
from carbonfin.fx.eligibility import EligibilityDecision, Participant, evaluate
from carbonfin.fx.forwards import ForwardQuote, forward_points, forward_rate
from carbonfin.fx.haircut import FxHaircut, currency_mismatch_haircut, scale_haircut
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
    "FxHaircut",
    "Pair",
    "Participant",
    "RateQuote",
    "RateStore",
    "check_pairs",
    "convert",
    "currency_mismatch_haircut",
    "evaluate",
    "forward_points",
    "forward_rate",
    "is_joint_business_day",
    "round_money",
    "scale_haircut",
    "settlement_currency",
    "spot_date",
]
