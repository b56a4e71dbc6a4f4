"""Custom key stores: CreateCustomKeyStore, DescribeCustomKeyStores, Connect/Disconnect,
UpdateCustomKeyStore, DeleteCustomKeyStore.

AWS_CLOUDHSM stores are served (a "cluster" is a PKCS#11 token registered with
``openkms admin hsm-cluster add``; the store's KeyStorePassword is the token's user PIN,
stored sealed by the root of trust), and EXTERNAL_KEY_STORE stores over any XKS proxy
(their settings are :mod:`openkms.service.kms.xks_stores`'s; the proxy's health decides
creation, updates and connection).
The states and refusals are :mod:`openkms.domain.custom_key_stores`'s. These operations
act on no KMS key: IAM policies alone authorize them, as in AWS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from openkms.crypto import contexts
from openkms.crypto.certificates import CertificateError, certificate_der, same_certificate
from openkms.domain import custom_key_stores as stores
from openkms.domain.custom_key_stores import ConnectionState, CustomKeyStore, CustomKeyStoreType
from openkms.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    IncorrectTrustAnchorException,
    LimitExceededException,
    ValidationException,
)
from openkms.service.kms import xks_stores
from openkms.service.kms.call import OperationCall
from openkms.service.kms.key_stores import find_store
from openkms.service.kms.paging import decode_marker, page
from openkms.service.kms.registry import operation
from openkms.storage.key_stores import repository as store_records
from openkms.storage.repository import DuplicateError
from openkms.wire.shapes import (
    ConnectCustomKeyStoreRequest,
    ConnectCustomKeyStoreResponse,
    CreateCustomKeyStoreRequest,
    CreateCustomKeyStoreResponse,
    CustomKeyStoresListEntry,
    DeleteCustomKeyStoreRequest,
    DeleteCustomKeyStoreResponse,
    DescribeCustomKeyStoresRequest,
    DescribeCustomKeyStoresResponse,
    DisconnectCustomKeyStoreRequest,
    DisconnectCustomKeyStoreResponse,
    UpdateCustomKeyStoreRequest,
    UpdateCustomKeyStoreResponse,
)

_XKS_MEMBERS = (
    "XksProxyUriEndpoint",
    "XksProxyUriPath",
    "XksProxyVpcEndpointServiceName",
    "XksProxyVpcEndpointServiceOwner",
    "XksProxyAuthenticationCredential",
    "XksProxyConnectivity",
)
DEFAULT_LIMIT = 100
#: AWS's quota: custom key stores per account and Region.
MAX_STORES = 10


def _refuse_xks_members(params: Mapping[str, object]) -> None:
    given = [name for name in _XKS_MEMBERS if params.get(name) is not None]
    if given:
        raise ValidationException(
            f"{', '.join(given)} are valid only for EXTERNAL_KEY_STORE custom key stores."
        )


def _name_in_use(name: str) -> CustomKeyStoreNameInUseException:
    return CustomKeyStoreNameInUseException(
        f"A custom key store with name {name} already exists in this account and Region."
    )


def _cluster_not_found(cluster_id: str) -> CloudHsmClusterNotFoundException:
    return CloudHsmClusterNotFoundException(
        f"CloudHSM cluster {cluster_id} was not found (register it with openkms admin "
        "hsm-cluster add)."
    )


def _seal_password(call: OperationCall[object], store_id: str, password: str) -> bytes:
    return call.keyring.wrap(password.encode(), contexts.custom_key_store_password(store_id))


@operation("CreateCustomKeyStore", keys=(), writes=True)
def create_custom_key_store(
    call: OperationCall[CreateCustomKeyStoreRequest],
) -> CreateCustomKeyStoreResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html"""
    p = call.params
    kind = CustomKeyStoreType(p.get("CustomKeyStoreType", CustomKeyStoreType.AWS_CLOUDHSM.value))
    if kind is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        return _create_external_key_store(call)
    _refuse_xks_members(p)
    cluster_id, anchor, password = (
        p.get("CloudHsmClusterId"),
        p.get("TrustAnchorCertificate"),
        p.get("KeyStorePassword"),
    )
    if cluster_id is None or anchor is None or password is None:
        raise ValidationException(
            "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required "
            "for an AWS_CLOUDHSM custom key store."
        )
    tx, ctx = call.tx, call.ctx
    cluster = store_records.get_cluster(tx, cluster_id)
    if cluster is None:
        raise _cluster_not_found(cluster_id)
    if store_records.stores_of_cluster(tx, cluster_id):
        raise CloudHsmClusterInUseException(
            f"CloudHSM cluster {cluster_id} is already associated with a custom key store."
        )
    try:
        certificate_der(anchor)
    except CertificateError:
        raise IncorrectTrustAnchorException(
            "The TrustAnchorCertificate is not a PEM X.509 certificate."
        ) from None
    if cluster.trust_anchor is not None and not same_certificate(anchor, cluster.trust_anchor):
        raise IncorrectTrustAnchorException(
            f"The TrustAnchorCertificate is not the trust anchor of CloudHSM cluster {cluster_id}."
        )
    name = p["CustomKeyStoreName"]
    _require_name_and_room(call, name)
    store_id = stores.new_store_id()
    store = CustomKeyStore(
        store_id=store_id,
        account=ctx.account,
        region=ctx.region,
        name=name,
        store_type=kind,
        connection_state=ConnectionState.DISCONNECTED,
        created_at=ctx.now,
        cluster_id=cluster_id,
        trust_anchor=anchor,
        sealed_password=_seal_password(call, store_id, password),
    )
    call.key_stores.check(tx, store)
    try:
        store_records.insert_store(tx, store)
    except DuplicateError:
        raise _name_in_use(name) from None
    return {"CustomKeyStoreId": store_id}


def _require_name_and_room(call: OperationCall[object], name: str) -> None:
    """The name is free in the account and Region, which has room for one more store."""
    tx, ctx = call.tx, call.ctx
    if store_records.store_by_name(tx, ctx.account, ctx.region, name) is not None:
        raise _name_in_use(name)
    if len(store_records.list_stores(tx, ctx.account, ctx.region, None, MAX_STORES)) >= MAX_STORES:
        raise LimitExceededException(
            f"This account and Region already have {MAX_STORES} custom key stores, the quota."
        )


def _create_external_key_store(
    call: OperationCall[CreateCustomKeyStoreRequest],
) -> CreateCustomKeyStoreResponse:
    """An EXTERNAL_KEY_STORE: its settings, its name and the quota, a proxy address no
    other store uses, and then the proxy's health (kmsOperation CreateCustomKeyStore)."""
    store = xks_stores.new_store(call, stores.new_store_id())
    _require_name_and_room(call, store.name)
    xks_stores.require_unique_uri(call, store)
    call.key_stores.check(call.tx, store, xks_stores.health_request(call))
    try:
        store_records.insert_store(call.tx, store)
    except DuplicateError:
        raise _name_in_use(store.name) from None
    return {"CustomKeyStoreId": store.store_id}


@operation("DescribeCustomKeyStores", keys=())
def describe_custom_key_stores(
    call: OperationCall[DescribeCustomKeyStoresRequest],
) -> DescribeCustomKeyStoresResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeCustomKeyStores.html"""
    p = call.params
    tx, ctx = call.tx, call.ctx
    store_id, name = p.get("CustomKeyStoreId"), p.get("CustomKeyStoreName")
    if store_id is not None and name is not None:
        raise ValidationException(
            "Specify either CustomKeyStoreId or CustomKeyStoreName, not both."
        )
    if store_id is not None:
        return {"CustomKeyStores": [_entry(find_store(tx, ctx, store_id))], "Truncated": False}
    if name is not None:
        found = store_records.store_by_name(tx, ctx.account, ctx.region, name)
        if found is None:
            raise CustomKeyStoreNotFoundException(
                f"Custom key store {name} does not exist in this account and Region."
            )
        return {"CustomKeyStores": [_entry(found)], "Truncated": False}
    limit = p.get("Limit", DEFAULT_LIMIT)
    after = decode_marker(p.get("Marker"), lambda marker: marker.startswith("cks-"))
    listed = store_records.list_stores(tx, ctx.account, ctx.region, after, limit + 1)
    chosen, paging = page(listed, limit, lambda store: store.store_id)
    return {"CustomKeyStores": [_entry(store) for store in chosen], **paging}


def _entry(store: CustomKeyStore) -> CustomKeyStoresListEntry:
    entry: CustomKeyStoresListEntry = {
        "CustomKeyStoreId": store.store_id,
        "CustomKeyStoreName": store.name,
        "ConnectionState": store.connection_state.value,
        "CreationDate": store.created_at,
        "CustomKeyStoreType": store.store_type.value,
    }
    if store.cluster_id is not None:
        entry["CloudHsmClusterId"] = store.cluster_id
    if store.trust_anchor is not None:
        entry["TrustAnchorCertificate"] = store.trust_anchor
    if store.connection_state is ConnectionState.FAILED and store.connection_error is not None:
        entry["ConnectionErrorCode"] = store.connection_error.value
    if store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        entry["XksProxyConfiguration"] = xks_stores.proxy_configuration(store)
    return entry


@operation("ConnectCustomKeyStore", keys=(), writes=True)
def connect_custom_key_store(
    call: OperationCall[ConnectCustomKeyStoreRequest],
) -> ConnectCustomKeyStoreResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ConnectCustomKeyStore.html

    Connected within the request: the answer finds the store CONNECTED, or FAILED with
    its ConnectionErrorCode."""
    store = find_store(call.tx, call.ctx, call.params["CustomKeyStoreId"], for_update=True)
    stores.require_connectable(store)
    if store.connection_state is ConnectionState.CONNECTED:
        return {}
    code = call.key_stores.connect(call.tx, store, xks_stores.health_request(call))
    changed = stores.connected(store) if code is None else stores.failed(store, code)
    store_records.update_store(call.tx, changed)
    return {}


@operation("DisconnectCustomKeyStore", keys=(), writes=True)
def disconnect_custom_key_store(
    call: OperationCall[DisconnectCustomKeyStoreRequest],
) -> DisconnectCustomKeyStoreResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisconnectCustomKeyStore.html"""
    store = find_store(call.tx, call.ctx, call.params["CustomKeyStoreId"], for_update=True)
    store_records.update_store(call.tx, stores.disconnected(store))
    backend = call.key_stores.backend(store.store_type)
    call.after_commit.append(lambda: backend.disconnect(store.store_id))
    return {}


@operation("UpdateCustomKeyStore", keys=(), writes=True)
def update_custom_key_store(
    call: OperationCall[UpdateCustomKeyStoreRequest],
) -> UpdateCustomKeyStoreResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateCustomKeyStore.html

    A CONNECTED store may change its name only; anything else needs it DISCONNECTED.
    Another cluster must be related to the store's: registered with the same trust
    anchor (clusters that share a backup history share their certificate)."""
    p = call.params
    tx, ctx = call.tx, call.ctx
    store = find_store(tx, ctx, p["CustomKeyStoreId"], for_update=True)
    if store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        return _update_external_key_store(call, store)
    _refuse_xks_members(p)
    if any(p.get(name) is not None for name in ("KeyStorePassword", "CloudHsmClusterId")):
        stores.require_disconnected(store, "UpdateCustomKeyStore")
    elif store.connection_state not in (ConnectionState.CONNECTED, ConnectionState.DISCONNECTED):
        stores.require_disconnected(store, "UpdateCustomKeyStore")
    changed = store
    name = p.get("NewCustomKeyStoreName")
    if name is not None and name != store.name:
        if store_records.store_by_name(tx, ctx.account, ctx.region, name) is not None:
            raise _name_in_use(name)
        changed = dataclasses.replace(changed, name=name)
    cluster_id = p.get("CloudHsmClusterId")
    if cluster_id is not None and cluster_id != store.cluster_id:
        cluster = store_records.get_cluster(tx, cluster_id)
        if cluster is None:
            raise _cluster_not_found(cluster_id)
        if (
            cluster.trust_anchor is None
            or store.trust_anchor is None
            or not same_certificate(cluster.trust_anchor, store.trust_anchor)
        ):
            raise CloudHsmClusterNotRelatedException(
                f"CloudHSM cluster {cluster_id} is not related to the custom key store's "
                f"cluster {store.cluster_id}."
            )
        if store_records.stores_of_cluster(tx, cluster_id):
            raise CloudHsmClusterInUseException(
                f"CloudHSM cluster {cluster_id} is already associated with a custom key store."
            )
        changed = dataclasses.replace(changed, cluster_id=cluster_id)
        call.key_stores.check(tx, changed)
    password = p.get("KeyStorePassword")
    if password is not None:
        changed = dataclasses.replace(
            changed, sealed_password=_seal_password(call, store.store_id, password)
        )
    try:
        store_records.update_store(tx, changed)
    except DuplicateError:
        raise _name_in_use(changed.name) from None
    return {}


def _rename(
    call: OperationCall[UpdateCustomKeyStoreRequest], store: CustomKeyStore
) -> CustomKeyStore:
    name = call.params.get("NewCustomKeyStoreName")
    if name is None or name == store.name:
        return store
    if store_records.store_by_name(call.tx, store.account, store.region, name) is not None:
        raise _name_in_use(name)
    return dataclasses.replace(store, name=name)


def _update_external_key_store(
    call: OperationCall[UpdateCustomKeyStoreRequest], store: CustomKeyStore
) -> UpdateCustomKeyStoreResponse:
    """An external key store's name and proxy settings; new proxy settings are stored
    only once the proxy answers its health call with them (kmsOperation
    UpdateCustomKeyStore)."""
    if store.connection_state not in (ConnectionState.CONNECTED, ConnectionState.DISCONNECTED):
        stores.require_disconnected(store, "UpdateCustomKeyStore")
    changed, ask_proxy = xks_stores.updated_store(call, _rename(call, store))
    if ask_proxy:
        xks_stores.require_unique_uri(call, changed)
        call.key_stores.check(call.tx, changed, xks_stores.health_request(call))
    try:
        store_records.update_store(call.tx, changed)
    except DuplicateError:
        raise _name_in_use(changed.name) from None
    return {}


@operation("DeleteCustomKeyStore", keys=(), writes=True)
def delete_custom_key_store(
    call: OperationCall[DeleteCustomKeyStoreRequest],
) -> DeleteCustomKeyStoreResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteCustomKeyStore.html"""
    store = find_store(call.tx, call.ctx, call.params["CustomKeyStoreId"], for_update=True)
    stores.require_disconnected(store, "DeleteCustomKeyStore")
    if store_records.key_count(call.tx, store.store_id):
        raise CustomKeyStoreHasCMKsException(
            f"Custom key store {store.store_id} still has KMS keys: delete them first "
            "(ScheduleKeyDeletion) and wait for their deletion."
        )
    store_records.delete_store(call.tx, store.store_id)
    return {}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    create_custom_key_store,
    describe_custom_key_stores,
    connect_custom_key_store,
    disconnect_custom_key_store,
    update_custom_key_store,
    delete_custom_key_store,
)
