"""Repositories used through one unit of work per request.

``Store.transaction(write=True)`` yields a :class:`Tx` bound to one database
transaction: everything a request changes commits together or not at all
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on the keys it changes on
PostgreSQL). ``write=False`` runs each statement on its own against the latest
committed state, which is what a read-only request needs and costs one round trip.

Each record family is a subpackage owning its tables, statements and row mapping:
``keys`` (keys, material versions, aliases, tags, import tokens), ``grants``,
``identity`` (IAM and STS) and ``audit``; :mod:`openkms.storage.tables`,
:mod:`openkms.storage.statements` and :mod:`openkms.storage.shared` hold the shared
ones (settings, access keys). Every repository is plain functions over a :class:`Tx`,
a bare unit of work that runs a family's :class:`~openkms.storage.sql.Statement`. Rows
are converted to frozen domain values by column name in the storage layer; nothing above
it sees a row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine

from openkms.domain.keys import Key
from openkms.storage.sql import Statement, StatementCache


class DuplicateError(Exception):
    """A row with the same primary key exists already."""


class StorageError(Exception):
    """The database failed (connection lost, server gone); the request cannot complete."""


class Tx:
    """One unit of work on one DBAPI connection (inside a transaction when writing).

    It runs a record family's statements and nothing else; ``converted_keys`` is the
    store's memo of key rows already converted to :class:`~openkms.domain.keys.Key`
    (used by :func:`openkms.storage.keys.repository.get_key`)."""

    __slots__ = ("_cursor", "_integrity_error", "_sql", "converted_keys", "write")

    def __init__(
        self,
        cursor: Any,
        sql: StatementCache,
        integrity_error: Any,
        write: bool,
        key_values: dict[str, tuple[tuple[Any, ...], Key]],
    ) -> None:
        self._cursor = cursor
        self._sql = sql
        self._integrity_error = integrity_error
        self.write = write
        self.converted_keys = key_values

    def execute(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """Run one statement of a record family's ``statements`` module.

        Every family's repository is plain functions over a Tx that call this,
        ``fetch_one``, ``fetch_all`` and ``insert_unique``."""
        compiled = self._sql[statement]
        self._cursor.execute(compiled.sql, compiled.params(values))
        return self._cursor

    def execute_many(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row, in one driver call (batched inserts)."""
        if rows:
            compiled = self._sql[statement]
            self._cursor.executemany(compiled.sql, [compiled.params(r) for r in rows])

    def fetch_one(self, statement: Statement, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.execute(statement, values).fetchone()
        return row

    def fetch_all(self, statement: Statement, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.execute(statement, values).fetchall()
        return rows

    def insert_unique(self, statement: Statement, values: Mapping[str, Any], what: str) -> None:
        """Insert a row; a primary-key clash raises :class:`DuplicateError`."""
        try:
            self.execute(statement, values)
        except self._integrity_error:
            raise DuplicateError(what) from None


class Store:
    """Opens units of work on one engine.

    Write transactions take a pooled connection. Reads run in autocommit on a
    connection each thread keeps for itself, which saves the pool's checkout and
    reset on the hot path; a connection that fails is discarded.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sql = StatementCache(engine)
        dbapi = engine.dialect.dbapi
        self._integrity_error = dbapi.IntegrityError if dbapi is not None else Exception
        self._database_error = dbapi.Error if dbapi is not None else Exception
        self._begin = "BEGIN IMMEDIATE" if engine.name == "sqlite" else "BEGIN"
        # SQLite in WAL mode keeps one snapshot for a read transaction; PostgreSQL needs
        # REPEATABLE READ for that (READ COMMITTED takes a new one per statement).
        self._begin_snapshot = (
            "BEGIN"
            if engine.name == "sqlite"
            else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        )
        self._local = threading.local()
        #: Every thread's reader connection, so that close() can close them all (a
        #: connection left open keeps SQLite from checkpointing its WAL).
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._key_values: dict[str, tuple[tuple[Any, ...], Key]] = {}

    @contextmanager
    def transaction(self, *, write: bool = False, snapshot: bool = False) -> Iterator[Tx]:
        """``write``: one read-write transaction. ``snapshot`` (reads): every statement
        sees the same committed state (one read transaction), for answers built from
        several rows that one write changes together. Otherwise each read statement runs
        on its own against the latest committed state."""
        raw: Any = None if write else getattr(self._local, "reader", None)
        if raw is None:
            raw = self.engine.raw_connection()
            if not write:
                self._local.reader = raw
                with self._readers_lock:
                    self._readers.append(raw)
        cursor = None
        try:
            cursor = raw.cursor()
            explicit = write or snapshot
            if write:
                cursor.execute(self._begin)
            elif snapshot:
                cursor.execute(self._begin_snapshot)
            try:
                yield Tx(cursor, self._sql, self._integrity_error, write, self._key_values)
            except BaseException:
                if explicit:
                    cursor.execute("ROLLBACK")
                raise
            if explicit:
                cursor.execute("COMMIT")
        except self._database_error as exc:
            if not isinstance(exc, self._integrity_error):
                raw.invalidate()
                if not write:
                    self._local.reader = None
                    with self._readers_lock, suppress(ValueError):
                        self._readers.remove(raw)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StorageError(message) from exc
        finally:
            if cursor is not None:
                with suppress(self._database_error):
                    cursor.close()
            if write:
                raw.close()

    def close(self) -> None:
        """Close every thread's reader connection and the pool."""
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            with suppress(self._database_error):
                reader.close()
        self._local = threading.local()
        self.engine.dispose()
