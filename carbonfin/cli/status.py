"""``carbonfin info`` (what the engine knows: instruments, market rules, loaded data) and
``carbonfin warmup`` (compile the numerical kernels once, so later commands start fast)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import typer

from carbonfin import __version__
from carbonfin.cli._common import Column, Report, command, console, err_console, table


def register(app: typer.Typer) -> None:
    app.command("info")(info)
    app.command("warmup")(warmup)


@command()
def info() -> Report:
    """Print the instruments, their market rules and a summary of the loaded data."""
    from carbonfin.rules import market_rules

    instruments: list[dict[str, Any]] = []
    for instrument, rule in market_rules().items():
        limit = rule.price_limit
        instruments.append(
            {
                "instrument": instrument.value,
                "name": instrument.name_zh,
                "calendar": rule.calendar,
                "first_trade_date": rule.first_trade_date,
                "limit_listed_frac": limit.listed_frac,
                "limit_block_frac": limit.block_frac,
                "limit_assumed": limit.assumed,
                "compliance_deadline_month": rule.compliance_deadline_month,
            }
        )
    shown = [
        {
            **row,
            "limit": f"±{row['limit_listed_frac']:.0%} / ±{row['limit_block_frac']:.0%}"
            + (" (assumed)" if row["limit_assumed"] else ""),
        }
        for row in instruments
    ]
    human: list[Any] = [
        f"carbonfin {__version__}",
        table(
            shown,
            [
                Column("instrument"),
                Column("name"),
                Column("calendar"),
                Column("first_trade_date", "first trade"),
                Column("limit", "limit listed/block"),
                Column("compliance_deadline_month", "deadline", fmt="month {}", numeric=False),
            ],
            title="Instruments and market rules",
        ),
    ]
    calendar, calendar_lines = _calendar_summary(dt.date.today())  # the edge reads the clock
    database, db_human = _database_summary()
    return Report(
        {
            "version": __version__,
            "instruments": instruments,
            "calendars": calendar,
            "database": database,
        },
        [*human, *calendar_lines, *db_human],
    )


def _calendar_summary(today: dt.date) -> tuple[dict[str, Any], list[str]]:
    """Which China calendar years rest on State Council notices, which are provisional."""
    from carbonfin import calendars

    last = calendars.last_published_year()
    lines = [
        f"China calendars ({', '.join(calendars.CALENDAR_NAMES)}): State Council notices on file "
        f"{calendars.FIRST_YEAR}-{last}; {last + 1}-{calendars.LAST_PROJECTED_YEAR} provisional "
        "(projected; answers there warn)"
    ]
    gap = calendars.calendar_horizon_gap(today)
    if gap is not None:
        lines.append(f"calendar horizon: {gap.message}")
    data = {
        "names": list(calendars.CALENDAR_NAMES),
        "first_year": calendars.FIRST_YEAR,
        "last_published_year": last,
        "last_projected_year": calendars.LAST_PROJECTED_YEAR,
        "horizon_gap": None if gap is None else gap.message,
    }
    return data, lines


def _database_summary() -> tuple[dict[str, Any], list[Any]]:
    from carbonfin.cli._data import missing_database_message, sqlite_file_missing
    from carbonfin.store import repositories
    from carbonfin.store.database import (
        current_revision,
        database_url,
        head_revision,
        make_engine,
        parse_url,
        session_scope,
    )

    url = parse_url(database_url())
    name = url.render_as_string(hide_password=True)
    head = head_revision()
    missing = sqlite_file_missing(url)
    if missing is not None:  # never create the file just to look at it
        return (
            {"url": name, "state": "missing", "revision": None, "newest": head},
            [f"{missing_database_message(missing)}: `carbonfin db upgrade` creates it"],
        )
    engine = make_engine(url)
    revision = current_revision(engine)
    state: dict[str, Any] = {"url": name, "revision": revision, "newest": head}
    if revision is None:
        state["state"] = "empty"
        return state, [
            f"database {name}: empty; run `carbonfin db upgrade` and `carbonfin db seed`"
        ]
    if revision != head:
        state["state"] = "behind"
        return state, [
            f"database {name} at revision {revision}, newest {head}: run `carbonfin db upgrade`"
        ]
    state["state"] = "current"
    with session_scope(engine) as session:
        summary = repositories.data_summary(session=session)
    prices = [
        {
            "instrument": inst,
            "first_day": first,
            "last_day": last,
            "business_days": n,
            "days_traded": traded,
        }
        for inst, (first, last, n, traded) in sorted(summary["price_ranges"].items())
    ]
    counts = {"banks": summary["banks"], **summary["counts"]}
    state["prices"] = prices
    state["rows"] = counts
    human: list[Any] = [f"database {name}: migration {revision} (newest {head})"]
    if prices:
        human.append(
            table(
                prices,
                [
                    Column("instrument"),
                    Column("first_day", "first day"),
                    Column("last_day", "last day"),
                    Column("business_days", "business days", fmt="{:,}"),
                    Column("days_traded", "days traded", fmt="{:,}"),
                ],
                title="Prices loaded",
            )
        )
    else:
        human.append("the database holds no prices: run `carbonfin db seed`")
    rows = [{"what": k.replace("_", " "), "rows": v} for k, v in counts.items() if k != "prices"]
    human.append(table(rows, [Column("what"), Column("rows", fmt="{:,}")], title="Data loaded"))
    return state, human


@command()
def warmup() -> Report:
    """Compile the numerical kernels (pricing, implied volatility, book valuation, the scores' input
    hash) once and cache
    them (``make run`` does this), so the first pricing or valuation command starts in seconds."""
    from carbonfin.pricing import _jit

    cached = _jit.kernels_cached()
    if not cached:
        err_console.print("compiling kernels (first run only)…")
    start = time.perf_counter()
    _jit.load_kernels()
    seconds = time.perf_counter() - start
    how = "loaded from the cache" if cached else "compiled and cached"
    return Report(
        {"compiled": not cached, "seconds": round(seconds, 3), "cache_dir": str(_jit.cache_dir())},
        [f"kernels {how} in {seconds:.1f} s (cache: {_jit.cache_dir()})"],
    )


__all__ = ["console", "register"]
