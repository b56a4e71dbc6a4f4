"""The audit trail's tables, in the one schema (:data:`openkms.storage.tables.metadata`).

``audit_events`` is one global hash chain in ``seq`` order (see
:mod:`openkms.domain.audit`); ``audit_chain_head`` holds its tip in one row (id 1) that
every append locks, which serialises appends across server nodes; ``audit_digests``
are the signed seals, numbered 1, 2, ... (a chain of their own, migration 0006);
``audit_signing_keys`` holds every public key that ever signed one (by fingerprint);
``audit_resources`` index the records by resource for LookupEvents and GetKeyLastUsage.
``event_id`` is ``UNIQUE``: that constraint's index serves lookups by EventId (migration
0005 dropped a second one).

Physical shape (migration 0013): every group commit writes each B-tree the appended rows
touch, so these tables keep only what a reader needs. On SQLite ``seq`` is ``INTEGER``,
the rowid itself (a ``BIGINT`` primary key is a second B-tree beside the rowid table),
and ``audit_resources`` is ``WITHOUT ROWID`` (its primary key is the table); PostgreSQL
keeps ``BIGINT`` and its heap (the same columns, keys and indexes). The indexes and what
reads them: ``event_id`` (LookupEvents by EventId), ``(account_id, event_time)`` (every
other LookupEvents), ``audit_resources (resource_name, seq)`` (LookupEvents by
ResourceName; GetKeyLastUsage walks a key's records newest first). An index on
``(account_id, event_name)`` served only GetKeyLastUsage, by reading every cryptographic
record of the account; 0013 dropped it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.sqlite import INTEGER as SQLITE_INTEGER

from openkms.storage.tables import metadata

#: ``seq``: BIGINT, but exactly ``INTEGER`` on SQLite, where only that type makes a
#: single-column primary key the rowid.
SEQ = BigInteger().with_variant(SQLITE_INTEGER(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_time", Float, nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("event_source", String(64), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("username", String(256)),
    Column("access_key_id", String(128)),
    Column("read_only", Boolean, nullable=False),
    Column("error_code", String(128)),
    Column("record", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_account_time", "account_id", "event_time"),
)

audit_resources = Table(
    "audit_resources",
    metadata,
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("resource_name", String(2048), nullable=False),
    Column("resource_type", String(64), nullable=False),
    PrimaryKeyConstraint("seq", "resource_name"),
    Index("ix_audit_resources_name", "resource_name", "seq"),
    sqlite_with_rowid=False,
)

audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_digests = Table(
    "audit_digests",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seq_from", BigInteger, nullable=False),
    Column("seq_to", BigInteger, nullable=False),
    Column("end_time", Float, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("previous_signature", Text),
    Column("signature", Text, nullable=False),
    Column("key_fingerprint", String(64), nullable=False),
    Column("next_key_fingerprint", String(64)),
    Column("created_at", Float, nullable=False),
)

audit_signing_keys = Table(
    "audit_signing_keys",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

EVENT_COLUMNS = tuple(c.name for c in audit_events.c)
DIGEST_COLUMNS = tuple(c.name for c in audit_digests.c)
