"""OpenKMS as an XKS proxy: the four operations of the External Key Store Proxy API
(https://github.com/aws/aws-kms-xksproxy-api-spec, v1.0.x), on keys sealed under the
OpenKMS root of trust.

Every key operation checks, in this order: the key exists (KeyNotFoundException),
secondary authorization (AccessDeniedException: the key's allow-lists of
``awsPrincipalArn`` and ``kmsOperation``), the key's status (InvalidStateException when
DISABLED) and its usage (InvalidKeyUsageException), then does the cryptography.
Encrypt with a Ciphertext Data Integrity Value computes it first and then decrypts what
it made before answering (Appendix C's order); a key that may not decrypt cannot give
that assurance and is refused with InvalidKeyUsageException, as AWS's test client
expects. GetHealthStatus is deep (§GetHealthStatus): it reads the database and unseals
the root of trust's check value (``probe``), and runs an AES-GCM round trip on a test
key of its own, never a customer's key; a healthy answer is reused for
:data:`HEALTH_CACHE_SECONDS` (the specification allows up to a minute).

Keys are read through the read cache (a running proxy sees an admin command's change
within the cross-process bound) and their unsealed ciphers kept per sealed value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring, KeyringUnavailableError, UnwrapError
from openkms.crypto.xks import ExternalKeyCipher, new_key_material
from openkms.domain import xks
from openkms.domain.xks import RequestMetadata, XksKey, XksKeyStatus, XksKeyUsage
from openkms.errors.xks import (
    XKSDependencyTimeoutException,
    XKSInternalException,
    XKSInvalidCiphertextException,
    XKSInvalidKeyUsageException,
    XKSInvalidStateException,
    XKSKeyNotFoundException,
)
from openkms.storage.repository import DatabaseUnavailable, StorageError, Store
from openkms.storage.xks import repository as xks_records

HEALTH_CACHE_SECONDS = 10.0
#: Unsealed ciphers kept (one per key and sealed value).
MAX_CIPHERS = 10_000
_USAGE_ORDER = (XksKeyUsage.ENCRYPT, XksKeyUsage.DECRYPT)


class XKSProxyService:
    """The proxy's operations; safe to share between threads."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        probe: Callable[[], None],
        ekm_id: str,
        ekm_model: str,
        proxy_model: str,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._probe = probe
        self._ciphers: dict[tuple[str, bytes], ExternalKeyCipher] = {}
        self._health_test = ExternalKeyCipher(new_key_material())
        self._healthy_until = 0.0
        self._health_lock = threading.Lock()
        self._ekm = {"id": ekm_id, "model": ekm_model}
        self._proxy_model = proxy_model

    # GetKeyMetadata -------------------------------------------------------
    def key_metadata(self, key_id: str, metadata: RequestMetadata) -> dict[str, Any]:
        key = self._key(key_id)
        key.authorize(metadata)
        return {
            "keySpec": xks.KEY_SPEC,
            "keyUsage": [usage.value for usage in _USAGE_ORDER if usage in key.usage],
            "keyStatus": key.status.value,
        }

    # Encrypt --------------------------------------------------------------
    def encrypt(
        self,
        key_id: str,
        metadata: RequestMetadata,
        plaintext: bytes,
        aad: bytes | None,
        *,
        integrity: bool,
    ) -> tuple[bytes, bytes, bytes, bytes, bytes | None]:
        """``(ciphertext, ciphertextMetadata, iv, tag, CDIV or None)``."""
        key = self._usable(key_id, metadata, XksKeyUsage.ENCRYPT)
        if integrity and XksKeyUsage.DECRYPT not in key.usage:
            raise XKSInvalidKeyUsageException(
                f"External key {key_id} may not decrypt, so the ciphertext data integrity "
                "value cannot be verified."
            )
        cipher = self._cipher(key)
        ctm = xks.ciphertext_metadata(key.version)
        framed = xks.framed_aad(aad, ctm)
        iv, ciphertext, tag = cipher.encrypt(plaintext, framed)
        cdiv = None
        if integrity:
            cdiv = xks.integrity_value(aad, ctm, iv, ciphertext, tag)
            try:
                opened = cipher.decrypt(iv, ciphertext, tag, framed)
            except XKSInvalidCiphertextException:
                opened = None
            if opened != plaintext:
                raise XKSInternalException("The encryption could not be verified; try again.")
        return ciphertext, ctm, iv, tag, cdiv

    # Decrypt --------------------------------------------------------------
    def decrypt(
        self,
        key_id: str,
        metadata: RequestMetadata,
        *,
        ciphertext: bytes,
        ciphertext_metadata: bytes | None,
        aad: bytes | None,
        iv: bytes,
        tag: bytes,
    ) -> bytes:
        key = self._usable(key_id, metadata, XksKeyUsage.DECRYPT)
        if xks.parse_ciphertext_metadata(ciphertext_metadata) != key.version:
            raise XKSInvalidCiphertextException(
                "The ciphertext was not made with this external key's material."
            )
        assert ciphertext_metadata is not None
        framed = xks.framed_aad(aad, ciphertext_metadata)
        return self._cipher(key).decrypt(iv, ciphertext, tag, framed)

    # GetHealthStatus ------------------------------------------------------
    def health(self) -> dict[str, Any]:
        status = "ACTIVE" if self._healthy() else "UNAVAILABLE"
        return {
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "OpenKMS",
            "xksProxyModel": self._proxy_model,
            "ekmVendor": "OpenKMS",
            "ekmFleetDetails": [{**self._ekm, "healthStatus": status}],
        }

    def _healthy(self) -> bool:
        if time.monotonic() < self._healthy_until:
            return True
        with self._health_lock:
            try:
                self._probe()
                sample = b"openkms xks health check"
                aad = xks.framed_aad(b"health", xks.ciphertext_metadata(1))
                iv, ciphertext, tag = self._health_test.encrypt(sample, aad)
                if self._health_test.decrypt(iv, ciphertext, tag, aad) != sample:
                    return False
            except (StorageError, UnwrapError, KeyringUnavailableError):
                return False
            self._healthy_until = time.monotonic() + HEALTH_CACHE_SECONDS
            return True

    # keys -----------------------------------------------------------------
    def _key(self, key_id: str) -> XksKey:
        try:
            with self._store.transaction() as tx:
                key = xks_records.get_key(tx, key_id)
        except DatabaseUnavailable as exc:
            raise XKSDependencyTimeoutException(f"The key store is not reachable: {exc}") from None
        except StorageError:
            raise XKSInternalException("The key store failed to answer.") from None
        if key is None:
            raise XKSKeyNotFoundException(f"External key {key_id} does not exist.")
        return key

    def _usable(self, key_id: str, metadata: RequestMetadata, usage: XksKeyUsage) -> XksKey:
        key = self._key(key_id)
        key.authorize(metadata)
        if key.status is not XksKeyStatus.ENABLED:
            raise XKSInvalidStateException(f"External key {key_id} is disabled.")
        if usage not in key.usage:
            raise XKSInvalidKeyUsageException(
                f"External key {key_id} does not support {usage.value}."
            )
        return key

    def _cipher(self, key: XksKey) -> ExternalKeyCipher:
        slot = (key.key_id, key.wrapped_material)
        cipher = self._ciphers.get(slot)
        if cipher is None:
            try:
                material = self._keyring.unwrap(
                    key.wrapped_material, contexts.xks_key_material(key.key_id)
                )
            except UnwrapError:
                raise XKSInternalException(
                    f"The material of external key {key.key_id} does not unseal."
                ) from None
            except KeyringUnavailableError:
                raise XKSInternalException("The root of trust is not available.") from None
            cipher = ExternalKeyCipher(material)
            if len(self._ciphers) >= MAX_CIPHERS:
                self._ciphers.clear()
            self._ciphers[slot] = cipher
        return cipher


def new_key(
    keyring: Keyring,
    key_id: str,
    *,
    usage: frozenset[XksKeyUsage],
    allowed_principals: tuple[str, ...] = (),
    allowed_operations: tuple[str, ...] = (),
    description: str = "",
    now: float,
) -> XksKey:
    """A new external key, its AES-256 material sealed under the root of trust."""
    material = new_key_material()
    return XksKey(
        key_id=key_id,
        status=XksKeyStatus.ENABLED,
        usage=usage,
        version=1,
        wrapped_material=keyring.wrap(material, contexts.xks_key_material(key_id)),
        created_at=now,
        allowed_principals=allowed_principals,
        allowed_operations=allowed_operations,
        description=description,
    )
