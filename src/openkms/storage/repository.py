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

import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from openkms.domain.keys import Key
from openkms.storage import statements
from openkms.storage.checkpointer import WalCheckpointer
from openkms.storage.read_cache import MISSING, WATCH_INTERVAL, ReadCache
from openkms.storage.sql import MULTI_ROW_CHUNK, Statement, StatementCache
from openkms.storage.write_lock import WriteLock

log = logging.getLogger("openkms.storage")
_T = TypeVar("_T")


class DuplicateError(Exception):
    """A row with the same primary key exists already."""


class StorageError(Exception):
    """The database failed (connection lost, server gone); the request cannot complete."""


class DatabaseUnavailable(StorageError):
    """The database failed whatever the statement was: a lock or statement timeout, a lost
    connection or server, a full disk, a read-only database (the driver's
    ``OperationalError`` or ``InternalError``). Trying the same work again at once, or
    in smaller pieces, would only wait again."""


class Offload(BaseException):
    """This request cannot be answered where it is: it needs the database (or slow work).

    Raised while a request is answered on the event loop from memory
    (:meth:`Store.in_memory_only`) when it would open a database cursor, and by the
    dispatcher for work too slow for the loop; the server then answers the request from
    the start on a worker thread. A ``BaseException`` so that no ``except Exception``
    on the way mistakes it for a failure of the request."""


class Tx:
    """One unit of work on one DBAPI connection (inside a transaction when writing).

    It runs a record family's statements and nothing else. A plain read opens its
    cursor only when a statement runs: a request answered from the read cache
    (``cache``, valid for the state ``generation`` the unit of work started on) never
    touches the database. ``converted_keys`` is the store's memo of key rows already
    converted to :class:`~openkms.domain.keys.Key`."""

    __slots__ = (
        "_cursor",
        "_integrity_error",
        "_multi_row",
        "_open",
        "_sql",
        "cache",
        "converted_keys",
        "generation",
        "write",
    )

    def __init__(
        self,
        open_cursor: Callable[[], Any],
        sql: StatementCache,
        integrity_error: Any,
        write: bool,
        key_values: dict[str, tuple[tuple[Any, ...], Key]],
        cache: ReadCache | None = None,
    ) -> None:
        self._cursor: Any = None
        self._open = open_cursor
        self._sql = sql
        self._integrity_error = integrity_error
        self._multi_row = sql.multi_row_inserts
        self.write = write
        self.converted_keys = key_values
        self.cache = cache
        self.generation = 0 if cache is None else cache.generation

    @property
    def cursor(self) -> Any:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self._open()
        return cursor

    def cached(self, slot: Hashable, load: Callable[[], _T]) -> _T:
        """``load()``'s answer, from the read cache when this unit of work has one."""
        cache = self.cache
        if cache is None:
            return load()
        found = cache.get(slot)
        if found is not MISSING:
            return found  # type: ignore[return-value]  # put() below stored a _T here
        value = load()
        cache.put(self.generation, slot, value)
        return value

    def execute(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """Run one statement of a record family's ``statements`` module.

        Every family's repository is plain functions over a Tx that call this,
        ``fetch_one``, ``fetch_all`` and ``insert_unique``."""
        compiled = self._sql[statement]
        cursor = self.cursor
        cursor.execute(compiled.sql, compiled.params(values))
        return cursor

    def execute_many(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (batched inserts): on SQLite in one driver
        call; on PostgreSQL as multi-row INSERTs, one statement per
        :data:`~openkms.storage.sql.MULTI_ROW_CHUNK` rows.

        Not psycopg's ``executemany``: it pipelines, and a client frozen in the middle
        of a pipeline leaves its session waiting for a Sync, where PostgreSQL never
        applies ``idle_in_transaction_session_timeout``, so a frozen node's locks would
        be held for as long as it stays frozen (tests/security/test_frozen_node.py)."""
        if not rows:
            return
        compiled = self._sql[statement]
        cursor = self.cursor
        if self._multi_row:
            for at in range(0, len(rows), MULTI_ROW_CHUNK):
                chunk = rows[at : at + MULTI_ROW_CHUNK]
                many = compiled.many_rows(chunk)
                if many is None:
                    for values in chunk:
                        cursor.execute(compiled.sql, compiled.params(values))
                else:
                    cursor.execute(*many)
            return
        cursor.executemany(compiled.sql, [compiled.params(r) for r in rows])

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
    reset on the hot path; a connection that fails is discarded. Plain reads go through
    the :class:`~openkms.storage.read_cache.ReadCache` (``cache``).
    """

    def __init__(self, engine: Engine, *, write_lock: WriteLock | None = None) -> None:
        self.engine = engine
        #: Taken around every write transaction (SQLite files: openkms.storage.write_lock).
        self.write_lock = write_lock
        self._sql = StatementCache(engine)
        dbapi = engine.dialect.dbapi
        self._integrity_error = dbapi.IntegrityError if dbapi is not None else Exception
        self._database_error = dbapi.Error if dbapi is not None else Exception
        self._unavailable: tuple[type[BaseException], ...] = (
            (dbapi.OperationalError, dbapi.InternalError) if dbapi is not None else ()
        )
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
        #: Write connections threads hold (:meth:`hold_write_connection`), likewise.
        self._held: list[Any] = []
        self._readers_lock = threading.Lock()
        self._key_values: dict[str, tuple[tuple[Any, ...], Key]] = {}
        self.cache = ReadCache()
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()
        self._checkpointer: WalCheckpointer | None = None

    def transaction(
        self, *, write: bool = False, snapshot: bool = False, changes_state: bool = True
    ) -> AbstractContextManager[Tx]:
        """``write``: one read-write transaction; unless ``changes_state`` is False (the
        audit trail's own appends), it moves the state generation on when it commits.
        ``snapshot`` (reads): every statement sees the same committed state (one read
        transaction), for answers built from several rows that one write changes
        together. Otherwise each read statement runs on its own against the latest
        committed state, and reads may be answered from the read cache."""
        if not (write or snapshot):
            return _PlainRead(self)
        return self._transaction(write, snapshot, changes_state)

    @contextmanager
    def _transaction(self, write: bool, snapshot: bool, changes_state: bool) -> Iterator[Tx]:
        if getattr(self._local, "memory_only", False):
            raise Offload()
        held = write and getattr(self._local, "hold_writer", False)
        raw: Any = self._local.writer if held else None if write else self._reader()
        if raw is None:
            raw = self._connect()
            if held:
                self._local.writer = raw
                with self._readers_lock:
                    self._held.append(raw)
        cursor = None
        lock = self.write_lock if write else None
        try:
            if lock is not None:
                try:
                    lock.acquire()
                except TimeoutError as exc:
                    lock = None
                    raise DatabaseUnavailable(str(exc)) from None
            cursor = raw.cursor()
            cursor.execute(self._begin if write else self._begin_snapshot)
            bump = write and changes_state
            try:
                yield Tx(lambda: cursor, self._sql, self._integrity_error, write, self._key_values)
                if bump:
                    compiled = self._sql[statements.state_generation_bump]
                    cursor.execute(compiled.sql, compiled.params({}))
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
            if getattr(cursor, "statusmessage", None) == "ROLLBACK":
                # PostgreSQL answers COMMIT of a transaction in which a statement failed
                # (an error caught and not raised) with ROLLBACK, not with an error:
                # nothing was written, and the caller must not believe otherwise.
                raise StorageError("the database rolled the transaction back: a statement failed")
            if bump:
                self.cache.invalidate()
        except self._database_error as exc:
            if held:  # a new connection for the next transaction
                self._local.writer = None
                with self._readers_lock, suppress(ValueError):
                    self._held.remove(raw)
            self._failed(raw, exc, reader=not write)
        finally:
            if cursor is not None:
                with suppress(self._database_error):
                    cursor.close()
            if write and not (held and self._local.writer is raw):
                raw.close()
            if lock is not None:
                lock.release()

    def _plain_read(self) -> _PlainRead:
        """A unit of work of autocommit reads that opens its cursor on first use."""
        return _PlainRead(self)

    def hold_write_connection(self) -> None:
        """This thread's write transactions keep one connection from now on, instead of
        a pool checkout and checkin each (with the pool's reset), ~40 µs a transaction:
        for the audit writer process, whose one thread commits every group. Each
        transaction still ends in COMMIT or ROLLBACK; a connection the database failed
        on is discarded and the next transaction takes a new one."""
        self._local.hold_writer = True
        self._local.writer = None

    def _reader(self) -> Any:
        """This thread's autocommit reader connection (opened on first use)."""
        raw = getattr(self._local, "reader", None)
        if raw is None:
            raw = self._local.reader = self._connect()
            with self._readers_lock:
                self._readers.append(raw)
        return raw

    def _connect(self) -> Any:
        """A DBAPI connection from the pool; :class:`DatabaseUnavailable` when the database
        cannot be reached (the server down, a file that cannot be opened)."""
        try:
            return self.engine.raw_connection()
        except (SQLAlchemyError, self._database_error) as exc:
            reason = str(getattr(exc, "orig", exc)).strip() or repr(exc)
            raise DatabaseUnavailable(reason.splitlines()[0]) from exc

    def _failed(self, raw: Any, exc: BaseException, *, reader: bool) -> None:
        """Discard a connection the database failed on; raise :class:`StorageError`."""
        if not isinstance(exc, self._integrity_error):
            raw.invalidate()
            if reader:
                self._local.reader = None
                with self._readers_lock, suppress(ValueError):
                    self._readers.remove(raw)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        if isinstance(exc, self._unavailable):
            raise DatabaseUnavailable(message) from exc
        raise StorageError(message) from exc

    def in_memory_only(self) -> _MemoryOnly:
        """On this thread, a unit of work that would open a cursor raises
        :class:`Offload` instead: the request is answered from the read cache or not
        here (the event loop must never wait for the database)."""
        return _MemoryOnly(self._local)

    @property
    def memory_only(self) -> bool:
        """Whether this thread is inside :meth:`in_memory_only`."""
        return bool(getattr(self._local, "memory_only", False))

    def read_generation(self) -> int:
        """The state generation in the database now (one row read)."""
        with self._plain_read() as tx:
            row = tx.fetch_one(statements.state_generation_get, {})
        return 0 if row is None else int(row[0])

    def watch_generation(self, interval: float = WATCH_INTERVAL) -> None:
        """Start a thread that reads the state generation every ``interval`` seconds and
        empties the read cache when another process moved it on."""
        if self._watcher is not None:
            return
        self.cache.observe(self.read_generation())

        def run() -> None:
            while not self._stop_watching.wait(interval):
                try:
                    self.cache.observe(self.read_generation())
                except StorageError:
                    # Cannot tell whether anything changed: trust nothing cached.
                    log.warning("could not read the state generation; emptying the read cache")
                    self.cache.invalidate()

        self._watcher = threading.Thread(target=run, name="openkms-generation", daemon=True)
        self._watcher.start()

    def keep_wal_small(self) -> None:
        """For the process that appends the audit trail: checkpoint a SQLite file
        database's write-ahead log from a thread, not inside a commit (a no-op for any
        other database; see :mod:`openkms.storage.checkpointer`)."""
        lock = self.write_lock  # there is one exactly for a SQLite file (write_lock)
        if self._checkpointer is not None or lock is None:
            return
        self._checkpointer = WalCheckpointer(lock.database_path, lock)
        self._checkpointer.start()

    def close(self) -> None:
        """Stop the generation watcher; close every thread's reader connection and the pool."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        with self._readers_lock:
            readers, self._readers = self._readers + self._held, []
            self._held = []
        for reader in readers:
            with suppress(self._database_error):
                reader.close()
        self._local = threading.local()
        if self.write_lock is not None:
            self.write_lock.close()
        self.engine.dispose()


# Two context managers entered on every request, as classes: a generator-based
# ``@contextmanager`` costs about three times as much to enter and leave.


class _PlainRead:
    """:meth:`Store.transaction` of plain reads: autocommit statements on this thread's
    reader connection, its cursor opened on first use (never while
    :meth:`Store.in_memory_only`: :class:`Offload` instead) and closed at the end."""

    __slots__ = ("_cursor", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursor: Any = None

    def __enter__(self) -> Tx:
        store = self._store
        return Tx(
            self._open_cursor,
            store._sql,
            store._integrity_error,
            False,
            store._key_values,
            store.cache,
        )

    def _open_cursor(self) -> Any:
        store = self._store
        if getattr(store._local, "memory_only", False):
            raise Offload()
        cursor = self._cursor = store._reader().cursor()
        return cursor

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        store = self._store
        try:
            if exc is not None and isinstance(exc, store._database_error):
                store._failed(store._local.reader, exc, reader=True)
        finally:
            if self._cursor is not None:
                with suppress(store._database_error):
                    self._cursor.close()


class _MemoryOnly:
    """:meth:`Store.in_memory_only` for one thread."""

    __slots__ = ("_local",)

    def __init__(self, local: threading.local) -> None:
        self._local = local

    def __enter__(self) -> None:
        self._local.memory_only = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._local.memory_only = False
