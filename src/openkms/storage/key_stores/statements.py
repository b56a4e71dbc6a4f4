"""The statements of the custom key store records, written once with SQLAlchemy Core."""

from __future__ import annotations

from sqlalchemy import Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.key_stores.tables import custom_key_stores, hsm_clusters
from openkms.storage.keys.tables import keys
from openkms.storage.sql import Statement


def _insert_all(table: Table) -> ClauseElement:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c})


def _stores_list(after: bool) -> ClauseElement:
    c = custom_key_stores.c
    cond = and_(c.account_id == bindparam("account_id"), c.region == bindparam("region"))
    if after:
        cond = and_(cond, c.store_id > bindparam("after"))
    return select(custom_key_stores).where(cond).order_by(c.store_id).limit(bindparam("lim"))


def _store_update() -> ClauseElement:
    c = custom_key_stores.c
    return (
        update(custom_key_stores)
        .where(c.store_id == bindparam("v_store_id"))
        .values(
            {
                col.name: bindparam(f"v_{col.name}")
                for col in custom_key_stores.c
                if col.name != "store_id"
            }
        )
    )


cluster_insert = Statement("hsm_cluster_insert", lambda: _insert_all(hsm_clusters))
cluster_get = Statement(
    "hsm_cluster_get",
    lambda: select(hsm_clusters).where(hsm_clusters.c.cluster_id == bindparam("cluster_id")),
)
clusters_list = Statement(
    "hsm_clusters_list", lambda: select(hsm_clusters).order_by(hsm_clusters.c.cluster_id)
)
cluster_delete = Statement(
    "hsm_cluster_delete",
    lambda: delete(hsm_clusters).where(hsm_clusters.c.cluster_id == bindparam("cluster_id")),
)
store_insert = Statement("custom_key_store_insert", lambda: _insert_all(custom_key_stores))
store_get = Statement(
    "custom_key_store_get",
    lambda: select(custom_key_stores).where(custom_key_stores.c.store_id == bindparam("store_id")),
)
store_get_for_update = Statement(
    "custom_key_store_get_for_update",
    lambda: (
        select(custom_key_stores)
        .where(custom_key_stores.c.store_id == bindparam("store_id"))
        .with_for_update()
    ),
)
store_by_name = Statement(
    "custom_key_store_by_name",
    lambda: select(custom_key_stores).where(
        and_(
            custom_key_stores.c.account_id == bindparam("account_id"),
            custom_key_stores.c.region == bindparam("region"),
            custom_key_stores.c.name == bindparam("name"),
        )
    ),
)
stores_of_cluster = Statement(
    "custom_key_stores_of_cluster",
    lambda: select(custom_key_stores.c.store_id).where(
        custom_key_stores.c.cluster_id == bindparam("cluster_id")
    ),
)
stores_list = Statement("custom_key_stores_list", lambda: _stores_list(False))
stores_list_after = Statement("custom_key_stores_list_after", lambda: _stores_list(True))
store_update = Statement("custom_key_store_update", _store_update)
store_delete = Statement(
    "custom_key_store_delete",
    lambda: delete(custom_key_stores).where(custom_key_stores.c.store_id == bindparam("store_id")),
)
store_key_count = Statement(
    "custom_key_store_key_count",
    lambda: select(func.count()).where(keys.c.custom_key_store_id == bindparam("store_id")),
)
store_by_xks_uri = Statement(
    "custom_key_store_by_xks_uri",
    lambda: select(custom_key_stores).where(
        and_(
            custom_key_stores.c.account_id == bindparam("account_id"),
            custom_key_stores.c.region == bindparam("region"),
            custom_key_stores.c.xks_uri_endpoint == bindparam("endpoint"),
            custom_key_stores.c.xks_uri_path == bindparam("path"),
        )
    ),
)
store_xks_key_user = Statement(
    "custom_key_store_xks_key_user",
    lambda: (
        select(keys.c.key_id)
        .where(
            and_(
                keys.c.custom_key_store_id == bindparam("store_id"),
                keys.c.xks_key_id == bindparam("xks_key_id"),
            )
        )
        .limit(1)
    ),
)
