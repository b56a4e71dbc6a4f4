"""Request quota overrides (issue 18): ``openkms admin quota set`` stores the rate that
replaces AWS's default for an account (or ``*``, every account) and quota.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kms_quota_overrides",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("quota", sa.String(64), primary_key=True),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kms_quota_overrides")
