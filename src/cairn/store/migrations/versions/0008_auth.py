"""Authorization: the workspace's root public keys and the revoked tokens' revocation ids.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "auth_keys",
        sa.Column("public_key", sa.String(128), primary_key=True),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("retired", sa.Float, nullable=True),
        sa.Column("valid_until", sa.Float, nullable=True),
    )
    op.create_table(
        "revocations",
        sa.Column("revocation_id", sa.String(256), primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_revocations_ts", "revocations", ["ts"])


def downgrade() -> None:
    op.drop_table("revocations")
    op.drop_table("auth_keys")
