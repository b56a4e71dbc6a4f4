"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (``[postgres]`` extra).

Errors a user can fix (unreachable server, missing driver, unreadable file) surface as
:class:`StorageConfigError` with a one-line message; the CLI prints it and exits.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from openkms.storage import (
    audit_tables,  # noqa: F401  (its tables join the metadata)
    grant_tables,  # noqa: F401  (its tables join the metadata)
    identity_tables,  # noqa: F401  (its tables join the metadata)
    tables,
)


class StorageConfigError(Exception):
    """The configured database cannot be used; the message says why in one line."""


def sqlite_url(data_dir: str) -> str:
    return "sqlite:///" + os.path.join(data_dir, "openkms.db")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` and make sure the schema exists."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("postgresql"):
        engine = _postgres_engine(url)
    elif url.startswith("sqlite"):
        engine = _sqlite_engine(url)
    else:
        raise StorageConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
    try:
        existing = inspect(engine).has_table(tables.meta.name)
        tables.metadata.create_all(engine)
        _check_schema_version(engine, existing)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StorageConfigError(f"cannot use the database: {reason}") from None
    except StorageConfigError:
        engine.dispose()
        raise
    return engine


SCHEMA_VERSION_META = "schema_version"


def _check_schema_version(engine: Engine, existing: bool) -> None:
    """Record the schema version in a new database; refuse one made by another version
    (there are no migrations yet, so its tables would not match what this code runs)."""
    meta = tables.meta
    wanted = str(tables.SCHEMA_VERSION).encode()
    query = select(meta.c.value).where(meta.c.name == SCHEMA_VERSION_META)
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    if found is None and not existing:
        try:
            with engine.begin() as conn:
                conn.execute(meta.insert().values(name=SCHEMA_VERSION_META, value=wanted))
        except IntegrityError:  # another node created it at the same moment
            pass
        with engine.connect() as conn:
            found = conn.execute(query).scalar()
    version = "1" if found is None else bytes(found).decode()
    if version.encode() != wanted:
        raise StorageConfigError(
            f"the database has schema version {version} but this OpenKMS needs "
            f"{tables.SCHEMA_VERSION}; there are no migrations yet: use a new data directory "
            "or database (see README)"
        )


def _postgres_engine(url: str) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageConfigError(
            "PostgreSQL support is not installed: pip install 'openkms[postgres]'"
        ) from None
    engine = create_engine(
        url, pool_size=8, max_overflow=8, connect_args={"connect_timeout": 10}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Statements run in autocommit unless the repository opens a transaction with an
        # explicit BEGIN: a read costs one round trip.
        dbapi_conn.autocommit = True

    return engine


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit unless the repository issues BEGIN itself (pysqlite's implicit
        # transactions start late); WAL for concurrent readers; FULL so that an
        # acknowledged write is durable.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return engine
