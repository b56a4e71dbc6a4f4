"""The usage rollup (issue 18): request counts per day and per month, account, key and
billing class, the keys' billable lives, and the audit seq counted so far
(``openkms usage report``).

Derived from the audit trail only: a new or upgraded database starts at watermark 0 and
the first rollup counts the whole trail.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("key_arn", sa.String(2048), nullable=False),
        sa.Column("billing_class", sa.String(32), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "account_id", "region", "key_arn", "billing_class"),
    )
    op.create_table(
        "usage_monthly",
        sa.Column("month", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("key_arn", sa.String(2048), nullable=False),
        sa.Column("billing_class", sa.String(32), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("month", "account_id", "region", "key_arn", "billing_class"),
    )
    op.create_table(
        "usage_keys",
        sa.Column("key_arn", sa.String(2048), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("key_spec", sa.String(32), nullable=False),
        sa.Column("key_manager", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("scheduled_at", sa.Float),
        sa.Column("deleted_at", sa.Float),
        sa.Column("rotations", sa.Integer, nullable=False),
        sa.Column("rotation1_at", sa.Float),
        sa.Column("rotation2_at", sa.Float),
    )
    op.create_index("ix_usage_keys_account", "usage_keys", ["account_id"])
    op.create_table(
        "usage_rollup",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_rollup")
    op.drop_index("ix_usage_keys_account", "usage_keys")
    op.drop_table("usage_keys")
    op.drop_table("usage_monthly")
    op.drop_table("usage_daily")
