"""Custom key store records over a :class:`~openkms.storage.repository.Tx`: the HSM
clusters an operator registered and the key stores (rows decoded by column name)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openkms.domain.custom_key_stores import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    HSMCluster,
    XksProxyConnectivity,
)
from openkms.storage.key_stores import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

CLUSTER = columns(statements.cluster_get)
STORE = columns(statements.store_get)


# clusters -------------------------------------------------------------
def _cluster(r: Sequence[Any]) -> HSMCluster:
    c = CLUSTER
    return HSMCluster(
        cluster_id=r[c["cluster_id"]],
        module=r[c["module"]],
        token=r[c["token_label"]],
        trust_anchor=r[c["trust_anchor"]],
        created_at=r[c["created_at"]],
    )


def insert_cluster(tx: Tx, cluster: HSMCluster) -> None:
    """Raises :class:`~openkms.storage.repository.DuplicateError` for a known id."""
    values = {
        "cluster_id": cluster.cluster_id,
        "module": cluster.module,
        "token_label": cluster.token,
        "trust_anchor": cluster.trust_anchor,
        "created_at": cluster.created_at,
    }
    tx.insert_unique(statements.cluster_insert, values, cluster.cluster_id)


def get_cluster(tx: Tx, cluster_id: str) -> HSMCluster | None:
    def read() -> HSMCluster | None:
        row = tx.fetch_one(statements.cluster_get, {"cluster_id": cluster_id})
        return None if row is None else _cluster(row)

    return tx.cached(("hsm_cluster", cluster_id), read)


def list_clusters(tx: Tx) -> list[HSMCluster]:
    return [_cluster(r) for r in tx.fetch_all(statements.clusters_list, {})]


def delete_cluster(tx: Tx, cluster_id: str) -> None:
    tx.execute(statements.cluster_delete, {"cluster_id": cluster_id})


def stores_of_cluster(tx: Tx, cluster_id: str) -> list[str]:
    return [r[0] for r in tx.fetch_all(statements.stores_of_cluster, {"cluster_id": cluster_id})]


# stores ---------------------------------------------------------------
def _store(r: Sequence[Any]) -> CustomKeyStore:
    c = STORE
    error = r[c["connection_error"]]
    sealed = r[c["wrapped_password"]]
    xks_secret = r[c["wrapped_xks_secret"]]
    connectivity = r[c["xks_connectivity"]]
    return CustomKeyStore(
        store_id=r[c["store_id"]],
        account=r[c["account_id"]],
        region=r[c["region"]],
        name=r[c["name"]],
        store_type=CustomKeyStoreType(r[c["store_type"]]),
        connection_state=ConnectionState(r[c["connection_state"]]),
        created_at=r[c["created_at"]],
        connection_error=None if error is None else ConnectionErrorCode(error),
        cluster_id=r[c["cluster_id"]],
        trust_anchor=r[c["trust_anchor"]],
        sealed_password=None if sealed is None else bytes(sealed),
        xks_endpoint=r[c["xks_uri_endpoint"]],
        xks_path=r[c["xks_uri_path"]],
        xks_connectivity=None if connectivity is None else XksProxyConnectivity(connectivity),
        xks_access_key_id=r[c["xks_access_key_id"]],
        sealed_xks_secret=None if xks_secret is None else bytes(xks_secret),
    )


def _values(store: CustomKeyStore) -> dict[str, Any]:
    return {
        "store_id": store.store_id,
        "account_id": store.account,
        "region": store.region,
        "name": store.name,
        "store_type": store.store_type.value,
        "connection_state": store.connection_state.value,
        "connection_error": None
        if store.connection_error is None
        else store.connection_error.value,
        "created_at": store.created_at,
        "cluster_id": store.cluster_id,
        "trust_anchor": store.trust_anchor,
        "wrapped_password": store.sealed_password,
        "xks_uri_endpoint": store.xks_endpoint,
        "xks_uri_path": store.xks_path,
        # VPC endpoint service connectivity is refused (no AWS VPC to reach one through).
        "xks_vpc_endpoint_service_name": None,
        "xks_vpc_endpoint_service_owner": None,
        "xks_connectivity": None
        if store.xks_connectivity is None
        else store.xks_connectivity.value,
        "xks_access_key_id": store.xks_access_key_id,
        "wrapped_xks_secret": store.sealed_xks_secret,
    }


def insert_store(tx: Tx, store: CustomKeyStore) -> None:
    """Raises :class:`~openkms.storage.repository.DuplicateError` for a name in use."""
    tx.insert_unique(statements.store_insert, _values(store), store.name)


def get_store(tx: Tx, store_id: str, *, for_update: bool = False) -> CustomKeyStore | None:
    """The store (None: no such store); plain reads answer from the read cache."""

    def read() -> CustomKeyStore | None:
        statement = statements.store_get_for_update if for_update else statements.store_get
        row = tx.fetch_one(statement, {"store_id": store_id})
        return None if row is None else _store(row)

    if for_update and tx.write:
        return read()
    return tx.cached(("custom_key_store", store_id), read)


def store_by_name(tx: Tx, account: str, region: str, name: str) -> CustomKeyStore | None:
    row = tx.fetch_one(
        statements.store_by_name, {"account_id": account, "region": region, "name": name}
    )
    return None if row is None else _store(row)


def list_stores(
    tx: Tx, account: str, region: str, after: str | None, limit: int
) -> list[CustomKeyStore]:
    values: dict[str, Any] = {"account_id": account, "region": region, "lim": limit}
    if after is None:
        found = tx.fetch_all(statements.stores_list, values)
    else:
        found = tx.fetch_all(statements.stores_list_after, {**values, "after": after})
    return [_store(r) for r in found]


def update_store(tx: Tx, store: CustomKeyStore) -> None:
    tx.execute(statements.store_update, {f"v_{k}": v for k, v in _values(store).items()})


def delete_store(tx: Tx, store_id: str) -> None:
    tx.execute(statements.store_delete, {"store_id": store_id})


def key_count(tx: Tx, store_id: str) -> int:
    row = tx.fetch_one(statements.store_key_count, {"store_id": store_id})
    return 0 if row is None else int(row[0])


def store_by_xks_uri(
    tx: Tx, account: str, region: str, endpoint: str, path: str
) -> CustomKeyStore | None:
    """The account's store in the Region at this XKS proxy address (endpoint and path)."""
    row = tx.fetch_one(
        statements.store_by_xks_uri,
        {"account_id": account, "region": region, "endpoint": endpoint, "path": path},
    )
    return None if row is None else _store(row)


def key_of_xks_key(tx: Tx, store_id: str, xks_key_id: str) -> str | None:
    """The id of the key of this store associated with this external key, if any."""
    row = tx.fetch_one(
        statements.store_xks_key_user, {"store_id": store_id, "xks_key_id": xks_key_id}
    )
    return None if row is None else str(row[0])
