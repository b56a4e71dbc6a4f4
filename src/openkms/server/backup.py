"""Backup and restore of a server's state (``openkms backup``, ``openkms restore``).

A backup is one SQLite database file holding every table of the schema at this code's
revision: made with SQLite's online backup API from a data directory (a consistent
snapshot while servers keep writing), or copied table by table from one PostgreSQL
snapshot (``REPEATABLE READ READ ONLY``: one consistent state, no lock that stops a
server). So one file restores into a data directory or a PostgreSQL database alike. For
PostgreSQL ``pg_dump``/``pg_restore`` are an equivalent path (the database holds nothing
that is not sealed either).

The root key is never in it: keys, secrets and the audit signing key are in the database
only sealed under the root, and the root key check value (``openkms_meta.root_check``)
goes with them. ``restore`` unseals that check value with the root of the server it
restores into (``<data dir>/root.key``, ``OPENKMS_ROOT_KEY``/``OPENKMS_ROOT_PASSPHRASE``,
or the PKCS#11 key) before anything is put in place; another root is refused with one
line (:class:`~openkms.server.bootstrap.RootKeyError`). The audit trail, its digests and
signing keys are copied as they are, so ``openkms audit verify`` passes on the restored
state (a ``--audit-digest-dir`` copy is the operator's to keep apart).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import Engine, delete, select

from openkms.crypto.keyring import PKCS11, Keyring, SoftwareKeyring, UnwrapError
from openkms.server.bootstrap import (
    DATABASE_FILE,
    MissingStateError,
    RootKeyError,
    Settings,
    StartupError,
    check_root_of_trust,
    open_store,
    software_root_key,
)
from openkms.storage import shared as shared_records
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.migrate import schema_metadata
from openkms.storage.repository import Store

#: Rows copied per statement between databases.
_CHUNK = 2_000
_CHECK_NAME = "root_check"


class BackupError(StartupError):
    """The backup cannot be made or restored as asked (the message says why)."""


@dataclass(frozen=True)
class Copied:
    """What a backup or restore holds: rows per table, and the audit trail's last seq."""

    rows: dict[str, int]
    audit_seq: int


def backup(settings: Settings, out: str) -> Copied:
    """Write a consistent snapshot of the state ``settings`` names to ``out`` (a new file)."""
    if os.path.exists(out):
        raise BackupError(f"{out} exists: give a new file name")
    source = open_store(settings, create=False)  # refuses missing state; migrates to head
    try:
        with _staging(os.path.dirname(os.path.abspath(out))) as staging:
            path = os.path.join(staging, DATABASE_FILE)
            if source.engine.name == "sqlite":
                _sqlite_snapshot(source.engine, path)
            else:
                target = make_engine(sqlite_url(staging), threads=1)
                try:
                    _copy_tables(source.engine, target, snapshot=True)
                finally:
                    target.dispose()
            _single_file(path)
            copied = _summary(path)
            os.replace(path, out)
    finally:
        source.close()
    return copied


def restore(backup_file: str, settings: Settings) -> Copied:
    """Put the backup in place as the state ``settings`` names (an empty data directory,
    or a PostgreSQL database without OpenKMS state), after checking that its root opens
    the backup's sealed values."""
    _require_backup(backup_file)
    target_dir = settings.data_dir
    if settings.database is None:
        if target_dir is None:
            raise BackupError("give --data-dir (or --database) to restore into")
        os.makedirs(target_dir, mode=0o700, exist_ok=True)
        if os.path.exists(os.path.join(target_dir, DATABASE_FILE)):
            raise BackupError(
                f"{target_dir} already holds a database: restore into a new data directory"
            )
    work_dir = target_dir or os.path.dirname(os.path.abspath(backup_file))
    with _staging(work_dir) as staging:
        path = os.path.join(staging, DATABASE_FILE)
        shutil.copyfile(backup_file, path)
        os.chmod(path, 0o600)
        staged = Store(make_engine(sqlite_url(staging), threads=1))  # migrates to head
        try:
            _check_root(settings, staged)
            if settings.database is not None:
                _restore_into_database(staged, settings)
        finally:
            staged.close()
        _single_file(path)
        copied = _summary(path)
        if settings.database is None:
            assert target_dir is not None
            os.replace(path, os.path.join(target_dir, DATABASE_FILE))
    return copied


def _restore_into_database(staged: Store, settings: Settings) -> None:
    target = open_store(replace(settings, data_dir=None), create=True)  # makes the schema
    try:
        with target.transaction() as tx:
            if shared_records.get_meta(tx, _CHECK_NAME) is not None:
                raise BackupError(
                    "the database already holds OpenKMS state: restore into a new database"
                )
        _copy_tables(staged.engine, target.engine, snapshot=False)
    finally:
        target.close()


def _check_root(settings: Settings, store: Store) -> None:
    """Refuse (one line) a root that does not open the backup's check value."""
    keyring: Keyring
    if settings.root_of_trust == PKCS11:
        from openkms.server import root_of_trust

        keyring = root_of_trust.open_hsm_keyring(settings, store, fresh=False, create=False)
    else:
        keyring = SoftwareKeyring(software_root_key(settings, store, create=False))
    try:
        check_root_of_trust(store, keyring)
    except UnwrapError:
        where = settings.data_dir or "the environment"
        raise RootKeyError(
            f"the backup is sealed under another root key than {where}'s: refusing to restore "
            "(the root key is never in a backup; restore with the root that made it)"
        ) from None


def _require_backup(path: str) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            found = db.execute(
                "SELECT value FROM openkms_meta WHERE name = ?", (_CHECK_NAME,)
            ).fetchone()
    except sqlite3.Error:
        found = None
    if not os.path.isfile(path):
        raise MissingStateError(f"no backup file {path}")
    if found is None:
        raise BackupError(f"{path} is not an OpenKMS backup")


@contextlib.contextmanager
def _staging(parent: str) -> Iterator[str]:
    """A private directory next to the destination (so the final rename stays on one
    file system), removed with whatever is left in it."""
    os.makedirs(parent, mode=0o700, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".openkms-backup-", dir=parent)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sqlite_snapshot(engine: Engine, path: str) -> None:
    """SQLite's online backup API, all pages in one step: one read transaction, so one
    consistent state while writers go on (WAL mode: readers do not block them). Copying
    in several steps would restart whenever another connection wrote in between, and
    under a steady audit trail might never finish."""
    source_path = engine.url.database
    assert source_path
    with (
        contextlib.closing(sqlite3.connect(source_path, timeout=30)) as source,
        contextlib.closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)


def _single_file(path: str) -> None:
    """Fold any write-ahead log into the file and keep it out of WAL mode: a backup is
    one file."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=DELETE")
    os.chmod(path, 0o600)


def _copy_tables(source: Engine, target: Engine, *, snapshot: bool) -> None:
    """Every table of the schema from ``source`` to ``target`` (emptied first), in one
    target transaction, read in one transaction of ``source`` (a snapshot on
    PostgreSQL when ``snapshot``). Both engines' connections are in autocommit (the
    repositories open their own transactions), so the transactions are explicit here."""
    tables = schema_metadata().sorted_tables
    with source.connect() as reading, target.connect() as writing:
        postgres_snapshot = snapshot and source.name == "postgresql"
        reading.exec_driver_sql(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if postgres_snapshot else "BEGIN"
        )
        writing.exec_driver_sql("BEGIN IMMEDIATE" if target.name == "sqlite" else "BEGIN")
        try:
            for table in reversed(tables):
                writing.execute(delete(table))
            for table in tables:
                rows = reading.execute(select(table)).mappings()
                while chunk := rows.fetchmany(_CHUNK):
                    writing.execute(table.insert(), [dict(row) for row in chunk])
        except BaseException:
            writing.exec_driver_sql("ROLLBACK")
            raise
        finally:
            reading.exec_driver_sql("ROLLBACK")
        writing.exec_driver_sql("COMMIT")


def _summary(path: str) -> Copied:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = {
            table.name: int(db.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
            for table in schema_metadata().sorted_tables
        }
        head = db.execute("SELECT seq FROM audit_chain_head WHERE id = 1").fetchone()
    return Copied(rows, int(head[0]) if head else 0)
