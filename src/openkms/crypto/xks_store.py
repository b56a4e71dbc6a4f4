"""EXTERNAL_KEY_STORE custom key stores: the :class:`~openkms.crypto.key_stores.KeyStoreBackend`
that uses any XKS proxy (:mod:`openkms.crypto.xks_client`), as AWS KMS does.

* Creating or updating a store, and connecting it, ask the proxy's GetHealthStatus
  (``kmsOperation`` CreateCustomKeyStore, UpdateCustomKeyStore, ConnectCustomKeyStore).
  There is no session to open: once a store is CONNECTED, every process calls its proxy.
* CreateKey asks GetKeyMetadata of the external key: it must exist, be AES_256, ENABLED
  and allow ENCRYPT and DECRYPT. The KMS key also gets material of its own, made and
  sealed like any key's: double encryption (:mod:`openkms.domain.xks_ciphertext`).
* Deleting a KMS key leaves the external key alone (AWS cannot touch it either);
  GenerateRandom is not offered by external key stores (UnsupportedOperationException,
  as AWS answers).

How a failed proxy call surfaces follows the table of the specification's "KMS
considerations" (§Error codes): XksProxy*Exception for Create/UpdateCustomKeyStore,
XksKey*Exception or CustomKeyStoreInvalidStateException for CreateKey, and
KMSInvalidStateException for cryptographic operations, each with a message saying what
went wrong (the proxy's own errorMessage is logged, never returned); a failed connection
is a ConnectionErrorCode. :func:`_map` is the one boundary where this happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from openkms.crypto import symmetric
from openkms.crypto.key_stores import BackingKey, StoreTarget
from openkms.crypto.xks_client import Failure, ProxyAddress, XKSCallError, XKSClient
from openkms.domain import ciphertext as fmt
from openkms.domain import xks
from openkms.domain.custom_key_stores import ConnectionErrorCode
from openkms.domain.xks_ciphertext import envelope, parse_envelope
from openkms.errors import (
    AWSError,
    CustomKeyStoreInvalidStateException,
    KMSInternalException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    XksKeyInvalidConfigurationException,
    XksKeyNotFoundException,
    XksProxyIncorrectAuthenticationCredentialException,
    XksProxyInvalidConfigurationException,
    XksProxyInvalidResponseException,
    XksProxyUriUnreachableException,
)

log = logging.getLogger("openkms.xks_store")

#: What each failure means, in the words KMS callers get (the failure kind, or the
#: proxy's errorName).
_MESSAGES = {
    "ValidationException": "The external key store proxy could not understand the request.",
    "InvalidStateException": "The external key of this KMS key is not enabled in its "
    "external key manager.",
    "InvalidCiphertextException": "The external key store proxy rejected the ciphertext or "
    "its encryption context as corrupted, missing, or otherwise invalid.",
    "InvalidKeyUsageException": "The external key of this KMS key does not allow the "
    "requested operation.",
    "AuthenticationFailedException": "The external key store proxy could not authenticate "
    "OpenKMS: check the store's XksProxyAuthenticationCredential.",
    "AccessDeniedException": "The external key store proxy denied access to the operation.",
    "KeyNotFoundException": "The external key of this KMS key was not found in its "
    "external key manager.",
    "InvalidUriPathException": "The external key store proxy rejected the URI path: check "
    "the store's XksProxyUriPath.",
    "UnsupportedOperationException": "The external key store proxy does not support the "
    "requested operation.",
    "DependencyTimeoutException": "The external key store proxy did not answer in time.",
    "ThrottlingException": "The external key store proxy refused the request: the request "
    "rate is too high.",
    "InternalException": "The external key store proxy cannot communicate with its external "
    "key manager.",
    Failure.NOT_REACHABLE: "OpenKMS cannot reach the external key store proxy: check that it "
    "runs and that the store's XksProxyUriEndpoint is right.",
    Failure.TLS: "OpenKMS cannot establish a TLS connection to the external key store proxy: "
    "check its certificate.",
    Failure.TIMED_OUT: "The external key store proxy did not answer within 250 ms.",
    Failure.INVALID_RESPONSE: "OpenKMS cannot interpret the answer of the external key store "
    "proxy.",
}

#: Create/UpdateCustomKeyStore's exception for each failure (others: InvalidResponse).
_STORE_ERRORS: dict[str, type[AWSError]] = {
    "AuthenticationFailedException": XksProxyIncorrectAuthenticationCredentialException,
    # Health calls are exempt from secondary authorization: a 403 is the credential.
    "AccessDeniedException": XksProxyIncorrectAuthenticationCredentialException,
    "InvalidUriPathException": XksProxyInvalidConfigurationException,
    "DependencyTimeoutException": XksProxyUriUnreachableException,
    "ThrottlingException": XksProxyUriUnreachableException,
    Failure.NOT_REACHABLE: XksProxyUriUnreachableException,
    Failure.TLS: XksProxyUriUnreachableException,
    Failure.TIMED_OUT: XksProxyUriUnreachableException,
}

#: ConnectCustomKeyStore's ConnectionErrorCode for each failure (others:
#: XKS_PROXY_INVALID_RESPONSE).
_CONNECTION_ERRORS = {
    "AuthenticationFailedException": ConnectionErrorCode.INVALID_CREDENTIALS,
    "AccessDeniedException": ConnectionErrorCode.XKS_PROXY_ACCESS_DENIED,
    "InvalidUriPathException": ConnectionErrorCode.XKS_PROXY_INVALID_CONFIGURATION,
    "DependencyTimeoutException": ConnectionErrorCode.XKS_PROXY_TIMED_OUT,
    "ThrottlingException": ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
    Failure.NOT_REACHABLE: ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE,
    Failure.TLS: ConnectionErrorCode.XKS_PROXY_INVALID_TLS_CONFIGURATION,
    Failure.TIMED_OUT: ConnectionErrorCode.XKS_PROXY_TIMED_OUT,
}

#: CreateKey's exception for each failure (others: CustomKeyStoreInvalidStateException).
_CREATE_KEY_ERRORS: dict[str, type[AWSError]] = {
    "KeyNotFoundException": XksKeyNotFoundException,
    "InvalidStateException": XksKeyInvalidConfigurationException,
    "InvalidKeyUsageException": XksKeyInvalidConfigurationException,
    "AccessDeniedException": KMSInvalidStateException,
}


def _reason(exc: XKSCallError) -> str:
    return exc.error_name if exc.failure is Failure.PROXY_ERROR and exc.error_name else exc.failure


def _map(
    exc: XKSCallError, errors: Mapping[str, type[AWSError]], default: type[AWSError]
) -> AWSError:
    """The AWS error a failed proxy call answers in one family of operations."""
    reason = _reason(exc)
    log.warning("XKS proxy call failed: %s", exc)
    message = _MESSAGES.get(reason, _MESSAGES[Failure.INVALID_RESPONSE])
    return errors.get(reason, default)(message)


class XKSBackend:
    """EXTERNAL_KEY_STORE stores: calls to each store's proxy, nothing kept per store."""

    def __init__(self, client: XKSClient | None = None) -> None:
        self.client = client if client is not None else XKSClient()

    @staticmethod
    def address(target: StoreTarget) -> ProxyAddress:
        store = target.store
        if store.xks_endpoint is None or store.xks_path is None or store.xks_access_key_id is None:
            raise KMSInternalException("an external key store without its proxy settings")
        return ProxyAddress(
            store.xks_endpoint,
            store.xks_path,
            store.xks_access_key_id,
            target.password().decode("ascii"),
            store.region,
        )

    @staticmethod
    def _metadata(target: StoreTarget, operation: str) -> xks.RequestMetadata:
        if target.request is not None:
            return target.request
        return xks.RequestMetadata(kms_operation=operation, kms_request_id="")

    def _health(self, target: StoreTarget, operation: str) -> None:
        """GetHealthStatus; raises XKSCallError (NOT_REACHABLE when every external key
        manager is UNAVAILABLE: AWS answers XksProxyUriUnreachableException then)."""
        statuses = self.client.health(self.address(target), self._metadata(target, operation))
        if all(status == "UNAVAILABLE" for status in statuses):
            raise XKSCallError(
                Failure.NOT_REACHABLE, "every external key manager of the proxy is UNAVAILABLE"
            )

    def check(self, target: StoreTarget) -> None:
        try:
            self._health(target, "CreateCustomKeyStore")
        except XKSCallError as exc:
            raise _map(exc, _STORE_ERRORS, XksProxyInvalidResponseException) from None

    def connect(self, target: StoreTarget) -> ConnectionErrorCode | None:
        try:
            self._health(target, "ConnectCustomKeyStore")
        except XKSCallError as exc:
            log.warning("custom key store %s failed to connect: %s", target.store.store_id, exc)
            return _CONNECTION_ERRORS.get(
                _reason(exc), ConnectionErrorCode.XKS_PROXY_INVALID_RESPONSE
            )
        return None

    def disconnect(self, store_id: str) -> None:
        """Nothing to close: a disconnected store's proxy is simply not called."""

    def new_key(self, target: StoreTarget, key: BackingKey, version: int) -> None:
        external = _external(key)
        try:
            found = self.client.key_metadata(
                self.address(target), external, self._metadata(target, "CreateKey")
            )
        except XKSCallError as exc:
            raise _map(exc, _CREATE_KEY_ERRORS, CustomKeyStoreInvalidStateException) from None
        problems = []
        if found.key_spec != "AES_256":
            problems.append(f"its key spec is {found.key_spec}, not AES_256")
        if not {"ENCRYPT", "DECRYPT"} <= found.key_usage:
            problems.append("it does not allow both ENCRYPT and DECRYPT")
        if found.key_status != "ENABLED":
            problems.append(f"its status is {found.key_status}, not ENABLED")
        if problems:
            raise XksKeyInvalidConfigurationException(
                f"The external key {external} cannot back a KMS key: {'; '.join(problems)}."
            )

    def encrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        version: int,
        plaintext: bytes,
        context: Mapping[str, str] | None,
    ) -> bytes:
        """KMS-side material first (the usual blob), then the external key over its
        sealed part, with the blob's header as the proxy's AAD."""
        inner = symmetric.encrypt(_material(key)(version), key.key_id, version, plaintext, context)
        header, sealed = inner[: fmt.HEADER_LEN], inner[fmt.HEADER_LEN :]
        try:
            outer = self.client.encrypt(
                self.address(target),
                _external(key),
                self._metadata(target, "Encrypt"),
                sealed,
                header,
            )
        except XKSCallError as exc:
            raise _map(exc, {}, KMSInvalidStateException) from None
        return header + envelope(outer)

    def decrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        parsed: fmt.ParsedCiphertext,
        context: Mapping[str, str] | None,
    ) -> bytes:
        """The external key's layer first (through the proxy), then the KMS-side
        material's."""
        outer = parse_envelope(parsed.sealed)
        material = _material(key)(parsed.key_version)
        try:
            sealed = self.client.decrypt(
                self.address(target),
                _external(key),
                self._metadata(target, "Decrypt"),
                outer,
                parsed.header,
            )
        except XKSCallError as exc:
            raise _map(exc, {}, KMSInvalidStateException) from None
        return symmetric.decrypt(material, parsed._replace(sealed=sealed), context)

    def destroy(self, target: StoreTarget, key_id: str, version: int) -> int:
        """Nothing in the proxy: the external key stays (the KMS key's own material goes
        with its record)."""
        return 0

    def random(self, target: StoreTarget, count: int) -> bytes:
        raise UnsupportedOperationException(
            f"Custom key store {target.store.store_id} is an external key store: "
            "GenerateRandom supports only AWS CloudHSM key stores."
        )

    def close(self) -> None:
        self.client.close()


def _external(key: BackingKey) -> str:
    if key.external_key_id is None:
        raise KMSInternalException("a key in an external key store without its XksKeyId")
    return key.external_key_id


def _material(key: BackingKey) -> Callable[[int], bytes]:
    if key.material is None:
        raise KMSInternalException("a key in an external key store without its own material")
    return key.material
