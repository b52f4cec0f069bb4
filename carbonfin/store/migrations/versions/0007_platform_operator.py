"""The platform operator: an institution of kind ``operator`` owning the ``admin`` API keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Admins manage API clients and read the audit log; they are not a bank (issue 18, point 9).
Upgrades in place: the kind ``operator`` is allowed (an operator has no USCC, so the column
becomes nullable); where admin keys exist, the institution ``OPERATOR`` is added and every
``admin`` key of a bank moves to it (its secret, expiry and revocation are unchanged). A database
without admin keys gets ``OPERATOR`` with its first admin key
(:func:`carbonfin.store.credentials.create_api_client`), so the institutions table otherwise
stays the sample's. Downgrading moves them to
the first bank again (the model before 0007 had nowhere else to put them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPERATOR = "OPERATOR"  # = carbonfin.store.credentials.OPERATOR_ID (a migration is frozen)
OPERATOR_NAME = "carbonfin platform operator"
OPERATOR_NAME_ZH = "平台运营方"


def upgrade() -> None:
    with op.batch_alter_table("institutions") as batch:
        batch.drop_constraint(op.f("ck_institutions_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_institutions_kind"), "kind IN ('bank', 'central_bank', 'operator')"
        )
        batch.alter_column("uscc", existing_type=sa.String(length=18), nullable=True)
    bind = op.get_bind()
    if not bind.scalar(sa.text("SELECT count(*) FROM api_clients WHERE role = 'admin'")):
        return
    institutions = sa.table(
        "institutions",
        sa.column("institution_id", sa.String),
        sa.column("name", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("kind", sa.String),
        sa.column("uscc", sa.String),
        sa.column("swift_bic", sa.String),
    )
    op.bulk_insert(
        institutions,
        [
            {
                "institution_id": OPERATOR,
                "name": OPERATOR_NAME,
                "name_zh": OPERATOR_NAME_ZH,
                "kind": "operator",
                "uscc": None,
                "swift_bic": None,
            }
        ],
    )
    op.execute(
        sa.text("UPDATE api_clients SET institution_id = :op WHERE role = 'admin'").bindparams(
            op=OPERATOR
        )
    )


def downgrade() -> None:
    bind = op.get_bind()
    first_bank = bind.scalar(
        sa.text(
            "SELECT institution_id FROM institutions WHERE kind = 'bank' "
            "ORDER BY institution_id LIMIT 1"
        )
    )
    if first_bank is None:
        op.execute(sa.text("DELETE FROM api_clients WHERE institution_id = 'OPERATOR'"))
    else:
        op.execute(
            sa.text(
                "UPDATE api_clients SET institution_id = :bank WHERE institution_id = 'OPERATOR'"
            ).bindparams(bank=first_bank)
        )
    op.execute(sa.text("DELETE FROM institutions WHERE institution_id = 'OPERATOR'"))
    with op.batch_alter_table("institutions") as batch:
        batch.alter_column("uscc", existing_type=sa.String(length=18), nullable=False)
        batch.drop_constraint(op.f("ck_institutions_kind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_institutions_kind"), "kind IN ('bank', 'central_bank')"
        )
