"""Valuing the book and storing the valuation runs the exposures are aggregated from.

- :func:`refresh` — make sure the valuation of a date is stored and current (value the book with
  the engine's models and store it, with its exposure totals, when it is missing or older than
  the data);
- :func:`snapshot` / :func:`backfill` — value and store the book on every business day (or every
  week) of a period: what ``carbonfin book snapshot`` and the sample seed run;
- :class:`MarketSource` / :class:`StoredMarket` — the market data a valuation reads.

The stable interface is :mod:`carbonfin.lending.exposure`, which re-exports these.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Collection, Iterable
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.collateral import DEFAULT_MODEL
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.lending.book import ValuedBook, value_book_as_of
from carbonfin.store import exposure as store
from carbonfin.store.transactions import read_data_versions, read_transaction, write_transaction

__all__ = [
    "SNAPSHOT_CALENDAR",
    "MarketSource",
    "StoredMarket",
    "backfill",
    "check_date",
    "refresh",
    "snapshot",
    "snapshot_dates",
    "stored_run",
    "valuation_frames",
]

#: The exchange calendar of the snapshot dates (Shanghai Environment and Energy Exchange).
SNAPSHOT_CALENDAR = "China.SEEE"


def check_date(value: object, name: str) -> dt.date:
    """``value`` if it is a date (not a datetime); :class:`InvalidInputError` naming ``name``."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInputError(f"`{name}` must be a date; got {value!r}")
    return value


def stored_run(session: Session, as_of: dt.date, hint: str = "") -> store.RunInfo:
    """The stored valuation run of ``as_of``; :class:`MissingDataError` ("value it first",
    followed by ``hint`` if given) where there is none."""
    run = store.find_run(session=session, as_of=as_of)
    if run is None:
        raise MissingDataError(f"no stored valuation of the book on {as_of}: value it first{hint}")
    return run


class MarketSource(Protocol):
    """Market data a valuation reads (``api.data.MarketData`` is one): a source name, each
    instrument's price history, the FX fixings and the covered emitters."""

    source: str

    def history(self, instrument: str) -> Any: ...

    def fixings(self) -> pd.DataFrame: ...

    def covered_usccs(self) -> Collection[str]: ...


class StoredMarket:
    """The market data of the database itself (prices, FX fixings, covered emitters), read once:
    the :class:`MarketSource` of the CLI's snapshots and the seed's backfill."""

    def __init__(self, sessions: sessionmaker[Session], source: str = "database") -> None:
        self.sessions = sessions
        self.source = source
        self._histories: dict[str, Any] = {}
        self._fixings: pd.DataFrame | None = None
        self._covered: frozenset[str] | None = None

    def history(self, instrument: str) -> Any:
        from carbonfin.instruments import Instrument
        from carbonfin.pricing import PriceHistory
        from carbonfin.store import repositories

        inst = Instrument.parse(instrument)
        if inst.value not in self._histories:
            with read_transaction(self.sessions) as session:
                frame = repositories.prices(session=session, instrument=inst)
            self._histories[inst.value] = PriceHistory.from_frame(frame, inst)
        return self._histories[inst.value]

    def fixings(self) -> pd.DataFrame:
        from carbonfin.store import repositories

        if self._fixings is None:
            with read_transaction(self.sessions) as session:
                self._fixings = repositories.fx_fixings(session=session)
        return self._fixings

    def covered_usccs(self) -> frozenset[str]:
        if self._covered is None:
            with read_transaction(self.sessions) as session:
                self._covered = frozenset(store.covered_usccs(session=session))
        return self._covered

    def last_quote(self) -> dt.date:
        """The last date with a quote of any instrument in the database."""
        with read_transaction(self.sessions) as session:
            return store.last_quote_date(session=session)


def _with_attributes(
    rows: pd.DataFrame, book_pledges: pd.DataFrame, industries: dict[str, str]
) -> pd.DataFrame:
    attrs = book_pledges.set_index("pledge_id")
    pid = rows["pledge_id"]
    out = rows.copy()
    for col in ("vintage", "pledgor_uscc", "eligible_quantity_t"):
        if col in attrs.columns:
            out[col] = pid.map(attrs[col]).to_numpy()
    out["industry"] = [industries.get(str(u)) for u in out["pledgor_uscc"]]
    return out


def valuation_frames(
    valued: ValuedBook, industries: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A valued book as the stored rows: pledges (:data:`carbonfin.store.exposure.
    PLEDGE_ROW_COLUMNS`, NaN value columns and the reason for those not valued) and loans
    (:data:`~carbonfin.store.exposure.LOAN_ROW_COLUMNS`, state ``not_valued`` for those set
    aside)."""
    pledges = valued.pledge_rows()
    for col in ("price_cny_per_t", "mark_date", "haircut_frac", "eligible_quantity_t"):
        if col not in pledges.columns:
            pledges[col] = np.nan
    pledges = _with_attributes(pledges, valued.book.pledges, industries)
    loans = valued.loan_rows()
    fx = (
        {c.code: float(q.rate) for c, q in valued.valuation.fx.items()}
        if valued.valuation is not None
        else {}
    )
    loans["fx_cny_per_unit"] = [fx.get(str(c), np.nan) for c in loans["currency"]]
    if "ltv" not in loans.columns:
        loans["ltv"] = np.nan
    return (
        pledges[list(store.PLEDGE_ROW_COLUMNS)].reset_index(drop=True),
        loans[list(store.LOAN_ROW_COLUMNS)].reset_index(drop=True),
    )


def _value(
    session: Session, as_of: dt.date, market: MarketSource, model: Any
) -> tuple[ValuedBook, dict[str, int], dict[str, str]]:
    versions = read_data_versions(session)

    def history_of(inst: Any) -> Any:
        return market.history(inst.value)

    valued = value_book_as_of(
        session, as_of, history_of=history_of, fixings=market.fixings(),
        covered_usccs=market.covered_usccs(), data_source=market.source, model=model,
    )  # fmt: skip
    return valued, versions, store.pledgor_industries(session=session)


def refresh(
    sessions: sessionmaker[Session],
    as_of: dt.date,
    market: MarketSource,
    *,
    kind: Literal["on_demand", "snapshot"] = "on_demand",
    force: bool = False,
    model: Any = DEFAULT_MODEL,
) -> store.RunInfo:
    """Make sure the valuation of ``as_of`` is stored and current; return its run.

    When no run of the date is stored, or it read other data versions than the database's now
    (or ``force``), the book that stood on ``as_of`` is valued (in a read transaction) and
    stored with the versions it read (in a short write transaction of its own, committed before
    this returns). Two processes refreshing one date at once store it once: the loser of the
    race returns the winner's run.
    """
    as_of = check_date(as_of, "as_of")
    with read_transaction(sessions) as session:
        run = store.find_run(session=session, as_of=as_of)
        now = read_data_versions(session)
        if (
            run is not None
            and not force
            and (run.lending_version, run.market_version) == (now["lending"], now["market"])
        ):
            return run
        valued, versions, industries = _value(session, as_of, market, model)
    pledges, loans = valuation_frames(valued, industries)
    v = valued.valuation
    try:
        with write_transaction(sessions, timeout_s=30) as session:
            return store.save_run(
                session=session, as_of=as_of, kind=kind,
                lending_version=versions["lending"], market_version=versions["market"],
                data_source=valued.data_source, model=str(getattr(model, "name", model)),
                policy_version=None if v is None else v.policy_version,
                rules_version=valued.book.rules_version,
                notes=(*valued.notes, *(() if v is None else v.notes)),
                pledges=pledges, loans=loans,
            )  # fmt: skip
    except IntegrityError:  # another process stored the date meanwhile
        with read_transaction(sessions) as session:
            run = store.find_run(session=session, as_of=as_of)
        if run is None:
            raise
        return run


def snapshot_dates(
    start: dt.date, end: dt.date, cadence: Literal["daily", "weekly"] = "daily"
) -> list[dt.date]:
    """The business days of the exchange calendar (:data:`SNAPSHOT_CALENDAR`) from ``start``
    to ``end``; ``weekly``: the last business day of each week (Monday to Sunday)."""
    from carbonfin.calendars import get_calendar

    start, end = check_date(start, "start"), check_date(end, "end")
    if start > end:
        raise InvalidInputError(f"`start` {start} is after `end` {end}")
    with warnings.catch_warnings():  # a provisional calendar year: the dates are still usable
        warnings.simplefilter("ignore")
        days = get_calendar(SNAPSHOT_CALENDAR).business_days(start, end)
    if cadence == "daily":
        return list(days)
    if cadence != "weekly":
        raise InvalidInputError(f"`cadence` must be daily or weekly; got {cadence!r}")
    last: dict[tuple[int, int], dt.date] = {}
    for d in days:
        last[d.isocalendar()[:2]] = d
    return sorted(last.values())


def snapshot(
    sessions: sessionmaker[Session],
    dates: Iterable[dt.date],
    market: MarketSource,
    *,
    force: bool = False,
    progress: Callable[[dt.date, int, int], None] | None = None,
) -> list[store.RunInfo]:
    """Value and store the book on each of ``dates`` (:func:`refresh` with kind ``snapshot``;
    a date already stored and current is kept unless ``force``); return the runs."""
    chosen = sorted(set(dates))
    runs = []
    for i, day in enumerate(chosen):
        runs.append(refresh(sessions, day, market, kind="snapshot", force=force))
        if progress is not None:
            progress(day, i + 1, len(chosen))
    return runs


def backfill(
    sessions: sessionmaker[Session],
    market: MarketSource,
    *,
    end: dt.date,
    days: int = 365,
    cadence: Literal["daily", "weekly"] = "weekly",
    progress: Callable[[dt.date, int, int], None] | None = None,
) -> list[store.RunInfo]:
    """Store the history of the last ``days`` days up to ``end`` (:func:`snapshot` on
    :func:`snapshot_dates`; dates already stored and current are kept): what ``carbonfin db
    seed`` and ``carbonfin serve --demo`` run for the dashboard's history (weekly by default:
    a daily year takes about five times as long, see docs/api.md)."""
    dates = snapshot_dates(end - dt.timedelta(days=days), end, cadence)
    return snapshot(sessions, dates, market, progress=progress)
