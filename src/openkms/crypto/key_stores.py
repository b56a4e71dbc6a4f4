"""Custom key store backends: the seam each store type plugs into.

A :class:`KeyStoreBackend` does what a custom key store type does for KMS (connect and
disconnect, make, use and destroy the backing key of a KMS key, draw random bytes); the
service (:mod:`openkms.service.kms.key_stores`) chooses it by the store's
CustomKeyStoreType and keeps state, authorization and errors above it. AWS_CLOUDHSM is
:class:`CloudHSMBackend` (PKCS#11 tokens, :mod:`openkms.crypto.hsm_keys`);
EXTERNAL_KEY_STORE (an XKS proxy) is meant to be one more implementation, its store's
settings in the columns reserved for it.

Backends keep their connections per process: a store CONNECTED in the database is
opened in a process on its first use there (with its password, unsealed then), so every
worker and node serves it without a connection step of its own. A failure is one of
the :class:`~openkms.crypto.hsm_keys.HSMKeysError` kinds, mapped to AWS errors by the
service; :meth:`KeyStoreBackend.check` raises the AWS errors of store creation itself.
An XKS proxy's failures are AWS errors already (the XKS backend maps them as AWS's table
for each KMS operation says).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from openkms.crypto import hsm_keys
from openkms.domain import ciphertext as fmt
from openkms.domain import xks
from openkms.domain.custom_key_stores import (
    ConnectionErrorCode,
    CustomKeyStore,
    HSMCluster,
    hsm_key_label,
)
from openkms.errors import (
    CloudHsmClusterInvalidConfigurationException,
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
)


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """A store as its backend needs it: the store, its cluster (AWS_CLOUDHSM; None when
    its registration is gone) and its password, unsealed only when a connection opens."""

    store: CustomKeyStore
    cluster: HSMCluster | None
    #: The token PIN (AWS_CLOUDHSM) or the proxy's SigV4 secret (EXTERNAL_KEY_STORE).
    password: Callable[[], bytes]
    #: The request, as an XKS proxy's ``requestMetadata`` names it (None: no request,
    #: maintenance).
    request: xks.RequestMetadata | None = None


@dataclass(frozen=True, slots=True)
class BackingKey:
    """A KMS key as a backend uses it: its key id (CloudHSM labels its backing keys with
    it), and for a key in an external key store its external key and its own material
    by version (the first layer of double encryption)."""

    key_id: str
    external_key_id: str | None = None
    material: Callable[[int], bytes] | None = None


class KeyStoreBackend(Protocol):
    def check(self, target: StoreTarget) -> None:
        """That the backing store can hold the store's keys, as CreateCustomKeyStore and
        UpdateCustomKeyStore check it; raises the AWS error they document."""

    def connect(self, target: StoreTarget) -> ConnectionErrorCode | None:
        """Open the store's connection in this process; the error code if it fails."""

    def disconnect(self, store_id: str) -> None:
        """Close this process's connection to the store, if any."""

    def new_key(self, target: StoreTarget, key: BackingKey, version: int) -> None:
        """Make the backing key of a KMS key version inside the store (an external key
        store checks the external key instead: it must exist and be usable)."""

    def encrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        version: int,
        plaintext: bytes,
        context: Mapping[str, str] | None,
    ) -> bytes:
        """A symmetric ciphertext blob of ``plaintext`` made inside the store."""

    def decrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        parsed: fmt.ParsedCiphertext,
        context: Mapping[str, str] | None,
    ) -> bytes:
        """Open a blob inside the store (the key version is the blob's)."""

    def destroy(self, target: StoreTarget, key_id: str, version: int) -> int:
        """Destroy a KMS key version's backing key; how many objects went."""

    def random(self, target: StoreTarget, count: int) -> bytes:
        """``count`` random bytes from the store's own generator."""


class CloudHSMBackend:
    """AWS_CLOUDHSM key stores over PKCS#11 tokens: one logged-in
    :class:`~openkms.crypto.hsm_keys.HSMKeyToken` per store and process, re-opened when
    the store's cluster or password changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Held while a session is opened: two logins to one token at once would see
        #: each other's (a first login finding one is refused, see hsm_keys).
        self._opening = threading.Lock()
        #: store id -> (what the session was opened with, the session)
        self._tokens: dict[str, tuple[tuple[object, ...], hsm_keys.HSMKeyToken]] = {}

    @staticmethod
    def _opened_with(target: StoreTarget) -> tuple[object, ...]:
        cluster = target.cluster
        where = (None, None) if cluster is None else (cluster.module, cluster.token)
        return (*where, target.store.sealed_password)

    def _open(self, target: StoreTarget) -> hsm_keys.HSMKeyToken:
        """The store's session, opened now if this process has none; raises
        :class:`~openkms.crypto.hsm_keys.TokenConnectError`."""
        opened_with = self._opened_with(target)
        with self._lock:
            found = self._tokens.get(target.store.store_id)
        if found is not None and found[0] == opened_with:
            return found[1]  # the common case, without the opening lock
        with self._opening:
            return self._open_now(target, opened_with)

    def _open_now(
        self, target: StoreTarget, opened_with: tuple[object, ...]
    ) -> hsm_keys.HSMKeyToken:
        with self._lock:
            found = self._tokens.get(target.store.store_id)
        if found is not None and found[0] == opened_with:
            return found[1]
        if found is not None:
            # Closed first: while one session of this process is logged in to the token,
            # a login answers "already logged in" whatever the PIN, so a changed (or
            # wrong) password would go unchecked.
            self.disconnect(target.store.store_id)
        cluster = target.cluster
        if cluster is None:
            raise hsm_keys.TokenConnectError(
                ConnectionErrorCode.CLUSTER_NOT_FOUND,
                f"no HSM cluster {target.store.cluster_id} is registered",
            )
        token = hsm_keys.HSMKeyToken(
            cluster.module, cluster.token, target.password().decode("utf-8")
        )
        with self._lock:
            previous = self._tokens.get(target.store.store_id)
            self._tokens[target.store.store_id] = (opened_with, token)
        if previous is not None:  # disconnected meanwhile and opened again
            previous[1].close()
        return token

    def _session(self, target: StoreTarget) -> hsm_keys.HSMKeyToken:
        try:
            return self._open(target)
        except hsm_keys.TokenConnectError as exc:
            raise hsm_keys.HSMKeysUnavailableError(str(exc)) from None

    def check(self, target: StoreTarget) -> None:
        """The cluster's token is there (else CloudHsmClusterNotActiveException) and offers
        AES key generation and AES-GCM (else CloudHsmClusterInvalidConfigurationException)."""
        cluster = target.cluster
        if cluster is None:
            raise CloudHsmClusterNotFoundException(
                f"CloudHSM cluster {target.store.cluster_id} was not found."
            )
        try:
            hsm_keys.check_token(cluster.module, cluster.token)
        except hsm_keys.TokenConnectError as exc:
            raise CloudHsmClusterNotActiveException(
                f"CloudHSM cluster {cluster.cluster_id} is not active: {exc}"
            ) from None
        except hsm_keys.TokenConfigurationError as exc:
            raise CloudHsmClusterInvalidConfigurationException(
                f"CloudHSM cluster {cluster.cluster_id} cannot hold KMS keys: {exc}"
            ) from None

    def connect(self, target: StoreTarget) -> ConnectionErrorCode | None:
        try:
            self._open(target)
        except hsm_keys.TokenConnectError as exc:
            hsm_keys.log.warning(
                "custom key store %s failed to connect: %s (%s)",
                target.store.store_id,
                exc,
                exc.code.value,
            )
            return exc.code
        return None

    def disconnect(self, store_id: str) -> None:
        with self._lock:
            found = self._tokens.pop(store_id, None)
        if found is not None:
            found[1].close()

    def new_key(self, target: StoreTarget, key: BackingKey, version: int) -> None:
        self._session(target).generate_key(hsm_key_label(key.key_id, version))

    def encrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        version: int,
        plaintext: bytes,
        context: Mapping[str, str] | None,
    ) -> bytes:
        label = hsm_key_label(key.key_id, version)
        return hsm_keys.seal(self._session(target), label, key.key_id, version, plaintext, context)

    def decrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        parsed: fmt.ParsedCiphertext,
        context: Mapping[str, str] | None,
    ) -> bytes:
        label = hsm_key_label(key.key_id, parsed.key_version)
        return hsm_keys.open_sealed(self._session(target), label, parsed, context)

    def destroy(self, target: StoreTarget, key_id: str, version: int) -> int:
        return self._session(target).destroy(hsm_key_label(key_id, version))

    def random(self, target: StoreTarget, count: int) -> bytes:
        return self._session(target).random(count)

    def close(self) -> None:
        with self._lock:
            tokens, self._tokens = self._tokens, {}
        for _, token in tokens.values():
            token.close()
