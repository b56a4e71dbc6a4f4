"""Drop ``ix_audit_events_event_id``: ``audit_events.event_id`` is ``UNIQUE``, and that
constraint is an index on the same column already (SQLite's ``sqlite_autoindex_*``,
PostgreSQL's ``audit_events_event_id_key``), which LookupEvents' EventId filter uses. The
second index only cost every append one more B-tree insert.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_events_event_id", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_event_id", "audit_events", ["event_id"])
