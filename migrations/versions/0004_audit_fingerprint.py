"""audits.fingerprint: the hash of spec + target that lets a re-run resume an unfinished audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audits") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_audits_fingerprint"), ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audits") as batch:
        batch.drop_index(batch.f("ix_audits_fingerprint"))
        batch.drop_column("fingerprint")
