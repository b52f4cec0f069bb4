"""`carbonfin haircut`, `carbonfin book value` and `carbonfin stress`: haircuts with their
breakdown, a bank's book valued with LTVs and margin calls, and stress scenarios on the book."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from carbonfin.cli._common import clean_errors, console, err_console, parse_date
from carbonfin.cli._data import load_fx_fixings, load_prices, seeded_engine
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    from carbonfin.collateral import BookValuation
    from carbonfin.pricing import PriceHistory

book_app = typer.Typer(help="Value a bank's collateral book: LTVs and margin calls.",
                       no_args_is_help=True)  # fmt: skip

MODELS = "hs (default, chosen out of sample), fhs or t"


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.command("haircut")(haircut_cmd)
    app.add_typer(book_app, name="book")
    app.command("stress")(stress_cmd)


def _source() -> str:
    engine = seeded_engine()
    return "shipped sample" if engine is None else f"database {engine.url.render_as_string()}"


def _history(inst: Instrument, prices_csv: Path | None) -> tuple[PriceHistory, str]:
    from carbonfin.pricing import PriceHistory

    if prices_csv is not None:
        return PriceHistory.from_csv(prices_csv, inst, strict=False), f"file {prices_csv}"
    return PriceHistory.from_frame(load_prices(inst), inst), _source()


@contextmanager
def _progress() -> Iterator[Any]:
    """A transient progress line on stderr (long runs: model fits, scenario simulations)."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("starting", total=None)
        yield lambda text: progress.update(task, description=text)


@clean_errors
def haircut_cmd(
    instrument: Annotated[str, typer.Argument(help="SHEA, CEA or CCER")],
    quantity: Annotated[float, typer.Option(help="tonnes pledged")],
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
    book_share: Annotated[float, typer.Option(help="share of the bank's book, 0-1")] = 0.0,
    prices_csv: Annotated[
        Path | None, typer.Option(help="read quotes from this CSV (e.g. the real SHEA file)")
    ] = None,
) -> None:
    """The haircut of a pledge, with each component, its inputs and its source."""
    from carbonfin.collateral import haircut

    inst = Instrument.parse(instrument)
    with _progress() as say:
        say(f"reading {inst.value} quotes")
        history, source = _history(inst, prices_csv)
        when = parse_date(as_of, "as_of") if as_of else history.dates[-1]
        say(f"measuring {inst.value} market risk ({model})")
        b = haircut(
            history, as_of=when, quantity_t=quantity, model=model,  # type: ignore[arg-type]
            loan_currency=loan_currency, measure=measure,  # type: ignore[arg-type]
            anti_procyclicality=anti_procyclicality,  # type: ignore[arg-type]
            liquidation=liquidation,  # type: ignore[arg-type]
            pledgor_covered=covered, book_share=book_share, data_source=source,
        )  # fmt: skip
    console.print(
        f"[bold]{b.instrument.value}[/] {b.quantity_t:,.0f} t on {b.as_of}: haircut "
        f"[bold]{b.total:.2%}[/] (mark {b.mark_price_cny_per_t:.2f} CNY/t of {b.mark_date}; "
        f"lendable {b.lendable_value_cny:,.0f} of {b.market_value_cny:,.0f} CNY)"
    )
    console.print(
        f"model {b.model} {b.measure.upper()} {b.confidence:.1%}, holding {b.holding_days} "
        f"business days, liquidation {b.liquidation_days}; loan {b.loan_currency.code}",
        highlight=False,
    )
    table = Table()
    for col in ("component", "haircut", "how", "source"):
        table.add_column(col, overflow="fold", justify="right" if col == "haircut" else "left")
    sources: list[str] = []
    for c in b.components:
        if c.source not in sources:
            sources.append(c.source)
        table.add_row(c.name, f"{c.frac:.2%}", c.method, f"[{sources.index(c.source) + 1}]")
    table.add_row("[bold]total[/]", f"[bold]{b.total:.2%}[/]", "", "")
    console.print(table)
    console.print(f"rule: {b.rule}", markup=False)
    for i, source in enumerate(sources, start=1):
        console.print(f"[{i}] {source}", markup=False, highlight=False)
    for note in b.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"data: {b.data_source}; policy {b.policy_version}", markup=False)


def _covered_usccs() -> set[str]:
    from carbonfin.cli._data import load_account_frames

    return set(load_account_frames()["compliance"]["uscc"].astype(str))


def _book(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory]]:
    from carbonfin.cli._data import load_loans
    from carbonfin.collateral import value_book
    from carbonfin.data import load_table
    from carbonfin.fx import RateStore
    from carbonfin.pricing import PriceHistory

    say("reading the book")
    engine = seeded_engine()
    if bank is None:
        loans = load_table("loans") if engine is None else _store_frame("loans", engine, None)
    else:
        loans = load_loans(bank)
    pledges = load_table("pledges") if engine is None else _store_frame("pledges", engine, bank)
    pledges = pledges[pledges["status"] == "active"]
    loans = loans[(loans["status"] == "active") & loans["loan_id"].isin(pledges["loan_id"])]
    pledges = pledges[pledges["loan_id"].isin(loans["loan_id"])]
    if pledges.empty:
        raise MissingDataError(f"no active pledges in the book of {bank or 'any bank'}")
    histories = {}
    for code in sorted(pledges["instrument"].unique()):
        inst = Instrument.parse(code)
        histories[inst] = PriceHistory.from_frame(load_prices(inst), inst)
    if when is None:
        when = min(h.dates[-1] for h in histories.values())
    if "registration_date" in pledges.columns:
        pledges = pledges[pd.Series([d <= when for d in pledges["registration_date"]],
                                    index=pledges.index)]  # fmt: skip
    book = value_book(
        pledges, loans, histories, RateStore(load_fx_fixings()), as_of=when,
        model=model, covered_usccs=_covered_usccs(), data_source=_source(),  # type: ignore[arg-type]
        progress=say,
    )  # fmt: skip
    return book, histories


def _store_frame(name: str, engine: Any, bank: str | None) -> pd.DataFrame:
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    with session_scope(engine) as session:
        if name == "loans":
            return repositories.loans(session=session, bank_id=bank)
        return repositories.pledges(session=session, bank_id=bank)


@book_app.command("value")
@clean_errors
def book_value_cmd(
    bank: Annotated[str, typer.Option(help="bank id, e.g. BANK-01")],
    as_of: Annotated[str | None, typer.Option(help="valuation date (default: last quote)")] = None,
    model: Annotated[str, typer.Option(help=MODELS)] = "hs",
    top: Annotated[int, typer.Option(help="margin calls to list")] = 15,
) -> None:
    """Value every active pledge of a bank: LTV distribution, states and margin calls."""
    when = parse_date(as_of, "as_of") if as_of else None
    with _progress() as say:
        book, _ = _book(bank, when, model, say)
    console.print(book.summary(), markup=False, highlight=False)
    calls = book.loans[book.loans["state"] != "ok"].sort_values(
        "utilisation", ascending=False, kind="stable"
    )
    if calls.empty:
        console.print("no loan at or above the warning level")
        return
    table = Table(title=f"loans at or above the warning level ({len(calls)}; top {top})")
    for col in ("loan", "state", "LTV", "utilisation", "loan CNY", "collateral CNY",
                "top-up cash CNY", "or tonnes"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("loan", "state") else "right")
    for _, r in calls.head(top).iterrows():
        tonnes = "n/a" if pd.isna(r["topup_quantity_t"]) else f"{r['topup_quantity_t']:,.0f}"
        table.add_row(
            r["loan_id"], r["state"], f"{r['ltv']:.1%}", f"{r['utilisation']:.2f}",
            f"{r['outstanding_cny']:,.0f}", f"{r['collateral_value_cny']:,.0f}",
            f"{r['topup_cash_cny']:,.0f}", f"{tonnes} {r['instrument'] or ''}",
        )  # fmt: skip
    console.print(table)


@clean_errors
def stress_cmd(
    scenario: Annotated[str, typer.Option(help="scenario name (see stress.toml), or 'list'")],
    bank: Annotated[str | None, typer.Option(help="one bank (default: every bank)")] = None,
    as_of: Annotated[str | None, typer.Option(help="valuation date (default: last quote)")] = None,
    model: Annotated[str, typer.Option(help=MODELS)] = "hs",
    seed: Annotated[int, typer.Option(help="seed of simulated scenarios")] = 0,
) -> None:
    """Apply a stress scenario to the book: loss, margin calls, uncovered exposure."""
    from carbonfin.cli._data import load_account_frames
    from carbonfin.collateral import stress_book, stress_scenarios

    known = stress_scenarios()
    if scenario == "list":
        for s in known.values():
            console.print(f"{s.name:16s} {s.kind:12s} {s.description}", markup=False)
        return
    if scenario not in known:
        raise InvalidInputError(f"unknown stress scenario {scenario!r}; known: {sorted(known)}")
    when = parse_date(as_of, "as_of") if as_of else None
    with _progress() as say:
        book, histories = _book(bank, when, model, say)
        say(f"applying {scenario}")
        firms = load_account_frames()["firms"]
        industries = dict(zip(firms["uscc"].astype(str), firms["sector"].astype(str),
                              strict=True))  # fmt: skip
        res = stress_book(book, scenario, histories, industries=industries, seed=seed)
    console.print(res.summary(), markup=False, highlight=False)
    for title, frame in (("per bank", res.by_bank), ("per instrument", res.by_instrument),
                         ("per industry", res.by_industry)):  # fmt: skip
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
        for row in frame.itertuples(index=False):
            table.add_row(*[v if isinstance(v, str) else f"{v:,.0f}" for v in row])
        console.print(table)
    console.print(f"data: {book.data_source}; policy {book.policy_version}", markup=False)
