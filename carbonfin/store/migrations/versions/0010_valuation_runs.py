"""Stored book valuations for exposure aggregates in SQL and the exposure history

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

One run per valuation date (``valuation_runs``) with one row per pledge (``pledge_valuations``)
and per loan (``loan_valuations``); the indexes serve the allocation's window over a run's loans
(run, loan) and a bank's scope (run, bank).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PRICE = sa.Numeric(18, 6)
MONEY = sa.Numeric(20, 4)
FRACTION = sa.Numeric(12, 8)
RATIO = sa.Numeric(18, 8)
RATE = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "valuation_runs",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lending_version", sa.BigInteger(), nullable=False),
        sa.Column("market_version", sa.BigInteger(), nullable=False),
        sa.Column("data_source", sa.String(length=400), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=True),
        sa.Column("rules_version", sa.String(length=40), nullable=True),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('on_demand', 'snapshot', 'benchmark')", name=op.f("ck_valuation_runs_kind")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_valuation_runs")),
        sa.UniqueConstraint("as_of", name=op.f("uq_valuation_runs_as_of")),
    )
    op.create_table(
        "pledge_valuations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.String(length=32), nullable=False),
        sa.Column("loan_id", sa.String(length=32), nullable=False),
        sa.Column("bank_id", sa.String(length=32), nullable=False),
        sa.Column("instrument", sa.String(length=8), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=True),
        sa.Column("industry", sa.String(length=32), nullable=True),
        sa.Column("pledgor_uscc", sa.String(length=18), nullable=True),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.Column("eligible_quantity_t", sa.BigInteger(), nullable=True),
        sa.Column("price_cny_per_t", PRICE, nullable=True),
        sa.Column("mark_date", sa.Date(), nullable=True),
        sa.Column("market_value_cny", MONEY, nullable=True),
        sa.Column("haircut_frac", FRACTION, nullable=True),
        sa.Column("lendable_value_cny", MONEY, nullable=True),
        sa.Column("not_valued_reason", sa.String(length=400), nullable=True),
        sa.CheckConstraint("quantity_t >= 0", name=op.f("ck_pledge_valuations_quantity_nonneg")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["valuation_runs.run_id"],
            name=op.f("fk_pledge_valuations_run_id_valuation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "pledge_id", name=op.f("pk_pledge_valuations")),
    )
    op.create_index(
        "ix_pledge_valuations_run_loan", "pledge_valuations", ["run_id", "loan_id"], unique=False
    )
    op.create_index(
        "ix_pledge_valuations_run_bank", "pledge_valuations", ["run_id", "bank_id"], unique=False
    )
    op.create_table(
        "loan_valuations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=32), nullable=False),
        sa.Column("bank_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("outstanding", sa.Numeric(20, 2), nullable=False),
        sa.Column("fx_cny_per_unit", RATE, nullable=True),
        sa.Column("outstanding_cny", MONEY, nullable=True),
        sa.Column("collateral_value_cny", MONEY, nullable=True),
        sa.Column("lendable_value_cny", MONEY, nullable=True),
        sa.Column("ltv", RATIO, nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("not_valued_reason", sa.String(length=400), nullable=True),
        sa.CheckConstraint(
            "state IN ('ok', 'warning', 'margin_call', 'liquidation', 'not_valued')",
            name=op.f("ck_loan_valuations_state"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["valuation_runs.run_id"],
            name=op.f("fk_loan_valuations_run_id_valuation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_loan_valuations")),
    )
    op.create_index(
        "ix_loan_valuations_run_bank", "loan_valuations", ["run_id", "bank_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_loan_valuations_run_bank", table_name="loan_valuations")
    op.drop_table("loan_valuations")
    op.drop_index("ix_pledge_valuations_run_bank", table_name="pledge_valuations")
    op.drop_index("ix_pledge_valuations_run_loan", table_name="pledge_valuations")
    op.drop_table("pledge_valuations")
    op.drop_table("valuation_runs")
