"""``openkms admin rewrap --to pkcs11|software``: move every stored secret to another root
of trust.

Every value sealed by the root keyring (:mod:`openkms.storage.sealed` lists the columns;
the audit signing key and the fingerprint key live in ``openkms_meta``) is unsealed by the
root that sealed it (its format marker says which: :func:`openkms.crypto.keyring.sealed_by`)
and sealed again by the target, page by page, **one transaction per page**. The check value
moves last, in the transaction that ends the rewrap.

Resumable: the first transaction records the target (``rewrap_to``) and the target's own
check value (``root_check_pending``); a server refuses to start while they are there. Run
again after an interruption, the rewrap verifies both roots against the check values,
skips what the target already sealed (a format check, no cryptography) and goes on; run
with the other ``--to``, it turns back. Values the keyring seals for callers, not for
storage (import tokens, CloudTrail page tokens), are not stored and so not re-sealed: one
issued before the rewrap is refused after it (GetParametersForImport again).

Stop every server first: a server still running would go on sealing new values with the
old root. The pass over the columns repeats until a pass finds nothing left to re-seal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openkms.crypto import contexts
from openkms.crypto.keyring import KeyringUnavailableError, Sealer, UnwrapError, sealed_by
from openkms.crypto.signing import PRIVATE_KEY_META
from openkms.server.bootstrap import _CHECK_NAME as CHECK_META
from openkms.server.bootstrap import _CHECK_PLAINTEXT as CHECK_PLAINTEXT
from openkms.server.root_of_trust import (
    FINGERPRINT_KEY_META,
    PENDING_CHECK_META,
    REWRAP_META,
)
from openkms.storage import sealed as sealed_columns
from openkms.storage import shared as shared_records
from openkms.storage.repository import Store

#: Rows per transaction.
BATCH = 200

#: Each sealed column's binding label, from the row's key values (and ``also`` values).
LABELS: Mapping[str, Callable[..., bytes]] = {
    sealed_columns.ACCESS_KEYS.name: contexts.access_key_secret,
    sealed_columns.SESSIONS.name: contexts.session_secret,
    sealed_columns.KEY_MATERIALS.name: contexts.key_material,
    sealed_columns.IMPORT_TOKENS.name: contexts.import_wrapping_key,
    sealed_columns.XKS_KEYS.name: contexts.xks_key_material,
    sealed_columns.XKS_CREDENTIALS.name: contexts.xks_credential_secret,
    sealed_columns.CUSTOM_KEY_STORE_PASSWORDS.name: contexts.custom_key_store_password,
    sealed_columns.XKS_PROXY_SECRETS.name: contexts.xks_proxy_secret,
}
#: Sealed values in ``openkms_meta`` besides the check value and the fingerprint key.
META_LABELS: Mapping[str, bytes] = {PRIVATE_KEY_META: contexts.AUDIT_SIGNING_KEY}


class RewrapError(Exception):
    """The rewrap cannot go on; the message says why in one line."""


class WrongRootError(RewrapError):
    """A root given does not open what it sealed in this database."""


@dataclass
class RewrapResult:
    resealed: int = 0
    already: int = 0
    batches: int = 0


class _Rewrapper:
    def __init__(self, store: Store, keyrings: Mapping[str, Sealer], target: str) -> None:
        self.store, self.keyrings, self.target = store, keyrings, target
        self.result = RewrapResult()

    def reseal(self, value: bytes, context: bytes, where: str) -> bytes | None:
        """``value`` sealed by the target, or None if it already is."""
        kind = sealed_by(value)
        if kind == self.target:
            self.result.already += 1
            return None
        source = self.keyrings.get(kind or "")
        if source is None:
            raise RewrapError(f"{where}: a sealed value of an unknown format")
        try:
            secret = source.unwrap(value, context)
        except UnwrapError:
            raise WrongRootError(
                f"{where}: the {kind} root does not open it (wrong root, or tampered)"
            ) from None
        self.result.resealed += 1
        return self.keyrings[self.target].wrap(secret, context)

    def meta(self, name: str, context: bytes) -> None:
        with self.store.transaction(write=True) as tx:
            value = shared_records.get_meta(tx, name)
            if value is not None:
                new = self.reseal(value, context, f"openkms_meta {name}")
                if new is not None:
                    shared_records.set_meta(tx, name, new)

    def column(self, column: sealed_columns.SealedColumn, batch: int) -> int:
        """One pass over ``column``; how many values it re-sealed."""
        label = LABELS[column.name]
        before = self.result.resealed
        after: tuple[Any, ...] | None = None
        while True:
            with self.store.transaction(write=True) as tx:
                page = column.page(tx, after, batch)
                for key, value in page:
                    new = self.reseal(value, label(*key), f"{column.name} {key}")
                    if new is not None:
                        column.store(tx, key, new)
            self.result.batches += 1
            if len(page) < batch:
                return self.result.resealed - before
            after = page[-1][0]


def rewrap(
    store: Store,
    keyrings: Mapping[str, Sealer],
    target: str,
    *,
    derived_fingerprint_key: bytes | None,
    batch: int = BATCH,
) -> RewrapResult:
    """Re-seal every stored secret under ``keyrings[target]``; ``keyrings`` holds a keyring
    for every kind of root that may have sealed a value (both, in practice).
    ``derived_fingerprint_key``: the software root's (for a database that never stored
    its fingerprint key). Raises :class:`RewrapError`, or
    :class:`~openkms.crypto.keyring.KeyringUnavailableError` on an HSM fault."""
    work = _Rewrapper(store, keyrings, target)
    _start(work, derived_fingerprint_key)
    for name, context in META_LABELS.items():
        work.meta(name, context)
    while sum(work.column(column, batch) for column in sealed_columns.SEALED_COLUMNS):
        pass  # again, until a pass finds nothing left (see the module docstring)
    with store.transaction(write=True) as tx:
        pending = shared_records.get_meta(tx, PENDING_CHECK_META)
        assert pending is not None and sealed_by(pending) == target
        shared_records.set_meta(tx, CHECK_META, pending)
        shared_records.delete_meta(tx, PENDING_CHECK_META)
        shared_records.delete_meta(tx, REWRAP_META)
    return work.result


def _start(work: _Rewrapper, derived_fingerprint_key: bytes | None) -> None:
    """Check both roots against what they sealed, then record the rewrap, the target's
    check value and the fingerprint key sealed by the target (one transaction)."""
    target, keyrings = work.target, work.keyrings
    with work.store.transaction(write=True) as tx:
        check = shared_records.get_meta(tx, CHECK_META)
        pending = shared_records.get_meta(tx, PENDING_CHECK_META)
        fingerprint = shared_records.get_meta(tx, FINGERPRINT_KEY_META)
        if check is None:
            raise RewrapError("the database holds no root key check: start openkms serve first")
        for what, value in (("its check value", check), ("the unfinished rewrap", pending)):
            if value is not None:
                _verify(keyrings, value, what)
        if fingerprint is None:
            if derived_fingerprint_key is None:
                raise RewrapError("the database holds no fingerprint key")
            fingerprint_key = derived_fingerprint_key
        else:
            fingerprint_key = _unseal(keyrings, fingerprint, contexts.FINGERPRINT_KEY)
        if sealed_by(fingerprint or b"") != target:
            shared_records.set_meta(
                tx,
                FINGERPRINT_KEY_META,
                keyrings[target].wrap(fingerprint_key, contexts.FINGERPRINT_KEY),
            )
        if pending is None or sealed_by(pending) != target:
            sealed = keyrings[target].wrap(CHECK_PLAINTEXT, contexts.ROOT_KEY_CHECK)
            shared_records.set_meta(tx, PENDING_CHECK_META, sealed)
        shared_records.set_meta(tx, REWRAP_META, target.encode())


def _unseal(keyrings: Mapping[str, Sealer], value: bytes, context: bytes) -> bytes:
    kind = sealed_by(value) or ""
    if kind not in keyrings:
        raise RewrapError("a sealed setting of an unknown format")
    try:
        return keyrings[kind].unwrap(value, context)
    except UnwrapError:
        raise WrongRootError(f"the {kind} root given does not open this database") from None


def _verify(keyrings: Mapping[str, Sealer], check: bytes, what: str) -> None:
    kind = sealed_by(check) or ""
    try:
        if _unseal(keyrings, check, contexts.ROOT_KEY_CHECK) != CHECK_PLAINTEXT:
            raise UnwrapError
    except (WrongRootError, UnwrapError):
        raise WrongRootError(
            f"the {kind} root given does not open this database ({what} is sealed by another key)"
        ) from None


__all__ = ["BATCH", "KeyringUnavailableError", "RewrapError", "RewrapResult", "rewrap"]
