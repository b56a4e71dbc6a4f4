"""Repositories used through one unit of work per request.

``Store.transaction(write=True)`` yields a :class:`Tx` bound to one database
transaction: everything a request changes commits together or not at all
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on the keys it changes on
PostgreSQL). ``write=False`` runs each statement on its own against the latest
committed state, which is what a read-only request needs and costs one round trip.

Each record family is a subpackage owning its tables, statements and row mapping:
``keys`` (keys, material versions, aliases, tags, import tokens), ``grants``,
``identity`` (IAM and STS) and ``audit``; :mod:`openkms.storage.tables` and
:mod:`openkms.storage.statements` hold the shared ones (settings, access keys). A
family's repository is plain functions over a :class:`Tx` (``Tx`` runs a family's
:class:`~openkms.storage.sql.Statement`); the key records' repository is still the
methods below, to be moved to ``storage/keys`` as functions. Rows are converted to
frozen domain values by column name in the storage layer; nothing above it sees a row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine

from openkms.domain.aliases import Alias
from openkms.domain.keys import (
    Key,
    KeyMaterial,
)
from openkms.domain.principals import root_arn
from openkms.storage import statements
from openkms.storage.grants import statements as grant_statements
from openkms.storage.keys import rows as key_rows
from openkms.storage.keys import statements as key_statements
from openkms.storage.sql import Statement, StatementCache, columns


class DuplicateError(Exception):
    """A row with the same primary key exists already."""


class StorageError(Exception):
    """The database failed (connection lost, server gone); the request cannot complete."""


#: Column name -> position in the rows of ``access_key_get``.
_ACCESS_KEY = columns(statements.access_key_get)


class StoredAccessKey:
    __slots__ = ("access_key_id", "account_id", "principal_arn", "status", "wrapped_secret")

    def __init__(self, row: Sequence[Any]) -> None:
        c = _ACCESS_KEY
        self.access_key_id: str = row[c["access_key_id"]]
        self.account_id: str = row[c["account_id"]]
        self.principal_arn: str = row[c["principal_arn"]]
        self.wrapped_secret: bytes = bytes(row[c["wrapped_secret"]])
        self.status: str = row[c["status"]]


_MAX_CONVERTED_KEYS = 10_000


class Tx:
    """Data access on one DBAPI connection (inside a transaction when writing)."""

    __slots__ = ("_cursor", "_integrity_error", "_keys", "_sql", "write")

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
        self._keys = key_values

    def execute(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """Run one statement of a record family's ``statements`` module.

        Repositories of other record families (identities, grants, ...) are plain
        functions over a Tx that call this, ``fetch_one`` and ``fetch_all``."""
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

    _run = execute
    _one = fetch_one
    _all = fetch_all

    # keys -----------------------------------------------------------------
    def get_key(self, key_id: str, *, for_update: bool = False) -> Key | None:
        statement = (
            key_statements.key_get_for_update
            if for_update and self.write
            else key_statements.key_get
        )
        row = self._one(statement, {"key_id": key_id})
        if row is None:
            return None
        # The row is always read; only its conversion is reused while the row is unchanged.
        seen = self._keys.get(key_id)
        if seen is not None and seen[0] == row:
            return seen[1]
        key = key_rows.key_from_row(row)
        if len(self._keys) >= _MAX_CONVERTED_KEYS:
            self._keys.clear()
        self._keys[key_id] = (tuple(row), key)
        return key

    def insert_key(self, key: Key, material: KeyMaterial | None, tags: Mapping[str, str]) -> None:
        """A new key with its first material (None: EXTERNAL keys wait for an import)."""
        self._run(key_statements.key_insert, key_rows.key_values(key))
        if material is not None:
            self.insert_material(material)
        self.replace_tags(key.key_id, tags)

    def delete_key(self, key_id: str) -> None:
        """Remove a key with everything that belongs to it: material, aliases, grants,
        tags and import tokens."""
        for statement in (
            key_statements.key_delete_materials,
            key_statements.key_delete_aliases,
            key_statements.key_delete_grants,
            key_statements.key_delete_tags,
            key_statements.key_delete_import_tokens,
            key_statements.key_delete,
        ):
            self._run(statement, {"key_id": key_id})
        self._keys.pop(key_id, None)

    def update_key(self, key: Key) -> None:
        self._run(
            key_statements.key_update, {f"v_{k}": v for k, v in key_rows.key_values(key).items()}
        )

    def list_keys(self, account: str, region: str, after: str | None, limit: int) -> list[Key]:
        values = {"account_id": account, "region": region, "lim": limit}
        if after is None:
            rows = self._all(key_statements.keys_list, values)
        else:
            rows = self._all(key_statements.keys_list_after, {**values, "after": after})
        return [key_rows.key_from_row(r) for r in rows]

    # key material ---------------------------------------------------------
    def insert_material(self, material: KeyMaterial) -> None:
        self._run(key_statements.material_insert, key_rows.material_values(material))

    def update_material(self, material: KeyMaterial) -> None:
        values = key_rows.material_values(material)
        self._run(key_statements.material_update, {f"v_{k}": v for k, v in values.items()})

    def get_material(self, key_id: str, version: int) -> KeyMaterial | None:
        row = self._one(key_statements.material_get, {"key_id": key_id, "version": version})
        return None if row is None else key_rows.material_from_row(row)

    def delete_material(self, key_id: str, version: int) -> None:
        self._run(key_statements.material_delete, {"key_id": key_id, "version": version})

    def list_materials(self, key_id: str) -> list[KeyMaterial]:
        """Every material version of a key, oldest first."""
        return [
            key_rows.material_from_row(r)
            for r in self._all(key_statements.materials_list, {"key_id": key_id})
        ]

    # aliases --------------------------------------------------------------
    def get_alias(self, account: str, region: str, name: str) -> Alias | None:
        row = self._one(
            key_statements.alias_get, {"account_id": account, "region": region, "name": name}
        )
        return None if row is None else key_rows.alias_from_row(row)

    def insert_alias(self, alias: Alias) -> None:
        try:
            self._run(
                key_statements.alias_insert,
                {
                    "account_id": alias.account,
                    "region": alias.region,
                    "name": alias.name,
                    "target_key_id": alias.target_key_id,
                    "created_at": alias.created_at,
                    "updated_at": alias.updated_at,
                },
            )
        except self._integrity_error:
            raise DuplicateError(alias.name) from None

    def update_alias(self, alias: Alias) -> None:
        self._run(
            key_statements.alias_update,
            {
                "w_account_id": alias.account,
                "w_region": alias.region,
                "w_name": alias.name,
                "v_target_key_id": alias.target_key_id,
                "v_updated_at": alias.updated_at,
            },
        )

    def delete_alias(self, alias: Alias) -> None:
        self._run(
            key_statements.alias_delete,
            {"account_id": alias.account, "region": alias.region, "name": alias.name},
        )

    def list_aliases(
        self, account: str, region: str, key_id: str | None, after: str | None, limit: int
    ) -> list[Alias]:
        values: dict[str, Any] = {"account_id": account, "region": region, "lim": limit}
        if key_id is not None:
            values["target_key_id"] = key_id
        if after is not None:
            values["after"] = after
        statement = key_statements.aliases_list[key_id is not None, after is not None]
        return [key_rows.alias_from_row(r) for r in self._all(statement, values)]

    # tags -----------------------------------------------------------------
    def get_tags(self, key_id: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self._all(key_statements.tags_get, {"key_id": key_id})}

    def replace_tags(self, key_id: str, tags: Mapping[str, str]) -> None:
        self._run(key_statements.tags_delete, {"key_id": key_id})
        for tag_key, tag_value in tags.items():
            self._run(
                key_statements.tag_insert,
                {"key_id": key_id, "tag_key": tag_key, "tag_value": tag_value},
            )

    # access keys and settings --------------------------------------------
    def get_access_key(self, access_key_id: str) -> StoredAccessKey | None:
        row = self._one(statements.access_key_get, {"access_key_id": access_key_id})
        return None if row is None else StoredAccessKey(row)

    def put_access_key(
        self,
        access_key_id: str,
        account: str,
        principal_arn: str,
        wrapped_secret: bytes,
        now: float,
    ) -> None:
        self._run(statements.access_key_delete, {"access_key_id": access_key_id})
        self._run(
            statements.access_key_insert,
            {
                "access_key_id": access_key_id,
                "account_id": account,
                "principal_arn": principal_arn,
                "wrapped_secret": wrapped_secret,
                "status": "Active",
                "created_at": now,
            },
        )

    def delete_access_key(self, access_key_id: str) -> None:
        self._run(statements.access_key_delete, {"access_key_id": access_key_id})

    def root_access_key_ids(self, account: str) -> list[str]:
        rows = self._all(
            statements.access_keys_for_principal,
            {"account_id": account, "principal_arn": root_arn(account)},
        )
        return [r[0] for r in rows]

    def get_meta(self, name: str) -> bytes | None:
        row = self._one(statements.meta_get, {"name": name})
        return None if row is None else bytes(row[0])

    def set_meta(self, name: str, value: bytes) -> None:
        self._run(statements.meta_delete, {"name": name})
        self._run(statements.meta_insert, {"name": name, "value": value})

    def wipe_kms_state(self) -> None:
        """Delete every key, alias, tag and material (dev-mode reset)."""
        for statement in (
            grant_statements.wipe_grants,
            key_statements.wipe_import_tokens,
            key_statements.wipe_tags,
            key_statements.wipe_aliases,
            key_statements.wipe_materials,
            key_statements.wipe_keys,
        ):
            self._run(statement, {})


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
