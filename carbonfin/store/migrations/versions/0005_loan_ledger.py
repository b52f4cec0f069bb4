"""Loan ledger: append-only openings, draws and repayments with value dates

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Upgrades an existing database in place. Every loan gets an ``opening`` entry of its principal on
its origination date; a loan already partly or wholly repaid (``outstanding < principal``) gets
one ``repayment`` entry of ``principal - outstanding``. The database never recorded when that
money came back, so the entry is dated at the latest date it can have happened, the earlier of
the loan's maturity date and the day of the migration (and never before origination): a
performing loan is repaid by its maturity at the latest, and the balance read from ``loans`` is
the balance known today. Dating it later rather than earlier never understates an exposure in a
past as-of view (a margin call of an earlier date sees the balance before the repayment), and
the outstanding amount as of the migration day equals the stored one exactly.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MIGRATION_CLIENT = "migration:0005"


def upgrade() -> None:
    op.create_table(
        "loan_ledger",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loan_ledger_amount_pos")),
        sa.CheckConstraint(
            "kind IN ('opening', 'draw', 'repayment')", name=op.f("ck_loan_ledger_kind")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_loan_ledger_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_loan_ledger")),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_loan_ledger_client_key"),
    )
    op.create_index("ix_loan_ledger_loan_date", "loan_ledger", ["loan_id", "value_date"])
    _backfill(dt.date.today(), dt.datetime.now(dt.UTC))


def _backfill(today: dt.date, now: dt.datetime) -> None:
    loans = sa.table(
        "loans",
        sa.column("loan_id", sa.String),
        sa.column("principal", sa.Numeric(20, 4)),
        sa.column("outstanding", sa.Numeric(20, 4)),
        sa.column("origination_date", sa.Date),
        sa.column("maturity_date", sa.Date),
    )
    ledger = sa.table(
        "loan_ledger",
        sa.column("loan_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("value_date", sa.Date),
        sa.column("amount", sa.Numeric(20, 2)),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
        sa.column("client_id", sa.String),
    )
    cols = ["loan_id", "kind", "value_date", "amount", "recorded_at", "client_id"]
    at = sa.literal(now, sa.DateTime(timezone=True))
    who = sa.literal(MIGRATION_CLIENT, sa.String)
    opening = sa.select(
        loans.c.loan_id,
        sa.literal("opening", sa.String),
        loans.c.origination_date,
        sa.func.round(loans.c.principal, 2),
        at,
        who,
    )
    op.execute(ledger.insert().from_select(cols, opening))
    day = sa.literal(today, sa.Date)
    latest = sa.case((loans.c.maturity_date < day, loans.c.maturity_date), else_=day)
    dated = sa.case(
        (latest < loans.c.origination_date, loans.c.origination_date), else_=latest
    )
    repaid = sa.func.round(loans.c.principal - loans.c.outstanding, 2)
    repayment = sa.select(
        loans.c.loan_id, sa.literal("repayment", sa.String), dated, repaid, at, who
    ).where(repaid > 0)
    op.execute(ledger.insert().from_select(cols, repayment))


def downgrade() -> None:
    op.drop_index("ix_loan_ledger_loan_date", table_name="loan_ledger")
    op.drop_table("loan_ledger")
