"""Custom key stores as the handlers use them: finding a caller's store, choosing its
backend by type (:class:`KeyStores`, the seam of :mod:`openkms.crypto.key_stores`), and
running a KMS key's cryptography inside its store with AWS's errors.

A key in a custom key store is usable only while its store is CONNECTED: otherwise its
key state reads ``Unavailable`` (:func:`openkms.domain.custom_key_stores.effective_state`)
and cryptographic operations answer KMSInvalidStateException, as AWS's do. A store that
is CONNECTED but whose HSM fails answers KMSInternalException (and a log line); the next
request tries again; an XKS proxy's failures answer the AWS errors AWS documents for them
(:mod:`openkms.crypto.xks_store`). HSM and proxy calls never run on the event loop
(:class:`Offload`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from openkms.crypto import contexts, hsm_keys
from openkms.crypto.key_stores import BackingKey, CloudHSMBackend, KeyStoreBackend, StoreTarget
from openkms.crypto.keyring import Keyring, KeyringUnavailableError, UnwrapError
from openkms.crypto.xks_store import XKSBackend
from openkms.domain import ciphertext as fmt
from openkms.domain.custom_key_stores import (
    ConnectionErrorCode,
    CustomKeyStore,
    CustomKeyStoreType,
    effective_state,
    hsm_key_label,
    require_connected,
)
from openkms.domain.keys import Key, KeySpec, KeyState, Origin, require_usable
from openkms.domain.xks import RequestMetadata
from openkms.errors import (
    CustomKeyStoreNotFoundException,
    InvalidCiphertextException,
    KMSInternalException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
    XksKeyAlreadyInUseException,
)
from openkms.service.context import RequestContext
from openkms.storage.key_stores import repository as store_records
from openkms.storage.repository import Offload, Tx

log = logging.getLogger("openkms.hsm")


@dataclass(frozen=True, slots=True)
class KeyRequest:
    """A request's use of a key in a custom key store, as an XKS proxy needs it: its
    ``requestMetadata``, and the key's own material by version (double encryption)."""

    metadata: RequestMetadata
    material: Callable[[int], bytes] | None = None


class KeyStores:
    """The backends of the custom key store types this server serves, with their
    per-process connections."""

    def __init__(
        self,
        keyring: Keyring,
        on_event_loop: Callable[[], bool] = lambda: False,
        backends: Mapping[CustomKeyStoreType, KeyStoreBackend] | None = None,
    ) -> None:
        self.keyring = keyring
        #: Whether this thread answers on the event loop, where no HSM call may run.
        self.on_event_loop = on_event_loop
        self.backends: Mapping[CustomKeyStoreType, KeyStoreBackend] = (
            backends
            if backends is not None
            else {
                CustomKeyStoreType.AWS_CLOUDHSM: CloudHSMBackend(),
                CustomKeyStoreType.EXTERNAL_KEY_STORE: XKSBackend(),
            }
        )

    def backend(self, store_type: CustomKeyStoreType) -> KeyStoreBackend:
        found = self.backends.get(store_type)
        if found is None:
            raise UnsupportedOperationException(
                f"{store_type.value} custom key stores are not supported by this OpenKMS "
                "server yet."
            )
        return found

    def target(
        self, tx: Tx, store: CustomKeyStore, request: RequestMetadata | None = None
    ) -> StoreTarget:
        cluster = (
            None if store.cluster_id is None else store_records.get_cluster(tx, store.cluster_id)
        )
        return StoreTarget(store, cluster, self._password(store), request)

    def _password(self, store: CustomKeyStore) -> Callable[[], bytes]:
        """The store's secret, unsealed when used: the token PIN of an AWS_CLOUDHSM store,
        the proxy's SigV4 secret of an EXTERNAL_KEY_STORE."""
        external = store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE
        sealed = store.sealed_xks_secret if external else store.sealed_password
        context = (contexts.xks_proxy_secret if external else contexts.custom_key_store_password)(
            store.store_id
        )

        def unseal() -> bytes:
            if sealed is None:
                raise hsm_keys.HSMKeysUnavailableError("the key store has no password")
            try:
                return self.keyring.unwrap(sealed, context)
            except UnwrapError:
                raise KMSInternalException("a key store password failed to unwrap") from None

        return unseal

    def seal(
        self,
        tx: Tx,
        key: Key,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        request: KeyRequest | None = None,
    ) -> bytes:
        store, backend = self._usable(tx, key)
        with _mapped():
            return backend.encrypt(
                self.target(tx, store, None if request is None else request.metadata),
                _backing(key, request),
                key.current_version,
                plaintext,
                context,
            )

    def open(
        self,
        tx: Tx,
        key: Key,
        parsed: fmt.ParsedCiphertext,
        context: Mapping[str, str] | None,
        request: KeyRequest | None = None,
    ) -> bytes:
        store, backend = self._usable(tx, key)
        if not 1 <= parsed.key_version <= key.current_version:
            raise InvalidCiphertextException()
        with _mapped():
            return backend.decrypt(
                self.target(tx, store, None if request is None else request.metadata),
                _backing(key, request),
                parsed,
                context,
            )

    def random(self, tx: Tx, store: CustomKeyStore, count: int) -> bytes:
        self._off_the_event_loop()
        with _mapped():
            return self.backend(store.store_type).random(self.target(tx, store), count)

    def new_key(
        self, tx: Tx, store: CustomKeyStore, key: Key, version: int, request: RequestMetadata
    ) -> Callable[[], None]:
        """Make a KMS key version's backing key in the store (an external key store
        checks the key's external key instead); returns what destroys it again if the
        request's transaction then rolls back (a resource quota, the audit record or the
        commit failing), so that no orphan is left in the HSM."""
        self._off_the_event_loop()
        target = self.target(tx, store, request)
        backend = self.backend(store.store_type)
        key_id = key.public_id
        with _mapped():
            backend.new_key(target, BackingKey(key_id, key.xks_key_id), version)

        def undo() -> None:
            try:
                backend.destroy(target, key_id, version)
            except (hsm_keys.HSMKeysError, KeyringUnavailableError, KMSInternalException) as exc:
                log.warning(
                    "the backing key %s of a key whose creation failed stays in its HSM: %s",
                    hsm_key_label(key_id, version),
                    exc,
                )

        return undo

    def connect(
        self, tx: Tx, store: CustomKeyStore, request: RequestMetadata | None = None
    ) -> ConnectionErrorCode | None:
        """Open the store's connection in this process (a PKCS#11 login, an XKS proxy's
        health call): the error code if it fails."""
        self._off_the_event_loop()
        return self.backend(store.store_type).connect(self.target(tx, store, request))

    def check(self, tx: Tx, store: CustomKeyStore, request: RequestMetadata | None = None) -> None:
        """What CreateCustomKeyStore and UpdateCustomKeyStore check of the store's backing
        store (its backend raises the AWS error)."""
        self._off_the_event_loop()
        self.backend(store.store_type).check(self.target(tx, store, request))

    def destroy_later(self, tx: Tx, key: Key) -> Callable[[], None]:
        """What destroys a deleted key's backing keys in its store, to run once the
        deletion has committed: AWS's "best effort" (a store not connected, or a failing
        HSM, leaves them in the token, and a log line names them)."""
        store = store_of(tx, key)
        if store is None or store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
            return lambda: None  # an external key is left alone; the material goes with the key
        target = self.target(tx, store)
        backend = self.backend(store.store_type)

        def destroy() -> None:
            labels = [hsm_key_label(key.public_id, v) for v in range(1, key.current_version + 1)]
            if not store.connected:
                log.warning(
                    "custom key store %s is %s: the backing keys %s of deleted key %s stay "
                    "in its HSM",
                    store.store_id,
                    store.connection_state.value,
                    labels,
                    key.arn,
                )
                return
            for version in range(1, key.current_version + 1):
                try:
                    backend.destroy(target, key.public_id, version)
                except (
                    hsm_keys.HSMKeysError,
                    KeyringUnavailableError,
                    KMSInternalException,
                ) as exc:
                    log.warning(
                        "the backing key %s of deleted key %s stays in its HSM: %s",
                        hsm_key_label(key.public_id, version),
                        key.arn,
                        exc,
                    )

        return destroy

    def _off_the_event_loop(self) -> None:
        if self.on_event_loop():
            raise Offload()  # the request starts over on a request thread

    def _usable(self, tx: Tx, key: Key) -> tuple[CustomKeyStore, KeyStoreBackend]:
        """The key's store, connected (else the key is Unavailable), and its backend."""
        store = store_of(tx, key)
        if store is None or not store.connected:
            if store is not None:  # disconnected elsewhere: this process lets go too
                self.backend(store.store_type).disconnect(store.store_id)
            raise KMSInvalidStateException(f"{key.arn} is unavailable.")
        self._off_the_event_loop()
        return store, self.backend(store.store_type)


def _backing(key: Key, request: KeyRequest | None) -> BackingKey:
    return BackingKey(key.public_id, key.xks_key_id, None if request is None else request.material)


class _mapped:
    """Maps a key store backend's failures to AWS errors (the one boundary for them)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, hsm_keys.HSMDataError):
            raise InvalidCiphertextException() from None
        if isinstance(exc, hsm_keys.HSMKeyNotFoundError):
            raise KMSInternalException("the key's backing key is missing from its HSM") from None
        if isinstance(exc, hsm_keys.HSMKeysError | KeyringUnavailableError):
            raise KMSInternalException(str(exc)) from None


def require_usable_in_store(tx: Tx, key: Key) -> None:
    """:func:`~openkms.domain.keys.require_usable` on the state callers see: a Disabled
    key whose custom key store is not connected reads ``Unavailable`` (AWS: "The key
    state of KMS keys in a disconnected custom key store is Unavailable or
    PendingDeletion"), so a cryptographic call answers KMSInvalidStateException, not
    DisabledException. Keys outside a store (nearly all) read no store."""
    if key.custom_key_store_id is not None and key.state is KeyState.DISABLED:
        if effective_state(key, store_of(tx, key)) is KeyState.UNAVAILABLE:
            raise KMSInvalidStateException(f"{key.arn} is unavailable.")
    require_usable(key)


def store_of(tx: Tx, key: Key) -> CustomKeyStore | None:
    """The custom key store of a key (None: not in one)."""
    if key.custom_key_store_id is None:
        return None
    return store_records.get_store(tx, key.custom_key_store_id)


def find_store(
    tx: Tx, ctx: RequestContext, store_id: str, *, for_update: bool = False
) -> CustomKeyStore:
    """The caller's store (its account and Region) with this id."""
    store = store_records.get_store(tx, store_id, for_update=for_update)
    if store is None or store.account != ctx.account or store.region != ctx.region:
        raise CustomKeyStoreNotFoundException(
            f"Custom key store {store_id} does not exist in this account and Region."
        )
    return store


#: The custom key store type of each Origin that puts a key in one.
_STORE_OF_ORIGIN = {
    Origin.AWS_CLOUDHSM: CustomKeyStoreType.AWS_CLOUDHSM,
    Origin.EXTERNAL_KEY_STORE: CustomKeyStoreType.EXTERNAL_KEY_STORE,
}


def store_for_new_key(
    tx: Tx,
    ctx: RequestContext,
    origin: Origin,
    store_id: str | None,
    spec: KeySpec,
    multi: bool,
    xks_key_id: str | None = None,
) -> CustomKeyStore | None:
    """CreateKey's custom key store (None: the key is not in one), checked as AWS checks
    it: Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE goes with CustomKeyStoreId (and the
    latter with XksKeyId), a symmetric encryption key, a single-Region key, and a
    CONNECTED store of that type; an external key backs one KMS key of its store.
    https://docs.aws.amazon.com/kms/latest/developerguide/create-cmk-keystore.html
    https://docs.aws.amazon.com/kms/latest/developerguide/create-xks-keys.html"""
    kind = _STORE_OF_ORIGIN.get(origin)
    if xks_key_id is not None and origin is not Origin.EXTERNAL_KEY_STORE:
        raise ValidationException("XksKeyId is valid only with Origin EXTERNAL_KEY_STORE.")
    if kind is None:
        if store_id is not None:
            raise ValidationException(
                "CustomKeyStoreId is valid only with Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE."
            )
        return None
    if store_id is None:
        raise ValidationException(f"CustomKeyStoreId is required when Origin is {origin.value}.")
    if kind is CustomKeyStoreType.EXTERNAL_KEY_STORE and xks_key_id is None:
        raise ValidationException("XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
    if spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException(
            f"KeySpec {spec.value} is not supported in a custom key store: only "
            "SYMMETRIC_DEFAULT keys can be created in one."
        )
    if multi:
        raise UnsupportedOperationException(
            "Multi-Region keys cannot be created in a custom key store."
        )
    store = find_store(tx, ctx, store_id)
    if store.store_type is not kind:
        other = next(o for o, k in _STORE_OF_ORIGIN.items() if k is store.store_type)
        raise ValidationException(
            f"Custom key store {store_id} is an {store.store_type.value} key store: "
            f"its keys have Origin {other.value}."
        )
    require_connected(store, "CreateKey")
    if xks_key_id is not None:
        user = store_records.key_of_xks_key(tx, store.store_id, xks_key_id)
        if user is not None:
            raise XksKeyAlreadyInUseException(
                f"The external key {xks_key_id} is already associated with KMS key "
                f"{user.split('@', 1)[0]} in custom key store {store.store_id}: each KMS key "
                "in an external key store must use a different external key."
            )
    return store
