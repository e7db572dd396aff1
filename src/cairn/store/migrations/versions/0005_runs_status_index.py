"""An index on runs.status: reads derive `crashed` from the running runs, and a writer's
start reaps them, so "the running runs" must not be a scan of every run ever made.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("ix_runs_status", "runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_runs_status", table_name="runs")
