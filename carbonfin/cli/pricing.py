"""`carbonfin price ...` and `carbonfin vol ...`: option prices, marks, forwards, volatility fits
and scenarios from the command line."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    ExitCode,
    Report,
    check_decimal_unit,
    command,
    err_console,
    fail,
    parse_date,
    restate_source,
    table,
    upper,
    warn,
)
from carbonfin.cli._data import load_prices
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    from carbonfin.pricing import PriceHistory

price_app = typer.Typer(
    help="Price options, marks and forwards of carbon allowances.", no_args_is_help=True
)
vol_app = typer.Typer(
    help="Volatility of allowance prices: fits, selection, scenarios.", no_args_is_help=True
)

InstrumentArg = Annotated[str, typer.Argument(help="SHEA, CEA or CCER (any case)")]
# bounds: a year fraction beyond 100 years or a window beyond a year of business days is a typo
MAX_EXPIRY_YEARS = 100.0
MAX_WINDOW_DAYS = 260
VOL_WARN_ABOVE = 2.0  # an annualised vol above 200% is almost surely a percentage


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(price_app, name="price")
    app.add_typer(vol_app, name="vol")


def _date(text: str | None, name: str) -> dt.date | None:
    return None if text is None else parse_date(text, name)


def _history(instrument: str, start: str | None = None, end: str | None = None) -> PriceHistory:
    from carbonfin.pricing import PriceHistory

    inst = Instrument.parse(upper(instrument))
    history = PriceHistory.from_frame(load_prices(inst), inst)
    s, e = _date(start, "start"), _date(end, "end")
    return history.between(s, e) if (s or e) else history


def _kernels_ready() -> None:
    """Say so before the numba kernels compile (first run after install only)."""
    from carbonfin.pricing import _jit

    if not _jit.kernels_cached():
        err_console.print("compiling kernels (first run only; `carbonfin warmup` does it ahead)…")


def _check_market_units(vol: float | None, rate: float) -> None:
    if vol is not None:
        check_decimal_unit(vol, "--vol", "volatility", above=VOL_WARN_ABOVE)
    check_decimal_unit(rate, "--rate", "the rate")


Expiry = Annotated[
    float,
    typer.Option(min=0.0, max=MAX_EXPIRY_YEARS, help="time to expiry in years (ACT/365F)"),
]


@price_app.command("option")
@command(flags={"expiry_years": "--expiry"})
def option_cmd(
    forward: Annotated[float, typer.Option(help="forward/futures price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Expiry,
    vol: Annotated[float, typer.Option(help="annualised volatility, decimal (0.45 = 45%)")],
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    put: Annotated[bool, typer.Option("--put", help="a put instead of a call")] = False,
) -> Report:
    """Black-76 price and greeks of a European option on an allowance forward."""
    _check_market_units(vol, rate)
    _kernels_ready()
    from carbonfin.pricing import black76_greeks

    g = black76_greeks(forward, strike, expiry, vol, rate, not put)
    kind = "put" if put else "call"
    rows = [
        {"measure": "price", "value": float(g.price), "unit": "CNY/t"},
        {"measure": "delta", "value": float(g.delta), "unit": "per 1 CNY/t of forward"},
        {"measure": "gamma", "value": float(g.gamma), "unit": "per (CNY/t)^2"},
        {"measure": "vega", "value": float(g.vega_per_point), "unit": "per vol point (0.01)"},
        {"measure": "theta", "value": float(g.theta_per_day), "unit": "per calendar day"},
        {"measure": "rho", "value": float(g.rho) / 100, "unit": "per 1% of rate"},
    ]
    inputs = {
        "forward": forward,
        "strike": strike,
        "expiry_years": expiry,
        "vol": vol,
        "rate": rate,
        "kind": kind,
    }
    title = f"Black-76 {kind}: F={forward:g} K={strike:g} T={expiry:g}y vol={vol:.2%} r={rate:.3%}"
    return Report(
        {
            "inputs": inputs,
            "price_cny_per_t": rows[0]["value"],
            "delta": rows[1]["value"],
            "gamma": rows[2]["value"],
            "vega_per_point": rows[3]["value"],
            "theta_per_day": rows[4]["value"],
            "rho_per_percent": rows[5]["value"],
        },
        [
            table(
                rows,
                [Column("measure"), Column("value", fmt="{:.6f}"), Column("unit")],
                title=title,
            )
        ],
    )


@price_app.command("implied-vol")
@command(flags={"expiry_years": "--expiry"})
def implied_vol_cmd(
    price: Annotated[float, typer.Option(help="option price, CNY/t")],
    forward: Annotated[float, typer.Option(help="forward price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Expiry,
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    put: Annotated[bool, typer.Option("--put")] = False,
) -> Report:
    """Black-76 implied volatility of an option price (or why there is none)."""
    if price < 0:  # bad input (2), not a price the market could quote with no volatility (6)
        raise fail(f"`--price` must be >= 0 (an option price is never negative); got {price!r}")
    _check_market_units(None, rate)
    _kernels_ready()
    import numpy as np

    from carbonfin.pricing import solve_implied_vol

    res = solve_implied_vol(price, forward, strike, expiry, rate, not put)
    if not bool(res.solved):
        reason = str(np.asarray(res.reasons()).reshape(-1)[0])
        # README, exit codes: a price with no volatility (no time value, below intrinsic, above
        # the maximum, --expiry 0) or no convergence is "no answer", 6; only a price that is not
        # a number (nan, inf) is bad input, 2, as the market flags the solver refuses are
        code = ExitCode.NO_ANSWER if math.isfinite(price) else ExitCode.BAD_INPUT
        raise fail(f"no implied volatility: {reason}", code)
    vol = float(res.vol)
    return Report({"implied_vol": vol}, [f"implied volatility {vol:.6%}"])


@price_app.command("american")
@command(flags={"expiry_years": "--expiry"})
def american_cmd(
    spot: Annotated[float, typer.Option(help="spot price, CNY/t")],
    strike: Annotated[float, typer.Option(help="strike, CNY/t")],
    expiry: Expiry,
    vol: Annotated[float, typer.Option(help="annualised volatility, decimal")],
    rate: Annotated[float, typer.Option(help="continuously compounded rate, decimal")],
    net_carry: Annotated[
        float, typer.Option(help="c - y: holding cost minus convenience yield, decimal")
    ] = 0.0,
    put: Annotated[bool, typer.Option("--put")] = False,
    method: Annotated[str, typer.Option(help="baw or binomial")] = "baw",
) -> Report:
    """American option on a spot allowance (QuantLib)."""
    _check_market_units(vol, rate)
    check_decimal_unit(net_carry, "--net-carry", "the net carry")
    from carbonfin.pricing import american_option

    res = american_option(
        spot,
        strike,
        expiry,
        vol,
        rate,
        net_carry=net_carry,
        call=not put,
        method=method.strip().lower(),  # type: ignore[arg-type]
    )
    kind = "put" if put else "call"
    return Report(
        {
            "kind": kind,
            "method": res.method,
            "expiry_days": res.expiry_days,
            "price_cny_per_t": res.price,
            "european_price_cny_per_t": res.european_price,
            "early_exercise_premium_cny_per_t": res.early_exercise_premium,
        },
        [
            f"American {kind} ({res.method}, {res.expiry_days} days): "
            f"{res.price:.6f} CNY/t; European {res.european_price:.6f} CNY/t; "
            f"early-exercise premium {res.early_exercise_premium:.6f} CNY/t"
        ],
    )


@price_app.command("mark")
@command(data=True, flags={"window_days": "--window", "as_of": "--on", "max_age_days": "--max-age"})
def mark_cmd(
    instrument: InstrumentArg,
    on: Annotated[str, typer.Option(help="valuation date YYYY-MM-DD")],
    method: Annotated[str, typer.Option(help="close or vwap")] = "close",
    window: Annotated[
        int, typer.Option(min=1, max=MAX_WINDOW_DAYS, help="VWAP window in business days")
    ] = 5,
    max_age: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_WINDOW_DAYS,
            help="maximum age of the last trade in business days (default: rules)",
        ),
    ] = None,
) -> Report:
    """The valuation mark of an instrument on a date (last close or N-day VWAP), with the flags
    of the quotes it used; a mark older than the maximum age is refused."""
    as_of = parse_date(on, "on")
    history = _history(instrument)
    m = history.mark(
        as_of,
        method=method.strip().lower(),  # type: ignore[arg-type]
        window_days=window,
        max_age_days=max_age,
    )
    held = history.dates[-1]  # the source as of the quotes the mark used, not the file's end
    restate_source(
        f"{m.name} prices", m.last_date, f"the mark for {m.as_of}; quotes held to {held}"
    )
    return Report(
        {
            "instrument": m.name,
            "as_of": m.as_of,
            "method": m.method,
            "window_days": m.window_days,
            "price_per_t": m.price_per_t,
            "currency": m.currency,
            "first_date": m.first_date,
            "last_date": m.last_date,
            "trade_days": m.trade_days,
            "volume_t": m.volume_t,
            "age_days": m.age_days,
            "max_age_days": m.max_age_days,
            "flags": {name: list(dates) for name, dates in m.flags.items()},
            "excluded": list(m.excluded),
            "calendar": m.calendar,
            "provisional_years": list(m.provisional_years),
            "notes": list(m.notes),
        },
        [m.summary()],
    )


@price_app.command("history")
@command(data=True)
def history_cmd(
    instrument: InstrumentArg,
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> Report:
    """Summary of the validated price history and its data-quality flags."""
    history = _history(instrument, start, end)
    closes = history.closes()
    return Report(
        {
            "instrument": history.name,
            "rows": len(history.quotes),
            "first_date": history.dates[0],
            "last_date": history.dates[-1],
            "close_days": len(closes),
            "last_close_per_t": float(closes.iloc[-1]) if len(closes) else None,
            "currency": history.currency,
            "last_close_date": closes.index[-1] if len(closes) else None,
            "limit_frac": history.limit_frac,
            "calendar": history.calendar,
            "max_mark_age_days": history.max_mark_age_days,
            "flags": history.flag_counts(),
        },
        [history.summary()],
    )


def _fit_json(fit: Any) -> dict[str, Any]:
    long_run = fit.unconditional_variance
    return {
        "model": fit.model,
        "dist": fit.dist,
        "mean": fit.mean,
        "n_obs": fit.n_obs,
        "time_unit": fit.time_unit,
        "mean_gap_days": fit.mean_gap_days,
        "initial_variance": fit.initial_variance,
        "loglikelihood": fit.loglikelihood,
        "aic": fit.aic,
        "bic": fit.bic,
        "persistence": fit.persistence,
        "stationary": fit.is_stationary,
        "half_life_steps": fit.half_life,
        "long_run_variance": None if math.isnan(long_run) else long_run,
        "long_run_note": fit.long_run_note,
        "params": dict(fit.params),
        "std_errors": dict(fit.std_errors),
        "warnings": list(fit.warnings),
    }


@vol_app.command("fit")
@command(data=True)
def fit_cmd(
    instrument: InstrumentArg,
    model: Annotated[str, typer.Option(help="garch, gjr or egarch")] = "garch",
    dist: Annotated[str, typer.Option(help="normal, t or skewt")] = "t",
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    per: Annotated[
        str, typer.Option(help="business_day (gap-aware, per business day) or trade")
    ] = "business_day",
) -> Report:
    """Fit a GARCH-family model to the instrument's returns and print the summary."""
    import warnings

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import fit_garch

    per = per.strip().lower()
    if per not in ("business_day", "trade"):
        raise InvalidInputError(f"`per` must be business_day or trade; got {per!r}")
    returns = _history(instrument, start, end).returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # kept on the fit, reported below
        fit = fit_garch(
            returns,
            model.strip().lower(),  # type: ignore[arg-type]
            dist.strip().lower(),  # type: ignore[arg-type]
            time_unit=per,  # type: ignore[arg-type]
        )
    for text in fit.warnings:  # stderr and the JSON's warnings, not the result on stdout
        warn(text)
    data = _fit_json(fit)
    data["next_vol"] = fit.next_vol()
    data["annualised_vol"] = fit.annualised_vol()
    return Report(data, [fit.summary(with_warnings=False)])


@vol_app.command("select")
@command(data=True)
def select_cmd(
    instrument: InstrumentArg,
    criterion: Annotated[str, typer.Option(help="aic or bic")] = "bic",
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> Report:
    """Fit GARCH, GJR and EGARCH with normal, t and skew-t innovations; rank them."""
    import warnings

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import select_model

    returns = _history(instrument, start, end).returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # kept on each fit, reported below
        selection = select_model(returns, criterion=criterion.strip().lower())  # type: ignore[arg-type]
    for fit in selection.fits:  # stderr and the JSON's warnings, not the ranking on stdout
        for text in fit.warnings:
            warn(f"{fit.model}-{fit.dist}: {text}")
    return Report(
        {
            "criterion": selection.criterion,
            "best_rank": selection.best_rank,
            "best_is_stationary": selection.best_is_stationary,
            "note": selection.note,
            "fits": [_fit_json(f) for f in selection.fits],
            "failures": [
                {"model": m, "dist": d, "reason": why} for m, d, why in selection.failures
            ],
        },
        [selection.summary(with_warnings=False)],
    )


@vol_app.command("scenarios")
@command(data=True, flags={"horizon_days": "--days", "n_paths": "--paths"})
def scenarios_cmd(
    instrument: InstrumentArg,
    days: Annotated[int, typer.Option(min=1, max=2600, help="horizon in business days")] = 10,
    paths: Annotated[int, typer.Option(min=100, max=1_000_000, help="number of paths")] = 10_000,
    method: Annotated[str, typer.Option(help="fhs, t or merton")] = "fhs",
    seed: Annotated[int, typer.Option(min=0)] = 0,
    model: Annotated[str, typer.Option(help="volatility model for fhs")] = "gjr",
    jump_intensity: Annotated[
        float, typer.Option(help="merton: jumps per business day (0.05 = about one a month)")
    ] = 0.05,
    jump_share: Annotated[
        float, typer.Option(help="merton: share of the daily variance that comes from jumps")
    ] = 0.5,
) -> Report:
    """Simulate price paths from the latest close and print the horizon-return quantiles.

    fhs: filtered historical simulation on the fitted model; t: Student-t calibrated from the
    fit (calibrate_student_t); merton: jump-diffusion calibrated from the returns
    (calibrate_merton). Daily moves are capped at the instrument's price limit.
    """
    import warnings

    import numpy as np

    from carbonfin.errors import CarbonfinWarning
    from carbonfin.pricing import (
        calibrate_merton,
        calibrate_student_t,
        filtered_historical,
        fit_garch,
    )

    method = method.strip().lower()
    if method not in ("fhs", "t", "merton"):
        raise InvalidInputError(f"`method` must be fhs, t or merton; got {method!r}")
    history = _history(instrument)
    start_price = float(history.closes().iloc[-1])
    inst = Instrument.parse(upper(instrument))
    returns = history.returns()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", CarbonfinWarning)  # stated in the notes printed below
        if method == "merton":
            sim = calibrate_merton(
                returns, jump_intensity_daily=jump_intensity, jump_share=jump_share
            ).simulate(start_price, days, paths, seed=seed, instrument=inst)
        else:
            fit = fit_garch(returns, model.strip().lower(), "t")  # type: ignore[arg-type]
            if method == "fhs":
                sim = filtered_historical(fit, start_price, days, paths, seed=seed, instrument=inst)
            else:
                sim = calibrate_student_t(fit).simulate(
                    start_price, days, paths, seed=seed, instrument=inst
                )
            sim = sim.with_notes(*(f"fit: {w}" for w in fit.warnings))
    h = sim.horizon_returns()
    levels = (0.01, 0.05, 0.5, 0.95, 0.99)
    quantiles = np.quantile(h, levels)
    return Report(
        {
            "instrument": inst.value,
            "method": sim.method,
            "paths": sim.n_paths,
            "horizon_days": sim.horizon_days,
            "start_price_cny_per_t": sim.start_price,
            "seed": sim.seed,
            "limit_frac": sim.limit_frac,
            "horizon_return_quantiles": {
                f"{level:g}": float(q) for level, q in zip(levels, quantiles, strict=True)
            },
            "var_99": sim.value_at_risk(0.99),
            "worst_path_return": float(h.min()),
            "notes": list(sim.notes),
        },
        [sim.summary()],
    )
