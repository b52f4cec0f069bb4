"""`carbonfin haircut`, `carbonfin book value` and `carbonfin stress`: haircuts with their
breakdown, a bank's book valued with LTVs and margin calls, and stress scenarios on the book.

``book value`` exits with code 5 (:attr:`ExitCode.MARGIN_CALL`) when a loan is at the margin-call
or liquidation level, so a script can branch on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    DataSource,
    ExitCode,
    Report,
    command,
    err_console,
    money,
    parse_date,
    record_source,
    sources_text,
    table,
    upper,
    use_sample,
)
from carbonfin.cli._data import (
    load_fx_fixings,
    load_loans,
    load_pledges,
    load_prices,
    seeded_engine,
)
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    import pandas as pd

    from carbonfin.collateral import BookValuation
    from carbonfin.pricing import PriceHistory

book_app = typer.Typer(help="Value a bank's collateral book: LTVs and margin calls.",
                       no_args_is_help=True)  # fmt: skip

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
    """Add this domain's commands to the root `carbonfin` app."""
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
def _progress() -> Iterator[Any]:
    """A transient progress line on stderr (long runs: model fits, scenario simulations)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:  # fmt: skip
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
    return h, f"file {csv}", [loaded.applied, *loaded.warnings], table


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

    applied: list[str] = []
    rules_table: Any = None
    with _progress() as say:
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
        f"business days, liquidation {b.liquidation_days}; loan {b.loan_currency.code}",
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
        f"data: {b.data_source}; policy {b.policy_version}",
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
            "data_source": b.data_source,
            "policy_version": b.policy_version,
        },
        human,
    )


def _covered_usccs() -> set[str]:
    from carbonfin.cli._data import load_account_frames

    return set(load_account_frames()["compliance"]["uscc"].astype(str))


def _in_force(pledges: pd.DataFrame, when: dt.date) -> pd.DataFrame:
    """Pledges registered on or before ``when`` and not released by then (sample files)."""
    import pandas as pd

    reg = pledges["registration_date"]
    rel = pledges["release_date"] if "release_date" in pledges.columns else None
    keep = [
        r is not None and not pd.isna(r) and r <= when
        and (rel is None or rel.iloc[i] is None or pd.isna(rel.iloc[i]) or rel.iloc[i] > when)
        for i, r in enumerate(reg)
    ]  # fmt: skip
    out = pledges[pd.Series(keep, index=pledges.index, dtype=bool)]
    if rel is None:  # files without release dates: the status is as of the sample's date
        out = out[out["status"] == "active"]
    return out


def _book_frames(
    bank: str | None, when: dt.date | None, say: Any
) -> tuple[pd.DataFrame, pd.DataFrame, dict[Instrument, PriceHistory], dt.date, str]:
    """Pledges in force on the date (with their eligible quantity where the registry is in the
    database), their loans, the price histories and the valuation date."""
    from carbonfin.pricing import PriceHistory

    say("reading the book")
    loans = load_loans(bank)
    histories = {i: PriceHistory.from_frame(load_prices(i), i) for i in Instrument}
    when = when or min(h.dates[-1] for h in histories.values())
    if use_sample():
        pledges = _in_force(load_pledges(bank), when)
        note = "eligibility not applied (sample files: the whole pledged quantity counts)"
    else:
        from carbonfin.store.collateral import pledges_in_force
        from carbonfin.store.database import session_scope

        say("reading the pledges in force and checking eligibility")
        with session_scope(seeded_engine()) as session:
            pledges, rules_version = pledges_in_force(session=session, as_of=when, bank_id=bank)
        note = f"eligible quantities from the registry (rules {rules_version})"
    loans = loans[loans["loan_id"].isin(pledges["loan_id"]) & (loans["outstanding"] > 0)]
    pledges = pledges[pledges["loan_id"].isin(loans["loan_id"])]
    if pledges.empty:
        raise MissingDataError(f"no pledges in force on {when} in the book of {bank or 'any bank'}")
    return pledges, loans, histories, when, note


def _book(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory]]:
    book, histories, _ = _valued_book(bank, when, model, say)
    return book, histories


def _valued_book(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory], pd.DataFrame | None]:
    """The book valued on the date, and the loans that could not be valued (database: the
    same :func:`carbonfin.lending.book.value_book_as_of` as the API; sample files: the files'
    pledges in force, valued whole)."""
    from carbonfin.collateral import value_book
    from carbonfin.fx import RateStore

    if not use_sample():
        return _lending_book(bank, when, model, say)
    pledges, loans, histories, when, note = _book_frames(bank, when, say)
    book = value_book(
        pledges, loans, histories, RateStore(load_fx_fixings()), as_of=when,
        model=model, covered_usccs=_covered_usccs(),
        data_source=f"{sources_text()}; {note}", progress=say,
    )  # fmt: skip
    return book, histories, None


def _lending_book(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory], pd.DataFrame]:
    """The database's book through the lending layer: balances from the loan ledger, pledges
    in force with eligible quantities, faults isolated per loan."""
    from carbonfin.lending.book import value_book_as_of
    from carbonfin.pricing import PriceHistory
    from carbonfin.store.database import session_scope

    say("reading the book")
    histories = {i: PriceHistory.from_frame(load_prices(i), i) for i in Instrument}
    when = when or min(h.dates[-1] for h in histories.values())
    with session_scope(seeded_engine()) as session:
        valued = value_book_as_of(
            session, when, history_of=histories.__getitem__, fixings=load_fx_fixings(),
            covered_usccs=_covered_usccs(), data_source=sources_text(), bank_id=bank,
            model=model, progress=say,
        )  # fmt: skip
    if valued.valuation is None:
        raise MissingDataError(
            f"no pledge in force on {when} in the book of {bank or 'any bank'} could be valued"
            + (f" ({len(valued.not_valued_loans())} loans not valued)" if bank else "")
        )
    return valued.valuation, histories, valued.not_valued_loans()


def _save(book: BookValuation) -> dict[str, Any]:
    """Store the valuation and its margin calls in one transaction (nothing on any error)."""
    from carbonfin.store.collateral import save_book_valuation
    from carbonfin.store.database import session_scope

    if use_sample():
        raise InvalidInputError("--save stores into the database; it cannot be used with --sample")
    with session_scope(seeded_engine()) as session:
        report = save_book_valuation(
            session=session, valuation_date=book.as_of,
            valuations=book.valuation_records(), margin_calls=book.margin_call_records(),
        )  # fmt: skip
    return {
        "valuation_date": report.valuation_date,
        "valuations_written": report.valuations_written,
        "valuations_replaced": report.valuations_replaced,
        "margin_calls_written": report.margin_calls_written,
        "margin_calls_replaced": report.margin_calls_replaced,
    }


@book_app.command("value")
@command(data=True, flags=FLAGS)
def book_value_cmd(
    bank: Annotated[str, typer.Option(help="bank id, e.g. BANK-01 (any case)")],
    as_of: Annotated[str | None, typer.Option(help="valuation date (default: last quote)")] = None,
    model: Annotated[str, typer.Option(help=MODELS)] = "hs",
    top: Annotated[int, typer.Option(min=1, max=10_000, help="margin calls to list")] = 15,
    save: Annotated[
        bool, typer.Option("--save", help="store the valuations and margin calls (database)")
    ] = False,
) -> Report:
    """Value every pledge of a bank in force on the date: LTV distribution, states and margin
    calls; --save stores them (idempotent per valuation date; nothing on any error).

    Exit code 5 when a loan is at the margin-call or liquidation level."""
    import pandas as pd

    when = parse_date(as_of, "as_of") if as_of else None
    with _progress() as say:
        book, _, not_valued = _valued_book(upper(bank), when, model.strip().lower(), say)
        saved = _save(book) if save else None
    calls = book.loans[book.loans["state"] != "ok"].sort_values(
        "utilisation", ascending=False, kind="stable"
    )
    rows = [
        {
            "loan_id": str(r["loan_id"]),
            "state": str(r["state"]),
            "ltv": float(r["ltv"]),
            "utilisation": float(r["utilisation"]),
            "outstanding": money(float(r["outstanding_cny"]), "CNY"),
            "collateral_value": money(float(r["collateral_value_cny"]), "CNY"),
            "topup_cash": money(float(r["topup_cash_cny"]), "CNY"),
            "topup_quantity_t": None
            if pd.isna(r["topup_quantity_t"])
            else float(r["topup_quantity_t"]),
            "instrument": r["instrument"] or None,
        }
        for _, r in calls.head(top).iterrows()
    ]
    counts = book.state_counts()
    human: list[Any] = [book.summary()]
    if saved is not None:
        human.append(
            f"saved {saved['valuations_written']} valuations ({saved['valuations_replaced']} "
            f"replaced) and {saved['margin_calls_written']} margin calls "
            f"({saved['margin_calls_replaced']} replaced) for {saved['valuation_date']}"
        )
    if rows:
        human.append(
            table(
                rows,
                [
                    Column("loan_id", "loan"),
                    Column("state"),
                    Column("ltv", "LTV", fmt="{:.1%}"),
                    Column("utilisation", fmt="{:.2f}"),
                    Column("outstanding", "loan CNY", fmt=_whole),
                    Column("collateral_value", "collateral CNY", fmt=_whole),
                    Column("topup_cash", "top-up cash CNY", fmt=_whole),
                    Column("topup_quantity_t", "or tonnes", fmt="{:,.0f}"),
                    Column("instrument"),
                ],
                title=f"loans at or above the warning level ({len(calls)}; top {top})",
            )
        )
    else:
        human.append("no loan at or above the warning level")
    unvalued = [] if not_valued is None else [
        {"loan_id": str(r["loan_id"]), "currency": str(r["currency"]), "reason": str(r["reason"])}
        for r in not_valued.to_dict("records")
    ]  # fmt: skip
    human += [f"not valued: {u['loan_id']} ({u['currency']}): {u['reason']}" for u in unvalued]
    due = counts.get("margin_call", 0) + counts.get("liquidation", 0)
    return Report(
        {
            "bank": upper(bank),
            "as_of": book.as_of,
            "pledges": len(book.pledges),
            "loans": len(book.loans),
            "collateral_value": money(float(book.loans["collateral_value_cny"].sum()), "CNY"),
            "lendable_value": money(float(book.loans["lendable_value_cny"].sum()), "CNY"),
            "outstanding": money(float(book.loans["outstanding_cny"].sum()), "CNY"),
            "ltv_quantiles": {f"{q:g}": v for q, v in book.ltv_quantiles().items()},
            "states": counts,
            "margin_calls_due": due,
            "at_or_above_warning": rows,
            "not_valued": unvalued,
            "notes": list(book.notes),
            "data_source": book.data_source,
            "policy_version": book.policy_version,
            "saved": saved,
        },
        human,
        exit_code=ExitCode.MARGIN_CALL if due else ExitCode.OK,
    )


def _whole(m: Any) -> str:
    return f"{m.amount:,.0f}"


def _carbon_exposure(bank: str | None, as_of: dt.date, seed: int) -> Any:
    """Next-year carbon-cost exposure of the book's borrowers (2,000 FHS scenarios)."""
    from carbonfin.cli._data import load_loans
    from carbonfin.cli.carbon_cost import _frames, _histories
    from carbonfin.scoring.carbon_card import borrower_exposure
    from carbonfin.scoring.carbon_inputs import carbon_cost_outlook

    loans = load_loans(bank)
    borrowers = tuple(sorted(set(loans.loc[loans["status"] == "active", "borrower_uscc"])))
    result, _ = carbon_cost_outlook(
        _frames(), _histories(), as_of=as_of, years=(as_of.year,), n_scenarios=2_000,
        seed=seed, uscc=borrowers,
    )  # fmt: skip
    return borrower_exposure(loans, result, as_of.year)


@command(data=True, flags=FLAGS)
def stress_cmd(
    scenario: Annotated[str, typer.Option(help="scenario name (see stress.toml), or 'list'")],
    bank: Annotated[str | None, typer.Option(help="one bank (default: every bank)")] = None,
    as_of: Annotated[str | None, typer.Option(help="valuation date (default: last quote)")] = None,
    model: Annotated[str, typer.Option(help=MODELS)] = "hs",
    seed: Annotated[int, typer.Option(min=0, help="seed of simulated scenarios")] = 0,
    save: Annotated[
        bool, typer.Option("--save", help="store the result (database; replaces the same run)")
    ] = False,
    carbon_cost: Annotated[
        bool,
        typer.Option(
            "--carbon-cost",
            help="both sides: also the borrowers' next-year carbon cost before and after the move",
        ),
    ] = False,
) -> Report:
    """Apply a stress scenario to the book: loss, margin calls, uncovered exposure; --save
    stores it with its scenario, as-of, inputs and model versions; --carbon-cost adds per bank
    the borrowers' carbon cost moved by the same scenario (issue 22)."""
    import pandas as pd

    from carbonfin.cli._data import load_account_frames
    from carbonfin.collateral import stress_book, stress_scenarios

    known = stress_scenarios()
    scenario = scenario.strip().lower()
    if scenario == "list":
        listed = [
            {"name": s.name, "kind": s.kind, "description": s.description} for s in known.values()
        ]
        return Report(
            {"scenarios": listed},
            [table(listed, [Column("name"), Column("kind"), Column("description")])],
        )
    if scenario not in known:
        raise InvalidInputError(f"unknown stress scenario {scenario!r}; known: {sorted(known)}")
    when = parse_date(as_of, "as_of") if as_of else None
    with _progress() as say:
        book, histories = _book(
            None if bank is None else upper(bank), when, model.strip().lower(), say
        )
        say(f"applying {scenario}")
        firms = load_account_frames()["firms"]
        industries = dict(zip(firms["uscc"].astype(str), firms["sector"].astype(str),
                              strict=True))  # fmt: skip
        exposure = None
        if carbon_cost:
            say("borrowers' carbon cost")
            exposure = _carbon_exposure(None if bank is None else upper(bank), book.as_of, seed)
        res = stress_book(
            book, scenario, histories, industries=industries, seed=seed,
            carbon_exposure=exposure,
        )  # fmt: skip
    data: dict[str, Any] = {
        "scenario": scenario,
        "as_of": res.as_of,
        "moves": {inst.value: move for inst, move in res.moves.items()},
        "value_before": money(res.value_before_cny, "CNY"),
        "value_after": money(res.value_after_cny, "CNY"),
        "loss": money(res.loss_cny, "CNY"),
        "loans_called_before": res.loans_called_before,
        "loans_called_after": res.loans_called_after,
        "topup_cash": money(res.topup_cash_cny, "CNY"),
        "uncovered": money(res.uncovered_cny, "CNY"),
        "states_after": dict(res.states_after),
        "notes": list(res.notes),
    }
    human: list[Any] = [res.summary()]
    frames = [
        ("per bank", "by_bank", res.by_bank),
        ("per instrument", "by_instrument", res.by_instrument),
        ("per industry", "by_industry", res.by_industry),
    ]
    if res.both_sides is not None:
        frames.append(("both sides, per bank", "both_sides", res.both_sides))
    for title, key, frame in frames:
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        data[key] = records
        columns = [
            Column(str(c), fmt="{:,.0f}" if pd.api.types.is_numeric_dtype(frame[c]) else None)
            for c in frame.columns
        ]
        human.append(table(records, columns, title=title))
    human.append(f"data: {book.data_source}; policy {book.policy_version}")
    if save:
        data["saved"] = _save_stress(res, book, None if bank is None else upper(bank), seed, model)
        human.append(
            f"saved stress run {data['saved']['id']} ({scenario}, {res.as_of}, "
            f"{data['saved']['scope']})" + (" replacing the earlier run" if
                                            data["saved"]["replaced"] else "")
        )  # fmt: skip
    return Report(data, human)


def _save_stress(
    res: Any, book: BookValuation, bank: str | None, seed: int, model: str
) -> dict[str, Any]:
    """Store a stress result in one write transaction (nothing on any error)."""
    from carbonfin.collateral import stress_record
    from carbonfin.collateral.models import get_model
    from carbonfin.store.database import session_scope
    from carbonfin.store.stress import save_stress_run

    if use_sample():
        raise InvalidInputError("--save stores into the database; it cannot be used with --sample")
    m = get_model(model.strip().lower())
    record = stress_record(
        res, scope=bank or "all", seed=seed, model=m.name, model_version=m.version,
        policy_version=book.policy_version, data_source=book.data_source,
    )  # fmt: skip
    with session_scope(seeded_engine()) as session:
        run_id, replaced = save_stress_run(session=session, record=record)
    return {"id": run_id, "scope": record["scope"], "replaced": replaced}
