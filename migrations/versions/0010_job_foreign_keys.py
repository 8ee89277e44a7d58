"""The job behind an audit, dataset, trace, search or delivery is a foreign key (ON DELETE SET
NULL: deleting a job never deletes what it produced), indexed for that delete and for joins

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("audits", "datasets", "traces", "webhook_deliveries", "searches")


def upgrade() -> None:
    for table in TABLES:
        # a job id that names no job (none should) would block the constraint: it meant nothing
        op.execute(sa.text(f"UPDATE {table} SET job_id = NULL WHERE job_id IS NOT NULL "
                           "AND job_id NOT IN (SELECT id FROM jobs)"))
        with op.batch_alter_table(table) as batch:
            batch.create_index(f"ix_{table}_job_id", ["job_id"])
            batch.create_foreign_key(f"fk_{table}_job_id_jobs", "jobs", ["job_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_job_id_jobs", type_="foreignkey")
            batch.drop_index(f"ix_{table}_job_id")
