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
    of the **position** the pledge belongs to — everything its pledgor has pledged in the
    instrument at the bank (every loan), so that splitting or merging pledges changes nothing —
    borne by each pledge at the same fraction of its value. ``"schedule"`` (default): a gradual
    sale at ``participation × ADV`` a day (ADV the robust daily volume of
    :mod:`carbonfin.collateral.liquidity`) takes ``T_L = ceil(position / (participation × ADV))``
    business days (at most the policy's longest schedule) after the holding period; the exposure
    declines linearly, so the variance is that of ``T_V = T_M + (T_L − 1)(2T_L − 1)/(6T_L)``
    days of the whole position; the component is ``scale_haircut(H_apc, T_M, T_V, N_R)`` minus
    the two above, plus the square-root price impact ``(2/3)·Y·σ_daily·sqrt(position / ADV)``.
    ``"block"``: the position is sold in one block agreement trade after ``T_M`` days at up to
    the block-trade price limit below market, ``block_frac × (1 − market −
    anti_procyclicality)``; refused for a position larger than any day of the block lookback.
concentration
    ``slope × (share − threshold)`` above the threshold, for the position's share of one year of
    the market's volume and its share of the bank's whole position in the instrument, summed and
    capped.
currency
    Basel's supervisory 8% at 10 days, ``scale_haircut(0.08, 10, T_V, N_R)``, when the loan's
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

from carbonfin.collateral.formula import FormulaInputs, add_ons, raw_haircut
from carbonfin.collateral.market_risk import (
    DEFAULT_MODEL,
    ApcMethod,
    MarketRiskProfile,
    Measure,
    Model,
    market_risk_profile,
)
from carbonfin.collateral.markets import SeriesRules
from carbonfin.collateral.policy import CollateralPolicy
from carbonfin.collateral.sale import (
    liquidation_component,
    liquidation_inputs,
    liquidation_method,
    liquidity_sources,
    position_of,
)
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
    :data:`COMPONENTS`, plus ``total``; ``liquidation_days`` = ``T_M + T_L − 1``, the business
    day the last slice of the position is sold; ``sale_days`` = ``T_L``; ``variance_days`` the
    days of the whole position with the variance of the gradual sale; ``impact`` the square-root
    price-impact cost inside ``liquidation``; ``position_t`` and ``market_share`` of the
    position each pledge belongs to)."""

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
    sale_days: np.ndarray
    variance_days: np.ndarray
    impact: np.ndarray
    position_t: np.ndarray

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


def _positive(name: str, value: Any) -> np.ndarray:
    q = np.atleast_1d(np.asarray(value, dtype=float))
    if q.ndim != 1:
        raise InvalidInputError(f"`{name}` must be one-dimensional; got shape {q.shape}")
    bad = ~(np.isfinite(q) & (q > 0))
    if bad.any():
        raise InvalidInputError(
            f"`{name}` must be finite and > 0; got {float(q[np.argmax(bad)])!r}"
        )
    return q


def haircut_components(
    profile: MarketRiskProfile,
    quantity_t: float | np.ndarray,
    *,
    position_t: float | np.ndarray | None = None,
    loan_currency_mismatch: bool | np.ndarray = False,
    pledgor_covered: bool | np.ndarray = False,
    book_share: float | np.ndarray = 0.0,
    liquidation: Liquidation = "schedule",
    floor_frac: float | None = None,
    cap_frac: float | None = None,
) -> HaircutArrays:
    """Haircut components of pledges of ``quantity_t`` tonnes (vectorised; see module notes).

    Parameters
    ----------
    profile
        The instrument's market-risk profile on the valuation date.
    quantity_t
        Tonnes of each pledge (> 0).
    position_t
        Tonnes of the position each pledge belongs to (everything its pledgor has pledged in the
        instrument at the bank, this pledge included; default: the pledge alone). The
        liquidation horizon, price impact and market share are those of the position; each
        pledge bears them pro rata, i.e. at the same fraction of its value.
    loan_currency_mismatch, pledgor_covered
        Scalars or one value per pledge.
    book_share
        The position's share of the bank's whole position in the instrument, in [0, 1].
    liquidation
        ``"schedule"`` (gradual sale at a share of the daily volume) or ``"block"`` (one block
        trade; refused for a position larger than any day of the block lookback).
    floor_frac, cap_frac
        Optional policy floor and cap on the total.

    Returns
    -------
    HaircutArrays
        Read-only arrays, one value per pledge.
    """
    q = _positive("quantity_t", quantity_t)
    n = len(q)
    pos = q if position_t is None else _as_array("position_t", position_t, n)
    if position_t is not None:
        _positive("position_t", pos)
        if (pos < q * (1 - 1e-12)).any():
            raise InvalidInputError("`position_t` must be at least the pledge's `quantity_t`")
    mismatch = _as_array("loan_currency_mismatch", loan_currency_mismatch, n, bool)
    covered = _as_array("pledgor_covered", pledgor_covered, n, bool)
    share_b = _as_array("book_share", book_share, n)
    if not ((share_b >= 0) & (share_b <= 1)).all():
        raise InvalidInputError("`book_share` must be in [0, 1]")
    if liquidation not in ("schedule", "block"):
        raise InvalidInputError(f"`liquidation` must be 'schedule' or 'block'; got {liquidation!r}")
    _check_bounds(floor_frac, cap_frac)
    f = FormulaInputs.of(profile)
    liq, sale, var_days, days, impact = liquidation_component(profile, pos, liquidation, f)
    conc_fx = add_ons(f, pos, share_b, mismatch, covered, var_days, liq)
    concentration, share_m, fx, wrong_way = conc_fx
    market, apc, dq, raw = raw_haircut(f, n, liq, concentration, fx, wrong_way)
    total = raw
    if floor_frac is not None:
        total = np.maximum(total, floor_frac)
    if cap_frac is not None:
        total = np.minimum(total, cap_frac)
    total = np.minimum(total, 1.0)
    return HaircutArrays(
        market, apc, liq, concentration, fx, wrong_way, dq, total - raw, total, days, share_m,
        sale, var_days, impact, np.array(pos, dtype=float),
    )  # fmt: skip


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
    combination rule is in the module notes). Prices and values are in ``collateral_currency``
    (``mark_price_per_t``, ``market_value``, ``lendable_value``); the ``_cny`` names are kept for
    CNY collateral and refuse any other currency rather than mislabel it. ``instrument`` is
    ``None`` for a series outside the engine's instruments; ``series`` always names it.
    """

    instrument: Instrument | None
    as_of: dt.date
    quantity_t: float
    position_t: float
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
    series: str = ""
    market_origin: str = ""

    def component(self, name: str) -> HaircutComponent:
        for c in self.components:
            if c.name == name:
                return c
        raise InvalidInputError(f"no haircut component {name!r}; components: {list(COMPONENTS)}")

    @property
    def mark_price_per_t(self) -> float:
        """The mark, in ``collateral_currency`` per tonne."""
        return self.mark_price_cny_per_t

    @property
    def market_value(self) -> float:
        """Quantity × mark, in ``collateral_currency``."""
        return self.quantity_t * self.mark_price_cny_per_t

    @property
    def lendable_value(self) -> float:
        """Market value × (1 − total), in ``collateral_currency``."""
        return self.market_value * (1.0 - self.total)

    def _cny(self, value: float) -> float:
        if self.collateral_currency != Currency.CNY:
            raise InvalidInputError(
                f"{self.series} is priced in {self.collateral_currency.code}, not CNY: use "
                "`market_value` / `lendable_value` (in the collateral currency)"
            )
        return value

    @property
    def market_value_cny(self) -> float:
        return self._cny(self.market_value)

    @property
    def lendable_value_cny(self) -> float:
        return self._cny(self.lendable_value)

    def summary(self) -> str:
        ccy = self.collateral_currency.code
        lines = [
            f"{self.series} haircut on {self.as_of}: {self.total:.2%} of market value "
            f"({self.quantity_t:,.0f} t at {self.mark_price_per_t:.2f} {ccy}/t, mark of "
            f"{self.mark_date})",
            f"  model {self.model} {self.measure.upper()} {self.confidence:.1%}, holding "
            f"{self.holding_days} business days, remargin every {self.remargin_days}, "
            f"last slice sold on business day {self.liquidation_days}; loan "
            f"{self.loan_currency.code}",
            f"  lendable value {self.lendable_value:,.0f} {ccy} of {self.market_value:,.0f} {ccy}",
        ]
        for c in self.components:
            lines.append(f"  {c.name:20s} {c.frac:8.2%}  {c.method}")
        lines.append(f"  rule: {self.rule}")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  data: {self.data_source}; market rules {self.market_origin}; policy "
                     f"{self.policy_version}")  # fmt: skip
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
    book_share: float | None = None,
    other_position_t: float = 0.0,
    bank_position_t: float | None = None,
    adv_t: float | None = None,
    floor_frac: float | None = None,
    cap_frac: float | None = None,
    lookback_days: int | None = None,
    mark_method: Literal["close", "vwap"] | None = None,
    data_source: str = "unspecified",
    policy: CollateralPolicy | None = None,
    profile: MarketRiskProfile | None = None,
    rules: SeriesRules | None = None,
    series: str | None = None,
) -> HaircutBreakdown:
    """The haircut of a pledge of ``quantity_t`` tonnes of the series ``history`` on ``as_of``.

    Parameters
    ----------
    history
        Daily quotes; only those on or before ``as_of`` are used.
    as_of
        Valuation date.
    quantity_t
        Tonnes pledged (> 0).
    model
        A model of :data:`carbonfin.collateral.models.MODELS` (default ``"hs"``, chosen out of
        sample at 20 days: docs/collateral.md).
    confidence, holding_days, remargin_days
        Default to the policy's 99%, 20 and 1 business days (Basel CRE22.56-60).
    loan_currency
        Currency of the loan; a mismatch with the collateral's currency adds Basel's haircut.
    measure
        ``"var"`` or ``"es"`` of the holding-period log return.
    anti_procyclicality
        ``"buffer"`` (policy default), ``"stressed"``, ``"floor"`` or ``"none"``.
    liquidation
        ``"schedule"`` (gradual sale at a share of the daily volume, with price impact) or
        ``"block"`` (one block trade; only for a position no larger than a day that traded in
        the block lookback).
    pledgor_covered
        The pledgor is a covered emitter whose own surrender need is tied to the pledge.
    other_position_t
        Tonnes of the same instrument the same pledgor has pledged at the bank in other pledges
        (any loan): the liquidation horizon, price impact and market share are those of the
        whole position ``quantity_t + other_position_t``, borne pro rata.
    bank_position_t
        The bank's whole position in the instrument (t, this position included): the book
        concentration is ``position / bank_position_t``.
    book_share
        The position's share of the bank's book directly (instead of ``bank_position_t``).
    adv_t
        Daily volume (t) stated by the caller, for a series without volume (reported as an
        assumption in the breakdown).
    floor_frac, cap_frac
        Optional policy floor and cap on the total.
    mark_method
        ``"close"`` or ``"vwap"``; default the market's (``series.toml``).
    rules, series
        A series rules file (:func:`carbonfin.collateral.markets.series_rules`) and the
        series' name in it: its market parameters (participation, block limit, mark age);
        default the shipped ``series.toml`` or, for SHEA/CEA/CCER, ``market.toml``.
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
    position, share = position_of(quantity_t, other_position_t, bank_position_t, book_share)
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
            adv_t=adv_t,
            rules=rules,
            series=series,
        )
    p = profile
    arrays = haircut_components(
        p,
        quantity_t,
        position_t=position,
        loan_currency_mismatch=loan_ccy != p.collateral_currency,
        pledgor_covered=pledgor_covered,
        book_share=share,
        liquidation=liquidation,
        floor_frac=floor_frac,
        cap_frac=cap_frac,
    )
    pol = p.policy
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
            liquidation_method(p, liquidation, arrays),
            ro(liquidation_inputs(p, arrays)),
            (
                (p.market.sources.get("participation_frac", "") if p.market else "")
                or pol.sources["liquidation.participation_frac"]
            )
            + "; "
            + liquidity_sources(p)
            if liquidation == "schedule"
            else pol.sources["liquidation.block"],
        ),
        HaircutComponent(
            "concentration",
            a["concentration"],
            "share of a year of market volume and of the bank's book above thresholds",
            ro(
                {
                    "position_t": position,
                    "market_share": float(arrays.market_share[0]),
                    "book_share": share,
                }
            ),
            pol.concentration.source,
        ),
        HaircutComponent(
            "currency",
            a["currency"],
            f"supervisory 8% at 10 days scaled to {float(arrays.variance_days[0]):.1f} days"
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
    notes = p.notes
    if liquidation == "schedule" and arrays.sale_days[0] >= p.max_liquidation_days:
        block_ok = position <= p.max_day_volume_t
        notes = (
            *notes,
            f"sale schedule capped at {p.max_liquidation_days} business days; "
            + (
                "liquidation='block' is supported by a day of that size in the lookback"
                if block_ok
                else f"no day of {position:,.0f} t traded in the lookback (largest "
                f"{p.max_day_volume_t:,.0f} t): no block sale is supported by the data"
            ),
        )
    return HaircutBreakdown(
        instrument=p.instrument,
        as_of=p.as_of,
        quantity_t=float(quantity_t),
        position_t=position,
        mark_price_cny_per_t=p.mark.price_cny_per_t,
        mark_date=p.mark.last_date,
        model=p.model,
        measure=p.measure,
        confidence=p.confidence,
        holding_days=p.holding_days,
        remargin_days=p.remargin_days,
        liquidation_days=int(arrays.liquidation_days[0]),
        loan_currency=loan_ccy,
        collateral_currency=p.collateral_currency,
        total=float(arrays.total[0]),
        components=components,
        rule=RULE,
        notes=notes,
        data_source=p.data_source,
        policy_version=pol.version,
        series=p.series or (p.instrument.value if p.instrument else ""),
        market_origin=p.market.origin if p.market else "",
    )
