"""`carbonfin book value`: a bank's collateral book valued on a date, with its LTVs and margin
calls; ``--save`` stores them.

Exits with code 5 (:attr:`ExitCode.MARGIN_CALL`) when a loan is at the margin-call or
liquidation level, so a script can branch on it. The database's book is valued through
:func:`carbonfin.lending.book.value_book_as_of` (as the API values it); ``--sample`` values the
sample files' pledges in force.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import (
    Column,
    ExitCode,
    Report,
    command,
    money,
    parse_date,
    restate_source,
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
from carbonfin.cli.collateral import FLAGS, MODELS, progress
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    import pandas as pd

    from carbonfin.collateral import BookValuation
    from carbonfin.pricing import PriceHistory

__all__ = ["book_app", "book_value_cmd", "value_book_for"]

book_app = typer.Typer(help="Value a bank's collateral book: LTVs and margin calls.",
                       no_args_is_help=True)  # fmt: skip


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


def value_book_for(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory]]:
    """The book of ``bank`` (``None``: every bank) valued on ``when`` (default: the last quote
    date) with haircut ``model``, and the price histories used; ``say`` reports progress."""
    book, histories, _ = _valued_book(bank, when, model, say)
    return book, histories


def _valued_book(
    bank: str | None, when: dt.date | None, model: str, say: Any
) -> tuple[BookValuation, dict[Instrument, PriceHistory], pd.DataFrame | None]:
    """The book valued on the date, and the loans that could not be valued (database: the
    same :func:`carbonfin.lending.book.value_book_as_of` as the API; sample files: the files'
    pledges in force, valued whole)."""
    from carbonfin.collateral import value_book
    from carbonfin.collateral.models import get_model
    from carbonfin.fx import RateStore

    get_model(model)  # an unknown --model is bad input, before any loan is read or valued
    if not use_sample():
        book, histories, not_valued = _lending_book(bank, when, model, say)
        return _as_of_the_marks(book, histories), histories, not_valued
    pledges, loans, histories, when, note = _book_frames(bank, when, say)
    book = value_book(
        pledges, loans, histories, RateStore(load_fx_fixings()), as_of=when,
        model=model, covered_usccs=_covered_usccs(),
        data_source=f"{sources_text()}; {note}", progress=say,
    )  # fmt: skip
    return _as_of_the_marks(book, histories), histories, None


def _as_of_the_marks(
    book: BookValuation, histories: dict[Instrument, PriceHistory]
) -> BookValuation:
    """The valuation with its price and FX sources restated as of what it used: each
    instrument's mark (the last price at or before the valuation date that the mark rules
    take), the newest FX fixing used; the loaders had recorded the end of the data read (a
    2026-10-05 valuation said "prices to 2026-10-30")."""
    import bisect
    import dataclasses

    before = sources_text()
    for inst, history in histories.items():
        dates = history.dates
        held = f"quotes held to {dates[-1]}" if dates else "no quotes"
        profile = book.profiles.get(inst)
        if profile is not None:
            restate_source(f"{inst.value} prices", profile.mark.last_date,
                           f"the mark used for {book.as_of}; {held}")  # fmt: skip
            continue
        i = bisect.bisect_right(dates, book.as_of)
        if i:  # no pledge of it in the book: its last quote at or before the valuation date
            restate_source(f"{inst.value} prices", dates[i - 1],
                           f"last quote at or before {book.as_of}, not used: no pledge of "
                           f"{inst.value} in the book; {held}")  # fmt: skip
    fixings = [d for q in book.fx.values() for d in q.fixing_dates]
    if fixings:
        restate_source("FX fixings", max(fixings), f"the newest fixing used for {book.as_of}")
    after = sources_text()
    if after == before or before not in book.data_source:
        return book
    return dataclasses.replace(book, data_source=book.data_source.replace(before, after, 1))


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
    with progress() as say:
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
                    Column("loan_id", "loan", keep=True),
                    Column("state", keep=True),
                    Column("ltv", "LTV", fmt="{:.1%}"),
                    Column("utilisation", fmt="{:.2f}"),
                    Column("outstanding", "loan CNY", fmt=_whole),
                    Column("collateral_value", "collateral CNY", fmt=_whole, optional=True),
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
