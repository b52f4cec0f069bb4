"""The bank's lending workflows, one transaction each: book a loan, record a repayment (an
append-only ledger), register, release or substitute a pledge, the book as it stood on a date
and its valuation. The API and the CLI both call these, never the store directly for a write.

Every write workflow takes a session factory and an :class:`Actor`, opens its own
:func:`carbonfin.store.transactions.write_transaction`, writes its audit entry in that same
transaction (:func:`record_write`: all or nothing), bumps the lending data version, and returns
only after the commit, so a caller that answers after it returned never acknowledges a write
that is not in the database.
"""

from __future__ import annotations

from carbonfin.lending._context import Actor, china_today, record_write

__all__ = ["Actor", "china_today", "record_write"]
