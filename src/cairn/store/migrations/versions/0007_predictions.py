"""The sampled prediction log of `cairn serve`.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("fallback", sa.Boolean, nullable=False),
    )
    op.create_index("ix_predictions_name_version_ts", "predictions", ["name", "version", "ts"])


def downgrade() -> None:
    op.drop_table("predictions")
