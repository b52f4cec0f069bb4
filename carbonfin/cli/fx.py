"""`carbonfin fx ...` and `carbonfin eligibility check`: conversion, spot dates, forwards,
currency-mismatch haircuts and overseas-participant eligibility."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    ExitCode,
    Money,
    Report,
    check_decimal_unit,
    command,
    fail,
    money,
    parse_date,
    parse_decimal,
    restate_source,
    table,
    upper,
)
from carbonfin.cli._data import load_fx_fixings
from carbonfin.conventions import format_money
from carbonfin.errors import InvalidInputError

fx_app = typer.Typer(help="FX conversion, spot dates, forwards and haircuts.", no_args_is_help=True)
eligibility_app = typer.Typer(help="Overseas-participant eligibility.", no_args_is_help=True)

#: The secured-lending minimum holding period of Basel CRE22.54 (docs/fx.md): 20 business days.
DEFAULT_HOLDING_DAYS = 20

#: A complete example participant file (``carbonfin eligibility check --example``; docs/fx.md).
EXAMPLE_PARTICIPANT: dict[str, str] = {
    "name": "Example Asset Management Pte. Ltd.",
    "institution_type": "fund_manager",
    "jurisdiction": "SG",
    "channel": "cips",
    "cips_participant_bic": "EXAMSGSG",
    "settlement_currency": "CNY",
    "funding_currency": "CNH",
    "kyc_status": "verified",
    "kyc_expiry": "2027-06-30",
}


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(fx_app, name="fx")
    app.add_typer(eligibility_app, name="eligibility")


@fx_app.command("convert")
@command(data=True, flags={"from_ccy": "FROM_CCY", "to_ccy": "TO_CCY"})
def convert_cmd(
    amount: Annotated[str, typer.Argument(help="amount to convert (a decimal number)")],
    from_ccy: Annotated[str, typer.Argument(help="currency of the amount, e.g. USD")],
    to_ccy: Annotated[str, typer.Argument(help="target currency, e.g. CNY")],
    on: Annotated[str, typer.Option(help="date YYYY-MM-DD")],
    max_age_days: Annotated[
        int, typer.Option(min=0, max=366, help="staleness limit in calendar days")
    ] = 10,
) -> Report:
    """Convert an amount at the fixing of a date (or the last one before it, and why)."""
    from carbonfin.fx import RateStore, convert

    value = parse_decimal(amount, "amount")
    when = parse_date(on, "on")
    store = RateStore(load_fx_fixings())
    result = convert(
        str(value), upper(from_ccy), upper(to_ccy), on=when, store=store, max_age_days=max_age_days
    )
    q = result.quote
    if q.legs:  # the source as of the fixings used, not the end of the data read
        restate_source("FX fixings", max(q.fixing_dates),
                       f"the newest fixing used for {q.requested_date}")  # fmt: skip
    # the amount as given, never rounded to its currency's minor units (1000.5 JPY was shown
    # "1,001 JPY" beside a result computed from 1000.5); as /v1/fx/convert answers it
    src = Money(Decimal(format_money(result.amount, result.currency)), result.currency.code)
    dst = money(result.converted, result.to_currency)
    route = " x ".join(q.route)
    legs = [
        {
            "pair": leg.label,
            "rate": float(leg.rate),
            "fixing_date": leg.fixing_date,
            "reason": leg.reason,
        }
        for leg in q.legs
    ]
    human: list[Any] = [
        f"{src} = {dst}",
        f"rate {q.rate:.8g} {q.quote.code} per {q.base.code} via {route}",
    ]
    if len(q.legs) <= 1:
        human += [
            f"fixing date used: {q.fixing_date} (requested {q.requested_date})",
            f"why: {q.reason}",
        ]
    else:
        human.append(f"requested {q.requested_date}; each leg:")
        human += [
            f"  {leg.label} {leg.rate} fixed {leg.fixing_date}: {leg.reason}" for leg in q.legs
        ]
    return Report(
        {
            "amount": src,
            "converted": dst,
            "rate": float(q.rate),
            "rate_quote": q.quote.code,
            "rate_base": q.base.code,
            "route": list(q.route),
            "requested_date": q.requested_date,
            "fixing_date": q.fixing_date,
            "reason": q.reason,
            "legs": legs,
        },
        human,
    )


@fx_app.command("spot-date")
@command()
def spot_date_cmd(
    trade_date: Annotated[str, typer.Argument(help="trade date YYYY-MM-DD")],
    pair: Annotated[str, typer.Argument(help="pair, e.g. USD/CNY")],
    lag: Annotated[
        int | None, typer.Option(min=0, max=10, help="business days (default: the pair's)")
    ] = None,
) -> Report:
    """The spot value date of an FX trade on the joint calendar of the pair (and USD)."""
    from carbonfin.fx import spot_date

    trade = parse_date(trade_date, "trade_date")
    value_date = spot_date(trade, upper(pair), lag)
    return Report(
        {"pair": upper(pair), "trade_date": trade, "spot_date": value_date},
        [f"{upper(pair)} traded {trade}: spot {value_date}"],
    )


def _leg_rate(currency: str, rate: float, index: str | None, day_count: str | None) -> object:
    from carbonfin.conventions import MoneyMarketRate

    if index and day_count:
        raise InvalidInputError("give an index or a day count for a rate, not both")
    if index:
        return MoneyMarketRate.fixing(upper(index), rate)
    if day_count:
        return MoneyMarketRate(rate, day_count)  # type: ignore[arg-type]
    return MoneyMarketRate.for_currency(currency, rate)


@fx_app.command("forward")
@command()
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
) -> Report:
    """Covered-interest-parity forward rate and forward points.

    Each rate is read on its index's convention, or on a given day count, or else on its
    currency's money-market day count (printed with the result).
    """
    from carbonfin.fx import Pair, forward_rate

    check_decimal_unit(base_rate, "--base-rate", "the rate")
    check_decimal_unit(quote_rate, "--quote-rate", "the rate")
    p = Pair.parse(upper(pair))
    base = _leg_rate(p.base.code, base_rate, base_index, base_day_count)
    quote = _leg_rate(p.quote.code, quote_rate, quote_index, quote_day_count)
    end = end.strip()
    end_arg: dt.date | str = (
        end.upper() if end[:1].isdigit() and "-" not in end else parse_date(end, "end")
    )
    q = forward_rate(p, spot, base, quote, parse_date(start, "start"), end_arg)  # type: ignore[arg-type]
    rolled = f" (asked {q.requested_end}, rolled Modified Following)" if q.end_rolled else ""
    return Report(
        {
            "pair": f"{q.pair.base.code}/{q.pair.quote.code}",
            "spot": q.spot,
            "forward": q.forward,
            "points": q.points,
            "start": q.start,
            "end": q.end,
            "requested_end": q.requested_end,
            "regime": q.regime,
            "method": q.method,
            "base_day_count": q.base_day_count,
            "quote_day_count": q.quote_day_count,
        },
        [
            f"{q.pair} forward {q.start}..{q.end}{rolled}: {q.forward:.6f} "
            f"({q.points:+.2f} points; {q.regime})",
            f"method: {q.method}",
        ],
    )


@fx_app.command("haircut")
@command()
def haircut_cmd(
    loan_currency: Annotated[str, typer.Argument(help="currency of the loan, e.g. CNY")],
    collateral_currency: Annotated[
        str, typer.Argument(help="currency of the collateral, e.g. USD")
    ],
    holding_days: Annotated[
        int,
        typer.Option(
            min=1,
            max=260,
            help="minimum holding period T_M in business days (20: secured lending, Basel "
            "CRE22.54; see docs/fx.md)",
        ),
    ] = DEFAULT_HOLDING_DAYS,
    remargin_days: Annotated[
        int, typer.Option(min=1, max=260, help="days between revaluations N_R")
    ] = 1,
) -> Report:
    """Basel currency-mismatch haircut, scaled to the holding period."""
    from carbonfin.collateral.currency import currency_mismatch_haircut

    h = currency_mismatch_haircut(
        upper(loan_currency),
        upper(collateral_currency),
        holding_days=holding_days,
        remargin_days=remargin_days,
    )
    return Report(
        {
            "loan_currency": h.loan_currency.code,
            "collateral_currency": h.collateral_currency.code,
            "haircut_frac": h.haircut_frac,
            "h10": h.h10,
            "holding_days": h.holding_days,
            "remargin_days": h.remargin_days,
            "method": h.method,
            "source": h.source,
        },
        [
            f"currency-mismatch haircut {h.haircut_frac:.4%} ({h.method}; T_M="
            f"{h.holding_days}, N_R={h.remargin_days}; {h.source or 'same currency'})"
        ],
    )


def _read_participant(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a directory, not a participant JSON file") from None
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"{path} is not UTF-8 text (save the participant file as UTF-8; see "
            "`carbonfin eligibility check --example`)"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} must hold one JSON object")
    return data


@eligibility_app.command("check")
@command(json=True)
def check_cmd(
    participant_file: Annotated[
        Path | None, typer.Argument(help="participant JSON file (see --example)")
    ] = None,
    on: Annotated[str | None, typer.Option(help="decision date (default: today)")] = None,
    market_open: Annotated[
        bool, typer.Option("--assume-open", help="assume overseas participation is open")
    ] = False,
    example: Annotated[
        bool, typer.Option("--example", help="print a complete example participant file")
    ] = False,
) -> Report | None:
    """Decide whether an overseas participant may trade Shanghai allowances, rule by rule.

    Exit code 0 when eligible (with or without enhanced due diligence), 4 when ineligible.
    """
    from carbonfin.fx import evaluate
    from carbonfin.fx.eligibility import Decision

    if example:
        typer.echo(json.dumps(EXAMPLE_PARTICIPANT, indent=2))
        return None
    if participant_file is None:
        raise fail("give a participant JSON file (or --example to print one)")
    data = _read_participant(participant_file)
    when = parse_date(on, "on") if on else dt.date.today()
    decision = evaluate(data, when, market_open=market_open or None)
    sources: list[str] = []
    rows: list[dict[str, Any]] = []
    for r in decision.rules:
        if r.source not in sources:
            sources.append(r.source)
        rows.append(
            {
                "rule": r.rule,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "source": r.source,
                "ref": sources.index(r.source) + 1,
            }
        )
    shown = [{**row, "reason": f"{row['reason']} [{row['ref']}]"} for row in rows]
    human: list[Any] = [
        f"{decision.participant}: {decision.decision.value} on {decision.decided_on} "
        f"(rules {decision.rules_version}; FATF list of {decision.fatf_list})",
        *(f"STALE: {note}" for note in decision.notes),
        table(shown, [Column("rule"), Column("outcome"), Column("reason")]),
        *(f"[{i}] {source}" for i, source in enumerate(sources, start=1)),
    ]
    ineligible = decision.decision is Decision.INELIGIBLE
    return Report(
        {
            "participant": decision.participant,
            "decision": decision.decision.value,
            "decided_on": decision.decided_on,
            "rules_version": decision.rules_version,
            "fatf_list": decision.fatf_list,
            "notes": list(decision.notes),
            "rules": [{k: v for k, v in row.items() if k != "ref"} for row in rows],
        },
        human,
        exit_code=ExitCode.INELIGIBLE if ineligible else ExitCode.OK,
    )
