"""Bring a database to the schema this code runs on, at every start (Alembic).

* A new database is created from the table definitions and stamped with the newest
  revision.
* A database of OpenKMS 0.1 (tables, no ``alembic_version``) is stamped ``0001`` (its
  schema) and upgraded.
* Any other database is upgraded from its revision; one whose revision this code does not
  know was made by a newer OpenKMS and is refused.

Everything happens in one transaction (PostgreSQL and SQLite both have transactional
DDL), under a lock, so nodes starting together migrate once and a failure leaves the
database as it was: on PostgreSQL an advisory lock, on SQLite ``BEGIN IMMEDIATE``.

An in-memory SQLite database (``serve --dev`` without a data directory) is new at every
start and ends with its process: its tables are created and nothing is stamped, so Alembic
(imported only when a database has revisions to read or write) costs a dev start nothing;
it was a fifth of the time ``serve --dev`` took to answer its first request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect
from sqlalchemy.pool import NullPool

from openkms.storage import tables
from openkms.storage.audit import tables as audit_tables  # noqa: F401  (joins the metadata)
from openkms.storage.grants import tables as grant_tables  # noqa: F401  (joins the metadata)
from openkms.storage.identity import tables as identity_tables  # noqa: F401  (joins the metadata)
from openkms.storage.key_stores import tables as key_store_tables  # noqa: F401  (joins the metadata)
from openkms.storage.keys import tables as key_tables  # noqa: F401  (joins the metadata)
from openkms.storage.quotas import tables as quota_tables  # noqa: F401  (joins the metadata)
from openkms.storage.usage import tables as usage_tables  # noqa: F401  (joins the metadata)
from openkms.storage.xks import tables as xks_tables  # noqa: F401  (joins the metadata)

if TYPE_CHECKING:
    from alembic.config import Config

BASELINE = "0001"
_LOCK_ID = 0x4F4B4D53  # "OKMS"
_MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


class SchemaError(Exception):
    """The database's schema cannot be brought to this code's (the message says why)."""


def schema_metadata() -> MetaData:
    """Every table of the schema, as this code defines it."""
    return tables.metadata


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(_MIGRATIONS).get_current_head()
    assert head is not None
    return head


def _in_memory(engine: Engine) -> bool:
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _migration_engine(engine: Engine) -> tuple[Engine, bool]:
    """An engine whose transactions are real ones (the serving engines run reads in
    autocommit); an in-memory SQLite database has only the one connection."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if _in_memory(engine):
            return engine, False
        migrating = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

        @event.listens_for(migrating, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's

        @event.listens_for(migrating, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return migrating, True
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10}), True


def prepare_schema(engine: Engine) -> None:
    migrating, own = _migration_engine(engine)
    try:
        with migrating.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
            present = set(inspect(conn).get_table_names())
            if tables.meta.name not in present:
                schema_metadata().create_all(conn)
                conn.execute(tables.state_generation.insert().values(id=1, value=0))
                if not _in_memory(engine):
                    from alembic import command

                    command.stamp(_config(conn), "head")
                return
            from alembic import command
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            config = _config(conn)
            if "alembic_version" not in present:
                command.stamp(config, BASELINE)  # made by OpenKMS 0.1
            current = MigrationContext.configure(conn).get_current_revision()
            known = {script.revision for script in ScriptDirectory(_MIGRATIONS).walk_revisions()}
            if current not in known:
                raise SchemaError(
                    f"the database has schema revision {current}, which this OpenKMS does not "
                    f"know (newest here: {head_revision()}); it was made by a newer OpenKMS"
                )
            command.upgrade(config, "head")
    finally:
        if own:
            migrating.dispose()
