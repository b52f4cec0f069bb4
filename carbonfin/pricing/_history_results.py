"""The results of :class:`~carbonfin.pricing.history.PriceHistory`: returns and marks.

Both are frozen and read-only (arrays not writeable, mappings behind ``MappingProxyType``), and
both say what they were made from: the series, the price used, what was dropped or substituted,
the calendar and whether any year of it is provisional.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from carbonfin.instruments import Instrument

__all__ = ["Mark", "Returns"]

_EMPTY: Mapping[str, tuple[dt.date, ...]] = MappingProxyType({})


def _calendar_text(calendar: str | None, provisional_years: tuple[int, ...]) -> str:
    text = "the series' own rows as sessions" if calendar is None else f"{calendar} calendar"
    if provisional_years:
        first, last = provisional_years[0], provisional_years[-1]
        years = str(first) if first == last else f"{first}-{last}"
        text += f" (provisional for {years}: holidays not yet published)"
    return text


@dataclass(frozen=True, slots=True, eq=False)
class Returns:
    """Returns between consecutive observed prices.

    ``values`` (decimals), ``dates`` (date of the later observation), ``gap_days`` (business
    days spanned, >= 1), ``kind`` (``"log"`` or ``"simple"``) and ``per`` (``"trade"`` or
    ``"business_day"``: scaled by ``1/sqrt(gap_days)``). ``price`` says which price was used
    (``"close"``, ``"vwap"`` or ``"close_else_vwap"``), ``excluded`` which flags were dropped,
    ``n_dropped`` how many observed prices were dropped for them and ``n_substituted`` how many
    VWAPs stood in for a missing close. ``calendar`` is the one calendar of the gap count
    (``None``: the series' rows) and ``provisional_years`` the years it answered provisionally.
    The arrays are read-only.
    """

    values: np.ndarray
    dates: np.ndarray
    gap_days: np.ndarray
    kind: str
    per: str
    name: str = ""
    price: str = "close"
    excluded: tuple[str, ...] = ()
    n_dropped: int = 0
    n_substituted: int = 0
    calendar: str | None = "China.SSE"
    provisional_years: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # frozen means frozen: hold private read-only copies of the arrays
        for name in ("values", "dates", "gap_days"):
            array = np.array(getattr(self, name), copy=True)
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @property
    def provisional(self) -> bool:
        """Whether any gap was counted on a provisional calendar year."""
        return bool(self.provisional_years)

    def to_series(self) -> pd.Series:
        return pd.Series(
            self.values, index=pd.Index(self.dates, name="date"), name=self.name or "return"
        )

    def summary(self) -> str:
        """What these returns are and what was done to the prices to get them."""
        scaled = "per business day" if self.per == "business_day" else "trade to trade"
        lines = [
            f"{self.name}: {len(self)} {self.kind} returns {scaled} of {self.price} prices"
            + (f", {self.dates[0]} to {self.dates[-1]}" if len(self) else ""),
            f"  dropped {self.n_dropped} observation(s) flagged "
            + (", ".join(self.excluded) if self.excluded else "(none excluded)")
            + f"; {self.n_substituted} VWAP(s) in place of a missing close",
            f"  gap days on the {_calendar_text(self.calendar, self.provisional_years)}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, slots=True)
class Mark:
    """The price used to value a position on ``as_of``, with how it was obtained.

    ``price_cny_per_t`` is the last close on or before ``as_of`` (method ``"close"``) or the
    volume-weighted average price over the last ``window_days`` business days (method
    ``"vwap"``: total amount / total volume of the window's trades); for a series outside the
    engine's instruments it is in the series' ``currency`` per tonne (``price_per_t``).
    ``first_date`` and ``last_date`` are the trades actually used; ``age_days`` is the number of
    business days from the last trade used to ``as_of`` (0 = traded that day), checked against
    ``max_age_days``. ``flags`` maps each flag carried by a quote used to the dates carrying it
    (e.g. ``{"limit_breach": (date,)}``), empty when the quotes are clean; ``excluded`` lists the
    flags whose quotes were skipped. ``provisional_years`` lists calendar years answered
    provisionally and ``notes`` anything else the reader must know.
    """

    instrument: Instrument | None
    as_of: dt.date
    method: str
    window_days: int
    price_cny_per_t: float
    first_date: dt.date
    last_date: dt.date
    trade_days: int
    volume_t: float
    age_days: int
    max_age_days: int = 0
    name: str = ""
    currency: str | None = "CNY"
    flags: Mapping[str, tuple[dt.date, ...]] = field(default_factory=lambda: _EMPTY)
    excluded: tuple[str, ...] = ()
    calendar: str | None = "China.SSE"
    provisional_years: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        frozen = MappingProxyType({k: tuple(v) for k, v in self.flags.items()})
        object.__setattr__(self, "flags", frozen)

    @property
    def price_per_t(self) -> float:
        """The mark in the series' currency per tonne (CNY for the engine's instruments)."""
        return self.price_cny_per_t

    @property
    def provisional(self) -> bool:
        """Whether the age or the window was counted on a provisional calendar year."""
        return bool(self.provisional_years)

    def summary(self) -> str:
        """One paragraph: price, method, trades used, age, flags and calendar."""
        unit = f"{self.currency}/t" if self.currency else "per t (currency not stated)"
        window = f" over {self.window_days} business days" if self.method == "vwap" else ""
        plural = "s" if self.trade_days != 1 else ""
        age = (
            f"{self.age_days} business day{'s' if self.age_days != 1 else ''} before"
            if self.age_days
            else "on the valuation date"
        )
        lines = [
            f"{self.name} mark on {self.as_of}: {self.price_cny_per_t:.4f} {unit} by "
            f"{self.method}{window}; trades {self.first_date}..{self.last_date} "
            f"({self.trade_days} day{plural}, {self.volume_t:,.0f} t); last trade {age} "
            f"(limit {self.max_age_days})",
        ]
        if self.flags:
            lines += [
                f"  flagged {name}: {', '.join(d.isoformat() for d in dates)}"
                for name, dates in self.flags.items()
            ]
        else:
            lines.append("  quotes used carry no flags")
        if self.excluded:
            lines.append(f"  skipped quotes flagged {', '.join(self.excluded)}")
        lines.append(
            f"  business days on the {_calendar_text(self.calendar, self.provisional_years)}"
        )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
