"""External key stores as OpenKMS uses them (issue 17 part 2): the external key
(``XksKeyId``) of each key in an EXTERNAL_KEY_STORE store, indexed with its store
(XksKeyAlreadyInUseException looks a key up by both). The stores' own XKS columns were
reserved by 0008.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.add_column(sa.Column("xks_key_id", sa.String(128)))
        keys.create_index("ix_kms_keys_xks_key", ["custom_key_store_id", "xks_key_id"])


def downgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.drop_index("ix_kms_keys_xks_key")
        keys.drop_column("xks_key_id")
