"""The XKS proxy (issue 17, part 1): external keys, sealed under the root of trust, and
the proxy's stored SigV4 credentials.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xks_keys",
        sa.Column("key_id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("usage", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("wrapped_material", sa.LargeBinary, nullable=False),
        sa.Column("allowed_principals", sa.Text, nullable=False),
        sa.Column("allowed_operations", sa.Text, nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "xks_credentials",
        sa.Column("access_key_id", sa.String(30), primary_key=True),
        sa.Column("wrapped_secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xks_credentials")
    op.drop_table("xks_keys")
