"""SQLAlchemy Core tables: the one schema for SQLite and PostgreSQL.

Key material and secret access keys are stored only wrapped under the root keyring
(columns named ``wrapped_*``); nothing in this schema holds a plaintext secret.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "openkms_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("principal_arn", String(2048), nullable=False),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

keys = Table(
    "kms_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("key_spec", String(32), nullable=False),
    Column("key_usage", String(32), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("key_manager", String(16), nullable=False),
    Column("key_state", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("deletion_date", Float),
    Column("pending_window_days", Integer),
    Column("multi_region", Boolean, nullable=False),
    Index("ix_kms_keys_scope", "account_id", "region", "key_id"),
)

key_materials = Table(
    "kms_key_materials",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("material_id", String(64), nullable=False),
    Column("wrapped_material", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

aliases = Table(
    "kms_aliases",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("target_key_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_kms_aliases_target", "target_key_id"),
)

tags = Table(
    "kms_tags",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)
