"""Composition root: turn command-line settings into a running service.

Startup problems a user can fix are raised as :class:`StartupError` with a one-line
message; the CLI prints it and exits with the status of its kind (the subclasses below,
mapped in openkms.cli.exit_codes).

Only ``openkms serve`` and ``openkms admin create-account`` make state:
``open_state(settings, create=False)`` (every other command) opens what exists and
refuses, with :class:`MissingStateError`, a data directory, SQLite database, schema,
root key file or passphrase salt that is not there, creating nothing on disk or in the
database (``authz explain --data-dir <typo>`` must not leave a new root key behind).

Root of trust, in order of precedence:

1. ``OPENKMS_ROOT_KEY``: 32 bytes, base64 (standard alphabet).
2. ``OPENKMS_ROOT_PASSPHRASE``: the root key is derived with scrypt and a random salt
   kept in the database.
3. ``<data dir>/root.key``: generated on first start (mode 0600), read afterwards.

With ``--root-of-trust pkcs11`` the root is a key in a PKCS#11 HSM instead
(:mod:`openkms.server.root_of_trust`).

A check value sealed under the root key is kept in the database, so a wrong root key
is detected at startup, before any request is served.

Everything under the data directory is private to the server's user: the directory is
made 0700, files 0600 (the CLI also sets umask 077), and a data directory that group or
others may read or write is reported at start (one warning; the operator may share it on
purpose, e.g. with a backup group, so it is not refused).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from openkms.crypto import contexts
from openkms.crypto.keyring import (
    PKCS11,
    ROOT_KEY_LEN,
    Keyring,
    KeyringUnavailableError,
    SoftwareKeyring,
    UnwrapError,
    new_root_key,
    root_key_from_passphrase,
)
from openkms.crypto.signing import SignatureError
from openkms.server.credentials import (
    CredentialStore,
    new_access_key_id,
    new_secret_access_key,
)
from openkms.server.settings import Settings as Settings  # re-exported: its old home
from openkms.service.audit_sealer import (
    Sealer,
    SigningKeyMissingError,
    prepare_digest_dir,
    prepare_signing_key,
)
from openkms.service.audit_trail import AuditSink, AuditWriter, Entry
from openkms.service.identity.authorize import identity_policies
from openkms.service.kms.dispatch import KMSService
from openkms.service.maintenance import Maintenance
from openkms.storage import shared as shared_records
from openkms.storage import statements as shared_statements
from openkms.storage import write_lock
from openkms.storage.audit import trail as audit_store
from openkms.storage.engine import (
    PRIVATE_FILE_MODE,
    StorageConfigError,
    make_engine,
    sqlite_url,
)
from openkms.storage.repository import DuplicateError, StorageError, Store, Tx
from openkms.storage.tables import meta as meta_table

log = logging.getLogger("openkms.server")

#: Threads for the operations the registry marks slow (key generation), per process, in
#: addition to ``Settings.request_threads`` (see openkms.server.app).
SLOW_REQUEST_THREADS = 4

ROOT_KEY_FILE = "root.key"
DATABASE_FILE = "openkms.db"
_CHECK_NAME = "root_check"
_CHECK_CONTEXT = contexts.ROOT_KEY_CHECK
_CHECK_PLAINTEXT = b"openkms root key check v1"
_SALT_NAME = "root_kdf_salt"
#: Rewritten by :func:`probe_writes` (at start and by the readiness check).
_PROBE_NAME = "write_probe"


class StartupError(Exception):
    """The server cannot start; the message says why in one line. Raised as such: the
    configuration given (options, environment) cannot be used."""


class MissingStateError(StartupError):
    """The data directory, database or root key is not there (a command that only opens
    state), or cannot be created or used (permissions)."""


class RootKeyError(StartupError):
    """The root key is malformed, unreadable, or does not open this database."""


class DatabaseStartupError(StartupError):
    """The database cannot be reached, opened or brought to this code's schema."""


@dataclass
class Runtime:
    settings: Settings
    store: Store
    service: KMSService
    credentials: CredentialStore
    banner: list[str]
    audit: AuditSink | None = None
    maintenance: Maintenance | None = None


def _prepare_data_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise MissingStateError(f"cannot create data directory {path}: {exc.strerror}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise MissingStateError(f"data directory {path} is not readable and writable by this user")


def _require_existing(settings: Settings) -> None:
    """Refuse (MissingStateError) state that is not there, creating nothing."""
    if settings.database:
        _require_schema(settings.database)
        return
    if settings.data_dir is None:
        raise MissingStateError("no state to open: give --data-dir or --database")
    if not os.path.isdir(settings.data_dir):
        raise MissingStateError(f"no OpenKMS database in {settings.data_dir}: no such directory")
    if not os.path.isfile(os.path.join(settings.data_dir, DATABASE_FILE)):
        raise MissingStateError(f"no OpenKMS database in {settings.data_dir}")


def _require_schema(url: str) -> None:
    """A server database must already hold OpenKMS's tables: checked on a plain connection
    before ``make_engine``, which would create them in an empty database."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("postgresql"):
        return  # make_engine names the unsupported scheme
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return  # make_engine gives the install hint
    engine = create_engine(url, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table(meta_table.name)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseStartupError(f"cannot use the database: {reason}") from None
    finally:
        engine.dispose()
    if not present:
        raise MissingStateError("the database holds no OpenKMS state (start openkms serve first)")


def open_store(settings: Settings, *, create: bool = True) -> Store:
    """The database named by ``settings`` (made, with its data directory, when ``create``;
    else it must exist). The root key is not needed."""
    if not create:
        _require_existing(settings)
    elif settings.data_dir is not None:
        _prepare_data_dir(settings.data_dir)
    if settings.database:
        url = settings.database
    elif settings.data_dir:
        url = sqlite_url(settings.data_dir)
    else:
        url = "sqlite://"  # dev mode without a data directory: memory only
    try:
        threads = settings.request_threads + SLOW_REQUEST_THREADS
        timeouts = settings.timeouts()
        engine = make_engine(url, threads=threads, timeouts=timeouts)
        return Store(engine, write_lock=write_lock.for_database(url, timeouts.lock))
    except StorageConfigError as exc:
        raise DatabaseStartupError(str(exc)) from None


def _root_key(settings: Settings, store: Store, fresh: bool, create: bool) -> bytes:
    env_key = os.environ.get("OPENKMS_ROOT_KEY")
    if env_key:
        try:
            key = base64.b64decode(env_key, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != ROOT_KEY_LEN:
            raise RootKeyError("OPENKMS_ROOT_KEY must be 32 bytes encoded in base64")
        return key
    passphrase = os.environ.get("OPENKMS_ROOT_PASSPHRASE")
    if passphrase:
        if not create:
            with store.transaction() as tx:
                salt = shared_records.get_meta(tx, _SALT_NAME)
            if salt is None:
                raise MissingStateError(
                    "the database has no root passphrase salt: it was not started with "
                    "OPENKMS_ROOT_PASSPHRASE"
                )
            return root_key_from_passphrase(passphrase, salt)
        with store.transaction(write=True) as tx:
            salt = shared_records.get_meta(tx, _SALT_NAME)
            if salt is None:
                salt = os.urandom(16)
                shared_records.set_meta(tx, _SALT_NAME, salt)
        return root_key_from_passphrase(passphrase, salt)
    if settings.data_dir is None:
        if settings.dev:
            return new_root_key()  # memory-only dev state: the key lives and dies with it
        raise MissingStateError(
            "no root key: set OPENKMS_ROOT_KEY or OPENKMS_ROOT_PASSPHRASE, or give --data-dir"
        )
    path = os.path.join(settings.data_dir, ROOT_KEY_FILE)
    if os.path.exists(path):
        with suppress(OSError):  # made 0644 by a hand or an older version
            if create and stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FILE_MODE:
                os.chmod(path, PRIVATE_FILE_MODE)
        try:
            with open(path, "rb") as fh:
                key = base64.b64decode(fh.read().strip(), validate=True)
        except (OSError, binascii.Error, ValueError) as exc:
            raise RootKeyError(f"cannot read root key {path}: {exc}") from None
        if len(key) != ROOT_KEY_LEN:
            raise RootKeyError(f"root key {path} is not 32 bytes of base64")
        return key
    if not create:
        raise MissingStateError(f"no root key {path}")
    if not fresh:
        raise MissingStateError(
            f"root key {path} is missing but the database already holds keys sealed under one"
        )
    key = new_root_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _open_keyring(settings: Settings, store: Store, create: bool) -> Keyring:
    from openkms.server import root_of_trust

    with store.transaction() as tx:
        check = shared_records.get_meta(tx, _CHECK_NAME)
        rewrap_to = shared_records.get_meta(tx, root_of_trust.REWRAP_META)
        sealed_fingerprint_key = shared_records.get_meta(tx, root_of_trust.FINGERPRINT_KEY_META)
    if check is None and not create:
        raise MissingStateError(
            "the database holds no root key check: it was never started by openkms serve"
        )
    root_of_trust.refuse_other_root(settings, check, rewrap_to)
    keyring: Keyring
    if settings.root_of_trust == PKCS11:
        keyring = root_of_trust.open_hsm_keyring(
            settings, store, fresh=check is None, create=create
        )
    else:
        root_key = _root_key(settings, store, fresh=check is None, create=create)
        fingerprint_key = None
        if sealed_fingerprint_key is not None:
            fingerprint_key = root_of_trust.unseal_fingerprint_key(
                settings, SoftwareKeyring(root_key), sealed_fingerprint_key
            )
        keyring = SoftwareKeyring(root_key, fingerprint_key)
    try:
        if check is None:
            with store.transaction(write=True) as tx:
                sealed = keyring.wrap(_CHECK_PLAINTEXT, _CHECK_CONTEXT)
                shared_records.set_meta(tx, _CHECK_NAME, sealed)
        else:
            keyring.unwrap(check, _CHECK_CONTEXT)
    except UnwrapError:
        raise RootKeyError(root_of_trust.wrong_root_message(settings)) from None
    except KeyringUnavailableError as exc:
        raise StartupError(str(exc)) from None
    return keyring


def _root_credentials(settings: Settings, credentials: CredentialStore) -> list[str]:
    account = settings.account_id
    akid = os.environ.get("OPENKMS_ROOT_ACCESS_KEY_ID")
    secret = os.environ.get("OPENKMS_ROOT_SECRET_ACCESS_KEY")
    if bool(akid) != bool(secret):
        raise StartupError(
            "set both OPENKMS_ROOT_ACCESS_KEY_ID and OPENKMS_ROOT_SECRET_ACCESS_KEY, or neither"
        )
    if akid and secret:
        # The environment is authoritative: other root keys of the account stop working.
        credentials.put_root(account, akid, secret, time.time())
        lines = [f"root credentials for account {account}: access key {akid} (from environment)"]
        revoked = credentials.revoke_other_roots(account, keep=akid)
        if revoked:
            lines.append(f"revoked earlier root access key(s): {', '.join(revoked)}")
        return lines
    existing = credentials.root_access_key_ids(account)
    if existing:
        return [f"root credentials for account {account}: access key {existing[0]} (stored)"]
    akid, secret = new_access_key_id(), new_secret_access_key()
    credentials.put_root(account, akid, secret, time.time())
    return [
        f"generated root credentials for account {account} (shown once, keep them safe):",
        f"  AWS_ACCESS_KEY_ID={akid}",
        f"  AWS_SECRET_ACCESS_KEY={secret}",
    ]


def software_root_key(settings: Settings, store: Store, *, create: bool) -> bytes:
    """The software root key of ``settings`` (as ``serve`` finds it; made when ``create``
    and there is none), for ``openkms admin rewrap``."""
    return _root_key(settings, store, fresh=create, create=create)


def open_state(settings: Settings, *, create: bool = True) -> tuple[Store, Keyring]:
    """Open the database and the root keyring. ``create``: make the data directory,
    database and root key on first use (``serve``, ``admin create-account``); otherwise
    they must all exist and nothing is created (every other command)."""
    store = open_store(settings, create=create)
    try:
        return store, _open_keyring(settings, store, create)
    except StorageError as exc:
        store.close()
        raise DatabaseStartupError(f"database error during startup: {exc}") from None
    except StartupError:
        store.close()
        raise


def probe_writes(store: Store) -> None:
    """Write one row (the time, in ``openkms_meta``) and commit: raises
    :class:`StorageError` when the database cannot be written now (a read-only file or
    database, a full disk, a lost server). Changes no state that is cached."""
    values = {"name": _PROBE_NAME, "value": repr(time.time()).encode()}
    try:
        with store.transaction(write=True, changes_state=False) as tx:
            tx.execute(shared_statements.meta_delete, {"name": _PROBE_NAME})
            tx.insert_unique(shared_statements.meta_insert, values, _PROBE_NAME)
    except DuplicateError:
        pass  # another process's probe committed the same row just now: writes work


def check_root_of_trust(store: Store, keyring: Keyring) -> None:
    """Unwrap the database's root key check value: raises :class:`UnwrapError` when the
    keyring no longer opens this database, :class:`StorageError` when it cannot be read."""
    with store.transaction() as tx:
        check = shared_records.get_meta(tx, _CHECK_NAME)
    if check is None:
        raise UnwrapError("the database holds no root key check")
    keyring.unwrap(check, _CHECK_CONTEXT)


def build(settings: Settings) -> Runtime:
    store, keyring = open_state(settings)
    try:
        # A server that cannot write answers every call with an error: refuse to start.
        probe_writes(store)
    except StorageError as exc:
        store.close()
        raise DatabaseStartupError(f"the database cannot be written: {exc}") from None
    try:
        credentials = CredentialStore(store, keyring)
        banner = [] if settings.dev else _root_credentials(settings, credentials)
    except StorageError as exc:
        store.close()
        raise DatabaseStartupError(f"database error during startup: {exc}") from None
    except StartupError:
        store.close()
        raise
    in_memory = settings.database is None and settings.data_dir is None
    if not in_memory:
        _prepare_audit_trail(settings, store, keyring)
    audit: AuditSink
    if settings.audit_writer == "process" and not in_memory:
        from openkms.server.audit_process import ProcessAuditWriter

        audit = ProcessAuditWriter(settings)
    else:
        # In-memory state dies with the process: nothing to seal, nobody to verify it.
        sealer = None if in_memory else audit_sealer(settings, store, keyring)
        audit = AuditWriter(store, append_audit_entries, sealer=sealer, inline=in_memory)
    service = KMSService(
        store,
        keyring,
        identity_policies=identity_policies,
        audit_appender=append_audit_entries,
        regions=settings.regions,
    )
    periodic = settings.maintenance_interval > 0
    maintenance = Maintenance(store, keyring, key_stores=service.key_stores) if periodic else None
    return Runtime(settings, store, service, credentials, banner, audit, maintenance)


def append_audit_entries(tx: Tx, entries: Sequence[Entry]) -> None:
    """Store audit records, chained, inside ``tx``."""
    audit_store.append_checked(tx, [entry.checked() for entry in entries])


def audit_sealer(settings: Settings, store: Store, keyring: Keyring) -> Sealer:
    """The digest sealer of one audit writer (openkms.service.audit_sealer)."""
    return Sealer(store, keyring, digest_dir=settings.audit_digest_dir)


def _prepare_audit_trail(settings: Settings, store: Store, keyring: Keyring) -> None:
    """Refuse to start without the audit signing key of a trail that was written (made
    at the first start), or with a digest directory that cannot be written."""
    try:
        prepare_signing_key(store, keyring)
    except SigningKeyMissingError:
        store.close()
        raise MissingStateError(
            "the audit signing key is missing from a database whose audit trail was "
            "written (openkms_meta rows audit_signing_key, audit_signing_public_key): "
            "restore them from a backup, or run 'openkms audit rotate-signing-key "
            "--replace-lost-key' and trust the new key's fingerprint explicitly"
        ) from None
    except (SignatureError, UnwrapError):
        store.close()
        raise RootKeyError(
            "the stored audit signing key does not open with this root key, or its public "
            "key was changed (openkms_meta row audit_signing_public_key)"
        ) from None
    except StorageError as exc:
        store.close()
        raise DatabaseStartupError(f"database error during startup: {exc}") from None
    if settings.audit_digest_dir is not None:
        try:
            prepare_digest_dir(settings.audit_digest_dir)
        except OSError as exc:
            store.close()
            raise MissingStateError(
                f"cannot use audit digest directory {settings.audit_digest_dir}: {exc}"
            ) from None
