"""`carbonfin price ...` and `carbonfin vol ...`: option prices, marks, forwards, volatility fits
and scenarios from the command line."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, fail, parse_date
from carbonfin.cli._data import load_prices
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

price_app = typer.Typer(
    help="Price options, marks and forwards of carbon allowances.", no_args_is_help=True
)
vol_app = typer.Typer(
    help="Volatility of allowance prices: fits, selection, scenarios.", no_args_is_help=True
)

InstrumentArg = Annotated[str, typer.Argument(help="SHEA, CEA or CCER")]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(price_app, name="price")
    app.add_typer(vol_app, name="vol")


def _date(text: str | None, name: str) -> dt.date | None:
    return None if text is None else parse_date(text, name)


def _history(instrument: str, start: str | None = None, end: str | None = None):  # type: ignore[no-untyped-def]
    from carbonfin.pricing import PriceHistory

    inst = Instrument.parse(instrument)
    history = PriceHistory.from_frame(load_prices(inst), inst)
    s, e = _date(start, "start"), _date(end, "end")
    return history.between(s, e) if (s or e) else history


@price_app.command("option")
@clean_errors
def option_cmd(
    forward: Annotated[float, typer.Option(help="forward/futures price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Annotated[float, typer.Option(help="time to expiry in years (ACT/365F)")],
    vol: Annotated[float, typer.Option(help="annualised volatility, decimal (0.45 = 45%)")],
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    put: Annotated[bool, typer.Option("--put", help="a put instead of a call")] = False,
) -> None:
    """Black-76 price and greeks of a European option on an allowance forward."""
    from carbonfin.pricing import black76_greeks

    g = black76_greeks(forward, strike, expiry, vol, rate, not put)
    kind = "put" if put else "call"
    table = Table(
        title=f"Black-76 {kind}: F={forward:g} K={strike:g} T={expiry:g}y "
        f"vol={vol:.2%} r={rate:.3%}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    rows = [
        ("price", float(g.price), "CNY/t"),
        ("delta", float(g.delta), "per 1 CNY/t of forward"),
        ("gamma", float(g.gamma), "per (CNY/t)^2"),
        ("vega", float(g.vega_per_point), "per vol point (0.01)"),
        ("theta", float(g.theta_per_day), "per calendar day"),
        ("rho", float(g.rho) / 100, "per 1% of rate"),
    ]
    for name, value, unit in rows:
        table.add_row(name, f"{value:.6f}", unit)
    console.print(table)


@price_app.command("implied-vol")
@clean_errors
def implied_vol_cmd(
    price: Annotated[float, typer.Option(help="option price, CNY/t")],
    forward: Annotated[float, typer.Option(help="forward price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Annotated[float, typer.Option(help="years (ACT/365F)")],
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    put: Annotated[bool, typer.Option("--put")] = False,
) -> None:
    """Black-76 implied volatility of an option price (or why there is none)."""
    import numpy as np

    from carbonfin.pricing import solve_implied_vol

    res = solve_implied_vol(price, forward, strike, expiry, rate, not put)
    if not bool(res.solved):
        reason = str(np.asarray(res.reasons()).reshape(-1)[0])
        raise fail(f"no implied volatility: {reason}")
    console.print(f"implied volatility {float(res.vol):.6%}")


@price_app.command("american")
@clean_errors
def american_cmd(
    spot: Annotated[float, typer.Option(help="spot price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Annotated[float, typer.Option(help="years (ACT/365F)")],
    vol: Annotated[float, typer.Option(help="annualised volatility, decimal")],
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    net_carry: Annotated[
        float, typer.Option(help="c - y: holding cost minus convenience yield")
    ] = 0.0,
    put: Annotated[bool, typer.Option("--put")] = False,
    method: Annotated[str, typer.Option(help="baw or binomial")] = "baw",
) -> None:
    """American option on a spot allowance (QuantLib)."""
    from carbonfin.pricing import american_option

    res = american_option(
        spot,
        strike,
        expiry,
        vol,
        rate,
        net_carry=net_carry,
        call=not put,
        method=method,  # type: ignore[arg-type]
    )
    console.print(
        f"American {'put' if put else 'call'} ({res.method}, {res.expiry_days} days): "
        f"{res.price:.6f} CNY/t; European {res.european_price:.6f}; "
        f"early-exercise premium {res.early_exercise_premium:.6f}"
    )


@price_app.command("mark")
@clean_errors
def mark_cmd(
    instrument: InstrumentArg,
    on: Annotated[str, typer.Option(help="valuation date YYYY-MM-DD")],
    method: Annotated[str, typer.Option(help="close or vwap")] = "close",
    window: Annotated[int, typer.Option(help="VWAP window in business days")] = 5,
    max_age: Annotated[
        int | None,
        typer.Option(help="maximum age of the last trade in business days (default: rules)"),
    ] = None,
) -> None:
    """The valuation mark of an instrument on a date (last close or N-day VWAP), with the flags
    of the quotes it used; a mark older than the maximum age is refused."""
    as_of = _date(on, "on")
    assert as_of is not None
    m = _history(instrument).mark(as_of, method=method, window_days=window, max_age_days=max_age)
    console.print(m.summary(), highlight=False)


@price_app.command("history")
@clean_errors
def history_cmd(
    instrument: InstrumentArg,
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Summary of the validated price history and its data-quality flags."""
    console.print(_history(instrument, start, end).summary(), highlight=False)


@vol_app.command("fit")
@clean_errors
def fit_cmd(
    instrument: InstrumentArg,
    model: Annotated[str, typer.Option(help="garch, gjr or egarch")] = "garch",
    dist: Annotated[str, typer.Option(help="normal, t or skewt")] = "t",
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    per: Annotated[
        str, typer.Option(help="business_day (gap-aware, per business day) or trade")
    ] = "business_day",
) -> None:
    """Fit a GARCH-family model to the instrument's returns and print the summary."""
    import warnings

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import fit_garch

    if per not in ("business_day", "trade"):
        raise InvalidInputError(f"`--per` must be business_day or trade; got {per!r}")
    returns = _history(instrument, start, end).returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # kept on the fit, printed below
        fit = fit_garch(returns, model, dist, time_unit=per)  # type: ignore[arg-type]
    console.print(fit.summary(), highlight=False)


@vol_app.command("select")
@clean_errors
def select_cmd(
    instrument: InstrumentArg,
    criterion: Annotated[str, typer.Option(help="aic or bic")] = "bic",
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Fit GARCH, GJR and EGARCH with normal, t and skew-t innovations; rank them."""
    import warnings

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import select_model

    returns = _history(instrument, start, end).returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # the summary states them
        selection = select_model(returns, criterion=criterion)  # type: ignore[arg-type]
    console.print(selection.summary(), highlight=False)


@vol_app.command("scenarios")
@clean_errors
def scenarios_cmd(
    instrument: InstrumentArg,
    days: Annotated[int, typer.Option(help="horizon in business days")] = 10,
    paths: Annotated[int, typer.Option(help="number of paths")] = 10_000,
    method: Annotated[str, typer.Option(help="fhs, t or merton")] = "fhs",
    seed: Annotated[int, typer.Option()] = 0,
    model: Annotated[str, typer.Option(help="volatility model for fhs")] = "gjr",
    jump_intensity: Annotated[
        float, typer.Option(help="merton: jumps per business day (0.05 = about one a month)")
    ] = 0.05,
    jump_share: Annotated[
        float, typer.Option(help="merton: share of the daily variance that comes from jumps")
    ] = 0.5,
) -> None:
    """Simulate price paths from the latest close and print the horizon-return quantiles.

    fhs: filtered historical simulation on the fitted model; t: Student-t calibrated from the
    fit (calibrate_student_t); merton: jump-diffusion calibrated from the returns
    (calibrate_merton). Daily moves are capped at the instrument's price limit.
    """
    import warnings

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import (
        calibrate_merton,
        calibrate_student_t,
        filtered_historical,
        fit_garch,
    )

    if method not in ("fhs", "t", "merton"):
        raise InvalidInputError(f"`method` must be fhs, t or merton; got {method!r}")
    history = _history(instrument)
    start_price = float(history.closes().iloc[-1])
    inst = history.instrument
    returns = history.returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # stated in the notes printed below
        if method == "merton":
            sim = calibrate_merton(
                returns, jump_intensity_daily=jump_intensity, jump_share=jump_share
            ).simulate(start_price, days, paths, seed=seed, instrument=inst)
        else:
            fit = fit_garch(returns, model, "t")  # type: ignore[arg-type]
            if method == "fhs":
                sim = filtered_historical(fit, start_price, days, paths, seed=seed, instrument=inst)
            else:
                sim = calibrate_student_t(fit).simulate(
                    start_price, days, paths, seed=seed, instrument=inst
                )
            sim = sim.with_notes(*(f"fit: {w}" for w in fit.warnings))
    console.print(sim.summary(), highlight=False)
