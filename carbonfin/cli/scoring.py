"""`carbonfin score`, `carbonfin coverage` and `carbonfin financed`: the carbon account."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    Report,
    command,
    console,
    fail,
    money,
    parse_date,
    table,
    upper,
)
from carbonfin.cli._data import load_account_frames, seeded_engine
from carbonfin.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

#: How each factor's input value is shown on a score card (its natural unit and precision).
FACTOR_FORMATS: dict[str, str] = {
    "efficiency": "K {:.2f}",  # intensity over the industry average
    "intensity_change": "{:+.1%}",  # year-on-year change
    "absolute_change": "{:+.1%}",
    "data_quality": "{:.2f}",  # quality index, 0-1
    "compliance": "{:.2f}",
    "disclosure": "{:.0f}",
    "green_power": "{:.1%}",  # share of electricity
}


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.command("score")(score_cmd)
    app.command("coverage")(coverage_cmd)
    app.command("financed")(financed_cmd)


def _panel() -> pd.DataFrame:
    from carbonfin.scoring import build_panel

    return build_panel(load_account_frames())


def _factor_value(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return FACTOR_FORMATS.get(name, "{:.4g}").format(value)


def _as_of(text: str | None) -> dt.date:
    """The scoring date: the option's, else today (the edge reads the clock, the core never)."""
    return dt.date.today() if text is None else parse_date(text, "as_of")


def _card(uscc: str, year: int | None, version: str, as_of: dt.date) -> Report:
    from carbonfin.scoring import score_firm

    card = score_firm(_panel(), uscc, year, version, as_of=as_of)
    eff = "n/a" if card.efficiency_grade is None else str(card.efficiency_grade)
    k = "n/a" if card.k_ratio is None else f"{card.k_ratio:.2f}"
    factors: list[dict[str, Any]] = [
        {
            "factor": f.name,
            "value": f.value,
            "points": f.points,
            "max_points": f.max_points,
            "contribution": f.contribution,
            "status": f.status,
        }
        for f in card.factors
    ]
    shown: list[dict[str, Any]] = [
        *({**f, "value_text": _factor_value(f["factor"], f["value"])} for f in factors),
        {"factor": "total", "value_text": "", "contribution": card.score},
    ]
    factor_table = table(
        shown,
        [
            Column("factor"),
            Column("value_text", "value", numeric=True),
            Column("points", fmt="{:.2f}"),
            Column("max_points", "max", fmt="{:.0f}"),
            Column("contribution", fmt="{:.2f}"),
            Column("status"),
        ],
        title="factors",
    )
    human: list[Any] = [
        f"{card.uscc} {card.year} ({card.sector})  score {card.score:.1f}/100  "
        f"{card.colour_grade.value.replace('_', ' ')}  efficiency grade {eff} (K = {k})  "
        f"confidence {card.confidence:.0%}  methodology {card.methodology_version}  "
        f"as of {as_of.isoformat()}",
        f"industry benchmark {card.benchmark_intensity:.4g} tCO2e/CNY ({card.benchmark_basis})"
        if card.benchmark_intensity is not None
        else f"industry benchmark: {card.benchmark_basis}",
        factor_table,
        f"suggested loan-rate adjustment: {card.loan_adjustment_bp:+.1f} bp",
        *(f"  - {reason}" for reason in card.reasons),
        f"input hash {card.input_hash}",
    ]
    return Report(
        {
            "uscc": card.uscc,
            "year": card.year,
            "sector": card.sector,
            "score": card.score,
            "colour_grade": card.colour_grade.value,
            "efficiency_grade": card.efficiency_grade,
            "k_ratio": card.k_ratio,
            "benchmark_intensity": card.benchmark_intensity,
            "benchmark_basis": card.benchmark_basis,
            "as_of": as_of,
            "confidence": card.confidence,
            "methodology_version": card.methodology_version,
            "factors": factors,
            "loan_adjustment_bp": card.loan_adjustment_bp,
            "reasons": list(card.reasons),
            "input_hash": card.input_hash,
        },
        human,
    )


@command(data=True)
def score_cmd(
    uscc: Annotated[
        str | None, typer.Argument(help="the firm's unified social credit code (any case)")
    ] = None,
    year: Annotated[
        int | None, typer.Option(min=1990, max=2100, help="year (default: the latest)")
    ] = None,
    all_firms: Annotated[bool, typer.Option("--all", help="score the whole population")] = False,
    version: Annotated[
        str | None, typer.Option(help="methodology version (default: the current one)")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="scoring date YYYY-MM-DD (default today): surrenders due later are not yet due",
        ),
    ] = None,
    save: Annotated[bool, typer.Option(help="store the scores in the database")] = False,
    limit: Annotated[
        int,
        typer.Option(
            min=0,
            help="with --all: firms to list after the distribution, lowest score first "
            "(0: every firm)",
        ),
    ] = 20,
) -> Report:
    """Score one firm (its score card) or, with --all, the population of a year: the grade
    distribution by industry, then each firm's score, grade and input hash (--limit)."""
    if all_firms == (uscc is not None):
        raise fail("give either a USCC or --all")
    from carbonfin.scoring.methodology import DEFAULT_VERSION  # here: it imports pandas

    version = DEFAULT_VERSION if version is None else version.strip().lower()
    when = _as_of(as_of)
    if uscc is not None:
        if save:
            raise fail("--save stores a population: use it with --all")
        return _card(upper(uscc), year, version, when)
    return _population(year, version, save, when, limit)


def _population(year: int | None, version: str, save: bool, as_of: dt.date, limit: int) -> Report:
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from carbonfin.cli._common import progress_bar
    from carbonfin.scoring import industry_benchmarks, load_methodology, score_panel

    panel = _panel()
    year = int(panel["year"].max()) if year is None else year
    if year not in set(panel["year"]):
        raise InvalidInputError(f"no account data for {year}; years: {sorted(set(panel['year']))}")
    benchmarks = industry_benchmarks(panel, load_methodology(version))
    rows = panel[panel["year"] == year]
    sectors = sorted(rows["sector"].unique())
    parts = []
    with progress_bar(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
    ) as progress:
        task = progress.add_task(f"scoring {len(rows)} firms ({year})", total=len(sectors))
        for sector in sectors:  # one vectorised call per sector, for the progress bar
            parts.append(
                score_panel(rows[rows["sector"] == sector], version, benchmarks, as_of=as_of)
            )
            progress.advance(task)
    scores = pd.concat(parts, ignore_index=True)
    grades = ["dark_green", "light_green", "yellow", "red"]
    counts = scores.groupby("sector")["colour_grade"].value_counts().unstack(fill_value=0)
    means = scores.groupby("sector")["score"].mean()
    out: list[dict[str, Any]] = []
    for sector in counts.index:
        row = counts.loc[sector]
        out.append(
            {
                "sector": str(sector),
                **{g: int(row.get(g, 0)) for g in grades},
                "mean_score": float(means[sector]),
                "firms": int(row.sum()),
            }
        )
    total = scores["colour_grade"].value_counts()
    out.append(
        {
            "sector": "all",
            **{g: int(total.get(g, 0)) for g in grades},
            "mean_score": float(scores["score"].mean()),
            "firms": len(scores),
        }
    )
    notes = _notes(scores)
    data: dict[str, Any] = {
        "year": year,
        "methodology_version": version,
        "as_of": as_of,
        "by_sector": out,
        "notes": notes,
    }
    human: list[Any] = [
        table(
            out,
            [
                Column("sector"),
                *(Column(g) for g in grades),
                Column("mean_score", "mean score", fmt="{:.1f}"),
                Column("firms"),
            ],
            title=f"grade distribution by industry, {year} (methodology {version}, "
            f"as of {as_of.isoformat()})",
        ),
        *notes,
    ]
    firms, left_out = _firm_rows(scores, limit)
    data["firms"] = firms
    data["firms_listed"] = len(firms)
    data["firms_left_out"] = left_out
    human.append(
        table(
            firms,
            [
                Column("uscc", "firm"),
                Column("year", numeric=True),
                Column("score", fmt="{:.1f}"),
                Column("colour_grade", "grade", keep=True),
                Column("input_hash", "input hash"),
            ],
            title=f"firms, lowest score first ({len(firms)} of {len(scores)})",
        )
    )
    if left_out:
        human.append(f"{left_out} more firms not listed: --limit N lists N, --limit 0 every firm")
    if save:
        new, already = _save(scores)
        data["stored"] = {"new": new, "already_stored": already}
        human.append(f"stored {new} new scores ({already} already stored)")
    return Report(data, human)


def _firm_rows(scores: pd.DataFrame, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` firms (0: all) by score, lowest first (then by USCC), with their
    year, grade and input hash; and how many were left out."""
    ordered = scores.sort_values(["score", "uscc"], kind="stable")
    shown = ordered if limit == 0 else ordered.head(limit)
    rows = [
        {
            "uscc": str(r["uscc"]),
            "year": int(r["year"]),
            "score": float(r["score"]),
            "colour_grade": str(r["colour_grade"]),
            "input_hash": str(r["input_hash"]),
        }
        for r in shown[["uscc", "year", "score", "colour_grade", "input_hash"]].to_dict("records")
    ]
    return rows, len(scores) - len(rows)


def _notes(scores: pd.DataFrame) -> list[str]:
    """Which factors were left out and which benchmarks were fallbacks."""
    from carbonfin.scoring.factors import STATUS

    notes: list[str] = []
    for factor in ("efficiency", "compliance"):
        counts = scores[f"{factor}_status"].map(STATUS).value_counts()
        for label in ("benchmark unavailable", "not yet due"):
            if counts.get(label, 0):
                notes.append(f"{factor} {label}: {counts[label]} firms (left out of their maximum)")
    for basis, n in scores["benchmark_basis"].value_counts().items():
        notes.append(f"industry benchmark {basis}: {n} firms")
    return notes


def _save(scores: pd.DataFrame) -> tuple[int, int]:
    from carbonfin.scoring import Score
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = seeded_engine()
    records = [
        Score.from_row({str(k): v for k, v in row.items()}).to_record()
        for row in scores.to_dict("records")
    ]
    with session_scope(engine) as session:
        new = repositories.save_score_records(
            session=session, records=records, computed_at=dt.datetime.now(dt.UTC)
        )
    return new, len(records) - new


@command(data=True)
def coverage_cmd(
    year: Annotated[int, typer.Option(min=2013, max=2100, help="compliance year")] = 2026,
) -> Report:
    """Which firms are covered entities of the Shanghai market in a year, by sector."""
    from carbonfin.scoring import population_coverage

    cov = population_coverage(_panel(), year)
    rows: list[dict[str, Any]] = []
    for sector, grp in cov.groupby("sector"):
        rules = ", ".join(sorted({r for r in grp["rule"].dropna() if r}))
        rows.append(
            {
                "sector": str(sector),
                "covered": int((grp["covered"] == True).sum()),  # noqa: E712
                "not_covered": int((grp["covered"] == False).sum()),  # noqa: E712
                "no_data": int(grp["covered"].isna().sum()),
                "rule": rules or "-",
            }
        )
    return Report(
        {"year": year, "by_sector": rows},
        [
            table(
                rows,
                [
                    Column("sector"),
                    Column("covered"),
                    Column("not_covered", "not covered"),
                    Column("no_data", "no data"),
                    Column("rule"),
                ],
                title=f"covered entities in {year} (Shanghai action plan clause 2 and pilot rules)",
            )
        ],
    )


@command(data=True, flags={"fx_date": "--fx-date"})
def financed_cmd(
    bank: Annotated[str, typer.Argument(help="bank id, e.g. BANK-01 (any case)")],
    year: Annotated[int, typer.Option(min=1990, max=2100, help="emissions year")] = 2025,
    top: Annotated[int, typer.Option(min=1, max=1000, help="how many top contributors")] = 10,
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
) -> Report:
    """PCAF financed emissions of a bank's whole loan book in CNY (other currencies converted
    at the fixings of --fx-date), by sector and grade, top borrowers, and what was left out."""
    from carbonfin.cli._data import load_fx_fixings, load_loans
    from carbonfin.fx import RateStore
    from carbonfin.scoring import financed_emissions, score_panel

    bank = upper(bank)
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
    ccy = result.currency
    excluded = [
        {
            "reason": str(row["reason"]),
            "currency": str(row["currency"]),
            "loans": int(row["loans"]),
            "outstanding": money(float(row["outstanding"]), str(row["currency"])),
        }
        for row in result.exclusions().to_dict("records")
    ]
    data: dict[str, Any] = {
        "bank": bank,
        "year": result.year,
        "currency": ccy,
        "fx_date": result.fx_date,
        "fx_rates": list(result.fx_rates),
        "total_financed_tco2e": result.total_tco2e,
        "covered_outstanding": money(result.covered_outstanding, ccy),
        "uncovered_outstanding": money(result.uncovered_outstanding, ccy),
        "weighted_data_quality": result.weighted_data_quality,
        "excluded": excluded,
    }
    human: list[Any] = [result.summary()]
    for column in ("sector", "colour_grade"):
        frame = result.by(column)
        rows = [
            {
                column: str(key),
                "loans": int(row["loans"]),
                "outstanding": money(float(row["outstanding"]), ccy),
                "financed_tco2e": float(row["financed_tco2e"]),
                "share": float(row["share"]),
                "pcaf_data_quality": float(row["weighted_data_quality"]),
            }
            for key, row in frame.iterrows()
        ]
        data[f"by_{column}"] = rows
        human.append(
            table(
                rows,
                [
                    Column(column),
                    Column("loans"),
                    Column("outstanding", f"outstanding ({ccy})", fmt=_whole),
                    Column("financed_tco2e", fmt="{:,.0f}"),
                    Column("share", fmt="{:.1%}"),
                    Column("pcaf_data_quality", "PCAF DQ", fmt="{:.2f}"),
                ],
                title=f"by {column}",
            )
        )
    leaders = [
        {
            "borrower_uscc": str(leader["borrower_uscc"]),
            "sector": str(leader["sector"]),
            "outstanding": money(float(leader["outstanding"]), ccy),
            "financed_tco2e": float(leader["financed_tco2e"]),
            "share": float(leader["share"]),
        }
        for leader in result.top_contributors(top).reset_index().to_dict("records")
    ]
    data["top_borrowers"] = leaders
    human.append(
        table(
            leaders,
            [
                Column("borrower_uscc", "borrower"),
                Column("sector"),
                Column("outstanding", f"outstanding ({ccy})", fmt=_whole),
                Column("financed_tco2e", fmt="{:,.0f}"),
                Column("share", fmt="{:.1%}"),
            ],
            title=f"top {top} borrowers",
        )
    )
    return Report(data, human)


def _whole(m: Any) -> str:
    """A money amount in whole currency units, for wide tables (JSON keeps minor units)."""
    return f"{m.amount:,.0f}"


__all__ = ["console", "register"]
