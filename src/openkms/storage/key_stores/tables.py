"""The custom key store tables, in the one schema (:data:`openkms.storage.tables.metadata`).

``hsm_clusters`` holds the PKCS#11 tokens an operator registered as CloudHSM clusters
(``openkms admin hsm-cluster``); ``kms_custom_key_stores`` the stores, one row per store
whatever its type: the AWS_CLOUDHSM columns are filled for CloudHSM key stores and the
``xks_*`` columns are reserved for EXTERNAL_KEY_STORE (every type-specific column is
nullable). The token PIN and the XKS proxy secret are stored only sealed by the root
keyring (:mod:`openkms.storage.sealed`). Changing a table here needs a revision in
openkms/storage/migrations/versions/.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, LargeBinary, String, Table, Text, UniqueConstraint

from openkms.storage.tables import metadata

hsm_clusters = Table(
    "hsm_clusters",
    metadata,
    Column("cluster_id", String(32), primary_key=True),
    Column("module", Text, nullable=False),
    Column("token_label", String(32), nullable=False),
    Column("trust_anchor", Text),
    Column("created_at", Float, nullable=False),
)

custom_key_stores = Table(
    "kms_custom_key_stores",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("store_type", String(32), nullable=False),
    Column("connection_state", String(16), nullable=False),
    Column("connection_error", String(64)),
    Column("created_at", Float, nullable=False),
    # AWS_CLOUDHSM
    Column("cluster_id", String(32)),
    Column("trust_anchor", Text),
    Column("wrapped_password", LargeBinary),
    # EXTERNAL_KEY_STORE (reserved for the XKS consumer)
    Column("xks_uri_endpoint", String(128)),
    Column("xks_uri_path", String(128)),
    Column("xks_vpc_endpoint_service_name", String(64)),
    Column("xks_vpc_endpoint_service_owner", String(12)),
    Column("xks_connectivity", String(32)),
    Column("xks_access_key_id", String(128)),
    Column("wrapped_xks_secret", LargeBinary),
    UniqueConstraint("account_id", "region", "name", name="uq_kms_custom_key_stores_name"),
    Index("ix_kms_custom_key_stores_cluster", "cluster_id"),
)
