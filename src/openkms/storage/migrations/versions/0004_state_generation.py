"""The state generation (issue 12): one row every state-changing transaction moves on.

Each server process caches keys, aliases, policies and grants read from the database
(:mod:`openkms.storage.read_cache`) and checks this one row to learn that another process
(a worker or a node) has changed something since.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "state_generation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("state_generation")
