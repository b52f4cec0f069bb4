"""SQLAlchemy 2.0 typed models: the database shape of the sample-file contract plus the engine's
own tables (API clients, scores, audit log).

Money and quantities are ``Numeric`` (never float): prices in CNY per tonne to 6 decimals, amounts
and balances to 2 (CNY) or the currency's minor units held as 4 decimals, tonnes as integers. Column
names equal the sample-file column names in :mod:`carbonfin.data.schema`, so repositories hand the
core frames with exactly those columns. The database is created by the Alembic migrations in
``carbonfin/store/migrations``; ``tests/store`` checks that the migrations and these models agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbonfin.store.base import (
    EMISSIONS as EMISSIONS,
)
from carbonfin.store.base import FRACTION as FRACTION
from carbonfin.store.base import LEDGER_MONEY as LEDGER_MONEY
from carbonfin.store.base import MONEY as MONEY
from carbonfin.store.base import NAMING as NAMING
from carbonfin.store.base import PRICE as PRICE
from carbonfin.store.base import QUANTITY as QUANTITY
from carbonfin.store.base import RATE as RATE
from carbonfin.store.base import RATIO as RATIO
from carbonfin.store.base import TONNES as TONNES
from carbonfin.store.base import Base as Base

# the stored valuation runs and their exposure totals: a module of their own, same metadata
from carbonfin.store.valuation_models import ExposureTotal as ExposureTotal
from carbonfin.store.valuation_models import LoanValuation as LoanValuation
from carbonfin.store.valuation_models import PledgeValuation as PledgeValuation
from carbonfin.store.valuation_models import ValuationRun as ValuationRun


class Institution(Base):
    """A bank lending against carbon pledges, the central-bank branch (read-only), or the
    platform operator (``OPERATOR``: its ``admin`` keys manage API clients; it has no USCC)."""

    __tablename__ = "institutions"
    institution_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    swift_bic: Mapped[str | None] = mapped_column(String(11))
    __table_args__ = (CheckConstraint("kind IN ('bank', 'central_bank', 'operator')", name="kind"),)


class ApiClient(Base):
    """A credential of an institution for the HTTP API; only a salted hash of the secret is kept."""

    __tablename__ = "api_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.institution_id"))
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    label: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (CheckConstraint("role IN ('bank', 'regulator', 'admin')", name="role"),)


class IdempotencyRecord(Base):
    """The first response to a POST sent with an ``Idempotency-Key`` header, per client: a retry
    with the same key and body gets this response again; another body under the key is a
    conflict."""

    __tablename__ = "idempotency_keys"
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.client_id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Price(Base):
    """One instrument's daily quote; a no-trade day has volume 0 and null prices."""

    __tablename__ = "prices"
    instrument: Mapped[str] = mapped_column(String(8), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    open_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    high_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    low_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    close_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    vwap_cny_per_t: Mapped[Decimal | None] = mapped_column(PRICE)
    volume_t: Mapped[int] = mapped_column(TONNES)
    amount_cny: Mapped[Decimal] = mapped_column(MONEY)
    __table_args__ = (
        CheckConstraint("volume_t >= 0", name="volume_nonneg"),
        CheckConstraint("close_cny_per_t IS NULL OR close_cny_per_t > 0", name="close_pos"),
    )


class FxFixing(Base):
    """A daily FX fixing: ``rate`` units of the quote currency per 1 unit of the base."""

    __tablename__ = "fx_fixings"
    pair: Mapped[str] = mapped_column(String(7), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    rate: Mapped[Decimal] = mapped_column(RATE)
    kind: Mapped[str] = mapped_column(String(20))
    __table_args__ = (CheckConstraint("rate > 0", name="rate_pos"),)


class Firm(Base):
    __tablename__ = "firms"
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    industry_code: Mapped[str] = mapped_column(String(5))
    sector: Mapped[str] = mapped_column(String(32), index=True)
    district: Mapped[str] = mapped_column(String(40))
    founded_year: Mapped[int] = mapped_column(Integer)
    listed: Mapped[bool] = mapped_column(Boolean)
    discloses_emissions: Mapped[bool] = mapped_column(Boolean)
    target_year: Mapped[int | None] = mapped_column(Integer)
    target_reduction_frac: Mapped[float | None] = mapped_column(Float)
    net_zero_year: Mapped[int | None] = mapped_column(Integer)


class Facility(Base):
    __tablename__ = "facilities"
    facility_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(40))
    commissioned_year: Mapped[int] = mapped_column(Integer)


class FacilityEmission(Base):
    """A facility's yearly emissions; a null value is a missing report, never a zero."""

    __tablename__ = "facility_emissions"
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.facility_id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope1_tco2e: Mapped[Decimal | None] = mapped_column(EMISSIONS)
    scope2_tco2e: Mapped[Decimal | None] = mapped_column(EMISSIONS)
    data_quality: Mapped[str] = mapped_column(String(20))
    __table_args__ = (
        CheckConstraint(
            "data_quality IN ('verified', 'metered', 'self_reported', 'estimated')",
            name="data_quality",
        ),
    )


class FirmYear(Base):
    __tablename__ = "firm_years"
    uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    output_qty: Mapped[Decimal | None] = mapped_column(QUANTITY)
    output_unit: Mapped[str] = mapped_column(String(32))
    value_added_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    revenue_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    equity_cny: Mapped[Decimal] = mapped_column(MONEY)
    debt_cny: Mapped[Decimal] = mapped_column(MONEY)
    electricity_mwh: Mapped[Decimal | None] = mapped_column(QUANTITY)
    green_certificates: Mapped[int] = mapped_column(BigInteger)
    disclosed: Mapped[bool] = mapped_column(Boolean)


class Compliance(Base):
    """Allowance allocation and surrender of a covered firm for one compliance year."""

    __tablename__ = "compliance"
    uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument: Mapped[str] = mapped_column(String(8))
    allocated_t: Mapped[int] = mapped_column(TONNES)
    verified_emissions_tco2e: Mapped[int] = mapped_column(TONNES)
    surrendered_t: Mapped[int] = mapped_column(TONNES)
    ccer_used_t: Mapped[int] = mapped_column(TONNES)
    shortfall_t: Mapped[int] = mapped_column(TONNES)
    surrender_date: Mapped[dt.date | None] = mapped_column(Date)


class Loan(Base):
    __tablename__ = "loans"
    loan_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bank_id: Mapped[str] = mapped_column(ForeignKey("institutions.institution_id"), index=True)
    borrower_uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[Decimal] = mapped_column(MONEY)
    outstanding: Mapped[Decimal] = mapped_column(MONEY)
    origination_date: Mapped[dt.date] = mapped_column(Date)
    maturity_date: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[float] = mapped_column(Float)
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_pos"),
        CheckConstraint("outstanding >= 0", name="outstanding_nonneg"),
        CheckConstraint("maturity_date > origination_date", name="dates"),
    )


class Pledge(Base):
    """Carbon allowances or credits pledged as collateral for a loan."""

    __tablename__ = "pledges"
    pledge_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"), index=True)
    instrument: Mapped[str] = mapped_column(String(8))
    vintage: Mapped[int | None] = mapped_column(Integer)
    quantity_t: Mapped[int] = mapped_column(TONNES)
    #: Unique per bank (table ``pledge_registrations``), not across banks: see there.
    registration_no: Mapped[str | None] = mapped_column(String(40))
    registration_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    pledgor_uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), index=True)
    release_date: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_pos"),
        CheckConstraint(
            "release_date IS NULL OR (registration_date IS NOT NULL "
            "AND release_date >= registration_date)",
            name="release_after_registration",
        ),
    )


class LoanLedgerEntry(Base):
    """One append-only movement of a loan's balance: the ``opening`` advance of the principal, a
    further ``draw``, or a ``repayment``, each with its value date (when it takes effect on the
    balance) and the time and client that recorded it. A loan's outstanding amount on a date is
    openings + draws - repayments with a value date on or before it
    (:func:`carbonfin.store.ledger.balances_as_of`); entries are never updated or deleted."""

    __tablename__ = "loan_ledger"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"))
    kind: Mapped[str] = mapped_column(String(16))
    value_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(LEDGER_MONEY)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    client_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (
        CheckConstraint("kind IN ('opening', 'draw', 'repayment')", name="kind"),
        CheckConstraint("amount > 0", name="amount_pos"),
        UniqueConstraint("client_id", "idempotency_key", name="uq_loan_ledger_client_key"),
        Index("ix_loan_ledger_loan_date", "loan_id", "value_date"),
    )


class LoanGuarantor(Base):
    """A third party recorded on a loan as guarantor, with its documented consent: such a firm
    may pledge its own holding for the loan (a third-party pledge)."""

    __tablename__ = "loan_guarantors"
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"), primary_key=True)
    guarantor_uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"), primary_key=True)
    consent_ref: Mapped[str] = mapped_column(String(64))
    consent_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(String(64))


class RegistrationNumber(Base):
    """A registration number recorded by a bank: unique per bank. Unique across banks, a refused
    number would tell a bank that another bank recorded it (an existence oracle; issue 18)."""

    __tablename__ = "pledge_registrations"
    bank_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    registration_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    pledge_id: Mapped[str] = mapped_column(ForeignKey("pledges.pledge_id"), unique=True)


class PledgeRelease(Base):
    """A release (full or partial) of a registered pledge: from ``release_date`` on, the pledge
    locks ``quantity_t`` fewer tonnes. Append-only; a pledge's quantity in force on a date is its
    registered quantity minus its releases dated on or before it."""

    __tablename__ = "pledge_releases"
    release_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pledge_id: Mapped[str] = mapped_column(ForeignKey("pledges.pledge_id"), index=True)
    release_date: Mapped[dt.date] = mapped_column(Date)
    quantity_t: Mapped[int] = mapped_column(TONNES)
    reason: Mapped[str] = mapped_column(String(20))
    substitute_pledge_id: Mapped[str | None] = mapped_column(ForeignKey("pledges.pledge_id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_pos"),
        CheckConstraint("reason IN ('repayment', 'substitution', 'other')", name="reason"),
    )


class RegistryEvent(Base):
    """One movement in the allowance registry: allocation, purchase, sale and surrender change a
    holding's balance; pledge_registered and pledge_released lock and unlock part of it."""

    __tablename__ = "registry_events"
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"))
    instrument: Mapped[str] = mapped_column(String(8))
    vintage: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    quantity_t: Mapped[int] = mapped_column(TONNES)
    pledge_id: Mapped[str | None] = mapped_column(ForeignKey("pledges.pledge_id"), index=True)
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_pos"),
        CheckConstraint(
            "kind IN ('allocation', 'purchase', 'sale', 'surrender', 'pledge_registered', "
            "'pledge_released')",
            name="kind",
        ),
        CheckConstraint(
            "(kind IN ('pledge_registered', 'pledge_released')) = (pledge_id IS NOT NULL)",
            name="pledge_events_name_the_pledge",
        ),
        Index("ix_registry_events_holding", "uscc", "instrument", "vintage", "date"),
    )


class CollateralValuation(Base):
    """The value, haircut, lendable value and LTV of one pledge on one valuation date.

    One row per (valuation date, pledge): revaluing a date replaces its rows.
    """

    __tablename__ = "collateral_valuations"
    valuation_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    pledge_id: Mapped[str] = mapped_column(ForeignKey("pledges.pledge_id"), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"), index=True)
    bank_id: Mapped[str] = mapped_column(ForeignKey("institutions.institution_id"))
    instrument: Mapped[str] = mapped_column(String(8))
    vintage: Mapped[int | None] = mapped_column(Integer)
    quantity_t: Mapped[int] = mapped_column(TONNES)
    eligible_quantity_t: Mapped[int | None] = mapped_column(TONNES)
    price_cny_per_t: Mapped[Decimal] = mapped_column(PRICE)
    mark_date: Mapped[dt.date | None] = mapped_column(Date)
    market_value_cny: Mapped[Decimal] = mapped_column(MONEY)
    haircut_frac: Mapped[Decimal] = mapped_column(FRACTION)
    lendable_value_cny: Mapped[Decimal] = mapped_column(MONEY)
    loan_currency: Mapped[str] = mapped_column(String(3))
    loan_outstanding: Mapped[Decimal] = mapped_column(MONEY)
    loan_outstanding_cny: Mapped[Decimal] = mapped_column(MONEY)
    ltv: Mapped[Decimal | None] = mapped_column(RATIO)
    state: Mapped[str] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_pos"),
        CheckConstraint("price_cny_per_t > 0", name="price_pos"),
        CheckConstraint("haircut_frac >= 0 AND haircut_frac <= 1", name="haircut_range"),
        Index("ix_collateral_valuations_bank_date", "bank_id", "valuation_date"),
    )


class MarginCall(Base):
    """A loan whose LTV crossed a threshold on a valuation date (warning, margin call or
    liquidation), with the top-up that restores the target LTV. One row per (date, loan)."""

    __tablename__ = "margin_calls"
    call_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    valuation_date: Mapped[dt.date] = mapped_column(Date)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"))
    bank_id: Mapped[str] = mapped_column(ForeignKey("institutions.institution_id"))
    state: Mapped[str] = mapped_column(String(20))
    ltv: Mapped[Decimal | None] = mapped_column(RATIO)
    target_ltv: Mapped[Decimal | None] = mapped_column(RATIO)
    collateral_value_cny: Mapped[Decimal] = mapped_column(MONEY)
    loan_outstanding_cny: Mapped[Decimal] = mapped_column(MONEY)
    topup_cash_cny: Mapped[Decimal | None] = mapped_column(MONEY)
    topup_quantity_t: Mapped[int | None] = mapped_column(TONNES)
    instrument: Mapped[str | None] = mapped_column(String(8))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("valuation_date", "loan_id", name="uq_margin_calls_date_loan"),
        Index("ix_margin_calls_bank_date", "bank_id", "valuation_date"),
    )


class ScoreRecord(Base):
    """A carbon-performance score as computed, with the methodology version and input hash that
    reproduce it exactly."""

    __tablename__ = "scores"
    score_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("firms.uscc"))
    year: Mapped[int] = mapped_column(Integer)
    methodology_version: Mapped[str] = mapped_column(String(32))
    score: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    colour_grade: Mapped[str] = mapped_column(String(20))
    efficiency_grade: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    loan_adjustment_bp: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    input_hash: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("uscc", "year", "methodology_version", "input_hash", name="uq_scores_key"),
        Index("ix_scores_uscc_year", "uscc", "year"),
    )


class AuditEntry(Base):
    """Append-only log of who changed or read what (secrets are never written here)."""

    __tablename__ = "audit_log"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)


#: Sample table name -> model, in an order that respects foreign keys.
SAMPLE_MODELS: dict[str, type[Base]] = {
    "institutions": Institution,
    "firms": Firm,
    "facilities": Facility,
    "facility_emissions": FacilityEmission,
    "firm_years": FirmYear,
    "compliance": Compliance,
    "prices": Price,
    "fx_fixings": FxFixing,
    "loans": Loan,
    "pledges": Pledge,
    "registry_events": RegistryEvent,
}


class DataVersion(Base):
    """A counter per data domain, bumped in every write transaction of that domain, so caches of
    derived results (book valuations, score cards) in any worker see writes from any other
    process at once (see :mod:`carbonfin.store.transactions`)."""

    __tablename__ = "data_versions"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class StressRun(Base):
    """A stored stress result: the scenario, the book's valuation date and scope, the inputs
    (moves, seed, scenario parameters, data source), the model versions (haircut model and
    version, policy, scenario source) and the results (totals, states, breakdowns). One row per
    (scenario, as-of, scope, seed): storing the same run again replaces it."""

    __tablename__ = "stress_runs"
    __table_args__ = (
        UniqueConstraint("scenario", "as_of", "scope", "seed", name="uq_stress_runs_run"),
        Index("ix_stress_runs_as_of", "as_of"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)
