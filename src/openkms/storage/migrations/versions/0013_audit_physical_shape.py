"""The audit trail's tables in a cheaper physical shape (issue 12: the audit writer's group
commit writes every B-tree its rows touch; 24 WAL pages per 12 records on SQLite before,
19 after).

* SQLite: ``audit_events.seq`` becomes ``INTEGER PRIMARY KEY``, the rowid itself (a
  ``BIGINT`` primary key is not the rowid there: it was a second B-tree beside the rowid
  table), and ``audit_resources`` becomes ``WITHOUT ROWID`` (its primary key ``(seq,
  resource_name)`` is the table, not a second B-tree). Both tables are rebuilt: every row
  is copied as it is (same ``seq``, same text, same hashes: the chain and its digests
  still verify), then the old table is dropped; on a large trail this takes a while and,
  until it commits, twice the trail's disk space.
* Both databases: ``ix_audit_events_account_name`` is dropped (it served GetKeyLastUsage
  alone, by reading every cryptographic record of the account; that query now walks the
  key's own resource rows, newest first), and ``ix_audit_resources_name`` becomes
  ``(resource_name, seq)``, the order that walk reads (on SQLite a ``WITHOUT ROWID``
  table's index holds the primary key anyway). PostgreSQL keeps ``BIGINT`` and its heap:
  the columns, keys and indexes are the same on both.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.sqlite import INTEGER as SQLITE_INTEGER

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_EVENT_COLUMNS = (
    "seq, event_id, event_time, account_id, region, event_source, event_name, username, "
    "access_key_id, read_only, error_code, record, prev_hash, hash"
)
_RESOURCE_COLUMNS = "seq, resource_name, resource_type"


def _events(name: str, seq: sa.types.TypeEngine[int]) -> None:
    op.create_table(
        name,
        sa.Column("seq", seq, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("event_source", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("username", sa.String(256)),
        sa.Column("access_key_id", sa.String(128)),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("error_code", sa.String(128)),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def _resources(name: str, *, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("resource_name", sa.String(2048), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", "resource_name"),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_sqlite(*, new_shape: bool) -> None:
    """Copy both tables into new ones of the wanted shape, in seq order, and swap them
    in (SQLite drops a table's indexes with it; they are made again on the copies)."""
    _events("audit_events_rebuilt", SQLITE_INTEGER() if new_shape else sa.BigInteger())
    op.execute(
        f"INSERT INTO audit_events_rebuilt ({_EVENT_COLUMNS}) "
        f"SELECT {_EVENT_COLUMNS} FROM audit_events ORDER BY seq"
    )
    _resources("audit_resources_rebuilt", with_rowid=not new_shape)
    op.execute(
        f"INSERT INTO audit_resources_rebuilt ({_RESOURCE_COLUMNS}) "
        f"SELECT {_RESOURCE_COLUMNS} FROM audit_resources ORDER BY seq, resource_name"
    )
    op.drop_table("audit_events")
    op.drop_table("audit_resources")
    op.rename_table("audit_events_rebuilt", "audit_events")
    op.rename_table("audit_resources_rebuilt", "audit_resources")
    op.create_index("ix_audit_events_account_time", "audit_events", ["account_id", "event_time"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(new_shape=True)
    else:
        op.drop_index("ix_audit_events_account_name", table_name="audit_events")
        op.drop_index("ix_audit_resources_name", table_name="audit_resources")
    op.create_index("ix_audit_resources_name", "audit_resources", ["resource_name", "seq"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(new_shape=False)
    else:
        op.drop_index("ix_audit_resources_name", table_name="audit_resources")
    op.create_index("ix_audit_events_account_name", "audit_events", ["account_id", "event_name"])
    op.create_index("ix_audit_resources_name", "audit_resources", ["resource_name"])
