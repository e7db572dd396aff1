"""The model registry: models, their versions, tags, aliases and every move of one, release
gates, and webhooks with their delivery outbox; an index of the audit events by actor.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(255), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("example", sa.String(64), nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("archived", sa.Float, nullable=True),
    )
    op.create_table(
        "model_tags",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "alias_moves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("previous", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("overridden", sa.Text, nullable=True),
    )
    op.create_table(
        "model_gates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "hooks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.String(255), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("removed", sa.Float, nullable=True),
    )
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_id", sa.Integer, sa.ForeignKey("hooks.id"), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.Float, nullable=False),
        sa.Column("response", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_model_versions_artifact", "model_versions", ["artifact_id"])
    op.create_index("ix_alias_moves_name_alias_ts", "alias_moves", ["name", "alias", "ts"])
    op.create_index("ix_model_gates_name_alias", "model_gates", ["name", "alias"])
    op.create_index("ix_hook_deliveries_status", "hook_deliveries", ["status", "next_attempt"])
    op.create_index("ix_events_actor", "events", ["actor", "ts"])


def downgrade() -> None:
    op.drop_index("ix_events_actor", table_name="events")
    op.drop_table("hook_deliveries")
    op.drop_table("hooks")
    op.drop_table("model_gates")
    op.drop_table("alias_moves")
    op.drop_table("model_aliases")
    op.drop_table("model_tags")
    op.drop_table("model_versions")
    op.drop_table("models")
