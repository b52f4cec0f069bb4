"""Discount curves and cost-of-carry forward prices of allowances.

An allowance is a storable asset with no income, so its forward price follows cost of carry:

``F(T) = S · exp((r(T) + c − y) · T)``

with ``r(T)`` the continuously compounded zero rate to ``T`` (ACT/365F), ``c`` the storage/holding
cost (registry fees, the bank's funding spread over the curve) and ``y`` the convenience yield of
holding allowances (ahead of a compliance deadline). Only ``c − y`` (the *net carry*) is
observable from forward or futures quotes, so the curve below carries one net-carry spread.
Allowance forwards have traded in contango *above* the risk-free rate (EUA futures 2018-2023;
Chinese forwards quoted by brokers), i.e. with a negative convenience yield: nothing here
assumes ``y >= 0``.

The discount curve is flat or bootstrapped in QuantLib from deposit or repo fixings on their
index's conventions (:data:`carbonfin.conventions.INDICES`: SHIBOR ACT/360; FR007, the 7-day
interbank repo fixing, ACT/365F) on the index's calendar (China interbank for both); its nodes are
kept as plain numbers and interpolated log-linearly in the discount factor (piecewise flat
forward rates), exactly as QuantLib's ``PiecewiseLogLinearDiscount`` does. The curve's time axis
is ACT/365F (:func:`carbonfin.conventions.year_fraction`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from carbonfin.conventions import DayCount, index_convention, year_fraction
from carbonfin.errors import InvalidInputError
from carbonfin.pricing import _ql_adapter

__all__ = [
    "CarryFit",
    "DiscountCurve",
    "ForwardCurve",
    "bootstrap_curve",
    "calibrate_carry",
    "flat_curve",
]

#: The curve's time axis.
TIME_AXIS = DayCount.ACT_365F


@dataclass(frozen=True, slots=True, eq=False)
class DiscountCurve:
    """Discount factors at pillar times (ACT/365F years from ``as_of``), log-linear between.

    Beyond the last pillar the last forward rate is extended (flat forward extrapolation).
    """

    as_of: dt.date
    times: np.ndarray
    discounts: np.ndarray
    source: str

    def __post_init__(self) -> None:
        t, d = self.times, self.discounts
        if len(t) < 2 or t[0] != 0.0 or d[0] != 1.0:
            raise InvalidInputError("a curve needs at least two pillars starting at t=0, df=1")
        if np.any(np.diff(t) <= 0) or np.any(~np.isfinite(d)) or np.any(d <= 0):
            raise InvalidInputError("curve pillars must increase and discounts be positive")

    def _t(self, when: dt.date | float | np.ndarray) -> np.ndarray:
        if isinstance(when, dt.date):
            if when < self.as_of:
                raise InvalidInputError(f"date {when} is before the curve date {self.as_of}")
            return np.asarray(year_fraction(self.as_of, when, TIME_AXIS))
        t = np.asarray(when, dtype=float)
        if np.any(~np.isfinite(t)) or np.any(t < 0):
            raise InvalidInputError(f"times must be finite and >= 0; got {when!r}")
        return t

    def discount(self, when: dt.date | float | np.ndarray) -> np.ndarray:
        """Discount factor to a date or to year fractions (ACT/365F)."""
        t = self._t(when)
        log_d = np.log(self.discounts)
        inside = np.interp(t, self.times, log_d)
        # flat forward beyond the last pillar
        last_fwd = (log_d[-1] - log_d[-2]) / (self.times[-1] - self.times[-2])
        beyond = log_d[-1] + last_fwd * (t - self.times[-1])
        return np.asarray(np.exp(np.where(t > self.times[-1], beyond, inside)))

    def zero_rate(self, when: dt.date | float | np.ndarray) -> np.ndarray:
        """Continuously compounded zero rate (ACT/365F); the first forward at t = 0."""
        t = self._t(when)
        d = self.discount(t)
        first = -math.log(self.discounts[1]) / self.times[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(t > 0, -np.log(d) / np.where(t > 0, t, 1.0), first))


def flat_curve(as_of: dt.date, rate: float, horizon_years: float = 50.0) -> DiscountCurve:
    """A flat continuously compounded curve (ACT/365F)."""
    if not math.isfinite(rate):
        raise InvalidInputError(f"`rate` must be finite; got {rate!r}")
    times = np.array([0.0, horizon_years])
    return DiscountCurve(as_of, times, np.exp(-rate * times), f"flat {rate:.4%} (cont., ACT/365F)")


def bootstrap_curve(
    as_of: dt.date,
    deposits: Mapping[str, float] | Sequence[tuple[str, float]],
    *,
    convention: str | None = "SHIBOR",
    day_count: DayCount | str | None = None,
    settlement_days: int = 0,
    calendar: str | None = None,
) -> DiscountCurve:
    """Bootstrap a discount curve from deposit/repo fixings with QuantLib.

    Parameters
    ----------
    as_of
        Curve date (a business day of the index's calendar).
    deposits
        Tenor -> simple annual rate as a decimal, e.g. ``{"ON": 0.0135, "1W": 0.0150,
        "3M": 0.0165, "1Y": 0.0180}``.
    convention
        The index whose fixings these are (``"SHIBOR"``, ``"FR007"`` or any name in
        :data:`carbonfin.conventions.INDICES`): its day count and calendar are used.
        ``day_count`` and ``calendar`` override it; ``None`` needs ``day_count``.
    settlement_days
        Business days from ``as_of`` to each deposit's start (0: deposits start on the curve
        date; SHIBOR's published value date is T+1 for term tenors, T+0 overnight).
    """
    items = list(deposits.items()) if isinstance(deposits, Mapping) else list(deposits)
    if not items:
        raise InvalidInputError("`deposits` is empty")
    for tenor, rate in items:
        if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= -1:
            raise InvalidInputError(
                f"deposit rate for {tenor!r} must be a finite decimal; got {rate!r}"
            )
    if convention is None:
        if day_count is None:
            raise InvalidInputError("give the fixings' `convention` (index) or `day_count`")
        dc, cal, label = DayCount.parse(day_count), calendar or "China.IB", "deposits"
    else:
        try:
            index = index_convention(convention)
        except InvalidInputError as exc:
            raise InvalidInputError(f"unknown convention {convention!r}: {exc}") from None
        dc = DayCount.parse(day_count) if day_count is not None else index.day_count
        cal, label = calendar or index.calendar, f"{index.name} fixings"
    if not isinstance(settlement_days, int) or settlement_days < 0:
        raise InvalidInputError(
            f"`settlement_days` must be an integer >= 0; got {settlement_days!r}"
        )
    nodes = _ql_adapter.deposit_curve_nodes(
        as_of, items, calendar_name=cal, day_count=dc, settlement_days=settlement_days
    )
    times = np.array([year_fraction(as_of, d, TIME_AXIS) for d, _ in nodes])
    discounts = np.array([v for _, v in nodes])
    source = (
        f"bootstrapped from {len(items)} {label} ({dc.value}, simple; T+{settlement_days} on {cal})"
    )
    return DiscountCurve(as_of, times, discounts, source)


@dataclass(frozen=True, slots=True, eq=False)
class ForwardCurve:
    """Cost-of-carry forward prices from a spot price, a discount curve and a net carry.

    ``net_carry`` is ``c − y`` (decimal per year, continuously compounded): storage/funding cost
    minus convenience yield. Negative convenience yields (``net_carry > 0``) are allowed.
    """

    spot_cny_per_t: float
    curve: DiscountCurve
    net_carry: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.spot_cny_per_t) and self.spot_cny_per_t > 0):
            raise InvalidInputError(
                f"`spot_cny_per_t` must be finite and > 0; got {self.spot_cny_per_t!r}"
            )
        if not math.isfinite(self.net_carry):
            raise InvalidInputError(f"`net_carry` must be finite; got {self.net_carry!r}")

    def forward(self, when: dt.date | float | np.ndarray) -> np.ndarray:
        """``F(T) = S / DF(T) · exp(net_carry · T)`` (= ``S·exp((r(T) + c − y)·T)``)."""
        t = self.curve._t(when)
        return np.asarray(self.spot_cny_per_t / self.curve.discount(t) * np.exp(self.net_carry * t))

    def implied_convenience_yield(self, storage_cost: float = 0.0) -> float:
        """``y = c − net_carry`` for a given storage/holding cost ``c``."""
        return storage_cost - self.net_carry


@dataclass(frozen=True, slots=True, eq=False)
class CarryFit:
    """Net carry fitted to forward quotes, with each quote's own implied carry and residual."""

    net_carry: float
    times: np.ndarray
    implied_carry: np.ndarray
    residual_log_price: np.ndarray

    @property
    def rmse_log_price(self) -> float:
        return float(np.sqrt(np.mean(self.residual_log_price**2)))

    def summary(self) -> str:
        lines = [
            f"net carry (c - y) {self.net_carry:+.4%} a year; "
            f"rmse {self.rmse_log_price:.2e} in log price",
            "  T (years)   implied carry   residual",
        ]
        rows = zip(self.times, self.implied_carry, self.residual_log_price, strict=True)
        lines += [f"  {t:9.4f} {c:+14.4%} {e:+10.2e}" for t, c, e in rows]
        return "\n".join(lines)


def calibrate_carry(
    spot_cny_per_t: float,
    curve: DiscountCurve,
    quotes: Sequence[tuple[dt.date | float, float]],
) -> CarryFit:
    """Fit the net carry ``c − y`` to observed forward/futures prices.

    Each quote gives its own implied carry ``ln(F/S)/T − r(T)``; the single net carry minimises
    the squared log-price errors ``Σ (ln F_i − ln S + ln DF(T_i) − k·T_i)²``, i.e.
    ``k = Σ T_i·x_i / Σ T_i²`` with ``x_i = ln(F_i/S) + ln DF(T_i)``.
    """
    if not (math.isfinite(spot_cny_per_t) and spot_cny_per_t > 0):
        raise InvalidInputError(f"`spot_cny_per_t` must be finite and > 0; got {spot_cny_per_t!r}")
    if not quotes:
        raise InvalidInputError("`quotes` is empty")
    times = np.array([float(curve._t(when)) for when, _ in quotes])
    prices = np.array([p for _, p in quotes], dtype=float)
    if np.any(~np.isfinite(prices)) or np.any(prices <= 0):
        raise InvalidInputError(f"forward prices must be finite and > 0; got {prices.tolist()}")
    if np.any(times <= 0):
        raise InvalidInputError("forward quotes must expire after the curve date")
    x = np.log(prices / spot_cny_per_t) + np.log(curve.discount(times))
    k = float(np.sum(times * x) / np.sum(times**2))
    return CarryFit(k, times, x / times, x - k * times)
