"""Haircuts on pledged allowances, with their breakdown.

:func:`haircut` answers for one pledge; :func:`haircut_components` for any number of pledges of
one instrument at once (a loan book), from one :class:`MarketRiskProfile` (models fitted once per
instrument and date). Both use only quotes on or before ``as_of``.

The combination rule
--------------------
The haircut is additive in its components, as Basel's comprehensive approach adds the
currency-mismatch haircut to the collateral haircut (CRE22.40: ``C·(1 − H_c − H_fx)``):

``raw = market + anti_procyclicality + liquidation + concentration + currency + wrong_way
+ data_quality``

``total = min(1, min(cap, max(floor, raw)))`` — the policy floor and cap are optional; the haircut
never exceeds 100% of value. The difference ``total − raw`` is reported as the ``policy_bounds``
component, so the listed components always add up to ``total``.

market
    ``scale_haircut(H, T_M, T_M, N_R)``: the model's haircut ``H`` over the minimum holding
    period ``T_M`` (see :mod:`carbonfin.collateral.market_risk`), adjusted for remargining every
    ``N_R`` days (CRE22.57).
anti_procyclicality
    the same with the anti-procyclicality measure ``H_apc`` in place of ``H``, minus market.
liquidation
    ``"schedule"`` (default): the position is sold at ``participation × ADV`` a day, so it takes
    ``T_L = max(T_M, ceil(quantity / (participation × ADV)))`` business days (capped at the
    policy's longest schedule); the component is ``scale_haircut(H_apc, T_M, T_L, N_R)`` minus
    the two above. Holding the whole position for ``T_L`` is conservative: a gradual sale would
    leave a shrinking position, offset here by ignoring price impact. ``"block"``: the whole
    position is sold in one block agreement trade after ``T_M`` days at up to the block-trade
    price limit below market: ``block_frac × (1 − market − anti_procyclicality)``.
concentration
    ``slope × (share − threshold)`` above the threshold, for the share of one year of the
    market's volume and for the share of the bank's book in the instrument, summed and capped.
currency
    Basel's supervisory 8% at 10 days, ``scale_haircut(0.08, 10, T_L, N_R)``, when the loan's
    currency differs from the collateral's (CRE22.54); zero otherwise.
wrong_way
    a fraction of market + anti-procyclicality + liquidation when the pledgor is a covered
    emitter whose own allowance demand is tied to the pledge.
data_quality
    the explicit add-on for a stale mark, thin trading or few returns (never a silent failure).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from carbonfin.collateral.currency import SUPERVISORY_FX_HAIRCUT_10D
from carbonfin.collateral.market_risk import (
    DEFAULT_MODEL,
    ApcMethod,
    MarketRiskProfile,
    Measure,
    Model,
    market_risk_profile,
)
from carbonfin.collateral.policy import CollateralPolicy
from carbonfin.collateral.scaling import scale_haircut
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Currency, Instrument
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "COMPONENTS",
    "HaircutArrays",
    "HaircutBreakdown",
    "HaircutComponent",
    "haircut",
    "haircut_components",
]

COMPONENTS = (
    "market",
    "anti_procyclicality",
    "liquidation",
    "concentration",
    "currency",
    "wrong_way",
    "data_quality",
    "policy_bounds",
)
Liquidation = Literal["schedule", "block"]


@dataclass(frozen=True, slots=True, eq=False)
class HaircutArrays:
    """Haircut components of many pledges of one instrument (read-only arrays, one per name in
    :data:`COMPONENTS`, plus ``total``, ``liquidation_days`` and ``market_share``)."""

    market: np.ndarray
    anti_procyclicality: np.ndarray
    liquidation: np.ndarray
    concentration: np.ndarray
    currency: np.ndarray
    wrong_way: np.ndarray
    data_quality: np.ndarray
    policy_bounds: np.ndarray
    total: np.ndarray
    liquidation_days: np.ndarray
    market_share: np.ndarray

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).flags.writeable = False


def _as_array(name: str, value: Any, n: int, dtype: Any = float) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        arr = np.full(n, arr.item(), dtype=dtype)
    if arr.shape != (n,):
        raise InvalidInputError(f"`{name}` must be a scalar or have shape ({n},); got {arr.shape}")
    return arr


def _check_bounds(floor_frac: float | None, cap_frac: float | None) -> None:
    for name, value in (("floor_frac", floor_frac), ("cap_frac", cap_frac)):
        if value is not None and not (0.0 <= value <= 1.0):
            raise InvalidInputError(f"`{name}` must be in [0, 1]; got {value!r}")
    if floor_frac is not None and cap_frac is not None and floor_frac > cap_frac:
        raise InvalidInputError(f"`floor_frac` {floor_frac} is above `cap_frac` {cap_frac}")


def haircut_components(
    profile: MarketRiskProfile,
    quantity_t: float | np.ndarray,
    *,
    loan_currency_mismatch: bool | np.ndarray = False,
    pledgor_covered: bool | np.ndarray = False,
    book_share: float | np.ndarray = 0.0,
    liquidation: Liquidation = "schedule",
    floor_frac: float | None = None,
    cap_frac: float | None = None,
) -> HaircutArrays:
    """Haircut components of pledges of ``quantity_t`` tonnes (vectorised; see module notes).

    ``loan_currency_mismatch``, ``pledgor_covered`` and ``book_share`` (the pledge's share of the
    bank's collateral in the instrument, in [0, 1]) are scalars or one value per pledge.
    """
    q = np.atleast_1d(np.asarray(quantity_t, dtype=float))
    if q.ndim != 1:
        raise InvalidInputError(f"`quantity_t` must be one-dimensional; got shape {q.shape}")
    bad = ~(np.isfinite(q) & (q > 0))
    if bad.any():
        raise InvalidInputError(
            f"`quantity_t` must be finite and > 0; got {float(q[np.argmax(bad)])!r}"
        )
    n = len(q)
    mismatch = _as_array("loan_currency_mismatch", loan_currency_mismatch, n, bool)
    covered = _as_array("pledgor_covered", pledgor_covered, n, bool)
    share_b = _as_array("book_share", book_share, n)
    if not ((share_b >= 0) & (share_b <= 1)).all():
        raise InvalidInputError("`book_share` must be in [0, 1]")
    if liquidation not in ("schedule", "block"):
        raise InvalidInputError(f"`liquidation` must be 'schedule' or 'block'; got {liquidation!r}")
    _check_bounds(floor_frac, cap_frac)
    p, pol = profile, profile.policy
    tm, nr = p.holding_days, p.remargin_days
    market = np.full(n, scale_haircut(p.base_frac, tm, tm, nr))
    with_apc = scale_haircut(p.apc_frac, tm, tm, nr)
    apc = np.full(n, with_apc) - market
    daily = p.participation_frac * p.adv_t
    with np.errstate(divide="ignore"):
        schedule = np.ceil(q / daily) if daily > 0 else np.full(n, np.inf)
    if liquidation == "schedule":
        days = np.clip(schedule, tm, p.max_liquidation_days)
        liq = np.asarray(scale_haircut(p.apc_frac, tm, days, nr)) - with_apc
    else:
        days = np.full(n, float(tm))
        liq = np.full(n, p.block_discount_frac * (1.0 - with_apc))
    conc = pol.concentration
    with np.errstate(divide="ignore"):
        share_m = q / p.year_volume_t if p.year_volume_t > 0 else np.full(n, np.inf)
    concentration = np.minimum(
        conc.market_slope * np.maximum(share_m - conc.market_threshold_frac, 0.0)
        + conc.book_slope * np.maximum(share_b - conc.book_threshold_frac, 0.0),
        conc.max_addon_frac,
    )
    fx = np.where(mismatch, scale_haircut(SUPERVISORY_FX_HAIRCUT_10D, 10, days, nr), 0.0)
    wrong_way = np.where(covered, pol.wrong_way_frac * (with_apc + liq), 0.0)
    dq = np.full(n, p.data_quality_frac)
    raw = market + apc + liq + concentration + fx + wrong_way + dq
    total = raw
    if floor_frac is not None:
        total = np.maximum(total, floor_frac)
    if cap_frac is not None:
        total = np.minimum(total, cap_frac)
    total = np.minimum(total, 1.0)
    return HaircutArrays(
        market, apc, liq, concentration, fx, wrong_way, dq, total - raw, total, days, share_m
    )


@dataclass(frozen=True, slots=True)
class HaircutComponent:
    """One component of a haircut: its value (fraction of market value), how it was obtained,
    the inputs it used, and the source of the rule."""

    name: str
    frac: float
    method: str
    inputs: MappingProxyType[str, Any]
    source: str


@dataclass(frozen=True, slots=True)
class HaircutBreakdown:
    """A haircut and everything that went into it (see :func:`haircut`).

    ``total`` is the haircut as a fraction of market value; ``components`` add up to it (the
    combination rule is in the module notes). ``lendable_value_cny`` = value × (1 − total).
    """

    instrument: Instrument
    as_of: dt.date
    quantity_t: float
    mark_price_cny_per_t: float
    mark_date: dt.date
    model: str
    measure: str
    confidence: float
    holding_days: int
    remargin_days: int
    liquidation_days: int
    loan_currency: Currency
    collateral_currency: Currency
    total: float
    components: tuple[HaircutComponent, ...]
    rule: str
    notes: tuple[str, ...]
    data_source: str
    policy_version: str

    def component(self, name: str) -> HaircutComponent:
        for c in self.components:
            if c.name == name:
                return c
        raise InvalidInputError(f"no haircut component {name!r}; components: {list(COMPONENTS)}")

    @property
    def market_value_cny(self) -> float:
        return self.quantity_t * self.mark_price_cny_per_t

    @property
    def lendable_value_cny(self) -> float:
        return self.market_value_cny * (1.0 - self.total)

    def summary(self) -> str:
        lines = [
            f"{self.instrument.value} haircut on {self.as_of}: {self.total:.2%} of market value "
            f"({self.quantity_t:,.0f} t at {self.mark_price_cny_per_t:.2f} CNY/t, mark of "
            f"{self.mark_date})",
            f"  model {self.model} {self.measure.upper()} {self.confidence:.1%}, holding "
            f"{self.holding_days} business days, remargin every {self.remargin_days}, "
            f"liquidation {self.liquidation_days} days; loan {self.loan_currency.code}",
            f"  lendable value {self.lendable_value_cny:,.0f} CNY of "
            f"{self.market_value_cny:,.0f} CNY",
        ]
        for c in self.components:
            lines.append(f"  {c.name:20s} {c.frac:8.2%}  {c.method}")
        lines.append(f"  rule: {self.rule}")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  data: {self.data_source}; policy {self.policy_version}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


RULE = (
    "total = min(1, min(cap, max(floor, market + anti_procyclicality + liquidation + "
    "concentration + currency + wrong_way + data_quality)))"
)


def haircut(
    history: PriceHistory,
    *,
    as_of: dt.date,
    quantity_t: float,
    model: Model = DEFAULT_MODEL,
    confidence: float | None = None,
    holding_days: int | None = None,
    remargin_days: int | None = None,
    loan_currency: Currency | str = "CNY",
    measure: Measure = "var",
    anti_procyclicality: ApcMethod | None = None,
    liquidation: Liquidation = "schedule",
    pledgor_covered: bool = False,
    book_share: float = 0.0,
    floor_frac: float | None = None,
    cap_frac: float | None = None,
    lookback_days: int | None = None,
    mark_method: Literal["close", "vwap"] = "close",
    data_source: str = "unspecified",
    policy: CollateralPolicy | None = None,
    profile: MarketRiskProfile | None = None,
) -> HaircutBreakdown:
    """The haircut of a pledge of ``quantity_t`` tonnes of ``history.instrument`` on ``as_of``.

    Parameters
    ----------
    history
        Daily quotes; only those on or before ``as_of`` are used.
    as_of
        Valuation date.
    quantity_t
        Tonnes pledged (> 0).
    model
        ``"hs"`` (default, chosen out of sample: docs/collateral.md), ``"fhs"`` or ``"t"``.
    confidence, holding_days, remargin_days
        Default to the policy's 99%, 20 and 1 business days (Basel CRE22.56-60).
    loan_currency
        Currency of the loan; a mismatch with the collateral's currency adds Basel's haircut.
    measure
        ``"var"`` or ``"es"`` of the holding-period log return.
    anti_procyclicality
        ``"buffer"`` (policy default), ``"stressed"``, ``"floor"`` or ``"none"``.
    liquidation
        ``"schedule"`` (sell at a share of ADV) or ``"block"`` (one block trade).
    pledgor_covered
        The pledgor is a covered emitter whose own surrender need is tied to the pledge.
    book_share
        The pledge's share of the bank's collateral in this instrument.
    floor_frac, cap_frac
        Optional policy floor and cap on the total.
    profile
        A :class:`MarketRiskProfile` already measured for this instrument and date (the
        model-related arguments are then taken from it).

    Returns
    -------
    HaircutBreakdown
        Frozen; ``total`` and the components, each with its inputs and source.
    """
    if isinstance(quantity_t, bool) or not isinstance(quantity_t, int | float):
        raise InvalidInputError(f"`quantity_t` must be a number; got {quantity_t!r}")
    loan_ccy = Currency.parse(loan_currency)
    if profile is None:
        profile = market_risk_profile(
            history,
            as_of=as_of,
            model=model,
            measure=measure,
            confidence=confidence,
            holding_days=holding_days,
            remargin_days=remargin_days,
            anti_procyclicality=anti_procyclicality,
            lookback_days=lookback_days,
            mark_method=mark_method,
            data_source=data_source,
            policy=policy,
        )
    p = profile
    arrays = haircut_components(
        p,
        quantity_t,
        loan_currency_mismatch=loan_ccy != p.collateral_currency,
        pledgor_covered=pledgor_covered,
        book_share=book_share,
        liquidation=liquidation,
        floor_frac=floor_frac,
        cap_frac=cap_frac,
    )
    pol = p.policy
    days = int(arrays.liquidation_days[0])
    liq_pol = pol.liquidation[p.instrument]
    ro = MappingProxyType
    a = {name: float(getattr(arrays, name)[0]) for name in COMPONENTS}
    components = (
        HaircutComponent(
            "market",
            a["market"],
            f"{p.model} {p.measure} {p.confidence:.1%} over {p.holding_days} business days, "
            f"remargin every {p.remargin_days}",
            ro({"model_frac": p.base_frac, **p.inputs}),
            pol.sources["haircut.holding_days"] + "; " + pol.sources["haircut.remargin_days"],
        ),
        HaircutComponent(
            "anti_procyclicality",
            a["anti_procyclicality"],
            p.apc_method,
            ro({"apc_frac": p.apc_frac, **p.apc_inputs}),
            pol.anti_procyclicality.source,
        ),
        HaircutComponent(
            "liquidation",
            a["liquidation"],
            f"{liquidation}: {days} business days"
            if liquidation == "schedule"
            else f"block trade at up to {p.block_discount_frac:.0%} below market",
            ro(
                {
                    "adv_t": p.adv_t,
                    "adv_window_days": p.adv_window_days,
                    "participation_frac": p.participation_frac,
                    "liquidation_days": days,
                    "max_days": p.max_liquidation_days,
                    "block_discount_frac": p.block_discount_frac,
                }
            ),
            pol.sources["liquidation.participation_frac"]
            if liquidation == "schedule"
            else pol.sources["liquidation.block"],
        ),
        HaircutComponent(
            "concentration",
            a["concentration"],
            "share of a year of market volume and of the bank's book above thresholds",
            ro({"market_share": float(arrays.market_share[0]), "book_share": book_share}),
            pol.concentration.source,
        ),
        HaircutComponent(
            "currency",
            a["currency"],
            f"supervisory 8% at 10 days scaled to {days}"
            if a["currency"]
            else "loan and collateral in the same currency",
            ro({"loan_currency": loan_ccy.code, "collateral_currency": p.collateral_currency.code}),
            "Basel Framework CRE22.54 (8% at 10 days), CRE22.57 (scaling)",
        ),
        HaircutComponent(
            "wrong_way",
            a["wrong_way"],
            f"{pol.wrong_way_frac:.0%} of market risk" if pledgor_covered else "not applicable",
            ro({"pledgor_covered": pledgor_covered, "frac": pol.wrong_way_frac}),
            pol.wrong_way_source,
        ),
        HaircutComponent(
            "data_quality",
            a["data_quality"],
            "stale mark / thin trading / few returns add-ons",
            ro(dict(p.data_quality_inputs)),
            pol.data_quality.source,
        ),
        HaircutComponent(
            "policy_bounds",
            a["policy_bounds"],
            "floor/cap and the 100% ceiling",
            ro({"floor_frac": floor_frac, "cap_frac": cap_frac}),
            "policy floor and cap (optional); a haircut never exceeds 100%",
        ),
    )
    if liquidation == "schedule" and days >= liq_pol.max_days:
        notes: tuple[str, ...] = (
            *p.notes,
            f"liquidation schedule capped at {liq_pol.max_days} business days: "
            "consider liquidation='block'",
        )
    else:
        notes = p.notes
    return HaircutBreakdown(
        instrument=p.instrument,
        as_of=p.as_of,
        quantity_t=float(quantity_t),
        mark_price_cny_per_t=p.mark.price_cny_per_t,
        mark_date=p.mark.last_date,
        model=p.model,
        measure=p.measure,
        confidence=p.confidence,
        holding_days=p.holding_days,
        remargin_days=p.remargin_days,
        liquidation_days=days,
        loan_currency=loan_ccy,
        collateral_currency=p.collateral_currency,
        total=float(arrays.total[0]),
        components=components,
        rule=RULE,
        notes=notes,
        data_source=p.data_source,
        policy_version=pol.version,
    )
