"""The loan book valued on a date, for margin calls and the regulator's views.

The whole book (every bank) is valued once per date by the core's vectorised
:func:`carbonfin.collateral.value_book` and cached until the next lending write; each bank's view
is a filter of it, so a bank's figures never depend on who asked first, and no other bank's row
reaches it.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.data import MarketData
from carbonfin.errors import MissingDataError
from carbonfin.store.models import Firm, Loan

__all__ = ["BookCache"]


class BookCache:
    """Book valuations by date, dropped whenever a loan, pledge or repayment is written."""

    def __init__(self, data: MarketData) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._books: dict[dt.date, Any] = {}
        self._attrs: dict[dt.date, pd.DataFrame] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._books.clear()
            self._attrs.clear()

    def attributes(self, session: Session, as_of: dt.date) -> pd.DataFrame:
        """Per pledge of the valued book: pledgor, vintage and the pledgor's industry."""
        self.valuation(session, as_of)
        with self._lock:
            return self._attrs[as_of]

    def valuation(self, session: Session, as_of: dt.date) -> Any:
        with self._lock:
            hit = self._books.get(as_of)
        if hit is not None:
            return hit
        book, attrs = self._value(session, as_of)
        with self._lock:
            if len(self._books) > 32:
                self._books.clear()
                self._attrs.clear()
            self._books[as_of] = book
            self._attrs[as_of] = attrs
        return book

    def _value(self, session: Session, as_of: dt.date) -> tuple[Any, pd.DataFrame]:
        from carbonfin.collateral import value_book
        from carbonfin.fx import RateStore
        from carbonfin.instruments import Instrument
        from carbonfin.store.collateral import pledges_in_force

        pledges, rules_version = pledges_in_force(session=session, as_of=as_of)
        loan_ids = sorted(set(pledges["loan_id"]))
        loans = pd.DataFrame(
            [
                {
                    "loan_id": loan.loan_id,
                    "bank_id": loan.bank_id,
                    "borrower_uscc": loan.borrower_uscc,
                    "currency": loan.currency,
                    "outstanding": float(loan.outstanding),
                    "status": loan.status,
                }
                for loan in session.scalars(select(Loan).where(Loan.loan_id.in_(loan_ids)))
            ]
        )
        if loans.empty:
            raise MissingDataError(f"no pledges in force on {as_of}")
        loans = loans[loans["status"] == "active"]
        pledges = pledges[pledges["loan_id"].isin(loans["loan_id"])]
        if pledges.empty:
            raise MissingDataError(f"no pledges in force securing an active loan on {as_of}")
        histories = {
            Instrument.parse(code): self.data.history(code)
            for code in sorted(pledges["instrument"].unique())
        }
        covered = self.data.covered_usccs()
        sectors = self.industries(session)
        pledges = pledges.assign(
            industry=[sectors.get(str(u), "unknown") for u in pledges["pledgor_uscc"]]
        )
        attrs = pledges[["pledge_id", "pledgor_uscc", "vintage", "industry"]].set_index("pledge_id")
        book = value_book(
            pledges,
            loans,
            histories,
            RateStore(self.data.fixings()),
            as_of=as_of,
            covered_usccs=covered,
            data_source=f"{self.data.source}; eligible quantities from the registry "
            f"(rules {rules_version})",
        )
        return book, attrs

    def industries(self, session: Session) -> dict[str, str]:
        rows = session.execute(select(Firm.uscc, Firm.sector)).all()
        return {str(u): str(s) for u, s in rows}
