"""Carbon cost at risk: the distribution of a covered firm's compliance cost per year and over a
horizon, from its allowance position (:mod:`carbonfin.scoring.carbon_position`) and seeded price
scenarios at each year's compliance date (:mod:`carbonfin.scoring.carbon_prices`).

Per firm ``f``, scenario ``s`` and year ``y`` (CNY; ``m`` the firm's market that year)::

    cost[f,s,y] = (purchase_t[f,y] − sale_t[f,y]) · P[m,s,y] − carry_sale_t[f,y] · P[SHEA,s,y]

and the horizon cost is the sum over years (nominal CNY, not discounted: the prices are forward
prices of each year). Over the scenarios, for each firm-year and for the horizon:

- ``expected_cny`` the mean, with its Monte Carlo standard error ``sd/√n``;
- ``car95_cny``, ``car99_cny``: cost at risk, the empirical ``p``-quantile
  ``x_(⌈p·n⌉)`` (the smallest cost not exceeded in a share ``p`` of the scenarios), with the
  standard error of the 99% quantile by batch means (the scenarios cut into 10 batches: the
  standard deviation of the batch quantiles over √10);
- ``es95_cny``, ``es99_cny``: expected shortfall, the mean of the costs at or above that order
  statistic (so ``es ≥ car``).

Shares of revenue and of value added divide by the firm's latest known revenue / value added
(held flat over the horizon); unknown revenue or value added leaves the share unknown (NaN), never
zero. Firms are processed in chunks so that ``firms × scenarios × years`` never sits in memory at
once; there is no Python loop over firms or scenarios.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.scoring.carbon_position import MARKETS, SHEA, Positions

__all__ = [
    "STATS",
    "CarbonCost",
    "CompliancePrices",
    "carbon_cost",
    "cost_statistics",
]

#: statistics reported for every firm-year and horizon, in this order
STATS = (
    "expected_cny", "se_expected_cny", "car95_cny", "car99_cny", "se_car99_cny",
    "es95_cny", "es99_cny",
)  # fmt: skip
_BATCHES = 10
#: float64 elements of cost per chunk (about 16 MB)
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True, slots=True, eq=False)
class CompliancePrices:
    """Price scenarios at each compliance year's date, per market: ``prices[i, s, y]`` in CNY/t
    for market ``i`` of :data:`~carbonfin.scoring.carbon_position.MARKETS` (all NaN for a market
    without scenarios). ``forward_cny_per_t[i, y]`` is the forward the scenarios are centred on."""

    years: tuple[int, ...]
    prices: np.ndarray
    forward_cny_per_t: np.ndarray
    method: str
    seed: int | None
    as_of: dt.date | None
    source: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        p = np.array(self.prices, dtype=float, copy=True)
        if p.ndim != 3 or p.shape[0] != len(MARKETS) or p.shape[2] != len(self.years):
            raise InvalidInputError(
                f"`prices` must be shaped ({len(MARKETS)}, scenarios, {len(self.years)}); "
                f"got {p.shape}"
            )
        if p.shape[1] < 1:
            raise InvalidInputError("`prices` holds no scenario")
        if (p[np.isfinite(p)] < 0).any() or np.isinf(p).any():
            raise InvalidInputError("scenario prices must be finite and >= 0 (NaN: no market)")
        fwd = np.array(self.forward_cny_per_t, dtype=float, copy=True)
        p.flags.writeable = False
        fwd.flags.writeable = False
        object.__setattr__(self, "prices", p)
        object.__setattr__(self, "forward_cny_per_t", fwd)

    @property
    def n_scenarios(self) -> int:
        return int(self.prices.shape[1])

    @classmethod
    def constant(
        cls, years: tuple[int, ...], price_cny_per_t: Mapping[int, float] | float, n: int = 1
    ) -> CompliancePrices:
        """A degenerate distribution: every scenario at the same price (per market code or one
        price for both), for hand-worked checks."""
        if isinstance(price_cny_per_t, Mapping):
            level = [float(price_cny_per_t.get(i, math.nan)) for i in range(len(MARKETS))]
        else:
            level = [float(price_cny_per_t)] * len(MARKETS)
        prices = np.broadcast_to(np.array(level)[:, None, None], (len(MARKETS), n, len(years)))
        return cls(
            tuple(years), prices, np.broadcast_to(np.array(level)[:, None], (2, len(years))),
            "constant", None, None, "constant prices given by the caller",
        )  # fmt: skip


def _order_stats(
    a: np.ndarray, levels: tuple[float, ...]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Empirical quantiles ``x_(⌈p·n⌉)`` and tail means along the last axis (one partition)."""
    n = a.shape[-1]
    ks = [max(math.ceil(p * n) - 1, 0) for p in levels]
    part = np.partition(a, sorted(set(ks)), axis=-1)
    quantiles = [part[..., k] for k in ks]
    tails = [part[..., k:].mean(axis=-1) for k in ks]
    return quantiles, tails


def cost_statistics(cost: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`STATS` of ``cost`` shaped ``(rows, columns, scenarios)`` over the scenarios
    (the last axis). Returns arrays shaped ``(rows, columns)``."""
    n = cost.shape[-1]
    mean = cost.mean(axis=-1)
    sd = cost.std(axis=-1, ddof=1) if n > 1 else np.zeros_like(mean)
    (q95, q99), (es95, es99) = _order_stats(cost, (0.95, 0.99))
    per = n // _BATCHES
    if per >= 2:
        batches = cost[..., : per * _BATCHES].reshape(*cost.shape[:-1], _BATCHES, per)
        k = max(math.ceil(0.99 * per) - 1, 0)
        bq = np.partition(batches, k, axis=-1)[..., k]
        se_q99 = bq.std(axis=-1, ddof=1) / math.sqrt(_BATCHES)
    else:
        se_q99 = np.full_like(mean, np.nan)
    return {
        "expected_cny": mean, "se_expected_cny": sd / math.sqrt(n), "car95_cny": q95,
        "car99_cny": q99, "se_car99_cny": se_q99, "es95_cny": es95, "es99_cny": es99,
    }  # fmt: skip


def _chunk_cost(pos: Positions, prices_t: np.ndarray, rows: slice) -> np.ndarray:
    """Cost ``(chunk firms, years + 1, scenarios)``: the years and their sum (the horizon).
    ``prices_t`` is ``(markets, years, scenarios)``."""
    mk = pos.market[rows]
    net = pos.purchase_t[rows] - pos.sale_t[rows]
    nf, ny, ns = mk.shape[0], mk.shape[1], prices_t.shape[2]
    cost = np.zeros((nf, ny + 1, ns))
    years = cost[:, :ny, :]
    for code in range(len(MARKETS)):  # two markets, not firms
        tonnes = np.where(mk == code, net, 0.0)
        if (tonnes != 0).any():
            years += tonnes[:, :, None] * prices_t[code][None, :, :]
    carry = pos.carry_sale_t[rows]
    if (carry != 0).any():
        years -= carry[:, :, None] * prices_t[SHEA][None, :, :]
    cost[:, ny, :] = years.sum(axis=1)
    return cost


def _check_prices(pos: Positions, prices: CompliancePrices) -> None:
    if tuple(prices.years) != tuple(pos.years):
        raise InvalidInputError(
            f"price scenarios are for years {prices.years}, positions for {pos.years}"
        )
    for code, inst in enumerate(MARKETS):
        used = ((pos.market == code) & ((pos.purchase_t > 0) | (pos.sale_t > 0))).any(axis=0)
        if code == SHEA:
            used |= (pos.carry_sale_t > 0).any(axis=0)
        missing = used & ~np.isfinite(prices.prices[code]).all(axis=0)
        if missing.any():
            bad = [y for y, b in zip(pos.years, missing, strict=True) if b]
            raise MissingDataError(f"no {inst.value} price scenarios for {bad}")


@dataclass(frozen=True, slots=True, eq=False)
class CarbonCost:
    """The carbon cost at risk of a population (frames are read-only copies).

    ``years``: one row per firm-year (position in tonnes and the :data:`STATS`; NaN where the
    firm is not covered that year). ``horizon``: one row per firm, the horizon's :data:`STATS`
    and shares, ``status`` (``covered``, ``not covered``, ``unknown``) and ``reason``.
    ``inputs`` names the rules version, scenarios, seed and data source; ``assumptions`` lists
    every assumed value used with its source.
    """

    as_of: dt.date | None
    years: pd.DataFrame
    horizon: pd.DataFrame
    inputs: Mapping[str, Any]
    assumptions: tuple[str, ...]
    notes: tuple[str, ...]

    def firm(self, uscc: str) -> tuple[pd.Series, pd.DataFrame]:
        """The horizon row and the year rows of one firm; :class:`MissingDataError` if absent."""
        h = self.horizon[self.horizon["uscc"] == uscc]
        if h.empty:
            raise MissingDataError(f"firm {uscc} is not in this carbon-cost run")
        return h.iloc[0], self.years[self.years["uscc"] == uscc].reset_index(drop=True)

    def summary(self) -> str:
        h = self.horizon
        cov = h[h["status"] == "covered"]
        i = self.inputs
        lines = [
            f"carbon cost at risk over {i.get('years')}: {len(cov)} covered firms of {len(h)} "
            f"({i.get('scenarios')}, {i.get('n_scenarios')} scenarios, seed {i.get('seed')}); "
            f"as of {self.as_of}; source {i.get('data_source')}",
        ]
        if not cov.empty:
            lines.append(
                f"  horizon: expected {cov['expected_cny'].sum():,.0f} CNY, sum of CaR99 "
                f"{cov['car99_cny'].sum():,.0f} CNY"
            )
        lines += [f"  assumption: {a}" for a in self.assumptions]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _frame(data: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(data).copy()


def carbon_cost(
    positions: Positions,
    prices: CompliancePrices,
    *,
    revenue_cny: np.ndarray | None = None,
    value_added_cny: np.ndarray | None = None,
    status: np.ndarray | None = None,
    reason: np.ndarray | None = None,
    inputs: Mapping[str, Any] | None = None,
    assumptions: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
    chunk_elements: int = _CHUNK_ELEMENTS,
) -> CarbonCost:
    """Distribution of the compliance cost of every firm of ``positions`` under ``prices``.

    Parameters
    ----------
    positions
        Tonnes by firm and year (:func:`~carbonfin.scoring.carbon_position.project_positions`).
    prices
        Scenario prices at the compliance dates, same years.
    revenue_cny, value_added_cny
        ``(firms,)`` latest known annual revenue / value added (NaN = unknown); the shares are
        cost / that amount (per year; the horizon share divides by it times the years).
    status, reason
        ``(firms,)`` ``covered`` / ``not covered`` / ``unknown`` and why (default: covered in
        some year or not covered in any); a firm that is not ``covered`` has NaN statistics.
    inputs, assumptions, notes
        What the result says about where it came from.

    Raises
    ------
    InvalidInputError, MissingDataError
        Years that differ, or a market needed without scenarios.
    """
    _check_prices(positions, prices)
    nf, ny, ns = positions.n_firms, len(positions.years), prices.n_scenarios
    rev = np.full(nf, np.nan) if revenue_cny is None else np.asarray(revenue_cny, dtype=float)
    va = (
        np.full(nf, np.nan) if value_added_cny is None else np.asarray(value_added_cny, dtype=float)
    )
    any_cov = positions.covered.any(axis=1)
    st = np.where(any_cov, "covered", "not covered") if status is None else np.asarray(status)
    why = np.where(any_cov, "", "not a covered entity in any year") if reason is None else reason
    stats = {k: np.full((nf, ny + 1), np.nan) for k in STATS}
    per = max(1, chunk_elements // max(ns * (ny + 1), 1))
    p = np.ascontiguousarray(np.nan_to_num(prices.prices, nan=0.0).transpose(0, 2, 1))
    for start in range(0, nf, per):  # chunks of firms, each one array operation
        rows = slice(start, min(start + per, nf))
        got = cost_statistics(_chunk_cost(positions, p, rows))
        for k in STATS:
            stats[k][rows] = got[k]
    active = st == "covered"
    year_cov = positions.covered & active[:, None]
    horizon_ok = active
    for k in STATS:
        stats[k][:, :ny] = np.where(year_cov, stats[k][:, :ny], np.nan)
        stats[k][:, ny] = np.where(horizon_ok, stats[k][:, ny], np.nan)
    years = _year_frame(positions, prices, stats, rev, va, year_cov)
    with np.errstate(invalid="ignore", divide="ignore"):
        horizon = _frame(
            {"uscc": list(positions.uscc), "status": st, "reason": why,
             **{k: stats[k][:, ny] for k in STATS},
             "car99_share_revenue": stats["car99_cny"][:, ny] / (rev * ny),
             "car99_share_value_added": stats["car99_cny"][:, ny] / (va * ny),
             "expected_share_revenue": stats["expected_cny"][:, ny] / (rev * ny),
             "expected_share_value_added": stats["expected_cny"][:, ny] / (va * ny),
             "revenue_cny": rev, "value_added_cny": va,
             "surplus_end_shea_t": positions.surplus_end_t[:, 0],
             "surplus_end_cea_t": positions.surplus_end_t[:, 1]}
        )  # fmt: skip
    info = {
        "years": f"{positions.years[0]}-{positions.years[-1]}",
        "scenarios": prices.method,
        "n_scenarios": ns,
        "seed": prices.seed,
        "rules_version": positions.rules_version,
        "price_source": prices.source,
        **(inputs or {}),
    }
    return CarbonCost(
        as_of=prices.as_of,
        years=years,
        horizon=horizon,
        inputs=MappingProxyType(info),
        assumptions=tuple(assumptions),
        notes=(*notes, *prices.notes),
    )


def _year_frame(
    pos: Positions,
    prices: CompliancePrices,
    stats: dict[str, np.ndarray],
    rev: np.ndarray,
    va: np.ndarray,
    year_cov: np.ndarray,
) -> pd.DataFrame:
    nf, ny = pos.n_firms, len(pos.years)
    mk = pos.market.astype(int)
    code = np.where(mk >= 0, mk, 0)
    fwd = prices.forward_cny_per_t[code, np.arange(ny)[None, :]]
    names = np.array([m.value for m in MARKETS], dtype=object)[code]
    market = np.where(mk >= 0, names, np.array(None, dtype=object))
    with np.errstate(invalid="ignore", divide="ignore"):
        data = {
            "uscc": np.repeat(np.array(pos.uscc, dtype=object), ny),
            "year": np.tile(np.array(pos.years), nf),
            "covered": year_cov.ravel(),
            "market": market.ravel(),
            "need_t": pos.need_t.ravel(),
            "allocation_t": pos.allocation_t.ravel(),
            "auction_share": pos.auction_share.ravel(),
            "free_t": pos.free_t.ravel(),
            "purchase_t": pos.purchase_t.ravel(),
            "sale_t": pos.sale_t.ravel(),
            "carry_sale_t": pos.carry_sale_t.ravel(),
            "forward_cny_per_t": np.where(mk >= 0, fwd, np.nan).ravel(),
            **{k: stats[k][:, :ny].ravel() for k in STATS},
            "car99_share_revenue": (stats["car99_cny"][:, :ny] / rev[:, None]).ravel(),
            "car99_share_value_added": (stats["car99_cny"][:, :ny] / va[:, None]).ravel(),
        }
    return _frame(data)
