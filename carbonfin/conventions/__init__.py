"""Market conventions in one place: day counts, currencies, money-market indices.

One module per idea (:mod:`~carbonfin.conventions.daycount`,
:mod:`~carbonfin.conventions.currencies`, :mod:`~carbonfin.conventions.rates`); import the names
from here.

* :class:`DayCount` and the one :func:`year_fraction` used by the whole engine (curves, FX
  forwards; the QuantLib adapter maps the enum to QuantLib's day counters in one table).
* :class:`Currency`: every currency the engine handles with its ISO 4217 data, money-market
  day count, reference money-market index, spot lag and settlement calendar — one row each.
* :data:`INDICES`: money-market indices (SHIBOR, FR007, SOFR, €STR, HIBOR …) with their day
  count, compounding, currency, calendar and source.
* :func:`check_minor_units` and :func:`format_money`: an amount against its currency's ISO 4217
  minor units (refused, never rounded) and written with them; :func:`round_money`: the one rule
  that rounds a computed amount to them (half up).
* :class:`MoneyMarketRate`: a rate that carries its convention, so a SHIBOR fixing cannot be read
  on the wrong basis.

The tables are checked when this package loads (:func:`check_tables`): a currency added without
its conventions, an index naming an unknown currency, or a currency whose day count disagrees
with its own index fails at import with a message naming the row and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from carbonfin.conventions.currencies import ISO_4217, Currency, CurrencyInfo
from carbonfin.conventions.daycount import Compounding, DayCount, year_fraction
from carbonfin.conventions.money import (
    check_minor_units,
    format_money,
    minor_unit_quantum,
    round_money,
)
from carbonfin.conventions.rates import (
    INDICES,
    IndexConvention,
    MoneyMarketRate,
    index_convention,
)
from carbonfin.errors import DataIntegrityError

__all__ = [
    "INDICES",
    "ISO_4217",
    "Compounding",
    "Currency",
    "CurrencyInfo",
    "DayCount",
    "IndexConvention",
    "MoneyMarketRate",
    "check_minor_units",
    "check_tables",
    "format_money",
    "index_convention",
    "minor_unit_quantum",
    "round_money",
    "year_fraction",
]


# --------------------------------------------------------------------------------------------
# The import-time check
# --------------------------------------------------------------------------------------------


def _field_problems(name: str, info: CurrencyInfo) -> list[str]:
    checks = [
        (info.code == name, f"code {info.code!r} differs from the member name"),
        (
            bool(re.fullmatch(r"[A-Z]{3}", info.iso_code)),
            f"iso_code {info.iso_code!r} is not three capital letters",
        ),
        (
            bool(re.fullmatch(r"\d{3}", info.numeric)),
            f"numeric {info.numeric!r} is not three digits",
        ),
        (
            isinstance(info.minor_units, int) and 0 <= info.minor_units <= 4,
            f"minor_units {info.minor_units!r} is not in 0..4",
        ),
        (
            isinstance(info.money_market_day_count, DayCount),
            "money_market_day_count must be a DayCount",
        ),
        (
            isinstance(info.spot_lag_days, int) and 0 <= info.spot_lag_days <= 5,
            f"spot_lag_days {info.spot_lag_days!r} is not an integer in 0..5",
        ),
        (
            info.usd_spot_lag_days is None or 0 <= info.usd_spot_lag_days <= 5,
            f"usd_spot_lag_days {info.usd_spot_lag_days!r} is not None or in 0..5",
        ),
        (
            isinstance(info.settlement_calendar, str) and bool(info.settlement_calendar),
            "settlement_calendar is empty",
        ),
        (bool(info.source), "source is empty"),
    ]
    return [f"{name}: {message}" for ok, message in checks if not ok]


def _index_problems(name: str, info: CurrencyInfo) -> list[str]:
    idx = info.money_market_index
    if idx is None:
        return []
    if idx not in INDICES:
        return [f"{name}: money_market_index {idx!r} is not in INDICES"]
    if INDICES[idx].currency != name:
        return [f"{name}: index {idx} belongs to {INDICES[idx].currency}"]
    if INDICES[idx].day_count is not info.money_market_day_count:
        return [
            f"{name}: money-market day count {info.money_market_day_count} differs from its "
            f"index {idx} ({INDICES[idx].day_count})"
        ]
    return []


def _row_problems(name: str, info: object) -> list[str]:
    if not isinstance(info, CurrencyInfo):
        return [f"{name}: its value must be a CurrencyInfo row; got {info!r}"]
    return _field_problems(name, info) + _index_problems(name, info)


def check_tables(
    currencies: Iterable[tuple[str, object]] | None = None,
    indices: Mapping[str, IndexConvention] | None = None,
) -> None:
    """Check the currency and index tables; raise :class:`DataIntegrityError` naming each gap.

    Run when this module loads. With arguments, checks the given rows instead (for tests).
    """
    rows = [(m.name, m.value) for m in Currency] if currencies is None else list(currencies)
    idx = INDICES if indices is None else indices
    problems = [p for name, info in rows for p in _row_problems(name, info)]
    codes = {name for name, _ in rows}
    for key, conv in idx.items():
        if key != conv.name:
            problems.append(f"index {key}: name {conv.name!r} differs from its key")
        if conv.currency not in codes:
            problems.append(f"index {key}: currency {conv.currency!r} is not in the table")
        if not conv.source or not conv.calendar:
            problems.append(f"index {key}: source and calendar are required")
    if problems:
        raise DataIntegrityError(
            "carbonfin.conventions tables are incomplete or inconsistent (fix the rows in "
            "carbonfin/conventions/):\n  " + "\n  ".join(problems)
        )


check_tables()
