"""SQLAlchemy models of the stored book valuations (migrations 0010 and 0011): a run per date,
its per-pledge and per-loan rows, and the exposure totals aggregated from them when the run is
stored (:mod:`carbonfin.store.exposure_totals`). Same metadata as :mod:`carbonfin.store.models`,
which re-exports these classes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbonfin.store.base import (
    FRACTION,
    LEDGER_MONEY,
    MONEY,
    PRICE,
    RATE,
    RATIO,
    TONNES,
    Base,
)

__all__ = ["ExposureTotal", "LoanValuation", "PledgeValuation", "ValuationRun"]


class ValuationRun(Base):
    """One stored valuation of the whole book on a date (every bank): when it was computed, from
    which data (the ``lending`` and ``market`` data versions it read, the data source, the
    haircut policy, the eligibility rules and the model) and why (``kind``: ``on_demand`` for a
    regulator or dashboard view, ``snapshot`` for the daily or weekly history, ``benchmark``).
    One run per date: valuing a date again replaces its run and rows. The exposure aggregates
    are SQL over its :class:`PledgeValuation` and :class:`LoanValuation` rows
    (:mod:`carbonfin.store.exposure`)."""

    __tablename__ = "valuation_runs"
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    lending_version: Mapped[int] = mapped_column(BigInteger)
    market_version: Mapped[int] = mapped_column(BigInteger)
    data_source: Mapped[str] = mapped_column(String(400))
    policy_version: Mapped[str | None] = mapped_column(String(40))
    rules_version: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(40))
    notes: Mapped[list[str]] = mapped_column(JSON)
    __table_args__ = (
        CheckConstraint("kind IN ('on_demand', 'snapshot', 'benchmark')", name="kind"),
    )


class PledgeValuation(Base):
    """A pledge in force on its run's date as the engine valued it: the attributes it is grouped
    by as they stood (bank, instrument, vintage, the pledgor's industry), the quantity in force
    and eligible, the mark, market value, haircut and lendable value — all NULL with a
    ``not_valued_reason`` when the position could not be valued (unknown is not zero)."""

    __tablename__ = "pledge_valuations"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("valuation_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    pledge_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(32))
    bank_id: Mapped[str] = mapped_column(String(32))
    instrument: Mapped[str] = mapped_column(String(8))
    vintage: Mapped[int | None] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String(32))
    pledgor_uscc: Mapped[str | None] = mapped_column(String(18))
    quantity_t: Mapped[int] = mapped_column(TONNES)
    eligible_quantity_t: Mapped[int | None] = mapped_column(TONNES)
    price_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    mark_date: Mapped[dt.date | None] = mapped_column(Date)
    market_value_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    haircut_frac: Mapped[Decimal | None] = mapped_column(FRACTION)
    lendable_value_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    not_valued_reason: Mapped[str | None] = mapped_column(String(400))
    __table_args__ = (
        CheckConstraint("quantity_t >= 0", name="quantity_nonneg"),
        Index("ix_pledge_valuations_run_loan", "run_id", "loan_id"),
        Index("ix_pledge_valuations_run_bank", "run_id", "bank_id"),
    )


class LoanValuation(Base):
    """A loan of its run's book: the ledger balance on the run's date (loan currency), the FX
    rate to CNY used and the CNY amount (NULL when no usable fixing: unknown is not zero), the
    collateral and lendable value, LTV and state (``ok``, ``warning``, ``margin_call``,
    ``liquidation`` or ``not_valued`` with its reason)."""

    __tablename__ = "loan_valuations"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("valuation_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    loan_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bank_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    outstanding: Mapped[Decimal] = mapped_column(LEDGER_MONEY)
    fx_cny_per_unit: Mapped[Decimal | None] = mapped_column(RATE)
    outstanding_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    collateral_value_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    lendable_value_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    ltv: Mapped[Decimal | None] = mapped_column(RATIO)
    state: Mapped[str] = mapped_column(String(20))
    not_valued_reason: Mapped[str | None] = mapped_column(String(400))
    __table_args__ = (
        CheckConstraint(
            "state IN ('ok', 'warning', 'margin_call', 'liquidation', 'not_valued')", name="state"
        ),
        Index("ix_loan_valuations_run_bank", "run_id", "bank_id"),
    )


class ExposureTotal(Base):
    """The exposure figures of one bank's part of a run, one row per group of each grouping
    (``bank``, ``instrument``, ``vintage``, ``industry``; ``""``: the bank's whole book, key
    ``""``) and per loan state (grouping ``state``: only ``loans`` is set). Written from the
    run's rows by SQL in the transaction that stores the run
    (:func:`carbonfin.store.exposure_totals.aggregate_run`); the whole book's figures are sums
    over the banks (a loan and its pledges belong to one bank).

    Money is exact integer micro-CNY (1e-6 CNY; the sum of per-pledge amounts rounded to
    micro-CNY, see :data:`carbonfin.store.exposure_totals.MICRO`): a bank's group holds at most
    9.2e12 CNY (a larger one fails the write; it is never truncated)."""

    __tablename__ = "exposure_totals"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("valuation_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    bank_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grouping: Mapped[str] = mapped_column(String(16), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    pledges: Mapped[int] = mapped_column(BigInteger)
    pledges_not_valued: Mapped[int] = mapped_column(BigInteger)
    collateral_value_micro: Mapped[int] = mapped_column(BigInteger)
    lendable_value_micro: Mapped[int] = mapped_column(BigInteger)
    outstanding_micro: Mapped[int] = mapped_column(BigInteger)
    outstanding_by_quantity_micro: Mapped[int] = mapped_column(BigInteger)
    loans: Mapped[int] = mapped_column(BigInteger)
    loans_outstanding_unknown: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(
            "grouping IN ('', 'bank', 'instrument', 'vintage', 'industry', 'state')",
            name="grouping",
        ),
    )
