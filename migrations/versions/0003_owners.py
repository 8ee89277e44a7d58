"""owners on keys and every resource; datasets unique per owner

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OWNED = ("api_keys", "targets", "jobs", "audits", "datasets", "traces")


def upgrade() -> None:
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
            batch.create_index(batch.f(f"ix_{table}_owner"), ["owner"], unique=False)
    # Keys made before owners existed own what they make from now on, under their own name.
    op.execute("UPDATE api_keys SET owner = name WHERE owner IS NULL")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_constraint("uq_datasets_name", type_="unique")
        batch.create_unique_constraint("uq_datasets_owner_name", ["owner", "name"])


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_constraint("uq_datasets_owner_name", type_="unique")
        batch.create_unique_constraint("uq_datasets_name", ["name"])
    for table in reversed(OWNED):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_owner"))
            batch.drop_column("owner")
