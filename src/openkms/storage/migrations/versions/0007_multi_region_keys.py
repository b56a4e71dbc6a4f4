"""Multi-Region keys (issue 15): the Region of each related key's primary, and when a
replica's creation or a primary-Region change is due to be finished.

Related keys share their public key id (``mrk-...``); each is stored under
``<key id>@<region>`` (:mod:`openkms.domain.multi_region`), so no existing row changes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.add_column(sa.Column("primary_region", sa.String(32)))
        keys.add_column(sa.Column("sync_due", sa.Float))
        keys.create_index("ix_kms_keys_sync_due", ["sync_due"])


def downgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.drop_index("ix_kms_keys_sync_due")
        keys.drop_column("sync_due")
        keys.drop_column("primary_region")
