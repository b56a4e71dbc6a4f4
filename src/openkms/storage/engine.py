"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (``[postgres]`` extra).

Errors a user can fix (unreachable server, missing driver, unreadable file) surface as
:class:`StorageConfigError` with a one-line message; the CLI prints it and exits.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from openkms.storage.migrate import SchemaError, prepare_schema


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
        prepare_schema(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StorageConfigError(f"cannot use the database: {reason}") from None
    except SchemaError as exc:
        engine.dispose()
        raise StorageConfigError(str(exc)) from None
    return engine


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
