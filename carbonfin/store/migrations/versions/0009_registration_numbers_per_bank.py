"""Pledge registration numbers unique per bank, not across banks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

A registration number unique across every bank let a bank learn whether another bank had
recorded a number (a pledge that fitted answered 409 instead of 201: an existence oracle,
issue 18). The numbers move to a table keyed by (bank, number), filled in place from every
pledge that has one (its loan's bank); the unique constraint across banks is dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pledge_registrations",
        sa.Column("bank_id", sa.String(length=32), nullable=False),
        sa.Column("registration_no", sa.String(length=40), nullable=False),
        sa.Column("pledge_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_pledge_registrations_pledge_id_pledges")
        ),
        sa.PrimaryKeyConstraint("bank_id", "registration_no", name=op.f("pk_pledge_registrations")),
        sa.UniqueConstraint("pledge_id", name=op.f("uq_pledge_registrations_pledge_id")),
    )
    op.execute(
        "INSERT INTO pledge_registrations (bank_id, registration_no, pledge_id) "
        "SELECT loans.bank_id, pledges.registration_no, pledges.pledge_id FROM pledges "
        "JOIN loans ON loans.loan_id = pledges.loan_id WHERE pledges.registration_no IS NOT NULL"
    )
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_pledges_registration_no"), type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_pledges_registration_no"), ["registration_no"]
        )
    op.drop_table("pledge_registrations")
