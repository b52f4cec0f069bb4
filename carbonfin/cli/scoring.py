"""`carbonfin score`, `carbonfin coverage` and `carbonfin financed`: the carbon account."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, fail, parse_date
from carbonfin.cli._data import load_account_frames, seeded_engine
from carbonfin.errors import InvalidInputError
from carbonfin.scoring.methodology import DEFAULT_VERSION


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.command("score")(score_cmd)
    app.command("coverage")(coverage_cmd)
    app.command("financed")(financed_cmd)


def _panel() -> pd.DataFrame:
    from carbonfin.scoring import build_panel

    return build_panel(load_account_frames())


def _as_of(text: str | None) -> dt.date:
    """The scoring date: the option's, else today (the edge reads the clock, the core never)."""
    return dt.date.today() if text is None else parse_date(text, "as_of")


def _card(uscc: str, year: int | None, version: str, as_of: dt.date) -> None:
    from carbonfin.scoring import score_firm

    card = score_firm(_panel(), uscc, year, version, as_of=as_of)
    eff = "n/a" if card.efficiency_grade is None else str(card.efficiency_grade)
    k = "n/a" if card.k_ratio is None else f"{card.k_ratio:.2f}"
    console.print(
        f"[bold]{card.uscc}[/] {card.year} ({card.sector})  score [bold]{card.score:.1f}[/]/100  "
        f"{card.colour_grade.value.replace('_', ' ')}  efficiency grade {eff} (K = {k})  "
        f"confidence {card.confidence:.0%}  methodology {card.methodology_version}  "
        f"as of {as_of.isoformat()}"
    )
    basis = card.benchmark_basis
    if card.benchmark_intensity is not None:
        console.print(
            f"industry benchmark {card.benchmark_intensity:.4g} tCO2e/CNY ({basis})",
            highlight=False,
        )
    else:
        console.print(f"industry benchmark: {basis}")
    table = Table(title="factors")
    for col in ("factor", "value", "points", "max", "contribution", "status"):
        table.add_column(col, justify="left" if col in ("factor", "status") else "right")
    for f in card.factors:
        value = "" if f.value is None else f"{f.value:.4g}"
        table.add_row(
            f.name,
            value,
            f"{f.points:.2f}",
            f"{f.max_points:.0f}",
            f"{f.contribution:.2f}",
            f.status,
        )
    table.add_row("total", "", "", "", f"{card.score:.2f}", "")
    console.print(table)
    console.print(f"suggested loan-rate adjustment: {card.loan_adjustment_bp:+.1f} bp")
    for reason in card.reasons:
        console.print(f"  - {reason}")
    console.print(f"input hash {card.input_hash}")


@clean_errors
def score_cmd(
    uscc: Annotated[
        str | None, typer.Argument(help="the firm's unified social credit code")
    ] = None,
    year: Annotated[int | None, typer.Option(help="year (default: the latest)")] = None,
    all_firms: Annotated[bool, typer.Option("--all", help="score the whole population")] = False,
    version: Annotated[str, typer.Option(help="methodology version")] = DEFAULT_VERSION,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="scoring date YYYY-MM-DD (default today): surrenders due later are not yet due",
        ),
    ] = None,
    save: Annotated[bool, typer.Option(help="store the scores in the database")] = False,
) -> None:
    """Score one firm (its score card) or, with --all, the population of a year."""
    if all_firms == (uscc is not None):
        raise fail("give either a USCC or --all")
    when = _as_of(as_of)
    if uscc is not None:
        _card(uscc, year, version, when)
        return
    _population(year, version, save, when)


def _population(year: int | None, version: str, save: bool, as_of: dt.date) -> None:
    from carbonfin.scoring import industry_benchmarks, load_methodology, score_panel

    panel = _panel()
    year = int(panel["year"].max()) if year is None else year
    if year not in set(panel["year"]):
        raise InvalidInputError(f"no account data for {year}; years: {sorted(set(panel['year']))}")
    benchmarks = industry_benchmarks(panel, load_methodology(version))
    rows = panel[panel["year"] == year]
    sectors = sorted(rows["sector"].unique())
    parts = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"scoring {len(rows)} firms ({year})", total=len(sectors))
        for sector in sectors:  # one vectorised call per sector, for the progress bar
            parts.append(
                score_panel(rows[rows["sector"] == sector], version, benchmarks, as_of=as_of)
            )
            progress.advance(task)
    scores = pd.concat(parts, ignore_index=True)
    table = Table(
        title=f"grade distribution by industry, {year} (methodology {version}, "
        f"as of {as_of.isoformat()})"
    )
    grades = ["dark_green", "light_green", "yellow", "red"]
    for col in ("sector", *grades, "mean score", "firms"):
        table.add_column(col, justify="left" if col == "sector" else "right")
    counts = scores.groupby("sector")["colour_grade"].value_counts().unstack(fill_value=0)
    means = scores.groupby("sector")["score"].mean()
    for sector in counts.index:
        row = counts.loc[sector]
        table.add_row(
            sector,
            *(str(int(row.get(g, 0))) for g in grades),
            f"{means[sector]:.1f}",
            str(int(row.sum())),
        )
    total = scores["colour_grade"].value_counts()
    table.add_row(
        "all",
        *(str(int(total.get(g, 0))) for g in grades),
        f"{scores['score'].mean():.1f}",
        str(len(scores)),
    )
    console.print(table)
    _notes(scores)
    if save:
        _save(scores)


def _notes(scores: pd.DataFrame) -> None:
    """Say which factors were left out and which benchmarks were fallbacks."""
    from carbonfin.scoring.factors import STATUS

    for factor in ("efficiency", "compliance"):
        counts = scores[f"{factor}_status"].map(STATUS).value_counts()
        for label in ("benchmark unavailable", "not yet due"):
            if counts.get(label, 0):
                console.print(
                    f"{factor} {label}: {counts[label]} firms (left out of their maximum)"
                )
    for basis, n in scores["benchmark_basis"].value_counts().items():
        console.print(f"industry benchmark {basis}: {n} firms")


def _save(scores: pd.DataFrame) -> None:
    from carbonfin.scoring import Score
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = seeded_engine()
    if engine is None:
        raise fail("the database is not seeded: run `carbonfin db upgrade` and `carbonfin db seed`")
    records = [
        Score.from_row({str(k): v for k, v in row.items()}).to_record()
        for row in scores.to_dict("records")
    ]
    with session_scope(engine) as session:
        new = repositories.save_score_records(
            session=session, records=records, computed_at=dt.datetime.now(dt.UTC)
        )
    console.print(f"stored {new} new scores ({len(records) - new} already stored)")


@clean_errors
def coverage_cmd(
    year: Annotated[int, typer.Option(help="compliance year")] = 2026,
) -> None:
    """Which firms are covered entities of the Shanghai market in a year, by sector."""
    from carbonfin.scoring import population_coverage

    cov = population_coverage(_panel(), year)
    table = Table(
        title=f"covered entities in {year} (Shanghai action plan clause 2 and pilot rules)"
    )
    for col in ("sector", "covered", "not covered", "no data", "rule"):
        table.add_column(col, justify="left" if col in ("sector", "rule") else "right")
    for sector, grp in cov.groupby("sector"):
        rules = ", ".join(sorted({r for r in grp["rule"].dropna() if r}))
        table.add_row(
            str(sector),
            str(int((grp["covered"] == True).sum())),  # noqa: E712
            str(int((grp["covered"] == False).sum())),  # noqa: E712
            str(int(grp["covered"].isna().sum())),
            rules or "-",
        )
    console.print(table)


@clean_errors
def financed_cmd(
    bank: Annotated[str, typer.Argument(help="bank id, e.g. BANK-01")],
    year: Annotated[int, typer.Option(help="emissions year")] = 2025,
    top: Annotated[int, typer.Option(help="how many top contributors")] = 10,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="scoring date of the borrowers' grades (default today)"),
    ] = None,
    fx_date: Annotated[
        str | None,
        typer.Option(
            "--fx-date", help="date of the FX fixings for non-CNY loans (default 31 Dec of year)"
        ),
    ] = None,
) -> None:
    """PCAF financed emissions of a bank's whole loan book in CNY (other currencies converted
    at the fixings of --fx-date), by sector and grade, top borrowers, and what was left out."""
    from carbonfin.cli._data import load_fx_fixings, load_loans
    from carbonfin.fx import RateStore
    from carbonfin.scoring import financed_emissions, score_panel

    loans = load_loans(bank)
    panel = _panel()
    on = dt.date(year, 12, 31) if fx_date is None else parse_date(fx_date, "fx_date")
    result = financed_emissions(
        loans,
        panel,
        year,
        score_panel(panel, as_of=_as_of(as_of)),
        fx=RateStore(load_fx_fixings()),
        on=on,
    )
    console.print(result.summary(), highlight=False)
    for column in ("sector", "colour_grade"):
        table = Table(title=f"by {column}")
        frame = result.by(column)
        for col in (column, "loans", "outstanding", "financed_tco2e", "share", "PCAF DQ"):
            table.add_column(col, justify="left" if col == column else "right")
        for key, row in frame.iterrows():
            table.add_row(
                str(key),
                str(int(row["loans"])),
                f"{row['outstanding']:,.0f}",
                f"{row['financed_tco2e']:,.0f}",
                f"{row['share']:.1%}",
                f"{row['weighted_data_quality']:.2f}",
            )
        console.print(table)
    top_table = Table(title=f"top {top} borrowers")
    for col in ("borrower", "sector", "outstanding", "financed_tco2e", "share"):
        top_table.add_column(col)
    leaders = result.top_contributors(top).reset_index()
    for leader in leaders.to_dict("records"):
        top_table.add_row(
            str(leader["borrower_uscc"]),
            str(leader["sector"]),
            f"{leader['outstanding']:,.0f}",
            f"{leader['financed_tco2e']:,.0f}",
            f"{leader['share']:.1%}",
        )
    console.print(top_table)
