"""Signing the audit trail's digests on schedule, copying them out of the database, and
the life of the signing key.

:class:`Sealer` belongs to one audit writer (the writer process of each server process,
or the writer thread) and runs on that writer's thread, never on a request's. Its
schedule (:mod:`openkms.audit.digest`): a ``start`` digest when the writer starts
(sealing whatever a crash left), then a digest within ``SEAL_INTERVAL`` seconds of new
records or after ``SEAL_RECORDS`` of them, an idle digest every ``IDLE_INTERVAL``
seconds, and a ``stop`` digest at a clean stop. Whether one is due is decided in the
database, under the chain head's lock, so writers that share a database (workers,
nodes) sign on one schedule between them. A writer whose seal failed signs its next one
as ``start`` (the schedule was broken, and verification reports the pause).

With a digest directory (``serve --audit-digest-dir``), each digest is copied there
once it commits (:mod:`openkms.audit.digest_files`); a directory that is behind (a
crash between commit and copy, a directory added later) is caught up from the database.

The signing key: :func:`prepare_signing_key` makes it at the first start of an empty
trail and refuses to start when it is missing from a trail that has been written
(:class:`SigningKeyMissingError`); :func:`rotate_signing_key` replaces it explicitly, the
old key endorsing the new one in a ``rotate`` digest (or, for a lost key, ``rekey``:
verifiers must then trust the new fingerprint explicitly).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from openkms.audit.digest import IDLE_INTERVAL, SEAL_INTERVAL, SEAL_RECORDS
from openkms.audit.digest_files import DigestFileConflict, newest_number, write_digest
from openkms.crypto.keyring import Keyring
from openkms.crypto.signing import (
    AuditSigner,
    SigningKeyMissingError,
    create_audit_signer,
    load_audit_signer,
)
from openkms.domain.audit import Digest, key_fingerprint
from openkms.storage import shared as shared_records
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail
from openkms.storage.repository import Store, Tx

log = logging.getLogger("openkms.audit")

__all__ = [
    "Rotation",
    "Sealer",
    "SigningKeyMissingError",
    "prepare_signing_key",
    "rotate_signing_key",
    "seal_now",
]


def _due(now: float) -> digest_store.DueCheck:
    def due(previous: Digest | None, head: int) -> bool:
        if previous is None:
            return True
        waiting = head - previous.seq_to
        age = now - previous.end_time
        return (
            waiting >= SEAL_RECORDS
            or (waiting > 0 and age >= SEAL_INTERVAL)
            or age >= IDLE_INTERVAL
        )

    return due


class Sealer:
    """Signs one writer's digests; every method runs on the writer's thread."""

    def __init__(self, store: Store, keyring: Keyring, *, digest_dir: str | None = None) -> None:
        self._store = store
        self._keyring = keyring
        self._dir = digest_dir
        self._signer: AuditSigner | None = None
        self._appended = 0
        self._next_check = 0.0
        self._broken = False
        self._sealed_in = False
        self._failed_in = False
        self._copied: int | None = None

    def _signer_for(self, tx: Tx) -> AuditSigner:
        """The key in force (a rotation made by ``openkms audit rotate-signing-key`` while
        this writer runs is taken up here); call it with the head locked."""
        current = digest_store.read_public_key(tx)
        signer = self._signer
        if signer is None or current is None or signer.public_key != current:
            signer = self._signer = load_audit_signer(shared_records.Settings(tx), self._keyring)
        return signer

    def _seal(self, kind: str, due: digest_store.DueCheck | None) -> Digest | None:
        with self._store.transaction(write=True, changes_state=False) as tx:
            trail.lock_head(tx)  # before the key is read: a rotation commits first or after
            signer = self._signer_for(tx)
            return digest_store.seal_digest(tx, signer, time.time(), kind=kind, due=due)

    def start(self) -> Digest | None:
        """Sign the ``start`` digest; raises what stops the writer from starting."""
        digest = self._seal("start", None)
        self._next_check = time.monotonic() + SEAL_INTERVAL
        self.copy_out()
        return digest

    def seal_in(self, tx: Tx, records: int) -> None:
        """Sign, inside ``tx`` (the group commit that appends ``records`` more, the head
        locked), the digest that their number makes due. It then costs no transaction
        and no fsync of its own: a digest signed apart every ``SEAL_RECORDS`` records
        held every request of the next group commit behind its fsync, which is what
        the slowest one in a hundred requests waited for under load. A failure is
        logged, marks the schedule broken (the next digest is a ``start`` one, signed
        apart), is reported once by :meth:`failed_in_commit` and is raised: the commit
        ends (on PostgreSQL a failed statement has spoiled it) and is tried again."""
        self._sealed_in = False
        if self._broken or self._appended + records < SEAL_RECORDS:
            return
        now = time.time()
        try:
            digest_store.seal_digest(tx, self._signer_for(tx), now, due=_due(now))
        except Exception:
            self._broken = self._failed_in = True
            log.exception("could not sign an audit digest in the group commit")
            raise
        self._sealed_in = True  # taken into account by note() once the commit has ended

    def failed_in_commit(self) -> bool:
        """Whether :meth:`seal_in` failed since last asked: the commit it was part of
        may have failed for that alone, and is worth one retry (without a digest)."""
        failed, self._failed_in = self._failed_in, False
        return failed

    def note(self, records: int) -> None:
        """``records`` more were appended by this writer (their commit has ended)."""
        if self._sealed_in:
            self._sealed_in = False
            self._appended = 0
            self._next_check = time.monotonic() + SEAL_INTERVAL
            self.copy_out()
            return
        self._appended += records

    def wait(self) -> float:
        """Seconds until a digest may be due (how long an idle writer may sleep)."""
        if self._appended >= SEAL_RECORDS:
            return 0.0
        return max(0.0, self._next_check - time.monotonic())

    def seal_if_due(self) -> None:
        """Sign a digest if one is due; a failure is logged (and the next digest marks
        the pause), never raised into the writer."""
        if self._appended < SEAL_RECORDS and time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + SEAL_INTERVAL
        self._appended = 0  # a failure is retried on the interval, not at once
        now = time.time()
        try:
            if not self._broken:
                with self._store.transaction() as tx:
                    previous = digest_store.last_digest(tx)
                    head, _ = trail.read_head(tx)
                if not _due(now)(previous, head):
                    return
            self._seal("start" if self._broken else "seal", None if self._broken else _due(now))
        except Exception:
            self._broken = True
            log.exception("could not sign an audit digest (retrying every %.0f s)", SEAL_INTERVAL)
            return
        self._broken = False
        self.copy_out()

    def stop(self) -> None:
        """Sign the ``stop`` digest (a clean stop)."""
        try:
            self._seal("stop", None)
        except Exception:
            log.exception("could not sign the audit digest at stop")
            return
        self.copy_out()

    def copy_out(self) -> None:
        """Copy the digests the directory lacks into it; failures are logged."""
        directory = self._dir
        if directory is None:
            return
        try:
            with self._store.transaction() as tx:
                if self._copied is None:
                    newest = newest_number(directory)
                    if newest == 0:  # a new directory starts at the newest digest
                        last = digest_store.last_digest(tx)
                        newest = 0 if last is None else last.number - 1
                    self._copied = newest
                pending = digest_store.read_digests(tx, after=self._copied, limit=1000)
                keys = digest_store.signing_keys(tx) if pending else {}
            for digest in pending:
                try:
                    write_digest(directory, digest, keys[digest.key_fingerprint or ""])
                except DigestFileConflict as exc:
                    log.error("audit digest directory: %s", exc)
                self._copied = digest.number
        except (OSError, KeyError) as exc:
            log.error("could not copy audit digests to %s: %r", directory, exc)


def prepare_digest_dir(directory: str) -> None:
    """Make the digest directory (0700) and check it can be written; ``OSError`` else."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable by this user")


def prepare_signing_key(store: Store, keyring: Keyring) -> str:
    """The audit signing key's fingerprint, the key made first when the trail is empty
    and the database shows nothing was ever written. Raises
    :class:`SigningKeyMissingError` when the key is gone from a trail that was written
    (a new one would sign forged history: the server must not start)."""
    with store.transaction(write=True, changes_state=False) as tx:
        signer = _signer_or_first(tx, keyring)
        return digest_store.put_signing_key(tx, signer.public_key, time.time())


def _signer_or_first(tx: Tx, keyring: Keyring) -> AuditSigner:
    """The stored signer, or a new one when nothing was ever written (a first start)."""
    settings = shared_records.Settings(tx)
    try:
        return load_audit_signer(settings, keyring)
    except SigningKeyMissingError:
        if digest_store.has_audited_state(tx):
            raise
        return create_audit_signer(settings, keyring)


def seal_now(store: Store, keyring: Keyring) -> Digest | None:
    """Sign a ``manual`` digest now (``openkms audit seal``; on state no server has
    started yet, the signing key is made as a first start makes it)."""
    with store.transaction(write=True, changes_state=False) as tx:
        trail.lock_head(tx)
        signer = _signer_or_first(tx, keyring)
        return digest_store.seal_digest(tx, signer, time.time(), kind="manual")


@dataclass(frozen=True)
class Rotation:
    old_fingerprint: str | None
    new_fingerprint: str
    digest: Digest | None


class RotationRefused(Exception):
    """The rotation asked for does not fit the stored key (there is one, or there is none)."""


def rotate_signing_key(store: Store, keyring: Keyring, *, replace_lost: bool = False) -> Rotation:
    """Replace the audit signing key. Normally the old key signs a ``rotate`` digest that
    names the new key's fingerprint (verifiers follow the endorsement); with
    ``replace_lost`` (the old key is gone), the new key signs a ``rekey`` digest that
    continues the chain, and verifiers must trust its fingerprint explicitly."""
    with store.transaction(write=True, changes_state=False) as tx:
        trail.lock_head(tx)
        settings = shared_records.Settings(tx)
        now = time.time()
        try:
            old: AuditSigner | None = load_audit_signer(settings, keyring)
        except SigningKeyMissingError:
            old = None
        if old is None and not replace_lost:
            raise RotationRefused(
                "the database holds no audit signing key to rotate: restore it from a "
                "backup, or replace it with --replace-lost-key"
            )
        if old is not None and replace_lost:
            raise RotationRefused(
                "the audit signing key is there: rotate it without --replace-lost-key"
            )
        new = create_audit_signer(settings, keyring)
        fingerprint = digest_store.put_signing_key(tx, new.public_key, now)
        if old is not None:
            digest = digest_store.seal_digest(
                tx, old, now, kind="rotate", next_key_fingerprint=fingerprint
            )
            return Rotation(key_fingerprint(old.public_key), fingerprint, digest)
        digest = digest_store.seal_digest(tx, new, now, kind="rekey")
        return Rotation(None, fingerprint, digest)
