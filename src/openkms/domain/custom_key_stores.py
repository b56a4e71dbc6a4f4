"""Custom key stores: the store, its connection state machine, and the HSM "clusters"
an operator registers for AWS_CLOUDHSM stores.

AWS's CloudHSM key store is backed by a CloudHSM cluster; OpenKMS maps a cluster to a
PKCS#11 token the operator registers (``openkms admin hsm-cluster add``): its module, its
token label and, optionally, the trust anchor certificate a CreateCustomKeyStore request
must present. The store keeps the token's user PIN (``KeyStorePassword``) sealed under
the root of trust.

Connection states follow "Connecting and disconnecting a custom key store" and the
CustomKeyStoreInvalidStateException conditions of the API reference
(https://docs.aws.amazon.com/kms/latest/APIReference/API_ConnectCustomKeyStore.html):

* ConnectCustomKeyStore is refused while DISCONNECTING or FAILED (disconnect a FAILED
  store first), and succeeds at once on a store already CONNECTED or CONNECTING;
* DisconnectCustomKeyStore is refused while DISCONNECTED or DISCONNECTING;
* UpdateCustomKeyStore needs DISCONNECTED, except to change only the name;
  DeleteCustomKeyStore needs DISCONNECTED and no KMS keys left in the store;
* CreateKey and GenerateRandom need CONNECTED; the keys of a store that is not
  CONNECTED show the key state ``Unavailable`` and refuse cryptographic operations.

OpenKMS connects within the ConnectCustomKeyStore request (a PKCS#11 login takes
milliseconds), so the answer already finds the store CONNECTED or FAILED; pollers written
for AWS's asynchronous connection see the final state on their first look.

The store types are a seam (:mod:`openkms.service.kms.key_stores`): AWS_CLOUDHSM over
PKCS#11 tokens, EXTERNAL_KEY_STORE over any XKS proxy (its endpoint, path and SigV4
credential here, the secret sealed under the root of trust; the proxy's health call
decides the connection, :mod:`openkms.crypto.xks_store`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from enum import StrEnum

from openkms.domain.keys import Key, KeyState
from openkms.errors import CustomKeyStoreInvalidStateException

#: AWS's CloudHSM cluster id (CloudHsmClusterIdType in botocore's model).
CLUSTER_ID_PATTERN = re.compile(r"cluster-[2-7a-zA-Z]{11,16}")


class CustomKeyStoreType(StrEnum):
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class ConnectionState(StrEnum):
    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    FAILED = "FAILED"
    DISCONNECTED = "DISCONNECTED"
    DISCONNECTING = "DISCONNECTING"


class XksProxyConnectivity(StrEnum):
    PUBLIC_ENDPOINT = "PUBLIC_ENDPOINT"
    VPC_ENDPOINT_SERVICE = "VPC_ENDPOINT_SERVICE"


class ConnectionErrorCode(StrEnum):
    """Why a connection FAILED. How a PKCS#11 failure maps to each is in
    :mod:`openkms.crypto.hsm_keys`, an XKS proxy's answer in :mod:`openkms.crypto.xks_store`
    (INVALID_CREDENTIALS and INTERNAL_ERROR serve both types)."""

    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
    NETWORK_ERRORS = "NETWORK_ERRORS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INSUFFICIENT_CLOUDHSM_HSMS = "INSUFFICIENT_CLOUDHSM_HSMS"
    USER_LOCKED_OUT = "USER_LOCKED_OUT"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_LOGGED_IN = "USER_LOGGED_IN"
    XKS_PROXY_ACCESS_DENIED = "XKS_PROXY_ACCESS_DENIED"
    XKS_PROXY_NOT_REACHABLE = "XKS_PROXY_NOT_REACHABLE"
    XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND = "XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND"
    XKS_PROXY_INVALID_RESPONSE = "XKS_PROXY_INVALID_RESPONSE"
    XKS_PROXY_INVALID_CONFIGURATION = "XKS_PROXY_INVALID_CONFIGURATION"
    XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION = (
        "XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION"
    )
    XKS_PROXY_TIMED_OUT = "XKS_PROXY_TIMED_OUT"
    XKS_PROXY_INVALID_TLS_CONFIGURATION = "XKS_PROXY_INVALID_TLS_CONFIGURATION"


@dataclass(frozen=True, slots=True)
class HSMCluster:
    """A PKCS#11 token registered as a CloudHSM cluster (``openkms admin hsm-cluster``)."""

    cluster_id: str
    module: str
    token: str
    #: The PEM certificate CreateCustomKeyStore must present (None: any certificate,
    #: which the store then keeps).
    trust_anchor: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class CustomKeyStore:
    """One custom key store of an account and Region."""

    store_id: str
    account: str
    region: str
    name: str
    store_type: CustomKeyStoreType
    connection_state: ConnectionState
    created_at: float
    connection_error: ConnectionErrorCode | None = None
    #: AWS_CLOUDHSM: the cluster, its trust anchor and the token's user PIN, sealed.
    cluster_id: str | None = None
    trust_anchor: str | None = None
    sealed_password: bytes | None = None
    #: EXTERNAL_KEY_STORE: where its XKS proxy answers (``XksProxyUriEndpoint`` +
    #: ``XksProxyUriPath``), how, and the SigV4 credential it signs with (the secret
    #: sealed under the root of trust).
    xks_endpoint: str | None = None
    xks_path: str | None = None
    xks_connectivity: XksProxyConnectivity | None = None
    xks_access_key_id: str | None = None
    sealed_xks_secret: bytes | None = None

    @property
    def connected(self) -> bool:
        return self.connection_state is ConnectionState.CONNECTED


def new_store_id() -> str:
    """``cks-`` and 17 hexadecimal digits, as AWS's ids (cks-1234567890abcdef0)."""
    return "cks-" + os.urandom(9).hex()[:17]


def hsm_key_label(key_id: str, version: int) -> str:
    """The PKCS#11 label of a KMS key's backing key in the token: its key id and version."""
    return f"{key_id}/{version}"


def _state_error(store: CustomKeyStore, operation: str) -> CustomKeyStoreInvalidStateException:
    return CustomKeyStoreInvalidStateException(
        f"{operation} is not valid for custom key store {store.store_id} in the "
        f"{store.connection_state.value} connection state."
    )


def require_connectable(store: CustomKeyStore) -> None:
    if store.connection_state in (ConnectionState.DISCONNECTING, ConnectionState.FAILED):
        raise _state_error(store, "ConnectCustomKeyStore")


def connected(store: CustomKeyStore) -> CustomKeyStore:
    return dataclasses.replace(
        store, connection_state=ConnectionState.CONNECTED, connection_error=None
    )


def failed(store: CustomKeyStore, code: ConnectionErrorCode) -> CustomKeyStore:
    return dataclasses.replace(
        store, connection_state=ConnectionState.FAILED, connection_error=code
    )


def disconnected(store: CustomKeyStore) -> CustomKeyStore:
    if store.connection_state in (ConnectionState.DISCONNECTED, ConnectionState.DISCONNECTING):
        raise _state_error(store, "DisconnectCustomKeyStore")
    return dataclasses.replace(
        store, connection_state=ConnectionState.DISCONNECTED, connection_error=None
    )


def require_disconnected(store: CustomKeyStore, operation: str) -> None:
    if store.connection_state is not ConnectionState.DISCONNECTED:
        raise _state_error(store, operation)


def require_connected(store: CustomKeyStore, operation: str) -> None:
    if not store.connected:
        raise _state_error(store, operation)


def effective_state(key: Key, store: CustomKeyStore | None) -> KeyState:
    """The key state callers see: ``Unavailable`` for an Enabled or Disabled key whose
    custom key store is not connected (the stored state is kept, and comes back with the
    connection)."""
    if store is None or store.connected:
        return key.state
    if key.state in (KeyState.ENABLED, KeyState.DISABLED):
        return KeyState.UNAVAILABLE
    return key.state
