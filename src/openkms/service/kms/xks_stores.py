"""EXTERNAL_KEY_STORE settings as CreateCustomKeyStore, UpdateCustomKeyStore and
DescribeCustomKeyStores handle them: the proxy's endpoint, path, connectivity and SigV4
credential, checked as AWS checks them.

* ``XksProxyUriEndpoint`` is ``https://`` and a host name without a port (the model's
  pattern); OpenKMS also accepts plain ``http://127.0.0.1:PORT`` and
  ``http://[::1]:PORT``, loopback only, so that local stacks and tests need no
  certificate (:data:`openkms.wire.validation.CONSTRAINT_OVERRIDES`).
* ``XksProxyConnectivity`` is required; ``VPC_ENDPOINT_SERVICE`` needs an Amazon VPC
  endpoint service, which no OpenKMS server can reach: every name is one KMS cannot find
  (XksProxyVpcEndpointServiceNotFoundException).
* The endpoint and path together are unique in the account and Region
  (XksProxyUriInUseException). XksProxyUriEndpointInUseException is AWS's answer when a
  public endpoint is the private DNS name of a VPC endpoint service store; with no such
  stores here, it is never the answer.
* The proxy's health is asked before the settings are stored (the XksProxy*Exception
  of each failure is :mod:`openkms.crypto.xks_store`'s); the secret is kept sealed under
  the root of trust, bound to the store's id.
* An external key store that is CONNECTED may change its name, path and credential;
  its endpoint and connectivity need it DISCONNECTED ("Edit external key store
  properties", Developer Guide).

https://docs.aws.amazon.com/kms/latest/developerguide/create-xks-keystore.html
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from openkms.crypto import contexts
from openkms.domain import custom_key_stores as stores
from openkms.domain.custom_key_stores import (
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    XksProxyConnectivity,
)
from openkms.domain.xks import RequestMetadata
from openkms.errors import (
    ValidationException,
    XksProxyUriInUseException,
    XksProxyVpcEndpointServiceNotFoundException,
)
from openkms.service.kms.call import OperationCall
from openkms.storage.key_stores import repository as store_records
from openkms.wire.shapes import (
    CreateCustomKeyStoreRequest,
    UpdateCustomKeyStoreRequest,
    XksProxyAuthenticationCredentialType,
    XksProxyConfigurationType,
)

CLOUDHSM_MEMBERS = ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword")
_LOOPBACK = re.compile(r"http://(?:127\.0\.0\.1|\[::1\]):([0-9]{1,5})")
#: Settings an external key store may change only while DISCONNECTED.
_DISCONNECTED_ONLY = (
    "XksProxyUriEndpoint",
    "XksProxyConnectivity",
    "XksProxyVpcEndpointServiceName",
    "XksProxyVpcEndpointServiceOwner",
)


def refuse_cloudhsm_members(params: Mapping[str, object]) -> None:
    given = [name for name in CLOUDHSM_MEMBERS if params.get(name) is not None]
    if given:
        raise ValidationException(
            f"{', '.join(given)} are valid only for AWS_CLOUDHSM custom key stores."
        )


def _endpoint(value: str) -> str:
    """The endpoint as stored: AWS's ``https://host``, or a loopback ``http`` URL with a
    port in range."""
    found = _LOOPBACK.fullmatch(value)
    if found is not None and not 1 <= int(found.group(1)) <= 65535:
        raise ValidationException(f"XksProxyUriEndpoint {value} has no valid port.")
    return value


def _connectivity(params: Mapping[str, object]) -> XksProxyConnectivity:
    value = params.get("XksProxyConnectivity")
    if value is None:
        raise ValidationException(
            "XksProxyConnectivity is required for an EXTERNAL_KEY_STORE custom key store."
        )
    connectivity = XksProxyConnectivity(str(value))
    service = params.get("XksProxyVpcEndpointServiceName")
    if connectivity is XksProxyConnectivity.PUBLIC_ENDPOINT:
        if service is not None or params.get("XksProxyVpcEndpointServiceOwner") is not None:
            raise ValidationException(
                "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid "
                "only with XksProxyConnectivity VPC_ENDPOINT_SERVICE."
            )
        return connectivity
    if service is None:
        raise ValidationException(
            "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is "
            "VPC_ENDPOINT_SERVICE."
        )
    raise XksProxyVpcEndpointServiceNotFoundException(
        f"The VPC endpoint service {service} was not found: this OpenKMS server reaches "
        "external key store proxies through public endpoints only (XksProxyConnectivity "
        "PUBLIC_ENDPOINT)."
    )


def _seal(call: OperationCall[object], store_id: str, secret: str) -> bytes:
    return call.keyring.wrap(secret.encode("ascii"), contexts.xks_proxy_secret(store_id))


def _with_credential(
    call: OperationCall[object],
    store: CustomKeyStore,
    credential: XksProxyAuthenticationCredentialType,
) -> CustomKeyStore:
    return dataclasses.replace(
        store,
        xks_access_key_id=credential["AccessKeyId"],
        sealed_xks_secret=_seal(call, store.store_id, credential["RawSecretAccessKey"]),
    )


def health_request(call: OperationCall[object]) -> RequestMetadata:
    """The ``requestMetadata`` of the health call a store operation makes."""
    return RequestMetadata(kms_operation=call.operation, kms_request_id=call.ctx.request_id)


def new_store(call: OperationCall[CreateCustomKeyStoreRequest], store_id: str) -> CustomKeyStore:
    """CreateCustomKeyStore's new external key store, its settings checked (not yet the
    proxy: :func:`require_unique_uri`, then the backend's check)."""
    p = call.params
    refuse_cloudhsm_members(p)
    endpoint, path = p.get("XksProxyUriEndpoint"), p.get("XksProxyUriPath")
    credential = p.get("XksProxyAuthenticationCredential")
    if endpoint is None or path is None or credential is None:
        raise ValidationException(
            "XksProxyUriEndpoint, XksProxyUriPath and XksProxyAuthenticationCredential are "
            "required for an EXTERNAL_KEY_STORE custom key store."
        )
    store = CustomKeyStore(
        store_id=store_id,
        account=call.ctx.account,
        region=call.ctx.region,
        name=p["CustomKeyStoreName"],
        store_type=CustomKeyStoreType.EXTERNAL_KEY_STORE,
        connection_state=ConnectionState.DISCONNECTED,
        created_at=call.ctx.now,
        xks_endpoint=_endpoint(endpoint),
        xks_path=path,
        xks_connectivity=_connectivity(p),
    )
    return _with_credential(call, store, credential)


def updated_store(
    call: OperationCall[UpdateCustomKeyStoreRequest], store: CustomKeyStore
) -> tuple[CustomKeyStore, bool]:
    """UpdateCustomKeyStore's proxy settings applied to an external key store; and
    whether the proxy must be asked again (its address or credential changed)."""
    p = call.params
    refuse_cloudhsm_members(p)
    if any(p.get(name) is not None for name in _DISCONNECTED_ONLY):
        stores.require_disconnected(store, "UpdateCustomKeyStore")
    changed = store
    endpoint, path = p.get("XksProxyUriEndpoint"), p.get("XksProxyUriPath")
    if endpoint is not None:
        changed = dataclasses.replace(changed, xks_endpoint=_endpoint(endpoint))
    if path is not None:
        changed = dataclasses.replace(changed, xks_path=path)
    if p.get("XksProxyConnectivity") is not None:
        changed = dataclasses.replace(changed, xks_connectivity=_connectivity(p))
    elif p.get("XksProxyVpcEndpointServiceName") is not None:
        raise ValidationException(
            "XksProxyVpcEndpointServiceName is valid only with XksProxyConnectivity "
            "VPC_ENDPOINT_SERVICE."
        )
    credential = p.get("XksProxyAuthenticationCredential")
    if credential is not None:
        changed = _with_credential(call, changed, credential)
    moved = (changed.xks_endpoint, changed.xks_path) != (store.xks_endpoint, store.xks_path)
    return changed, moved or credential is not None


def require_unique_uri(call: OperationCall[object], store: CustomKeyStore) -> None:
    """No other store of the account and Region uses the same proxy address."""
    assert store.xks_endpoint is not None and store.xks_path is not None
    ctx = call.ctx
    other = store_records.store_by_xks_uri(
        call.tx, ctx.account, ctx.region, store.xks_endpoint, store.xks_path
    )
    if other is not None and other.store_id != store.store_id:
        raise XksProxyUriInUseException(
            f"The proxy address {store.xks_endpoint}{store.xks_path} is already associated "
            f"with external key store {other.store_id} in this account and Region."
        )


def proxy_configuration(store: CustomKeyStore) -> XksProxyConfigurationType:
    """DescribeCustomKeyStores' XksProxyConfiguration (never the secret)."""
    found: XksProxyConfigurationType = {}
    if store.xks_connectivity is not None:
        found["Connectivity"] = store.xks_connectivity.value
    if store.xks_access_key_id is not None:
        found["AccessKeyId"] = store.xks_access_key_id
    if store.xks_endpoint is not None:
        found["UriEndpoint"] = store.xks_endpoint
    if store.xks_path is not None:
        found["UriPath"] = store.xks_path
    return found
