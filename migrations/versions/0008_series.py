"""Audit series: one spec over N checkpoints

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 19:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.db.types import JSONType, UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("audit_ids", JSONType, nullable=False),
        sa.Column("result", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_series_owner", "series", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_series_owner", table_name="series")
    op.drop_table("series")
