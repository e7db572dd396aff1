"""Hyperparameter searches: a study row per search, a trial row per trial run.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("sampler", sa.String(64), nullable=False),
        sa.Column("scheduler", sa.String(64), nullable=False),
        sa.Column("space", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_studies_name_version"),
    )
    op.create_table(
        "trials",
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("distributions", sa.Text, nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float, nullable=True),
    )
    op.create_index("ix_trials_run", "trials", ["run_id"])
