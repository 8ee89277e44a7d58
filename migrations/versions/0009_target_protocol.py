"""Targets speak a protocol: openai (chat completions) or anthropic (Messages API)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("protocol", sa.String(length=20), nullable=False, server_default="openai"))


def downgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("protocol")
