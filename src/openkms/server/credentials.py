"""Access keys: stored wrapped under the root keyring, looked up per request, cached.

The SigV4 verifier asks for a secret by access key id; the app then asks who the
key belongs to. Both answers are cached in memory (the secret only in process memory).
"""

from __future__ import annotations

import secrets
import string

from openkms.crypto.keyring import Keyring, UnwrapError
from openkms.domain.principals import Principal
from openkms.storage.repository import StorageError, Store

_AKID_ALPHABET = string.ascii_uppercase + "234567"


def secret_context(access_key_id: str) -> bytes:
    return b"access-key-secret:" + access_key_id.encode()


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


class CredentialStore:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self._store = store
        self._keyring = keyring
        self._cache: dict[str, tuple[str, Principal]] = {}

    def _load(self, access_key_id: str) -> tuple[str, Principal] | None:
        found = self._cache.get(access_key_id)
        if found is not None:
            return found
        with self._store.transaction() as tx:
            row = tx.get_access_key(access_key_id)
        if row is None or row.status != "Active":
            return None
        try:
            secret = self._keyring.unwrap(row.wrapped_secret, secret_context(access_key_id))
        except UnwrapError:
            return None
        entry = (secret.decode(), Principal(row.account_id, row.principal_arn, access_key_id))
        self._cache[access_key_id] = entry
        return entry

    def secret(self, access_key_id: str) -> str | None:
        entry = self._load(access_key_id)
        return None if entry is None else entry[0]

    def principal(self, access_key_id: str) -> Principal | None:
        entry = self._load(access_key_id)
        return None if entry is None else entry[1]

    def put_root(self, account: str, access_key_id: str, secret: str, now: float) -> None:
        """Store an account's root access key; a no-op when it is stored already."""
        arn = f"arn:aws:iam::{account}:root"
        known = self._load(access_key_id)
        if known is not None and known[0] == secret and known[1].arn == arn:
            return
        wrapped = self._keyring.wrap(secret.encode(), secret_context(access_key_id))
        for attempt in range(3):
            try:
                with self._store.transaction(write=True) as tx:
                    tx.put_access_key(access_key_id, account, arn, wrapped, now)
                break
            except StorageError:
                # Another node stored the same key at the same moment: try again.
                if attempt == 2:
                    raise
        self._cache.pop(access_key_id, None)

    def revoke_other_roots(self, account: str, keep: str) -> list[str]:
        """Delete every root access key of ``account`` but ``keep``; return the ones deleted."""
        with self._store.transaction(write=True) as tx:
            revoked = [a for a in tx.root_access_key_ids(account) if a != keep]
            for access_key_id in revoked:
                tx.delete_access_key(access_key_id)
        for access_key_id in revoked:
            self._cache.pop(access_key_id, None)
        return revoked

    def root_access_key_ids(self, account: str) -> list[str]:
        with self._store.transaction() as tx:
            return tx.root_access_key_ids(account)
