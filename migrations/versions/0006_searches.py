"""SURF adaptive searches and their judged candidates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.db.types import JSONType, UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("pool", JSONType, nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("confirmation_audit_id", sa.String(length=32), nullable=True),
        sa.Column("result", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], ondelete="RESTRICT",
                                name=op.f("fk_searches_target_id_targets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
    )
    op.create_index(op.f("ix_searches_owner"), "searches", ["owner"], unique=False)
    op.create_table(
        "search_candidates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=32), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"], ondelete="CASCADE",
                                name=op.f("fk_search_candidates_search_id_searches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_candidates")),
        sa.UniqueConstraint("search_id", "run", "iteration", "idx", name="uq_search_candidates_key"),
    )
    op.create_index(op.f("ix_search_candidates_search_id"), "search_candidates", ["search_id"])


def downgrade() -> None:
    op.drop_table("search_candidates")
    op.drop_table("searches")
