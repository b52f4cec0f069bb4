"""Stress runs: stored stress results with scenario, as-of, inputs and model versions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stress_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stress_runs")),
        sa.UniqueConstraint("scenario", "as_of", "scope", "seed", name="uq_stress_runs_run"),
    )
    op.create_index("ix_stress_runs_as_of", "stress_runs", ["as_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stress_runs_as_of", table_name="stress_runs")
    op.drop_table("stress_runs")
