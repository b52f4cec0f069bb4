"""Exposure totals per stored valuation run, aggregated when the run is stored

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``exposure_totals``: per run, bank, grouping (bank, instrument, vintage, industry, the bank's
whole book ``""``, loan ``state``) and group key, the exposure figures (money as exact integer
micro-CNY), written by SQL from the run's rows in the transaction that stores the run
(:func:`carbonfin.store.exposure_totals.aggregate_run`), so the exposure summary reads a few
hundred rows instead of allocating a million loans at query time (issue 20: 20.3 s at
1,000,000 loans). The runs stored before this migration get their totals here, by the same
statement (the totals are derived data: they follow the code's allocation rule).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exposure_totals",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(length=32), nullable=False),
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=40), nullable=False),
        sa.Column("pledges", sa.BigInteger(), nullable=False),
        sa.Column("pledges_not_valued", sa.BigInteger(), nullable=False),
        sa.Column("collateral_value_micro", sa.BigInteger(), nullable=False),
        sa.Column("lendable_value_micro", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_micro", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_by_quantity_micro", sa.BigInteger(), nullable=False),
        sa.Column("loans", sa.BigInteger(), nullable=False),
        sa.Column("loans_outstanding_unknown", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "grouping IN ('', 'bank', 'instrument', 'vintage', 'industry', 'state')",
            name=op.f("ck_exposure_totals_grouping"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["valuation_runs.run_id"],
            name=op.f("fk_exposure_totals_run_id_valuation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "bank_id", "grouping", "group_key", name=op.f("pk_exposure_totals")
        ),
    )
    from carbonfin.store.exposure_totals import aggregate_run

    bind = op.get_bind()
    for (run_id,) in bind.execute(sa.text("SELECT run_id FROM valuation_runs")).all():
        aggregate_run(session=bind, run_id=int(run_id))


def downgrade() -> None:
    op.drop_table("exposure_totals")
