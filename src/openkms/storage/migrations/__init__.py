"""Alembic migrations of the one schema (:data:`openkms.storage.tables.metadata`).

Applied by :func:`openkms.storage.migrate.prepare_schema` at every start; see there.
"""
