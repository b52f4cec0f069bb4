"""Which series a price frame holds and which market rules apply to it.

Used by :meth:`carbonfin.pricing.PriceHistory.from_frame`: the instrument or series name is
checked against the frame, and the calendar, daily price limit, currency and maximum mark age
are taken from the instrument's market rules (``rules/market.toml``, each value with its source)
unless given explicitly. A series that is not one of the engine's instruments has no market
rules and must state its calendar and limit.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, UnknownInstrumentError
from carbonfin.instruments import Instrument
from carbonfin.pricing._sessions import Sessions
from carbonfin.rules import default_max_mark_age_days, market_rules

__all__ = ["FROM_RULES", "check_age", "identify_series", "series_settings"]

#: default of ``from_frame``'s ``calendar``, ``limit_frac`` and ``currency``: the instrument's
#: market rules
FROM_RULES: Final = "rules"


def identify_series(
    frame: Any, instrument: Instrument | str | None, name: str | None
) -> tuple[Instrument | None, str]:
    """The instrument (None for a plain series) and the series name, checked against the frame."""
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InvalidInputError("price frame is empty")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidInputError(f"`name` must be a non-empty string; got {name!r}")
    if instrument is None:
        if name is None:
            raise InvalidInputError(
                "a price series needs an `instrument` (SHEA, CEA, CCER) or a `name`"
            )
        inst = None
    else:
        inst = instrument if isinstance(instrument, Instrument) else Instrument.parse(instrument)
    series = (name or (inst.value if inst else "")).strip()
    if "instrument" in frame.columns:
        held = set(frame["instrument"].dropna().astype(str))
        others = held - {inst.value if inst else series}
        if others:
            raise InvalidInputError(f"price frame for {series} also holds rows of {sorted(others)}")
    return inst, series


def series_settings(
    inst: Instrument | None,
    series: str,
    calendar: str | None,
    limit_frac: float | Literal["rules"] | None,
    currency: str | None,
    max_mark_age_days: int | None,
) -> tuple[str | None, float | None, str | None, int]:
    """(calendar, limit_frac, currency, max_mark_age_days), from the rules where not given."""
    if inst is None:
        missing = [
            arg
            for arg, value in (("calendar", calendar), ("limit_frac", limit_frac))
            if value == FROM_RULES
        ]
        if missing:
            raise UnknownInstrumentError(
                f"series {series!r} is not one of the engine's instruments, so it has no "
                f"market rules: pass {' and '.join(f'`{m}`' for m in missing)} "
                "(a calendar name, 'weekdays' or None; a limit in (0, 1) or None for none)"
            )
        currency = None if currency == FROM_RULES else currency
        max_age = default_max_mark_age_days()
    else:
        rules = market_rules()[inst]
        calendar = rules.calendar if calendar == FROM_RULES else calendar
        if limit_frac == FROM_RULES:
            limit_frac = rules.price_limit.listed_frac
        currency = rules.currency.code if currency == FROM_RULES else currency
        max_age = rules.max_mark_age_days
    if currency is not None and not (isinstance(currency, str) and currency.strip()):
        raise InvalidInputError(f"`currency` must be a currency code or None; got {currency!r}")
    if calendar is not None:
        calendar = Sessions.of(calendar).calendar
    if limit_frac is not None:
        if isinstance(limit_frac, bool) or not isinstance(limit_frac, int | float):
            raise InvalidInputError(
                f"`limit_frac` must be a number in (0, 1) or None; got {limit_frac!r}"
            )
        if not 0.0 < limit_frac < 1.0:
            raise InvalidInputError(f"`limit_frac` must be in (0, 1) or None; got {limit_frac!r}")
        limit_frac = float(limit_frac)
    if max_mark_age_days is not None:
        max_age = check_age(max_mark_age_days, "max_mark_age_days")
    return calendar, limit_frac, currency, max_age


def check_age(value: Any, name: str) -> int:
    """An age in business days: an integer >= 0 (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InvalidInputError(f"`{name}` must be an integer >= 0; got {value!r}")
    return int(value)
