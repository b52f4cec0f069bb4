"""`carbonfin loan repay`, `carbonfin loan show` and `carbonfin loan ledger`: a bank's loan
balances on the database through the same lending workflows as the API (a repayment is one
committed, audited ledger entry; balances on any date come from the ledger)."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import Report, command, fail, parse_date, parse_decimal, upper
from carbonfin.conventions import format_money

if TYPE_CHECKING:
    from carbonfin.lending import Actor
    from carbonfin.lending.loans import LoanView

loan_app = typer.Typer(
    help="Record repayments and read a loan's balance on a date and its ledger.",
    no_args_is_help=True,
)
BankOption = Annotated[str, typer.Option(help="the bank acting, e.g. BANK-01 (any case)")]
LoanArg = Annotated[str, typer.Argument(help="the loan, e.g. LN-0000001")]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(loan_app, name="loan")


def _actor(bank: str) -> Actor:
    from carbonfin.lending import Actor

    return Actor(f"cli:{getpass.getuser()}"[:64], upper(bank), "bank", "cli")


def _sessions() -> Any:
    from sqlalchemy.orm import sessionmaker

    from carbonfin.cli._common import DataSource, record_source
    from carbonfin.cli._data import seeded_engine
    from carbonfin.store.database import public_name

    engine = seeded_engine()
    record_source(DataSource("database", public_name(engine.url), "loans", None))
    return sessionmaker(engine, expire_on_commit=False)


def _loan_id(text: str) -> str:
    """The loan id argument, upper-cased; a malformed one is bad input (exit 2) before any
    database is opened."""
    from carbonfin.lending.ids import check_loan_id

    return check_loan_id(upper(text))


def _facts(v: LoanView) -> dict[str, Any]:
    return {
        "loan_id": v.loan_id,
        "bank_id": v.bank_id,
        "currency": v.currency,
        "principal": format_money(v.principal, v.currency),
        "outstanding": format_money(v.outstanding, v.currency),
        "status": v.status,
        "as_of": v.as_of,
    }


def _line(v: LoanView) -> str:
    return (
        f"{v.loan_id} on {v.as_of}: {v.status}, "
        f"{format_money(v.outstanding, v.currency, grouped=True)} of "
        f"{format_money(v.principal, v.currency, grouped=True)} {v.currency} outstanding"
    )


@loan_app.command("repay")
@command()
def repay_cmd(
    loan_id: LoanArg,
    bank: BankOption,
    amount: Annotated[str, typer.Option(help="amount in the loan's currency, e.g. 1000000.00")],
    date: Annotated[str, typer.Option("--date", help="value date (YYYY-MM-DD), not after today")],
) -> Report:
    """Record a repayment with its value date (one ledger entry; refused above the balance
    outstanding on that date, before origination or after today)."""
    from carbonfin.lending import china_today
    from carbonfin.lending.loans import record_repayment

    lid = _loan_id(loan_id)
    value = parse_decimal(amount, "amount")
    if value <= 0:
        raise fail(f"--amount must be positive; got {amount!r}")
    # its decimals against the loan currency's ISO 4217 minor units: the workflow's check (exit 2)
    r = record_repayment(
        sessions=_sessions(),
        actor=_actor(bank),
        loan_id=lid,
        amount=value,
        value_date=parse_date(date, "date"),
        today=china_today(),
    )
    return Report(
        {
            "repaid": format_money(value, r.loan.currency),
            "value_date": parse_date(date, "date"),
            "loan": _facts(r.loan),
        },
        [
            f"recorded a repayment of {format_money(value, r.loan.currency, grouped=True)} "
            f"{r.loan.currency} on {date}",
            _line(r.loan),
        ],
    )


@loan_app.command("show")
@command()
def show_cmd(
    loan_id: LoanArg,
    bank: BankOption,
    as_of: Annotated[str | None, typer.Option(help="date (default: today in China)")] = None,
) -> Report:
    """A loan of the bank with its balance and status on a date, from its ledger."""
    from carbonfin.lending import china_today
    from carbonfin.lending.loans import loan_as_of

    lid = _loan_id(loan_id)
    with _sessions()() as session:
        v = loan_as_of(
            session=session,
            actor=_actor(bank),
            loan_id=lid,
            as_of=parse_date(as_of, "as_of") if as_of else china_today(),
        )
    return Report(_facts(v), [_line(v)])


@loan_app.command("ledger")
@command()
def ledger_cmd(loan_id: LoanArg, bank: BankOption) -> Report:
    """A loan's ledger: opening, draws and repayments by value date, with the balance after."""
    from carbonfin.lending.loans import loan_ledger

    lid = _loan_id(loan_id)
    with _sessions()() as session:
        rows = loan_ledger(session=session, actor=_actor(bank), loan_id=lid)
    entries = [
        {
            "entry_id": e.entry_id,
            "kind": e.kind,
            "value_date": e.value_date,
            "amount": format_money(e.amount, e.currency),
            "balance_after": format_money(e.balance_after, e.currency),
            "recorded_at": e.recorded_at.isoformat().replace("+00:00", "Z"),
            "recorded_by": e.client_id,
        }
        for e in rows
    ]
    human = [f"ledger of {upper(loan_id)} ({len(entries)} entries)"] + [
        f"  {e['value_date']}  {e['kind']:<9} {e['amount']:>18}  balance {e['balance_after']:>18}"
        for e in entries
    ]
    return Report({"loan_id": upper(loan_id), "entries": entries}, human)
