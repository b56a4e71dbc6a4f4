"""Custom key stores (issue 16 part 2): the PKCS#11 tokens registered as CloudHSM
clusters, the key stores (AWS_CLOUDHSM columns, and the EXTERNAL_KEY_STORE ones reserved,
all nullable), and the store of each key in one.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hsm_clusters",
        sa.Column("cluster_id", sa.String(32), primary_key=True),
        sa.Column("module", sa.Text, nullable=False),
        sa.Column("token_label", sa.String(32), nullable=False),
        sa.Column("trust_anchor", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "kms_custom_key_stores",
        sa.Column("store_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("store_type", sa.String(32), nullable=False),
        sa.Column("connection_state", sa.String(16), nullable=False),
        sa.Column("connection_error", sa.String(64)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("cluster_id", sa.String(32)),
        sa.Column("trust_anchor", sa.Text),
        sa.Column("wrapped_password", sa.LargeBinary),
        sa.Column("xks_uri_endpoint", sa.String(128)),
        sa.Column("xks_uri_path", sa.String(128)),
        sa.Column("xks_vpc_endpoint_service_name", sa.String(64)),
        sa.Column("xks_vpc_endpoint_service_owner", sa.String(12)),
        sa.Column("xks_connectivity", sa.String(32)),
        sa.Column("xks_access_key_id", sa.String(128)),
        sa.Column("wrapped_xks_secret", sa.LargeBinary),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_kms_custom_key_stores_name"),
    )
    op.create_index("ix_kms_custom_key_stores_cluster", "kms_custom_key_stores", ["cluster_id"])
    with op.batch_alter_table("kms_keys") as keys:
        keys.add_column(sa.Column("custom_key_store_id", sa.String(64)))
        keys.create_index("ix_kms_keys_custom_key_store", ["custom_key_store_id"])


def downgrade() -> None:
    with op.batch_alter_table("kms_keys") as keys:
        keys.drop_index("ix_kms_keys_custom_key_store")
        keys.drop_column("custom_key_store_id")
    op.drop_index("ix_kms_custom_key_stores_cluster", "kms_custom_key_stores")
    op.drop_table("kms_custom_key_stores")
    op.drop_table("hsm_clusters")
