"""Where CLI commands get their market and account data.

Commands read the database named by ``CARBONFIN_DATABASE_URL`` (default ``sqlite:///carbonfin.db``)
once it has been migrated and seeded; before that, they read the shipped sample files. Either way
the frames have the columns of :mod:`carbonfin.data.schema`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from carbonfin.data import load_table
from carbonfin.instruments import Instrument
from carbonfin.store import repositories
from carbonfin.store.database import (
    current_revision,
    database_url,
    head_revision,
    make_engine,
    parse_url,
    session_scope,
)
from carbonfin.store.models import Price


def seeded_engine() -> Engine | None:
    """An engine on the configured database if it is migrated and holds prices, else ``None``.

    Never creates a database file as a side effect.
    """
    url = parse_url(database_url())
    if url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or not Path(url.database).exists()
    ):
        return None
    engine = make_engine(url)
    if current_revision(engine) != head_revision():
        return None
    with engine.connect() as connection:
        if not connection.scalar(select(func.count()).select_from(Price)):
            return None
    return engine


def load_prices(instrument: Instrument) -> pd.DataFrame:
    """Daily quotes of ``instrument`` with the columns of the ``prices`` sample table."""
    engine = seeded_engine()
    if engine is not None:
        with session_scope(engine) as session:
            return repositories.prices(session=session, instrument=instrument)
    frame = load_table("prices")
    return frame[frame["instrument"] == instrument.value].reset_index(drop=True)


def load_fx_fixings() -> pd.DataFrame:
    """FX fixings with the columns of the ``fx_fixings`` sample table."""
    engine = seeded_engine()
    if engine is not None:
        with session_scope(engine) as session:
            return repositories.fx_fixings(session=session)
    return load_table("fx_fixings")


def load_account_frames() -> dict[str, pd.DataFrame]:
    """The carbon-account tables: firms, facilities, facility_emissions, firm_years, compliance."""
    engine = seeded_engine()
    if engine is not None:
        with session_scope(engine) as session:
            return repositories.account_frames(session=session)
    names = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
    return {name: load_table(name) for name in names}


def load_loans(bank_id: str) -> pd.DataFrame:
    """The loans of one bank, with the columns of the ``loans`` sample table."""
    engine = seeded_engine()
    if engine is not None:
        with session_scope(engine) as session:
            return repositories.loans(session=session, bank_id=bank_id)
    frame = load_table("loans")
    if bank_id not in set(load_table("institutions")["institution_id"]):
        from carbonfin.errors import MissingDataError

        raise MissingDataError(f"unknown bank {bank_id!r}")
    return frame[frame["bank_id"] == bank_id].reset_index(drop=True)
