"""``carbonfin backtest``: replay the VaR and haircut models over price history and write a
report (HTML with plots, JSON and CSV). The work is done by the ``backtests`` package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import Column, Report, command, parse_date, sources_text, table
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    from backtests.runner import Dataset

SUITES = ("standard",)


def _list(text: str, name: str) -> list[str]:
    items = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not items:
        raise InvalidInputError(f"`{name}` must list at least one value; got {text!r}")
    return items


def _ints(text: str, name: str) -> list[int]:
    try:
        return [int(s) for s in _list(text, name)]
    except ValueError:
        raise InvalidInputError(f"`{name}` must be whole numbers separated by commas; "
                                f"got {text!r}") from None  # fmt: skip


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(s) for s in _list(text, name)]
    except ValueError:
        raise InvalidInputError(
            f"`{name}` must be numbers separated by commas; got {text!r}"
        ) from None


def _confidences(text: str) -> list[float]:
    """VaR confidences as decimals; a percentage (``99``) is refused with the decimal it meant."""
    values = _floats(text, "confidences")
    for c in values:
        if 1.0 <= c < 100.0:
            raise InvalidInputError(
                f"`confidences` are decimals in [0.5, 1); got {c:g} (did you mean {c / 100:g}?)"
            )
        if not 0.5 <= c < 1.0:
            raise InvalidInputError(f"`confidences` must be in [0.5, 1); got {c:g}")
    return values


def _suite_lists(
    suite: str | None, models: str | None, horizons: str | None, known: tuple[str, ...]
) -> tuple[list[str], list[int]]:
    """The models and horizons to run: a suite's own, or the options' (never both)."""
    if suite == "standard":
        given = [f for f, v in (("--models", models), ("--horizons", horizons)) if v is not None]
        if given:
            raise InvalidInputError(
                f"{' and '.join(given)} cannot be combined with --suite standard, which runs "
                f"every model at 1, 10 and 20 days; drop --suite to choose them"
            )
        return list(known), [1, 10, 20]
    model_list = _list(models or "hs,ewma,garch-t", "models")
    bad = [m for m in model_list if m not in known]
    if bad:
        raise InvalidInputError(f"`models` must be among {list(known)}; got {bad}")
    return model_list, _ints(horizons or "1,10", "horizons")


#: the terminal's summary: one line per model, horizon and confidence (or pledge size);
#: exceptions against expected, Kupiec's p (at h > 1 and for the haircut: the Bonferroni-combined
#: non-overlapping p), Christoffersen's independence p and the Basel zone
SUMMARY_COLUMNS = [
    Column("series"),
    Column("model"),
    Column("horizon_days", "days"),
    Column("level"),
    Column("exceptions", "exc."),
    Column("expected", "exp."),
    Column("kupiec_p", "Kupiec p"),
    Column("christoffersen_p", "Christ. p"),
    Column("zone", "Basel zone"),
]


def summary_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """The summary table's lines from the report's test rows (``backtests.evaluation``)."""
    out = []
    for r in rows:
        level = f"{r.pledge_t:,.0f} t" if r.kind == "haircut" else f"{r.confidence:.1%}"
        out.append(
            {
                "series": r.dataset,
                "model": r.model.replace(", defaults", ""),
                "horizon_days": r.horizon_days,
                "level": level,
                "exceptions": r.exceptions,
                "expected": round(r.expected, 1),
                "kupiec_p": _p(r.p_value),
                "christoffersen_p": _p(r.independence_p),
                "zone": r.zone,
            }
        )
    return out


def _p(value: float) -> float | None:
    return None if value != value else round(value, 3)  # NaN: no test (too few outcomes)


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    @command(
        data=True,
        flags={
            "horizon_days": "--horizons",
            "n_paths": "--paths",
            "lookback_days": "--lookback",
            "haircut_step_days": "--haircut-step",
            "start": "--from",
            "end": "--to",
            "model": "--models",
            "workers": "--workers",
            "adv_t": "--adv",
        },
    )
    def backtest(
        instrument: Annotated[
            str | None, typer.Option(help="SHEA, CEA or CCER (comma-separated for several)")
        ] = None,
        suite: Annotated[
            str | None, typer.Option(help="'standard': every instrument, model and horizon")
        ] = None,
        csv: Annotated[
            Path | None, typer.Option(help="any daily price file with date and close columns")
        ] = None,
        name: Annotated[
            str | None,
            typer.Option(
                help="--csv series: SHEA, CEA, CCER, a series.toml name (HBEA, EUA …) "
                "or your own with --calendar and --currency"
            ),
        ] = None,
        calendar: Annotated[
            str | None, typer.Option(help="--csv calendar: China.SSE, TARGET, weekdays …")
        ] = None,
        currency: Annotated[str | None, typer.Option(help="--csv price currency")] = None,
        limit: Annotated[
            str | None, typer.Option(help="--csv daily price limit, e.g. 0.10, or 'none'")
        ] = None,
        adv: Annotated[
            float | None,
            typer.Option(
                help="--csv daily volume in tonnes a day for the haircut backtest, given by you "
                "for a file without volume (an assumption, said in the report)",
            ),
        ] = None,
        real: Annotated[
            Path | None, typer.Option(help="the real SHEA quotes file to add to the run")
        ] = None,
        models: Annotated[
            str | None,
            typer.Option(
                help="hs, ewma, garch-t, gjr-t, t … (default hs,ewma,garch-t; "
                "--suite standard: all)"
            ),
        ] = None,
        horizons: Annotated[
            str | None,
            typer.Option(
                help="business days, e.g. 1,10,20 (default 1,10; --suite standard: 1,10,20)"
            ),
        ] = None,
        confidences: Annotated[str, typer.Option(help="VaR confidences")] = "0.99",
        es_level: Annotated[float, typer.Option(help="ES confidence")] = 0.975,
        from_: Annotated[str | None, typer.Option("--from", help="first test date")] = None,
        to: Annotated[str | None, typer.Option(help="last test date")] = None,
        refit_every: Annotated[int, typer.Option(min=1, help="test dates between refits")] = 1,
        windows: Annotated[int, typer.Option(min=1, help="test windows per series")] = 1,
        paths: Annotated[int, typer.Option(min=100, help="FHS paths per forecast")] = 2000,
        lookback: Annotated[
            int | None, typer.Option(min=50, help="lookback in business days (default: policy)")
        ] = None,
        optimizer: Annotated[
            str,
            typer.Option(
                help="GARCH fits: 'compiled' (analytic gradients, ftol 1e-10) or 'arch' "
                "(arch's optimiser, ftol 1e-6: the results before the compiled fits)"
            ),
        ] = "compiled",
        haircut: Annotated[bool, typer.Option(help="also backtest the haircut")] = True,
        haircut_step: Annotated[int, typer.Option(min=1, help="days between haircut dates")] = 1,
        scheduler: Annotated[
            str | None, typer.Option(help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(min=1, help="local processes (default: one per core; 1: this process)"),
        ] = None,
        out: Annotated[Path, typer.Option(help="report folder")] = Path("reports/backtest"),
    ) -> Report:
        """Backtest VaR/ES models and the haircut over price history; write an HTML report."""
        from backtests.engine import MODELS
        from backtests.evaluation import evaluate
        from backtests.report import write_report
        from backtests.runner import default_workers, run, standard_jobs

        model_list, horizon_list = _suite_lists(suite, models, horizons, MODELS)
        if adv is not None and csv is None:
            raise InvalidInputError("`--adv` states the daily volume of a `--csv` file; give one")
        datasets, applied = _datasets(instrument, suite, csv, (name, calendar, currency, limit),
                                      real, adv if haircut else None,
                                      check_volume=haircut)  # inputs checked first  # fmt: skip
        start = parse_date(from_, "--from") if from_ else None
        end = parse_date(to, "--to") if to else None
        params = {
            "models": model_list,
            "horizons_days": horizon_list,
            "confidences": _confidences(confidences),
            "es_level": es_level,
            "from": str(start or "first date with a full lookback"),
            "to": str(end or "last date with a realised outcome"),
            "refit_every": refit_every,
            "garch_optimizer": optimizer,
            "windows": windows,
            "fhs_paths": paths,
            "lookback_days": lookback or "policy (750 business days)",
            "haircut": "policy defaults, pledges of 10,000 / 100,000 / 1,000,000 t" if haircut
            else "not run",
            "adv_t": f"{adv:,.0f} t a day given by the user with --adv (an assumption)" if adv
            else "measured from the quotes",
        }  # fmt: skip
        jobs = standard_jobs(
            datasets,
            models=model_list,
            horizons=horizon_list,
            start=start,
            end=end,
            windows=windows,
            haircut=haircut,
            confidences=tuple(params["confidences"]),  # type: ignore[arg-type]
            es_level=es_level,
            refit_every=refit_every,
            optimizer=optimizer,
            n_paths=paths,
            haircut_step_days=haircut_step,
            **({"lookback_days": lookback} if lookback else {}),
        )
        result = run(datasets, jobs, scheduler=scheduler, workers=workers or default_workers(),
                     progress=True, parameters=params, with_rows=True)  # fmt: skip
        rows = list(result.rows) if result.rows is not None else evaluate(result.results)
        path = write_report(
            result, out, title=f"carbonfin backtest ({', '.join(d.name for d in datasets)})",
            rows=rows,
        )  # fmt: skip
        if suite and instrument:
            applied.append(f"--suite {suite} on {', '.join(d.name for d in datasets)} only "
                           "(--instrument)")  # fmt: skip
        human: list[Any] = [*applied] + [
            f"data: {ds.name} from {ds.source}, {ds.first_date} to {ds.last_date}"
            for ds in datasets
        ]
        human.append(f"{len(result.jobs)} jobs in {result.elapsed_s:.1f} s ({result.mode})")
        human += [f"job failed: {key}: {err}" for key, err in result.errors]
        summary = summary_rows(rows)
        if summary:
            human.append(table(summary, SUMMARY_COLUMNS, title="Backtest summary"))
        human.append(f"report: {path}")
        return Report(
            {
                "datasets": [
                    {
                        "name": ds.name,
                        "source": ds.source,
                        "first_date": ds.first_date,
                        "last_date": ds.last_date,
                    }
                    for ds in datasets
                ],
                "parameters": params,
                "applied": applied,
                "jobs": len(result.jobs),
                "elapsed_s": result.elapsed_s,
                "mode": result.mode,
                "errors": [{"job": str(key), "error": str(err)} for key, err in result.errors],
                "summary": summary,
                "report": str(path),
            },
            human,
        )


def _datasets(
    instrument: str | None,
    suite: str | None,
    csv: Path | None,
    csv_opts: tuple[str | None, str | None, str | None, str | None],
    real: Path | None,
    adv_t: float | None = None,
    *,
    check_volume: bool = False,
) -> tuple[list[Dataset], list[str]]:
    from backtests.runner import Dataset
    from carbonfin.cli._data import load_prices
    from carbonfin.pricing.history import PriceHistory

    if suite is not None and suite not in SUITES:
        raise InvalidInputError(f"`--suite` must be one of {list(SUITES)}; got {suite!r}")
    names: list[str] = []
    if instrument:  # with --suite: the suite on these instruments only
        names = [Instrument.parse(s).value for s in instrument.split(",") if s.strip()]
    elif suite == "standard":
        names = [i.value for i in Instrument]
    out: list[Dataset] = []
    for name in names:  # from the database, or the shipped sample (synthetic) with --sample
        frame = load_prices(Instrument.parse(name)).drop(columns="instrument")
        out.append(Dataset(name, PriceHistory.from_frame(frame, name), sources_text()))
    applied: list[str] = []
    if csv is not None:
        from carbonfin.cli.collateral import _series_history

        csv_name, calendar, currency, limit = csv_opts
        if csv_name is None:
            raise InvalidInputError(
                "`--csv` needs `--name`: SHEA, CEA, CCER, a series of carbonfin/rules/series.toml "
                "(HBEA, GDEA, BEA, SZEA, TJEA, CQEA, FJEA, EUA) or your own name with --calendar "
                "and --currency; no calendar or price limit is assumed"
            )
        history, _, said, _ = _series_history(csv, csv_name, calendar, currency, limit, None)
        if check_volume:  # the haircut backtest needs a volume: refuse now, not on every date
            from carbonfin.cli.collateral import adv_given
            from carbonfin.collateral.liquidity import require_volume

            require_volume(history, adv_t=adv_t)
            said += adv_given(adv_t)
        applied += said
        out.append(Dataset(csv.stem, history, f"{csv} ({said[0]})", adv_t=adv_t))
    if real is not None:
        out.append(Dataset("SHEA-real", PriceHistory.from_csv(real, "SHEA", strict=False),
                    f"real SHEA quotes {real} (read in place, not copied)"))  # fmt: skip
    if not out:
        raise InvalidInputError("name what to backtest: --instrument, --suite standard or --csv")
    return out, applied
