"""The sample allowance registry: every movement of every firm's holdings, consistent with the
compliance records and the pledges.

Per firm, instrument and vintage the registry credits the yearly allocation
(:func:`carbonfin.data.market_book.allocation_date`), debits the surrender of each compliance year
on its surrender date (the compliance year's own vintage first, then banked older vintages; CCER
offsets as recorded), and locks the quantity of each pledge from its registration to its release.
Where a firm's free (unpledged) allowances do not cover a surrender or a new pledge (with its
open surrender need on top: a lender accepts only allowances beyond it), it buys the shortfall
1-20 days before; after a surrender some firms sell part of their free surplus. So at
every date the balance of each holding is >= 0 and the quantity locked by active pledges is <= the
balance (tests replay the events to check it). Rules and dates marked ``assumed`` are the sample's
plausible choices, not published facts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.data.market_book import allocation_date

__all__ = ["registry_events"]

#: Probability that a firm sells part of its free surplus after a surrender, and the fraction
#: range sold (assumed).
SALE_PROB = 0.3
SALE_FRAC = (0.2, 0.8)
LOT_T = 100  # sales are rounded down to 100 t

# order of actions on one day: credits first, then debits, then locks, then discretionary sales
_ORDER = {"allocation": 0, "pledge_released": 1, "surrender": 2, "pledge_registered": 3, "sale": 4}

Key = tuple[str, int | None]  # (instrument, vintage)


@dataclass(slots=True)
class _Book:
    """One firm's balances and locks while its actions are replayed."""

    uscc: str
    balance: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    locked: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    events: list[tuple[dt.date, int, str, str, int | None, str, int, str | None]] = field(
        default_factory=list
    )

    def free(self, key: Key) -> int:
        return self.balance[key] - self.locked[key]

    def add(
        self, day: dt.date, kind: str, key: Key, quantity_t: int, pledge_id: str | None = None
    ) -> None:
        if quantity_t <= 0:
            return
        if kind in ("allocation", "purchase"):
            self.balance[key] += quantity_t
        elif kind in ("sale", "surrender"):
            self.balance[key] -= quantity_t
        elif kind == "pledge_registered":
            self.locked[key] += quantity_t
        else:
            self.locked[key] -= quantity_t
        order = _ORDER.get(kind, -1)
        self.events.append(
            (day, order, self.uscc, key[0], key[1], kind, int(quantity_t), pledge_id)
        )


Action = tuple[dt.date, int, int, str, int]  # (date, order, sequence, kind, record index)


def registry_events(
    rng: np.random.Generator,
    compliance: pd.DataFrame,
    pledges: pd.DataFrame,
    as_of: dt.date,
) -> pd.DataFrame:
    """Registry events of every firm up to ``as_of`` (see the module docstring)."""
    n_c = len(compliance)
    sells = rng.random(n_c) < SALE_PROB
    sell_frac = rng.uniform(*SALE_FRAC, n_c)
    sell_lag = rng.integers(5, 61, n_c)
    buy_lag_c = rng.integers(1, 21, n_c)
    buy_lag_p = rng.integers(1, 21, len(pledges))

    comp: list[dict[str, Any]] = compliance.to_dict("records")  # type: ignore[assignment]
    pl: list[dict[str, Any]] = pledges.to_dict("records")  # type: ignore[assignment]
    actions = _actions(comp, pl, as_of, sells, sell_lag)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(comp):
        rows_of[str(c["uscc"])].append(k)
    rows = []
    for uscc in sorted(actions):
        book = _Book(uscc)
        for day, _order, _seq, kind, k in sorted(actions[uscc], key=lambda a: a[:3]):
            if kind == "allocation":
                c = comp[k]
                book.add(day, "allocation", (c["instrument"], int(c["year"])), c["allocated_t"])
            elif kind == "surrender":
                _surrender(book, comp[k], day, int(buy_lag_c[k]))
            elif kind == "sale":
                _sell(book, comp[k], day, float(sell_frac[k]))
            else:
                need = _open_need(comp, rows_of[uscc], str(pl[k]["instrument"]), day)
                _pledge_event(book, pl[k], day, kind, int(buy_lag_p[k]), need)
        rows.extend(book.events)
    rows.sort(key=lambda r: (r[0], r[2], r[1], r[3], r[4] or 0, r[5], r[7] or ""))
    columns = ["date", "order", "uscc", "instrument", "vintage", "kind", "quantity_t", "pledge_id"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "event_id", [f"RE-{i + 1:07d}" for i in range(len(frame))])
    frame["vintage"] = pd.array(
        [None if v is None or pd.isna(v) else int(v) for v in frame["vintage"]], dtype="Int64"
    )
    return frame.drop(columns="order")


def _actions(
    comp: list[dict[str, Any]],
    pl: list[dict[str, Any]],
    as_of: dt.date,
    sells: np.ndarray,
    sell_lag: np.ndarray,
) -> dict[str, list[Action]]:
    """Each firm's dated actions: allocations, surrenders, sales and pledge locks/releases."""
    actions: dict[str, list[Action]] = defaultdict(list)
    for k, c in enumerate(comp):
        alloc = allocation_date(int(c["year"]))
        if alloc <= as_of:
            actions[c["uscc"]].append((alloc, _ORDER["allocation"], k, "allocation", k))
        surrender = _day(c["surrender_date"])
        if surrender is not None:
            actions[c["uscc"]].append((surrender, _ORDER["surrender"], k, "surrender", k))
            sale_day = surrender + dt.timedelta(days=int(sell_lag[k]))
            if sells[k] and sale_day <= as_of:
                actions[c["uscc"]].append((sale_day, _ORDER["sale"], k, "sale", k))
    for k, p in enumerate(pl):
        registered, released = _day(p["registration_date"]), _day(p["release_date"])
        if registered is not None:
            order = _ORDER["pledge_registered"]
            actions[p["pledgor_uscc"]].append((registered, order, k, "pledge_registered", k))
        if registered is not None and released is not None:
            order = _ORDER["pledge_released"]
            actions[p["pledgor_uscc"]].append((released, order, k, "pledge_released", k))

    return actions


def _day(value: object) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def _pledge_event(
    book: _Book, p: dict[str, Any], day: dt.date, kind: str, buy_lag: int, need_t: int
) -> None:
    """Lock a pledge's quantity or release it. Before locking, the pledgor buys what its free
    holding lacks for the pledge and, across the instrument's vintages, for ``need_t`` (its open
    surrender need): a lender accepts only allowances beyond that need."""
    key: Key = (str(p["instrument"]), _vintage(p["vintage"]))
    quantity = int(p["quantity_t"])
    if kind == "pledge_registered":
        free_instrument = sum(book.free(k) for k in list(book.balance) if k[0] == key[0])
        short = max(quantity - book.free(key), quantity + need_t - free_instrument)
        if short > 0:
            buy_day = day - dt.timedelta(days=buy_lag)
            if key[1] is not None:
                buy_day = max(buy_day, allocation_date(key[1]))
            book.add(buy_day, "purchase", key, short)
    book.add(day, kind, key, quantity, str(p["pledge_id"]))


def _open_need(comp: list[dict[str, Any]], rows: list[int], instrument: str, day: dt.date) -> int:
    """Verified emissions of the firm's finished compliance years not surrendered by ``day``."""
    return sum(
        int(comp[k]["verified_emissions_tco2e"])
        for k in rows
        if comp[k]["instrument"] == instrument
        and int(comp[k]["year"]) < day.year
        and not (
            isinstance(comp[k]["surrender_date"], dt.date) and comp[k]["surrender_date"] <= day
        )
    )


def _vintage(value: object) -> int | None:
    return None if value is None or value is pd.NA else int(value)  # type: ignore[call-overload]


def _surrender(book: _Book, c: dict[str, Any], day: dt.date, buy_lag: int) -> None:
    """Surrender a compliance year: its own vintage first, then banked older ones, buying what
    free holdings do not cover; CCER offsets are bought and surrendered as recorded."""
    instrument = str(c["instrument"])
    year = int(c["year"])
    due = int(c["surrendered_t"])
    vintages = sorted(
        (v for (i, v) in list(book.balance) if i == instrument and v is not None and v <= year),
        reverse=True,
    )
    if year not in vintages:
        vintages.insert(0, year)
    take: dict[Key, int] = defaultdict(int)
    for v in vintages:
        key: Key = (instrument, v)
        q = min(max(book.free(key), 0), due)
        if q > 0:
            take[key] += q
            due -= q
        if due == 0:
            break
    buy_day = max(day - dt.timedelta(days=buy_lag), allocation_date(year))
    if due > 0:
        book.add(buy_day, "purchase", (instrument, year), due)
        take[(instrument, year)] += due
    for key, q in take.items():
        book.add(day, "surrender", key, q)
    ccer = int(c["ccer_used_t"])
    if ccer > 0:
        ccer_key: Key = ("CCER", None)
        short = ccer - max(book.free(ccer_key), 0)
        if short > 0:
            book.add(buy_day, "purchase", ccer_key, short)
        book.add(day, "surrender", ccer_key, ccer)


def _sell(book: _Book, c: dict[str, Any], day: dt.date, frac: float) -> None:
    """Sell ``frac`` of the free surplus of the compliance instrument's vintages up to the year."""
    instrument = str(c["instrument"])
    year = int(c["year"])
    for key in sorted(k for k in list(book.balance) if k[0] == instrument and k[1] is not None):
        if key[1] is not None and key[1] <= year:
            q = int(book.free(key) * frac) // LOT_T * LOT_T
            book.add(day, "sale", key, q)
