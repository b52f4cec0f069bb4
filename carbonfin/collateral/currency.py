"""Currency-mismatch haircut: a component of the collateral haircut when the loan and the
collateral are in different currencies (moved here from ``carbonfin.fx``; the
``carbonfin fx haircut`` command calls it from here).

Supervisory: Basel's ``H_fx = 8%`` for a 10-business-day holding period with daily
marking to market (Basel II, 2006, §151-153; Basel Framework CRE22.54), scaled to the
transaction's minimum holding period ``T_M`` and remargining/revaluation interval ``N_R`` by the
square-root-of-time formula used for all collateral haircuts (Basel II §168; CRE22.57):

``H = H_10 · sqrt((N_R + T_M − 1) / 10)`` — :func:`carbonfin.collateral.scaling.scale_haircut`
with a base period of 10 days, the engine's only copy of the formula

(secured lending: ``T_M`` = 20 business days; repo-style: 5; other capital-market: 10).

Own estimate: the same scaling applied to ``H_10 = z_q · σ_daily · sqrt(10)`` from the pair's
own daily log-return volatility at confidence ``q`` (Basel requires 99% one-tailed for own
estimates, CRE22.60-61).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from carbonfin.collateral.scaling import scale_haircut
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Currency

__all__ = ["SUPERVISORY_FX_HAIRCUT_10D", "FxHaircut", "currency_mismatch_haircut"]

#: Basel supervisory haircut for a currency mismatch, 10-business-day holding period.
SUPERVISORY_FX_HAIRCUT_10D = 0.08


@dataclass(frozen=True, slots=True)
class FxHaircut:
    """The haircut and how it was built."""

    loan_currency: Currency
    collateral_currency: Currency
    haircut_frac: float
    h10: float
    holding_days: int
    remargin_days: int
    method: str
    source: str


def currency_mismatch_haircut(
    loan_currency: Currency | str,
    collateral_currency: Currency | str,
    *,
    holding_days: int = 10,
    remargin_days: int = 1,
    daily_log_returns: np.ndarray | None = None,
    confidence: float = 0.99,
) -> FxHaircut:
    """Haircut for a currency mismatch between loan and collateral (0 when they match).

    CNY and CNH are the same legal currency but trade at different rates: a CNY loan against
    CNH-denominated collateral carries the CNY/CNH basis, so they count as a mismatch.
    With ``daily_log_returns`` of the pair, the own-estimate method is used.
    """
    loan, coll = Currency.parse(loan_currency), Currency.parse(collateral_currency)
    for name, value in (("holding_days", holding_days), ("remargin_days", remargin_days)):
        if not (isinstance(value, int) and value >= 1):
            raise InvalidInputError(f"`{name}` must be an integer >= 1; got {value!r}")
    if loan == coll:
        return FxHaircut(loan, coll, 0.0, 0.0, holding_days, remargin_days, "no mismatch", "")
    if daily_log_returns is None:
        h10 = SUPERVISORY_FX_HAIRCUT_10D
        method = "supervisory 8% (10 business days)"
        source = "Basel II §151-153, §168; Basel Framework CRE22.54, CRE22.57"
    else:
        r = np.asarray(daily_log_returns, dtype=float)
        if r.ndim != 1 or len(r) < 250 or not np.isfinite(r).all():
            raise InvalidInputError(
                "own estimates need at least 250 finite daily returns (CRE22.61)"
            )
        if not 0.5 < confidence < 1:
            raise InvalidInputError(f"`confidence` must be in (0.5, 1); got {confidence!r}")
        sigma = float(np.std(r, ddof=1))
        h10 = min(float(norm.ppf(confidence)) * sigma * math.sqrt(10.0), 0.999)
        method = f"own estimate: z({confidence:.0%}) x daily vol {sigma:.4%} x sqrt(10)"
        source = "Basel Framework CRE22.60-61 (own estimates, 99% one-tailed), CRE22.57 (scaling)"
    h = scale_haircut(h10, 10, holding_days, remargin_days)
    return FxHaircut(loan, coll, min(h, 0.999), h10, holding_days, remargin_days, method, source)
