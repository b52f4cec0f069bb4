"""Market parameters of any price series a haircut is measured on.

A haircut needs, besides the quotes, a few facts about the market they come from: the currency,
the calendar, the daily price limit (which caps simulated moves), the block-trade band, how fast
a liquidator can sell (participation in the daily volume, the volume window, the longest
schedule) and how old a mark may be. :func:`market_params` finds them, in this order:

1. the engine's instruments (SHEA, CEA, CCER): ``market.toml`` and ``collateral.toml``
   ``[liquidation]``;
2. a series named in the rules file the caller gives (same shape as ``carbonfin/rules/
   series.toml``), or in the shipped ``series.toml`` (the Chinese pilots, EU allowances);
3. the ``[defaults]`` of that file for anything else, each said in ``notes``.

The history's own calendar, currency and limit (set when it was loaded) win over the rules:
they are what the quotes were validated against; a disagreement is a note, not a silent
override.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from carbonfin.collateral.policy import CollateralPolicy
from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.instruments import Currency
from carbonfin.pricing.history import PriceHistory
from carbonfin.rules import load_rules_toml, market_rules

__all__ = [
    "LoadedSeries",
    "MarketParams",
    "SeriesRules",
    "load_series",
    "market_params",
    "series_rules",
]

_MARKS = ("close", "vwap")


@dataclass(frozen=True, slots=True)
class MarketParams:
    """What a haircut needs to know about one series' market (fractions as decimals).

    ``block_limit_frac`` is ``None`` where the market has no block-trade price band (the block
    liquidation alternative is then refused); ``simulation_cap_frac`` caps the daily moves of
    simulated (FHS) paths. ``origin`` says where the parameters came from.
    """

    name: str
    exchange: str
    currency: Currency
    calendar: str | None
    listed_limit_frac: float | None
    block_limit_frac: float | None
    simulation_cap_frac: float
    mark_method: str
    participation_frac: float
    adv_window_days: int
    max_liquidation_days: int
    max_mark_age_days: int
    verified: bool
    origin: str
    sources: MappingProxyType[str, str]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesRules:
    """A parsed series rules file: named series and the stated defaults."""

    version: str
    path: str
    defaults: MappingProxyType[str, Any]
    default_sources: MappingProxyType[str, str]
    series: MappingProxyType[str, MappingProxyType[str, Any]]


def _limit(value: Any, where: str) -> float | None:
    if value == "none":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise DataIntegrityError(
            f"{where}: a price limit must be in (0, 1) or 'none'; got {value!r}"
        )
    return float(value)


def _parse_rules(raw: dict[str, Any], path: str) -> SeriesRules:
    try:
        defaults = dict(raw["defaults"])
        default_sources = {str(k): str(v) for k, v in defaults.pop("sources").items()}
        series: dict[str, MappingProxyType[str, Any]] = {}
        for name, spec in raw.get("series", {}).items():
            where = f"{path} [series.{name}]"
            entry = dict(spec)
            for key in ("listed_limit_frac", "block_limit_frac"):
                entry[key] = _limit(entry.get(key, "none"), where)
            Currency.parse(entry["currency"])
            if not isinstance(entry.get("sources"), dict):
                raise DataIntegrityError(f"{where}: every series needs its [sources]")
            entry["sources"] = MappingProxyType(
                {str(k): str(v) for k, v in spec["sources"].items()}
            )
            series[name.upper()] = MappingProxyType(entry)
        for key in ("participation_frac", "simulation_cap_frac"):
            if not 0 < float(defaults[key]) < 1:
                raise DataIntegrityError(f"{path} [defaults]: {key} must be in (0, 1)")
        if defaults["mark_method"] not in _MARKS:
            raise DataIntegrityError(f"{path} [defaults]: mark_method must be one of {_MARKS}")
        return SeriesRules(
            str(raw.get("version", "unversioned")), path, MappingProxyType(defaults),
            MappingProxyType(default_sources), MappingProxyType(series),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"{path} is missing or mistypes a field: {exc}") from exc


@cache
def _shipped() -> SeriesRules:
    return _parse_rules(load_rules_toml("series.toml"), "carbonfin/rules/series.toml")


def series_rules(path: str | Path | None = None) -> SeriesRules:
    """The series rules: the shipped ``series.toml`` or the user's file at ``path``.

    Raises
    ------
    InvalidInputError
        The file does not exist or is not valid TOML.
    DataIntegrityError
        A field is missing or out of range (the message names the file and the series).
    """
    if path is None:
        return _shipped()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"no such rules file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"rules file {path} is not valid TOML: {exc}") from None
    return _parse_rules(raw, str(path))


def _instrument_params(history: PriceHistory, policy: CollateralPolicy) -> MarketParams:
    inst = history.instrument
    assert inst is not None
    rules, liq = market_rules()[inst], policy.liquidation[inst]
    sources = {
        "price_limit": rules.price_limit.source,
        "participation_frac": policy.sources["liquidation.participation_frac"],
        **rules.sources,
    }
    return MarketParams(
        name=inst.value, exchange=inst.value, currency=rules.currency,
        calendar=history.calendar, listed_limit_frac=history.limit_frac,
        block_limit_frac=rules.price_limit.block_frac,
        simulation_cap_frac=rules.price_limit.block_frac, mark_method="close",
        participation_frac=liq.participation_frac, adv_window_days=liq.adv_window_days,
        max_liquidation_days=liq.max_days, max_mark_age_days=rules.max_mark_age_days,
        verified=not rules.price_limit.assumed, origin=f"market.toml [{inst.value}]",
        sources=MappingProxyType(sources),
    )  # fmt: skip


def market_params(
    history: PriceHistory,
    policy: CollateralPolicy,
    *,
    rules: SeriesRules | None = None,
    series: str | None = None,
) -> MarketParams:
    """The market parameters of ``history`` (see the module notes for the order of lookup).

    Parameters
    ----------
    history
        The validated quotes; its calendar, currency and price limit are the ones used.
    policy
        The collateral policy (liquidation data of the engine's instruments).
    rules
        A series rules file (:func:`series_rules`); default the shipped ``series.toml``.
    series
        Name of the series in ``rules`` (default: ``history.name``).

    Raises
    ------
    InvalidInputError
        The history states no currency and the rules name none either.
    """
    if history.instrument is not None and series is None and rules is None:
        return _instrument_params(history, policy)
    table = rules or series_rules()
    key = (series or history.name).upper()
    spec = table.series.get(key)
    d, notes = table.defaults, []
    if spec is None:
        notes.append(f"{history.name}: not named in {table.path}; its stated defaults apply")
        spec = MappingProxyType({})
    src = dict(table.default_sources) | dict(spec.get("sources", {}))
    currency = history.currency or spec.get("currency")
    if currency is None:
        raise InvalidInputError(
            f"{history.name}: no currency (pass `currency` when loading the series or name it in "
            "the rules)"
        )
    if spec.get("currency") and Currency.parse(spec["currency"]) != Currency.parse(currency):
        notes.append(f"{history.name}: quotes in {currency}, rules say {spec['currency']}")
    if spec and spec.get("calendar") != history.calendar:
        notes.append(f"{history.name}: calendar {history.calendar!r} used; rules say "
                     f"{spec.get('calendar')!r}")  # fmt: skip
    if spec and spec.get("listed_limit_frac") != history.limit_frac:
        notes.append(f"{history.name}: price limit {history.limit_frac!r} used; rules say "
                     f"{spec.get('listed_limit_frac')!r}")  # fmt: skip
    block = spec.get("block_limit_frac") if spec else None
    mark = str(spec.get("mark_method", d["mark_method"]))
    if mark not in _MARKS:
        raise DataIntegrityError(f"{table.path} [series.{key}]: mark_method must be in {_MARKS}")
    return MarketParams(
        name=history.name, exchange=str(spec.get("exchange", "unstated")),
        currency=Currency.parse(currency), calendar=history.calendar,
        listed_limit_frac=history.limit_frac, block_limit_frac=block,
        simulation_cap_frac=float(block if block is not None else d["simulation_cap_frac"]),
        mark_method=mark,
        participation_frac=float(spec.get("participation_frac", d["participation_frac"])),
        adv_window_days=int(spec.get("adv_window_days", d["adv_window_days"])),
        max_liquidation_days=int(spec.get("max_liquidation_days", d["max_liquidation_days"])),
        max_mark_age_days=int(spec.get("max_mark_age_days", d["max_mark_age_days"])),
        verified=bool(spec.get("verified", False)),
        origin=f"{table.path} [series.{key}]" if spec else f"{table.path} [defaults]",
        sources=MappingProxyType(src), notes=tuple(notes),
    )  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class LoadedSeries:
    """A series read from a file with the settings applied and what the reader should know."""

    history: PriceHistory
    applied: str
    warnings: tuple[str, ...]


_UNSET = "from-rules"


def load_series(
    path: str | Path,
    *,
    name: str,
    calendar: str | None = _UNSET,
    currency: str | None = _UNSET,
    limit_frac: float | str | None = _UNSET,
    rules: SeriesRules | None = None,
) -> LoadedSeries:
    """Read a daily price file as the series ``name`` and say which calendar and limit apply.

    ``name`` is an engine instrument (SHEA, CEA, CCER), a series of the rules (HBEA, EUA …) or
    any other name; settings not given come from those rules, and a name in neither must be
    given ``calendar`` and ``currency`` (``limit_frac`` ``None`` = no daily limit, stated).
    Rows off the calendar are counted in ``warnings``.

    Raises
    ------
    InvalidInputError
        The file is unreadable, or a setting is missing for a series named nowhere.
    """
    from carbonfin.instruments import Instrument

    table = rules or series_rules()
    key = name.strip().upper()
    inst = next((i for i in Instrument if i.value == key), None)
    spec = table.series.get(key, MappingProxyType({}))
    kwargs: dict[str, Any] = {"strict": False}
    if inst is None:
        kwargs["name"] = name.strip()
        missing = [
            flag for flag, value, field in (("--calendar", calendar, "calendar"),
                                            ("--currency", currency, "currency"))
            if value == _UNSET and field not in spec
        ]  # fmt: skip
        if missing:
            raise InvalidInputError(
                f"{name!r} is not an engine instrument nor a series of {table.path}: give "
                f"{' and '.join(missing)} (and --limit, or 'none' for no daily limit)"
            )
        kwargs["calendar"] = spec.get("calendar") if calendar == _UNSET else calendar
        kwargs["currency"] = spec.get("currency") if currency == _UNSET else currency
        limit = spec.get("listed_limit_frac") if limit_frac == _UNSET else limit_frac
        kwargs["limit_frac"] = None if limit == "none" else limit
    else:
        for arg, value in (("calendar", calendar), ("currency", currency),
                           ("limit_frac", limit_frac)):  # fmt: skip
            if value != _UNSET:
                kwargs[arg] = None if value == "none" else value
    history = PriceHistory.from_csv(path, inst, **kwargs)
    limit_text = (
        "no daily price limit" if history.limit_frac is None
        else f"daily price limit ±{history.limit_frac:.0%}"
    )  # fmt: skip
    origin = (
        f"market.toml [{inst.value}]" if inst
        else f"{table.path} [series.{key}]" if spec else "the options given"
    )  # fmt: skip
    applied = (
        f"{history.name}: calendar {history.calendar or 'the file rows'}, {limit_text}, "
        f"prices in {history.currency or 'an unstated currency'} (from {origin})"
    )
    off = history.flag_counts()["non_business_day"]
    warns = (
        (f"{off} rows of {history.name} fall on days that are not business days of the "
         f"{history.calendar} calendar",) if off else ()
    )  # fmt: skip
    return LoadedSeries(history, applied, warns)
