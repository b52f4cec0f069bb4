"""API keys with expiry and revocation, the regulator role, idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('label', sa.String(length=200), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_api_clients_role'), type_='check')
    # The central bank's read-only role is called `regulator` from this revision on.
    op.execute("UPDATE api_clients SET role = 'regulator' WHERE role = 'central_bank'")
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'role', "role IN ('bank', 'regulator', 'admin')"
        )
    op.create_table('idempotency_keys',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.client_id'], name=op.f('fk_idempotency_keys_client_id_api_clients')),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_idempotency_keys'))
    )


def downgrade() -> None:
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_clients_role'), type_='check')
    op.execute("UPDATE api_clients SET role = 'central_bank' WHERE role = 'regulator'")
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'role', "role IN ('bank', 'central_bank', 'admin')"
        )
        batch_op.drop_column('label')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('expires_at')
