"""`carbonfin haircut`: a pledge's haircut with its breakdown; and what the collateral commands
share (the model list, the flag names, the progress line).

The book's commands live beside it: ``book value`` in :mod:`carbonfin.cli.book`, ``stress`` in
:mod:`carbonfin.cli.stress`; :func:`register` adds all three."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    DataSource,
    Report,
    command,
    fail,
    money,
    parse_date,
    progress_bar,
    record_source,
    restate_source,
    sources_text,
    table,
    upper,
    warn,
)
from carbonfin.cli._data import load_prices
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    from carbonfin.pricing import PriceHistory

MODELS = "hs (default, chosen out of sample), hs-vw, t, fhs, garch-t, ewma"
FLAGS = {
    "quantity_t": "--quantity",
    "as_of": "--as-of",
    "pledgor_covered": "--covered",
    "adv_t": "--adv",
    "other_position_t": "--other-position",
}
ADV_HELP = (
    "daily volume in tonnes a day, given by you for quotes without volume (a close-only file); "
    "used instead of the measured volume and shown as an assumption"
)


def adv_given(adv_t: float | None) -> list[str]:
    """The line that says a daily volume was given on the command line (none if not)."""
    if adv_t is None:
        return []
    return [
        f"daily volume: {adv_t:,.0f} t a day given by the user with --adv (an assumption, not "
        "measured from the quotes)"
    ]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app: ``haircut`` (here), ``book value``
    (:mod:`carbonfin.cli.book`) and ``stress`` (:mod:`carbonfin.cli.stress`)."""
    from carbonfin.cli.book import book_app
    from carbonfin.cli.stress import stress_cmd

    app.command("haircut")(haircut_cmd)
    app.add_typer(book_app, name="book")
    app.command("stress")(stress_cmd)


def _history(inst: Instrument, prices_csv: Path | None) -> tuple[PriceHistory, str]:
    from carbonfin.pricing import PriceHistory

    if prices_csv is not None:
        history = PriceHistory.from_csv(prices_csv, inst, strict=False)
        record_source(
            DataSource("file", str(prices_csv), f"{inst.value} prices", history.dates[-1])
        )
        return history, f"file {prices_csv}"
    history = PriceHistory.from_frame(load_prices(inst), inst)
    return history, sources_text()


@contextmanager
def progress() -> Iterator[Any]:
    """A transient progress line on stderr (long runs: model fits, scenario simulations)."""
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with progress_bar(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda text: progress.update(task, description=text)


def _series_history(
    csv: Path, name: str, calendar: str | None, currency: str | None, limit: str | None,
    rules: Path | None,
) -> tuple[PriceHistory, str, list[str], Any]:  # fmt: skip
    from carbonfin.collateral.markets import _UNSET, load_series, series_rules

    table = series_rules(rules) if rules is not None else None
    lim: Any = _UNSET
    if limit is not None:
        try:
            lim = None if limit.strip().lower() == "none" else float(limit)
        except ValueError:
            raise InvalidInputError(f"`--limit` must be a fraction such as 0.10 or 'none'; "
                                    f"got {limit!r}") from None  # fmt: skip
    loaded = load_series(csv, name=name, calendar=_UNSET if calendar is None else calendar,
                         currency=_UNSET if currency is None else upper(currency),
                         limit_frac=lim, rules=table)  # fmt: skip
    h = loaded.history
    record_source(DataSource("file", str(csv), f"{h.name} prices", h.dates[-1]))
    for text in loaded.warnings:  # rows off the calendar: stderr and the JSON's warnings
        warn(text)
    return h, f"file {csv}", [loaded.applied], table


@command(data=True, flags=FLAGS)
def haircut_cmd(
    quantity: Annotated[
        float,
        # the API's bound (api/schemas/collateral.py): more than any registry holds
        typer.Option(help="tonnes pledged (at most 1,000,000,000)", max=1_000_000_000),
    ],
    instrument: Annotated[
        str | None, typer.Argument(help="SHEA, CEA or CCER (any case); or use --csv/--name")
    ] = None,
    loan_currency: Annotated[str, typer.Option(help="currency of the loan")] = "CNY",
    as_of: Annotated[str | None, typer.Option(help="valuation date (default: last quote)")] = None,
    model: Annotated[str, typer.Option(help=MODELS)] = "hs",
    measure: Annotated[str, typer.Option(help="var or es")] = "var",
    anti_procyclicality: Annotated[
        str | None, typer.Option(help="buffer (policy default), stressed, floor or none")
    ] = None,
    liquidation: Annotated[str, typer.Option(help="schedule or block")] = "schedule",
    covered: Annotated[
        bool, typer.Option("--covered", help="the pledgor is a covered emitter (wrong-way risk)")
    ] = False,
    book_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of the bank's book, 0-1")
    ] = 0.0,
    other_position: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1_000_000_000,
            help="tonnes of the same series the pledgor has pledged at the bank in other "
            "pledges (the position sold together)",
        ),
    ] = 0.0,
    adv: Annotated[float | None, typer.Option(help=ADV_HELP)] = None,
    prices_csv: Annotated[
        Path | None, typer.Option(help="read quotes from this CSV (e.g. the real SHEA file)")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(help="any daily price file (date, close and/or vwap, volume)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="series name with --csv: SHEA, HBEA, EUA … or your own")
    ] = None,
    calendar: Annotated[
        str | None, typer.Option(help="China.SSE, TARGET, weekdays … (default: the rules')")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="currency of the prices")] = None,
    limit: Annotated[
        str | None, typer.Option(help="daily price limit, e.g. 0.10, or 'none'")
    ] = None,
    mark: Annotated[str | None, typer.Option(help="close or vwap (default: the rules')")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="series rules TOML (shape of carbonfin/rules/series.toml)")
    ] = None,
) -> Report:
    """The haircut of a pledge, with each component, its inputs and its source."""
    from carbonfin.collateral import haircut

    if csv is not None and prices_csv is not None:
        raise fail(
            "--prices-csv and --csv both name a price file: give one (--prices-csv: quotes of "
            "SHEA, CEA or CCER; --csv: any series, with --name)"
        )
    applied: list[str] = []
    rules_table: Any = None
    with progress() as say:
        if csv is not None:
            if name is None and instrument is None:
                raise InvalidInputError("`--csv` needs `--name` (the series' name)")
            say(f"reading {csv}")
            history, source, applied, rules_table = _series_history(
                csv, name or str(instrument), calendar, currency, limit, rules
            )
        elif instrument is None:
            raise InvalidInputError("name an instrument (SHEA, CEA, CCER) or give --csv and --name")
        else:
            history, source = _history(Instrument.parse(upper(instrument)), prices_csv)
        when = parse_date(as_of, "as_of") if as_of else history.dates[-1]
        say(f"measuring {history.name} market risk ({model})")
        b = haircut(
            history, as_of=when, quantity_t=quantity,
            model=model.strip().lower(),
            loan_currency=upper(loan_currency),
            measure=measure.strip().lower(),  # type: ignore[arg-type]
            anti_procyclicality=anti_procyclicality,  # type: ignore[arg-type]
            liquidation=liquidation.strip().lower(),  # type: ignore[arg-type]
            pledgor_covered=covered, book_share=book_share, data_source=source,
            other_position_t=other_position, adv_t=adv,
            mark_method=None if mark is None else mark.strip().lower(),  # type: ignore[arg-type]
            rules=rules_table,
        )  # fmt: skip
    before = sources_text()
    restate_source(f"{history.name} prices", b.mark_date,
                   f"the mark used for {b.as_of}; quotes held to {history.dates[-1]}")  # fmt: skip
    data_source = b.data_source.replace(before, sources_text(), 1)
    sources: list[str] = []
    rows: list[dict[str, Any]] = []
    for c in b.components:
        if c.source not in sources:
            sources.append(c.source)
        rows.append(
            {
                "component": c.name,
                "haircut_frac": c.frac,
                "method": c.method,
                "inputs": dict(c.inputs),
                "source": c.source,
                "ref": f"[{sources.index(c.source) + 1}]",
            }
        )
    shown = [*rows, {"component": "total", "haircut_frac": b.total}]
    ccy = b.collateral_currency.code
    applied += adv_given(adv)
    liq = b.component("liquidation").inputs
    human: list[Any] = [
        *applied,
        f"{b.series} {b.quantity_t:,.0f} t on {b.as_of}: haircut {b.total:.2%} "
        f"(mark {b.mark_price_per_t:.2f} {ccy}/t of {b.mark_date}; lendable "
        f"{b.lendable_value:,.0f} {ccy} of {b.market_value:,.0f} {ccy})",
        f"model {b.model} {b.measure.upper()} {b.confidence:.1%}, holding {b.holding_days} "
        f"business days, last slice sold on business day {b.liquidation_days}; loan "
        f"{b.loan_currency.code}",
        table(
            shown,
            [
                Column("component"),
                Column("haircut_frac", "haircut", fmt="{:.2%}"),
                Column("method", "how"),
                Column("ref", "source"),
            ],
        ),
        f"rule: {b.rule}",
        *(f"[{i}] {source}" for i, source in enumerate(sources, start=1)),
        *(f"note: {note}" for note in b.notes),
        f"data: {data_source}; policy {b.policy_version}",
    ]
    return Report(
        {
            "instrument": b.instrument.value if b.instrument else None,
            "series": b.series,
            "market_rules": b.market_origin,
            "applied": applied,
            "as_of": b.as_of,
            "quantity_t": b.quantity_t,
            "position_t": liq["position_t"],
            "daily_volume": {
                "adv_t": liq["adv_t"],
                "statistic": liq["adv_statistic"],
                "given_by_user": adv is not None,
            },
            "mark_price_per_t": b.mark_price_per_t,
            "collateral_currency": ccy,
            "mark_date": b.mark_date,
            "market_value": money(b.market_value, ccy),
            "lendable_value": money(b.lendable_value, ccy),
            "haircut_frac": b.total,
            "model": b.model,
            "measure": b.measure,
            "confidence": b.confidence,
            "holding_days": b.holding_days,
            "liquidation_days": b.liquidation_days,
            "loan_currency": b.loan_currency.code,
            "components": [{k: v for k, v in r.items() if k != "ref"} for r in rows],
            "rule": b.rule,
            "notes": list(b.notes),
            "data_source": data_source,
            "policy_version": b.policy_version,
        },
        human,
    )
