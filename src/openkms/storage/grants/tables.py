"""The grants table, in the one schema (:data:`openkms.storage.tables.metadata`).

Operations are stored as a comma-separated list of GrantOperation names; an encryption
context constraint as its kind and a JSON object of its pairs.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, String, Table, Text

from openkms.storage.tables import metadata

grants = Table(
    "kms_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(256)),
    Column("grantee_principal", String(256), nullable=False),
    Column("retiring_principal", String(256)),
    Column("operations", Text, nullable=False),
    Column("constraint_kind", String(32)),
    Column("constraint_context", Text),
    Column("issuing_account", String(12), nullable=False),
    Column("created_at", Float, nullable=False),
    # ListGrants pages by grant id within a key; authorization reads a key's grants.
    Index("ix_kms_grants_key", "key_id", "grant_id"),
    Index("ix_kms_grants_key_grantee", "key_id", "grantee_principal"),
    Index("ix_kms_grants_key_name", "key_id", "name"),
    Index("ix_kms_grants_retiring", "region", "retiring_principal", "grant_id"),
)

GRANT_COLUMNS = tuple(c.name for c in grants.c)
