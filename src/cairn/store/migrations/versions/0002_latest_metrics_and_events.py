"""Latest value of each metric per run (for listing and filtering), and the audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(26), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
    )
    # A store written by 0001 already has metrics: derive their latest values once.
    op.execute(
        """
        INSERT INTO latest_metrics (run_id, key, step, value, ts)
        SELECT m.run_id, m.key, m.step, m.value, m.ts FROM metrics m
        WHERE NOT EXISTS (
            SELECT 1 FROM metrics n WHERE n.run_id = m.run_id AND n.key = m.key
            AND (n.step > m.step OR (n.step = m.step AND n.ts > m.ts)))
        ON CONFLICT DO NOTHING
        """
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_events_subject", "events", ["subject", "ts"])
