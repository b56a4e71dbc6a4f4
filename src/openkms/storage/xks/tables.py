"""The XKS proxy's tables, in the one schema (:data:`openkms.storage.tables.metadata`).

An external key's material and a credential's secret are stored only sealed under the
root of trust (``wrapped_*``, re-sealed by ``openkms admin rewrap``). Usage and the
secondary-authorization allow-lists are JSON lists (text).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Text

from openkms.storage.tables import metadata

xks_keys = Table(
    "xks_keys",
    metadata,
    Column("key_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("usage", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("wrapped_material", LargeBinary, nullable=False),
    Column("allowed_principals", Text, nullable=False),
    Column("allowed_operations", Text, nullable=False),
    Column("description", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

#: SigV4 credentials the proxy accepts besides the one its environment names.
xks_credentials = Table(
    "xks_credentials",
    metadata,
    Column("access_key_id", String(30), primary_key=True),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)
