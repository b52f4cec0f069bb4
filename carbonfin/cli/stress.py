"""`carbonfin stress`: a stress scenario applied to the book: loss, margin calls, uncovered
exposure, and with ``--carbon-cost`` the borrowers' carbon cost moved by the same scenario;
``--save`` stores the run with its inputs and model versions."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    Report,
    command,
    money,
    parse_date,
    table,
    upper,
    use_sample,
)
from carbonfin.cli._data import seeded_engine
from carbonfin.cli.book import value_book_for
from carbonfin.cli.collateral import FLAGS, MODELS, progress
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    from carbonfin.collateral import BookValuation

__all__ = ["stress_cmd"]


def _carbon_exposure(
    bank: str | None, as_of: dt.date, seed: int, histories: dict[Instrument, Any]
) -> Any:
    """Next-year carbon-cost exposure of the book's borrowers (2,000 FHS scenarios) on the
    price histories the book was valued with (closes up to ``as_of``), not read again."""
    from carbonfin.cli._data import load_loans
    from carbonfin.cli.carbon_cost import _frames
    from carbonfin.scoring.carbon_card import borrower_exposure
    from carbonfin.scoring.carbon_inputs import carbon_cost_outlook

    loans = load_loans(bank)
    borrowers = tuple(sorted(set(loans.loc[loans["status"] == "active", "borrower_uscc"])))
    result, _ = carbon_cost_outlook(
        _frames(), {i: histories[i] for i in (Instrument.SHEA, Instrument.CEA)}, as_of=as_of,
        years=(as_of.year,), n_scenarios=2_000,
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
    the borrowers' carbon cost moved by the same scenario."""
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
    with progress() as say:
        book, histories = value_book_for(
            None if bank is None else upper(bank), when, model.strip().lower(), say
        )
        say(f"applying {scenario}")
        firms = load_account_frames()["firms"]
        industries = dict(zip(firms["uscc"].astype(str), firms["sector"].astype(str),
                              strict=True))  # fmt: skip
        exposure = None
        if carbon_cost:
            say("borrowers' carbon cost")
            exposure = _carbon_exposure(
                None if bank is None else upper(bank), book.as_of, seed, histories
            )
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
            Column(
                str(c),
                _header(str(c)),
                fmt="{:,.0f}" if pd.api.types.is_numeric_dtype(frame[c]) else None,
            )
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


def _header(key: str) -> str:
    """A result column's header in words, so a narrow terminal can wrap it: ``value_before_cny``
    -> ``value before CNY`` (the JSON keeps the key)."""
    return " ".join("CNY" if w == "cny" else w for w in key.split("_"))
