"""Webhooks keep the egress policy they were accepted under; web sessions are revocable

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("egress_policy", sa.String(length=500), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("session_version")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("egress_policy")
