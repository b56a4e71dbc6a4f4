"""Every stored column that holds a value sealed by the root keyring, for
``openkms admin rewrap`` (:mod:`openkms.server.rewrap`), which re-seals them all when
the root of trust moves.

Each :class:`SealedColumn` names its table, its primary key and its sealed column, and is
read in pages in primary-key order (keyset paging: a page starts after the last key of the
one before) and written back one row at a time. Values sealed in ``openkms_meta`` are
named one by one by the rewrap itself (their names belong to the modules that store
them). A new sealed column belongs in :data:`SEALED_COLUMNS`, with its binding label in
the rewrap (``tests/server/test_rewrap.py`` checks that every label is covered).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Table, and_, bindparam, select, tuple_, update

from openkms.storage import tables
from openkms.storage.identity import tables as identity_tables
from openkms.storage.key_stores import tables as key_store_tables
from openkms.storage.keys import tables as key_tables
from openkms.storage.repository import Tx
from openkms.storage.sql import Statement
from openkms.storage.xks import tables as xks_tables


class SealedColumn:
    """One sealed column: ``key`` its table's primary key (the paging order), ``also`` the
    other columns its binding label is made of."""

    __slots__ = ("after", "also", "column", "first", "key", "name", "table", "update")

    def __init__(
        self, name: str, table: Table, key: tuple[str, ...], column: str, also: tuple[str, ...] = ()
    ) -> None:
        self.name, self.table, self.key, self.column, self.also = name, table, key, column, also
        pk = [table.c[k] for k in key]
        chosen = (
            select(*pk, *(table.c[a] for a in also), table.c[column])
            .where(table.c[column].is_not(None))
            .order_by(*pk)
        )
        after = tuple_(*pk) > tuple_(*(bindparam(f"after_{k}") for k in key))
        self.first = Statement(
            f"sealed_first_{name}", lambda: chosen.limit(bindparam("limit", type_=Integer))
        )
        self.after = Statement(
            f"sealed_after_{name}",
            lambda: chosen.where(after).limit(bindparam("limit", type_=Integer)),
        )
        self.update = Statement(
            f"sealed_update_{name}",
            lambda: (
                update(table)
                .where(and_(*(table.c[k] == bindparam(f"key_{k}") for k in key)))
                .values({column: bindparam("sealed")})
            ),
        )

    def page(
        self, tx: Tx, after: Sequence[Any] | None, limit: int
    ) -> list[tuple[tuple[Any, ...], bytes]]:
        """Up to ``limit`` rows after the key ``after`` (None: from the start), in key
        order: ``(key values + also values, sealed value)``."""
        if after is None:
            rows = tx.fetch_all(self.first, {"limit": limit})
        else:
            values = {f"after_{k}": v for k, v in zip(self.key, after, strict=False)}
            rows = tx.fetch_all(self.after, {**values, "limit": limit})
        n = len(self.key) + len(self.also)
        return [(tuple(row[:n]), bytes(row[n])) for row in rows]

    def store(self, tx: Tx, key: Sequence[Any], sealed: bytes) -> None:
        """Write ``sealed`` into the row whose key values start ``key``."""
        values = {f"key_{k}": v for k, v in zip(self.key, key, strict=False)}
        tx.execute(self.update, {**values, "sealed": sealed})


ACCESS_KEYS = SealedColumn("access_keys", tables.access_keys, ("access_key_id",), "wrapped_secret")
SESSIONS = SealedColumn(
    "sts_sessions", identity_tables.sessions, ("access_key_id",), "wrapped_secret"
)
KEY_MATERIALS = SealedColumn(
    "kms_key_materials", key_tables.key_materials, ("key_id", "version"), "wrapped_material"
)
IMPORT_TOKENS = SealedColumn(
    "kms_import_tokens",
    key_tables.import_tokens,
    ("token_id",),
    "wrapped_private_key",
    also=("key_id",),
)
CUSTOM_KEY_STORE_PASSWORDS = SealedColumn(
    "kms_custom_key_stores",
    key_store_tables.custom_key_stores,
    ("store_id",),
    "wrapped_password",
)
XKS_PROXY_SECRETS = SealedColumn(
    "kms_custom_key_stores_xks",
    key_store_tables.custom_key_stores,
    ("store_id",),
    "wrapped_xks_secret",
)

XKS_KEYS = SealedColumn("xks_keys", xks_tables.xks_keys, ("key_id",), "wrapped_material")
XKS_CREDENTIALS = SealedColumn(
    "xks_credentials", xks_tables.xks_credentials, ("access_key_id",), "wrapped_secret"
)

#: Every sealed column outside ``openkms_meta``.
SEALED_COLUMNS = (
    ACCESS_KEYS,
    SESSIONS,
    KEY_MATERIALS,
    IMPORT_TOKENS,
    XKS_KEYS,
    XKS_CREDENTIALS,
    CUSTOM_KEY_STORE_PASSWORDS,
    XKS_PROXY_SECRETS,
)

#: Every statement of the columns above, by name (so that tests/storage compiles each one
#: on SQLite and PostgreSQL, as it does every family's).
STATEMENTS = {
    statement.name: statement
    for column in SEALED_COLUMNS
    for statement in (column.first, column.after, column.update)
}
