"""SQLAlchemy Core tables: the one schema for SQLite and PostgreSQL.

This module holds the schema's :data:`metadata` and the tables no single record family
owns (settings, access keys, the state generation); each family's own tables are in
its subpackage (``keys``, ``grants``, ``identity``, ``audit``) and join this metadata.

Key material and secret access keys are stored only wrapped under the root keyring
(columns named ``wrapped_*``); nothing in this schema holds a plaintext secret.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

# Changing a table here needs a revision in openkms/storage/migrations/versions/ that makes
# the same change to existing databases (tests/server/test_migrations.py checks the two
# agree).

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

#: One row (id 1): a number every transaction that changes KMS or IAM state moves on, so
#: that a process can tell, with one read, whether what it cached from the database is
#: still current (:class:`openkms.storage.read_cache.ReadCache`).
state_generation = Table(
    "state_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)
