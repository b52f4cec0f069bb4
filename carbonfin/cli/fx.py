"""`carbonfin fx ...` and `carbonfin eligibility check`: conversion, spot dates, forwards,
currency-mismatch haircuts and overseas-participant eligibility."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, parse_date
from carbonfin.cli._data import load_fx_fixings
from carbonfin.errors import InvalidInputError

fx_app = typer.Typer(help="FX conversion, spot dates, forwards and haircuts.", no_args_is_help=True)
eligibility_app = typer.Typer(help="Overseas-participant eligibility.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(fx_app, name="fx")
    app.add_typer(eligibility_app, name="eligibility")


@fx_app.command("convert")
@clean_errors
def convert_cmd(
    amount: Annotated[str, typer.Argument(help="amount to convert (a decimal number)")],
    from_ccy: Annotated[str, typer.Argument(help="currency of the amount, e.g. USD")],
    to_ccy: Annotated[str, typer.Argument(help="target currency, e.g. CNY")],
    on: Annotated[str, typer.Option(help="date YYYY-MM-DD")],
    max_age_days: Annotated[int, typer.Option(help="staleness limit in calendar days")] = 10,
) -> None:
    """Convert an amount at the fixing of a date (or the last one before it, and why)."""
    from carbonfin.fx import RateStore, convert

    store = RateStore(load_fx_fixings())
    result = convert(
        amount, from_ccy, to_ccy, on=parse_date(on, "on"), store=store, max_age_days=max_age_days
    )
    q = result.quote
    console.print(
        f"{result.amount} {result.currency.code} = [bold]{result.converted} "
        f"{result.to_currency.code}[/]"
    )
    console.print(f"rate {q.rate:.8g} {q.quote.code} per {q.base.code} via {' x '.join(q.route)}")
    if len(q.legs) <= 1:
        console.print(f"fixing date used: {q.fixing_date} (requested {q.requested_date})")
        console.print(f"why: {q.reason}")
    else:
        console.print(f"requested {q.requested_date}; each leg:")
        for leg in q.legs:
            console.print(f"  {leg.label} {leg.rate} fixed {leg.fixing_date}: {leg.reason}")


@fx_app.command("spot-date")
@clean_errors
def spot_date_cmd(
    trade_date: Annotated[str, typer.Argument(help="trade date YYYY-MM-DD")],
    pair: Annotated[str, typer.Argument(help="pair, e.g. USD/CNY")],
    lag: Annotated[int | None, typer.Option(help="business days (default: the pair's)")] = None,
) -> None:
    """The spot value date of an FX trade on the joint calendar of the pair (and USD)."""
    from carbonfin.fx import spot_date

    value_date = spot_date(parse_date(trade_date, "trade_date"), pair, lag)
    console.print(f"{pair} traded {trade_date}: spot {value_date}")


def _leg_rate(currency: str, rate: float, index: str | None, day_count: str | None) -> object:
    from carbonfin.conventions import MoneyMarketRate

    if index and day_count:
        raise InvalidInputError("give an index or a day count for a rate, not both")
    if index:
        return MoneyMarketRate.fixing(index, rate)
    if day_count:
        return MoneyMarketRate(rate, day_count)  # type: ignore[arg-type]
    return MoneyMarketRate.for_currency(currency, rate)


@fx_app.command("forward")
@clean_errors
def forward_cmd(
    pair: Annotated[str, typer.Argument(help="pair, e.g. USD/CNY")],
    spot: Annotated[float, typer.Option(help="spot, units of QUOTE per 1 BASE")],
    base_rate: Annotated[float, typer.Option(help="BASE money-market rate, decimal")],
    quote_rate: Annotated[float, typer.Option(help="QUOTE money-market rate, decimal")],
    start: Annotated[str, typer.Option(help="start (spot) date")],
    end: Annotated[str, typer.Option(help="end date YYYY-MM-DD or a tenor such as 3M")],
    base_index: Annotated[
        str | None, typer.Option(help="index of the BASE rate (e.g. SOFR): its day count")
    ] = None,
    quote_index: Annotated[
        str | None, typer.Option(help="index of the QUOTE rate (e.g. SHIBOR): its day count")
    ] = None,
    base_day_count: Annotated[str | None, typer.Option(help="day count of the BASE rate")] = None,
    quote_day_count: Annotated[str | None, typer.Option(help="day count of the QUOTE rate")] = None,
) -> None:
    """Covered-interest-parity forward rate and forward points.

    Each rate is read on its index's convention, or on a given day count, or else on its
    currency's money-market day count (printed with the result).
    """
    from carbonfin.fx import Pair, forward_rate

    p = Pair.parse(pair)
    base = _leg_rate(p.base.code, base_rate, base_index, base_day_count)
    quote = _leg_rate(p.quote.code, quote_rate, quote_index, quote_day_count)
    end_arg: dt.date | str = end if end[:1].isdigit() and "-" not in end else parse_date(end, "end")
    q = forward_rate(p, spot, base, quote, parse_date(start, "start"), end_arg)  # type: ignore[arg-type]
    rolled = f" (asked {q.requested_end}, rolled Modified Following)" if q.end_rolled else ""
    console.print(
        f"{q.pair} forward {q.start}..{q.end}{rolled}: [bold]{q.forward:.6f}[/] "
        f"({q.points:+.2f} points; {q.regime})"
    )
    console.print(f"method: {q.method}", highlight=False)


@fx_app.command("haircut")
@clean_errors
def haircut_cmd(
    loan_currency: Annotated[str, typer.Argument()],
    collateral_currency: Annotated[str, typer.Argument()],
    holding_days: Annotated[int, typer.Option(help="minimum holding period T_M")] = 10,
    remargin_days: Annotated[int, typer.Option(help="days between revaluations N_R")] = 1,
) -> None:
    """Basel currency-mismatch haircut, scaled to the holding period."""
    from carbonfin.collateral.currency import currency_mismatch_haircut

    h = currency_mismatch_haircut(
        loan_currency, collateral_currency, holding_days=holding_days, remargin_days=remargin_days
    )
    console.print(
        f"currency-mismatch haircut {h.haircut_frac:.4%} ({h.method}; T_M="
        f"{h.holding_days}, N_R={h.remargin_days}; {h.source or 'same currency'})"
    )


@eligibility_app.command("check")
@clean_errors
def check_cmd(
    participant_file: Annotated[Path, typer.Argument(help="participant JSON file")],
    on: Annotated[str | None, typer.Option(help="decision date (default: today)")] = None,
    market_open: Annotated[
        bool, typer.Option("--assume-open", help="assume overseas participation is open")
    ] = False,
) -> None:
    """Decide whether an overseas participant may trade Shanghai allowances, rule by rule."""
    from carbonfin.fx import evaluate

    try:
        data = json.loads(participant_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {participant_file}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{participant_file} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{participant_file} must hold one JSON object")
    when = parse_date(on, "on") if on else dt.date.today()
    decision = evaluate(data, when, market_open=market_open or None)
    console.print(
        f"[bold]{decision.participant}[/]: [bold]{decision.decision.value}[/] on "
        f"{decision.decided_on} (rules {decision.rules_version}; FATF list of "
        f"{decision.fatf_list})"
    )
    for note in decision.notes:
        console.print(f"[yellow]STALE:[/] {note}", highlight=False)
    table = Table()
    for col in ("rule", "outcome", "reason"):
        table.add_column(col, overflow="fold")
    sources: list[str] = []
    for r in decision.rules:
        colour = {"pass": "green", "fail": "red"}.get(r.outcome.value, "yellow")
        if r.source not in sources:
            sources.append(r.source)
        ref = sources.index(r.source) + 1
        table.add_row(r.rule, f"[{colour}]{r.outcome.value}[/]", f"{r.reason} [{ref}]")
    console.print(table)
    for i, source in enumerate(sources, start=1):
        console.print(f"[{i}] {source}", highlight=False, markup=False)
