"""Runs, params, tags, metrics, blobs, artifacts and their inputs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("parent_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float, nullable=True),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("pid_started", sa.Float, nullable=True),
        sa.Column("command", sa.Text, nullable=True),
        sa.Column("code_ref", sa.String(64), nullable=True),
        sa.Column("env_ref", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_experiment", "runs", ["experiment_id", "started"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    op.create_table(
        "params",
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("num", sa.Float, nullable=True),
    )
    op.create_table(
        "tags",
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(26), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("codec", sa.String(64), nullable=False),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), sa.ForeignKey("blobs.digest"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_artifacts_name_version"),
    )
    op.create_index("ix_artifacts_run", "artifacts", ["run_id"])
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), primary_key=True),
    )
    op.create_index("ix_run_inputs_artifact", "run_inputs", ["artifact_id"])
