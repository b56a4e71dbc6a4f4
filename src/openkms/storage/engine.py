"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (``[postgres]`` extra).

Errors a user can fix (unreachable server, missing driver, unreadable file) surface as
:class:`StorageConfigError` with a one-line message; the CLI prints it and exits.

Waiting is bounded (:class:`Timeouts`, ``serve --db-*-timeout``). On PostgreSQL every
session the server opens (after the schema is prepared: a migration may run long) sets
``lock_timeout`` (a statement waits that long for a row or table lock, then fails),
``statement_timeout`` and ``idle_in_transaction_session_timeout`` (PostgreSQL ends a
session that sits inside a transaction that long without a statement: a node frozen
mid-transaction, by SIGSTOP, a VM pause or a dead host, would otherwise hold its locks,
the audit chain head among them, for as long as it stays frozen). On SQLite the lock
timeout is the busy timeout: how long a writer waits for the database's one write lock
(a frozen process holding it is not ended: SQLite has no server to end it).

An SQLite database file holds wrapped key material and the audit trail: it is created
mode 0600 (and an existing one is set to 0600), whatever the process umask. SQLite gives
its ``-wal``, ``-shm`` and ``-journal`` files the mode of the database file.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from openkms.storage.migrate import SchemaError, prepare_schema


class StorageConfigError(Exception):
    """The configured database cannot be used; the message says why in one line."""


def sqlite_url(data_dir: str) -> str:
    return "sqlite:///" + os.path.join(data_dir, "openkms.db")


#: SQLite WAL pages between automatic checkpoints, and the size the WAL file is cut
#: back to after one (see ``_sqlite_engine``).
WAL_CHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024

#: Mode of every file OpenKMS writes (owner read/write only).
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class Timeouts:
    """Bounds on waiting for the database, in seconds (0: no bound)."""

    #: How long a statement waits for a lock (PostgreSQL ``lock_timeout``; SQLite's busy
    #: timeout). A call that times out is answered KMSInternalException.
    lock: float = 5.0
    #: How long one statement may run (PostgreSQL ``statement_timeout``).
    statement: float = 30.0
    #: How long a session may sit idle inside a transaction before PostgreSQL ends it
    #: and rolls back (``idle_in_transaction_session_timeout``).
    idle_in_transaction: float = 5.0

    def postgres_settings(self) -> list[tuple[str, str]]:
        """``SET`` name and value of each, in milliseconds (``0`` turns one off)."""
        return [
            ("lock_timeout", _millis(self.lock)),
            ("statement_timeout", _millis(self.statement)),
            ("idle_in_transaction_session_timeout", _millis(self.idle_in_transaction)),
        ]

    def sqlite_busy_millis(self) -> int:
        # 0 would mean "fail at once" to SQLite, "wait for ever" here: about 24 days.
        return int(_millis(self.lock)) or 2**31 - 1


def _millis(seconds: float) -> str:
    return str(max(0, round(seconds * 1000)))


def make_engine(url: str, *, threads: int = 8, timeouts: Timeouts | None = None) -> Engine:
    """Create an engine for ``url`` and make sure the schema exists. ``threads``: how many
    threads answer requests (each keeps a reader connection and may hold a write one)."""
    timeouts = timeouts or Timeouts()
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    bounded: list[bool] = [False]  # set once the schema is ready (see _postgres_engine)
    if url.startswith("postgresql"):
        engine = _postgres_engine(url, threads, timeouts, bounded)
    elif url.startswith("sqlite"):
        engine = _sqlite_engine(url, threads, timeouts)
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
    if engine.dialect.name == "postgresql":
        # Sessions opened for the migrations carry no timeouts: drop them, so that every
        # session from now on is opened with them.
        engine.dispose()
        bounded[0] = True
    return engine


def _postgres_engine(url: str, threads: int, timeouts: Timeouts, bounded: list[bool]) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageConfigError(
            "PostgreSQL support is not installed: pip install 'openkms[postgres]'"
        ) from None
    # Each request thread keeps a reader and may hold a write transaction; a few more for
    # the audit writer, maintenance and digest sealing.
    engine = create_engine(
        url, pool_size=threads + 4, max_overflow=threads, connect_args={"connect_timeout": 10}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Statements run in autocommit unless the repository opens a transaction with an
        # explicit BEGIN: a read costs one round trip.
        dbapi_conn.autocommit = True
        if bounded[0]:
            with dbapi_conn.cursor() as cur:
                for name, value in timeouts.postgres_settings():
                    cur.execute(f"SET {name} = {value}")  # names and integers of our own

    return engine


def _sqlite_engine(url: str, threads: int, timeouts: Timeouts) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if not memory and url.startswith("sqlite:///"):
        _private_file(url[len("sqlite:///") :])
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    else:  # as for PostgreSQL: a reader per request thread, and writers
        kwargs.update(pool_size=threads + 4, max_overflow=threads)
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
            # Checkpoint every 10,000 WAL pages (40 MB), not SQLite's 1,000: every audit
            # group commit rewrites the same tail pages of the trail's tables and indexes,
            # and a checkpoint copies each page once however often it changed, so fewer,
            # larger checkpoints copy far fewer pages (and stall fewer commits): audit
            # commits of 12 records measured 25% faster on average. The file is cut back
            # to 64 MB after a checkpoint if it grew past that.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={timeouts.sqlite_busy_millis()}")
        cur.close()

    return engine


def _private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 if missing; set an existing one and its SQLite
    companion files to 0600 (older versions left them 0644) where we may."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError as exc:
        reason = exc.strerror
        raise StorageConfigError(f"cannot create the database file {path}: {reason}") from None
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with suppress(OSError):  # not ours (read-only use): SQLite says what it can do
            if os.stat(name).st_mode & 0o777 != PRIVATE_FILE_MODE:
                os.chmod(name, PRIVATE_FILE_MODE)
