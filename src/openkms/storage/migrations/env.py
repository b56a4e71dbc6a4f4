"""Alembic environment: runs on the connection :mod:`openkms.storage.migrate` hands over."""

from __future__ import annotations

from alembic import context

from openkms.storage.migrate import schema_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=schema_metadata(),
    render_as_batch=True,  # SQLite changes columns by rebuilding the table
)
with context.begin_transaction():
    context.run_migrations()
