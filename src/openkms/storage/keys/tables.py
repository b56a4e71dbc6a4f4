"""The key records' tables: keys, their material versions, import tokens, aliases and
tags, in the one schema (:data:`openkms.storage.tables.metadata`).

Key material is stored only wrapped under the root keyring (``wrapped_material``).
Changing a table here needs a revision in openkms/storage/migrations/versions/ that makes
the same change to existing databases (tests/server/test_migrations.py checks the two
agree).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
)

from openkms.storage.tables import metadata

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
    # Automatic rotation (symmetric AWS_KMS keys) and an on-demand rotation in progress.
    Column("rotation_enabled", Boolean, nullable=False, server_default=false()),
    Column("rotation_period_days", Integer),
    Column("next_rotation_date", Float),
    Column("on_demand_rotation_started", Float),
    # Multi-Region keys (openkms.domain.multi_region): the primary's Region, and when a
    # replica's creation or a primary-Region change is due to be finished.
    Column("primary_region", String(32)),
    Column("sync_due", Float),
    # Keys in a custom key store (openkms.domain.custom_key_stores).
    Column("custom_key_store_id", String(64)),
    # Origin EXTERNAL_KEY_STORE: the external key (XksKeyId) at the store's XKS proxy.
    Column("xks_key_id", String(128)),
    Index("ix_kms_keys_scope", "account_id", "region", "key_id"),
    Index("ix_kms_keys_deletion", "deletion_date"),
    Index("ix_kms_keys_rotation", "next_rotation_date"),
    Index("ix_kms_keys_on_demand", "on_demand_rotation_started"),
    Index("ix_kms_keys_sync_due", "sync_due"),
    Index("ix_kms_keys_custom_key_store", "custom_key_store_id"),
    Index("ix_kms_keys_xks_key", "custom_key_store_id", "xks_key_id"),
)

key_materials = Table(
    "kms_key_materials",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("material_id", String(64), nullable=False),
    # NULL once imported material is deleted or expires (the version stays, so that
    # re-importing the same material restores every ciphertext made under it).
    Column("wrapped_material", LargeBinary),
    Column("created_at", Float, nullable=False),
    Column("rotation_type", String(16)),  # AUTOMATIC / ON_DEMAND; NULL for the first
    Column("rotated_at", Float),  # when it became current by a rotation
    # Imported material only:
    Column("expiration_model", String(32)),
    Column("valid_to", Float),
    Column("description", String(256)),
    Column("imported_at", Float),
    Index("ix_kms_key_materials_valid_to", "valid_to"),
)

import_tokens = Table(
    "kms_import_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("wrapping_algorithm", String(32), nullable=False),
    Column("wrapping_key_spec", String(16), nullable=False),
    Column("wrapped_private_key", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("valid_to", Float, nullable=False),
    Index("ix_kms_import_tokens_valid_to", "valid_to"),
    Index("ix_kms_import_tokens_key", "key_id"),
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
