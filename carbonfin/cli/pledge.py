"""`carbonfin pledge release`, `carbonfin pledge substitute`, `carbonfin pledge guarantor` and
`carbonfin pledge show`: a bank's pledge history and pledgor rights on the database, through
the same lending workflows as the API (one committed, audited transaction each)."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carbonfin.cli._common import Report, command, fail, parse_date, upper

if TYPE_CHECKING:
    from carbonfin.lending import Actor

pledge_app = typer.Typer(
    help="Release, substitute and inspect pledges; record loan guarantors.", no_args_is_help=True
)
BankOption = Annotated[str, typer.Option(help="the bank acting, e.g. BANK-01 (any case)")]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `carbonfin` app."""
    app.add_typer(pledge_app, name="pledge")


def _actor(bank: str) -> Actor:
    from carbonfin.lending import Actor

    return Actor(f"cli:{getpass.getuser()}"[:64], upper(bank), "bank", "cli")


def _sessions() -> Any:
    from sqlalchemy.orm import sessionmaker

    from carbonfin.cli._common import DataSource, record_source
    from carbonfin.cli._data import seeded_engine
    from carbonfin.store.database import public_name

    engine = seeded_engine()
    record_source(DataSource("database", public_name(engine.url), "pledges", None))
    return sessionmaker(engine, expire_on_commit=False)


def _facts(f: Any) -> dict[str, Any]:
    return {
        "pledge_id": f.pledge_id,
        "loan_id": f.loan_id,
        "as_of": f.as_of,
        "status": f.status,
        "quantity_t": f.quantity_t,
        "quantity_in_force_t": f.quantity_in_force_t,
        "released_t": f.released_t,
        "release_dates": list(f.release_dates),
    }


def _state_line(f: Any) -> str:
    return (
        f"{f.pledge_id} on {f.as_of}: {f.status}, {f.quantity_in_force_t:,} of "
        f"{f.quantity_t:,} t in force ({f.released_t:,} t released)"
    )


@pledge_app.command("release")
@command()
def release_cmd(
    pledge_id: Annotated[str, typer.Argument(help="the pledge, e.g. PL-0000001")],
    bank: BankOption,
    date: Annotated[str, typer.Option("--date", help="release date (YYYY-MM-DD)")],
    reason: Annotated[str, typer.Option(help="repayment, substitution or other")],
    quantity: Annotated[
        int | None, typer.Option("--quantity", min=1, help="tonnes (a partial release)")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="release all that is in force")] = False,
) -> Report:
    """Record the registry's release of a pledge, fully (--full) or in part (--quantity)."""
    from carbonfin.lending.ids import check_pledge_id
    from carbonfin.lending.pledges import RELEASE_REASONS, release_pledge

    if full == (quantity is not None):
        raise fail("give either --quantity (a partial release) or --full")
    reason = reason.strip().lower()
    if reason not in RELEASE_REASONS:
        raise fail(f"--reason must be one of {', '.join(RELEASE_REASONS)}; got {reason!r}")
    pid = check_pledge_id(upper(pledge_id))  # a malformed id: exit 2 before the database
    r = release_pledge(
        sessions=_sessions(),
        actor=_actor(bank),
        pledge_id=pid,
        release_date=parse_date(date, "date"),
        reason=reason,  # type: ignore[arg-type]
        quantity_t=quantity,
    )
    return Report(
        {
            "release_id": r.release_id,
            "pledge_id": r.pledge_id,
            "release_date": r.release_date,
            "quantity_t": r.quantity_t,
            "reason": r.reason,
            "pledge": _facts(r.pledge),
        },
        [f"released {r.quantity_t:,} t of {r.pledge_id} on {r.release_date} ({r.reason})",
         _state_line(r.pledge)],
    )  # fmt: skip


@pledge_app.command("show")
@command()
def show_cmd(
    pledge_id: Annotated[str, typer.Argument(help="the pledge, e.g. PL-0000001")],
    bank: BankOption,
    as_of: Annotated[str | None, typer.Option(help="date (default: today)")] = None,
) -> Report:
    """A pledge of the bank with its state on a date (quantity in force, releases)."""
    from carbonfin.lending import china_today
    from carbonfin.lending.ids import check_pledge_id
    from carbonfin.lending.pledges import pledge_on

    pid = check_pledge_id(upper(pledge_id))  # a malformed id: exit 2 before the database
    f = pledge_on(
        sessions=_sessions(),
        actor=_actor(bank),
        pledge_id=pid,
        as_of=parse_date(as_of, "as_of") if as_of else china_today(),
    )
    return Report(_facts(f), [_state_line(f)])


@pledge_app.command("guarantor")
@command()
def guarantor_cmd(
    loan_id: Annotated[str, typer.Argument(help="the bank's loan, e.g. LN-0000003")],
    uscc: Annotated[str, typer.Argument(help="the guarantor firm's USCC")],
    bank: BankOption,
    consent_ref: Annotated[str, typer.Option(help="reference of the documented consent")],
    consent_date: Annotated[str, typer.Option(help="date of the consent (YYYY-MM-DD)")],
) -> Report:
    """Record a guarantor of the bank's loan with its documented consent; it may then pledge
    its own holding for the loan."""
    from carbonfin.lending.ids import check_loan_id
    from carbonfin.lending.pledges import add_guarantor

    lid = check_loan_id(upper(loan_id))  # a malformed id: exit 2 before the database
    g = add_guarantor(
        sessions=_sessions(),
        actor=_actor(bank),
        loan_id=lid,
        guarantor_uscc=upper(uscc),
        consent_ref=consent_ref,
        consent_date=parse_date(consent_date, "consent_date"),
    )
    return Report(
        {
            "loan_id": g.loan_id,
            "guarantor_uscc": g.guarantor_uscc,
            "consent_ref": g.consent_ref,
            "consent_date": g.consent_date,
        },
        [f"{g.guarantor_uscc} recorded as guarantor of {g.loan_id} (consent {g.consent_ref} of "
         f"{g.consent_date})"],
    )  # fmt: skip
