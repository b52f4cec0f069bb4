"""Pledgor rights and pledge history: loan guarantors with their consent, pledge releases

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Upgrades a database in place: every pledge already marked released gets one release record of
its whole quantity, dated its ``release_date`` (or, where that is unknown, its registration
date, so it is in force on no date, as before), with reason ``other`` and client
``migration 0006``.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loan_guarantors",
        sa.Column("loan_id", sa.String(length=32), nullable=False),
        sa.Column("guarantor_uscc", sa.String(length=18), nullable=False),
        sa.Column("consent_ref", sa.String(length=64), nullable=False),
        sa.Column("consent_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["guarantor_uscc"], ["firms.uscc"], name=op.f("fk_loan_guarantors_guarantor_uscc_firms")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_loan_guarantors_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("loan_id", "guarantor_uscc", name=op.f("pk_loan_guarantors")),
    )
    releases = op.create_table(
        "pledge_releases",
        sa.Column("release_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pledge_id", sa.String(length=32), nullable=False),
        sa.Column("release_date", sa.Date(), nullable=False),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("substitute_pledge_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.CheckConstraint("quantity_t > 0", name=op.f("ck_pledge_releases_quantity_pos")),
        sa.CheckConstraint(
            "reason IN ('repayment', 'substitution', 'other')",
            name=op.f("ck_pledge_releases_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_pledge_releases_pledge_id_pledges")
        ),
        sa.ForeignKeyConstraint(
            ["substitute_pledge_id"],
            ["pledges.pledge_id"],
            name=op.f("fk_pledge_releases_substitute_pledge_id_pledges"),
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_pledge_releases")),
    )
    with op.batch_alter_table("pledge_releases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pledge_releases_pledge_id"), ["pledge_id"], unique=False
        )
    pledges = sa.table(
        "pledges",
        sa.column("pledge_id", sa.String),
        sa.column("quantity_t", sa.BigInteger),
        sa.column("status", sa.String),
        sa.column("registration_date", sa.Date),
        sa.column("release_date", sa.Date),
    )
    rows = op.get_bind().execute(
        sa.select(
            pledges.c.pledge_id,
            pledges.c.quantity_t,
            pledges.c.registration_date,
            pledges.c.release_date,
        )
        .where(
            sa.or_(pledges.c.status == "released", pledges.c.release_date.is_not(None)),
            sa.or_(
                pledges.c.release_date.is_not(None), pledges.c.registration_date.is_not(None)
            ),
        )
        .order_by(pledges.c.pledge_id)
    )
    now = dt.datetime.now(dt.UTC)
    records = [
        {
            "pledge_id": pid,
            "release_date": released or registered,
            "quantity_t": int(quantity),
            "reason": "other",
            "substitute_pledge_id": None,
            "recorded_at": now,
            "client": "migration 0006",
        }
        for pid, quantity, registered, released in rows
    ]
    if records:
        op.bulk_insert(releases, records)


def downgrade() -> None:
    with op.batch_alter_table("pledge_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pledge_releases_pledge_id"))
    op.drop_table("pledge_releases")
    op.drop_table("loan_guarantors")
