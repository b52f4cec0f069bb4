"""The valued loan book for margin calls and the regulator's views: a cache over
:func:`carbonfin.lending.book.value_book_as_of`.

The whole book (every bank) is valued once per (date, data version) and each bank's view is a
filter of it, so a bank's figures never depend on who asked first and no other bank's row reaches
it. The key's data version is read from the database (:func:`read_data_version`, bumped in every
lending write's own transaction), so a write by another worker, the CLI or another process is
seen by the next request; entries of older versions are dropped.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.data import MarketData
from carbonfin.collateral import BookValuation
from carbonfin.errors import MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.lending.book import ValuedBook, value_book_as_of
from carbonfin.pricing import PriceHistory
from carbonfin.store.models import Firm
from carbonfin.store.transactions import read_data_versions

__all__ = ["BookCache"]

MAX_ENTRIES = 32


class BookCache:
    """Valued books by (date, lending data version)."""

    def __init__(self, data: MarketData) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._books: OrderedDict[tuple[dt.date, tuple[int, int]], ValuedBook] = OrderedDict()

    def invalidate(self) -> None:
        """Drop every entry (writes that bump the data version need not call it)."""
        with self._lock:
            self._books.clear()

    def book(self, session: Session, as_of: dt.date) -> ValuedBook:
        """The whole book valued on ``as_of``, with the loans that could not be valued."""
        # the lending and the market data versions: a repayment and a price seed both show
        versions = read_data_versions(session)
        key = (as_of, (versions["lending"], versions["market"]))
        with self._lock:
            hit = self._books.get(key)
            if hit is not None:
                self._books.move_to_end(key)
                return hit
        valued = self._value(session, as_of)
        with self._lock:
            for old in [k for k in self._books if k[1] < key[1]]:
                del self._books[old]
            self._books[key] = valued
            while len(self._books) > MAX_ENTRIES:
                self._books.popitem(last=False)
        return valued

    def valuation(self, session: Session, as_of: dt.date) -> BookValuation:
        """The valuation of the positions that could be valued on ``as_of``."""
        valued = self.book(session, as_of)
        if valued.valuation is None:
            raise MissingDataError(
                f"no pledges in force securing an active loan could be valued on {as_of}"
            )
        return valued.valuation

    def attributes(self, session: Session, as_of: dt.date) -> pd.DataFrame:
        """Per pledge of the book: pledgor, vintage and the pledgor's industry."""
        pledges = self.book(session, as_of).book.pledges
        sectors = self.industries(session)
        attrs = pledges[["pledge_id", "pledgor_uscc", "vintage"]].assign(
            industry=[sectors.get(str(u), "unknown") for u in pledges["pledgor_uscc"]]
        )
        return attrs.set_index("pledge_id")

    def _value(self, session: Session, as_of: dt.date) -> ValuedBook:
        def history_of(inst: Instrument) -> PriceHistory:
            history: PriceHistory = self.data.history(inst.value)
            return history

        return value_book_as_of(
            session,
            as_of,
            history_of=history_of,
            fixings=self.data.fixings(),
            covered_usccs=self.data.covered_usccs(),
            data_source=self.data.source,
        )

    def industries(self, session: Session) -> dict[str, str]:
        rows = session.execute(select(Firm.uscc, Firm.sector)).all()
        return {str(u): str(s) for u, s in rows}
