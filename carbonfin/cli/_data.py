"""Where CLI commands get their market and account data: one source, always named.

Commands read the database named by ``CARBONFIN_DATABASE_URL`` (default
``sqlite:///carbonfin.db``, relative to the current folder). Where it cannot serve — the file is
missing, it is behind the newest migration, the table asked for is empty — the command fails with
what to run (``carbonfin db upgrade``, ``carbonfin db seed``) and exit code 3; it never falls back
to the shipped sample on its own. ``--sample`` reads the shipped sample on purpose. Every loader
records its source and as-of date for the report's header
(:func:`carbonfin.cli._common.record_source`). Either way the frames have the columns of
:mod:`carbonfin.data.schema`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonfin.cli._common import DataSource, record_source, use_sample
from carbonfin.errors import MissingDataError
from carbonfin.instruments import Instrument

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

_ACCOUNT = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
_SEED = "run `carbonfin db seed` (or pass --sample to read the shipped sample market)"


class DatabaseNotReadyError(MissingDataError):
    """The configured database cannot serve the command (missing, not migrated, not seeded)."""


def sqlite_file_missing(url: Any) -> Path | None:
    """The absolute path of a SQLite database file that does not exist, else ``None``."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).resolve()
    return None if path.exists() else path


def missing_database_message(path: Path) -> str:
    """Why there is no database, and how it was configured."""
    from carbonfin.store.database import ENV_VAR, database_url, parse_url

    how = (
        f"{ENV_VAR}={parse_url(database_url()).render_as_string(hide_password=True)}"
        if os.environ.get(ENV_VAR, "").strip()
        else f"{ENV_VAR} is unset; the default sqlite:///carbonfin.db is relative to the "
        "current folder"
    )
    return f"no database at {path} ({how})"


def database() -> Engine:
    """An engine on the configured database, migrated to the newest revision, or a clear error.

    Never creates a database file as a side effect.
    """
    from carbonfin.store.database import (
        current_revision,
        database_url,
        head_revision,
        known_revisions,
        make_engine,
        parse_url,
    )

    url = parse_url(database_url())
    missing = sqlite_file_missing(url)
    if missing is not None:
        raise DatabaseNotReadyError(
            f"{missing_database_message(missing)}: run `carbonfin db upgrade` and "
            "`carbonfin db seed` (or pass --sample to read the shipped sample market)"
        )
    engine = make_engine(url)
    name = engine.url.render_as_string(hide_password=True)
    revision = current_revision(engine)
    head = head_revision()
    if revision is None:
        raise DatabaseNotReadyError(
            f"database {name} is empty (no carbonfin schema): run `carbonfin db upgrade` "
            "and `carbonfin db seed` (or pass --sample to read the shipped sample market)"
        )
    if revision != head and revision not in known_revisions():
        raise DatabaseNotReadyError(
            f"database {name} at revision {revision}, which this carbonfin (newest {head}) "
            "does not ship: a newer carbonfin migrated it; upgrade carbonfin"
        )
    if revision != head:
        raise DatabaseNotReadyError(
            f"database {name} at revision {revision}, newest {head}: run `carbonfin db upgrade`"
        )
    return engine


def _require_rows(engine: Engine, table: str, what: str) -> None:
    from sqlalchemy import func, select

    from carbonfin.store.models import SAMPLE_MODELS

    with engine.connect() as connection:
        n = connection.scalar(select(func.count()).select_from(SAMPLE_MODELS[table]))
    if not n:
        name = engine.url.render_as_string(hide_password=True)
        raise DatabaseNotReadyError(f"database {name} holds no {what}: {_SEED}")


def _database_source(
    engine: Engine, what: str, as_of: dt.date | None, year: int | None = None
) -> DataSource:
    from carbonfin.store.database import public_name

    return DataSource("database", public_name(engine.url), what, as_of, year)


def _sample_source(what: str, as_of: dt.date | None, year: int | None = None) -> DataSource:
    from carbonfin.data import sample_dir

    return DataSource("sample", str(sample_dir()), what, as_of, year)


def _last_date(frame: pd.DataFrame) -> dt.date | None:
    return None if frame.empty else max(frame["date"])


def load_prices(instrument: Instrument) -> pd.DataFrame:
    """Daily quotes of ``instrument`` with the columns of the ``prices`` sample table."""
    what = f"{instrument.value} prices"
    if use_sample():
        from carbonfin.data import load_table

        frame = load_table("prices")
        frame = frame[frame["instrument"] == instrument.value].reset_index(drop=True)
        record_source(_sample_source(what, _last_date(frame)))
        return frame
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = database()
    _require_rows(engine, "prices", "prices")
    with session_scope(engine) as session:
        frame = repositories.prices(session=session, instrument=instrument)
    record_source(_database_source(engine, what, _last_date(frame)))
    return frame


def load_fx_fixings() -> pd.DataFrame:
    """FX fixings with the columns of the ``fx_fixings`` sample table."""
    if use_sample():
        from carbonfin.data import load_table

        frame = load_table("fx_fixings")
        record_source(_sample_source("FX fixings", _last_date(frame)))
        return frame
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = database()
    _require_rows(engine, "fx_fixings", "FX fixings")
    with session_scope(engine) as session:
        frame = repositories.fx_fixings(session=session)
    record_source(_database_source(engine, "FX fixings", _last_date(frame)))
    return frame


def _last_year(frames: dict[str, pd.DataFrame]) -> tuple[dt.date | None, int | None]:
    """The account's last reporting year and, as its as-of date, that year's last day (the
    account is annual: one row per firm and year)."""
    years = frames["firm_years"]["year"]
    if years.empty:
        return None, None
    year = int(years.max())
    return dt.date(year, 12, 31), year


def load_account_frames() -> dict[str, pd.DataFrame]:
    """The carbon-account tables: firms, facilities, facility_emissions, firm_years, compliance."""
    if use_sample():
        from carbonfin.data import load_table

        frames = {name: load_table(name) for name in _ACCOUNT}
        record_source(_sample_source("carbon account", *_last_year(frames)))
        return frames
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = database()
    _require_rows(engine, "firms", "carbon-account data (firms)")
    _require_rows(engine, "firm_years", "carbon-account data (firm years)")
    with session_scope(engine) as session:
        frames = repositories.account_frames(session=session)
    record_source(_database_source(engine, "carbon account", *_last_year(frames)))
    return frames


def _book_table(name: str, bank_id: str | None) -> pd.DataFrame:
    """Loans or pledges, all or one bank's (a pledge belongs to the bank of its loan)."""
    what = f"{bank_id or 'all banks'} {name}"
    if use_sample():
        from carbonfin.data import load_table

        if bank_id is not None and bank_id not in set(load_table("institutions")["institution_id"]):
            raise MissingDataError(f"unknown bank {bank_id!r}")
        frame = load_table(name)
        if bank_id is not None:
            loans = load_table("loans")
            ids = set(loans.loc[loans["bank_id"] == bank_id, "loan_id"])
            frame = frame[frame["loan_id"].isin(ids)].reset_index(drop=True)
        record_source(_sample_source(what, None))
        return frame
    from carbonfin.store import repositories
    from carbonfin.store.database import session_scope

    engine = database()
    _require_rows(engine, "loans", "loans")
    read = repositories.loans if name == "loans" else repositories.pledges
    with session_scope(engine) as session:
        try:
            frame = read(session=session, bank_id=bank_id)
        except MissingDataError:
            raise MissingDataError(f"unknown bank {bank_id!r}") from None
    record_source(_database_source(engine, what, None))
    return frame


def load_loans(bank_id: str | None = None) -> pd.DataFrame:
    """The loans of one bank (or of every bank), with the columns of the ``loans`` table."""
    return _book_table("loans", bank_id)


def load_pledges(bank_id: str | None = None) -> pd.DataFrame:
    """The pledges securing one bank's loans (or every pledge), as the ``pledges`` table."""
    return _book_table("pledges", bank_id)


def seeded_engine() -> Engine:
    """The configured database, migrated and holding the sample tables, or a clear error."""
    engine = database()
    _require_rows(engine, "firms", "carbon-account data (firms)")
    return engine
