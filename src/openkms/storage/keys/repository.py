"""Key records over a :class:`~openkms.storage.repository.Tx`: keys, material
versions, aliases and tags.

Plain functions over a ``Tx``, like the grant, identity and lifecycle repositories.
:func:`get_key` is on the path of every cryptographic request: it reads the row each
time (so that a change committed by another process is seen at once) and reuses the
conversion to a :class:`~openkms.domain.keys.Key` while the row is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openkms.domain.aliases import Alias
from openkms.domain.keys import Key, KeyMaterial
from openkms.storage.grants import statements as grant_statements
from openkms.storage.keys import rows, statements
from openkms.storage.repository import Tx
from openkms.storage.sql import Statement

#: Converted keys the store remembers before it starts over.
_MAX_CONVERTED_KEYS = 10_000


# keys -----------------------------------------------------------------
def get_key(tx: Tx, key_id: str, *, for_update: bool = False) -> Key | None:
    """The key (None: no such key); plain reads answer from the read cache."""
    if for_update and tx.write:
        return _read_key(tx, key_id, statements.key_get_for_update)
    return tx.cached(("key", key_id), lambda: _read_key(tx, key_id, statements.key_get))


def _read_key(tx: Tx, key_id: str, statement: Statement) -> Key | None:
    row = tx.fetch_one(statement, {"key_id": key_id})
    if row is None:
        return None
    # The row is always read; only its conversion is reused while the row is unchanged.
    converted = tx.converted_keys
    seen = converted.get(key_id)
    if seen is not None and seen[0] == row:
        return seen[1]
    key = rows.key_from_row(row)
    if len(converted) >= _MAX_CONVERTED_KEYS:
        converted.clear()
    converted[key_id] = (tuple(row), key)
    return key


def insert_key(tx: Tx, key: Key, material: KeyMaterial | None, tags: Mapping[str, str]) -> None:
    """A new key with its first material (None: EXTERNAL keys wait for an import)."""
    tx.execute(statements.key_insert, rows.key_values(key))
    if material is not None:
        insert_material(tx, material)
    replace_tags(tx, key.key_id, tags)


def insert_keys(tx: Tx, keys: Sequence[tuple[Key, KeyMaterial]]) -> None:
    """Many new keys, each with its first material and no tags, in one driver call per
    table (bulk loads such as bench/large_store.py; a request inserts with
    :func:`insert_key`)."""
    tx.execute_many(statements.key_insert, [rows.key_values(key) for key, _ in keys])
    tx.execute_many(
        statements.material_insert, [rows.material_values(material) for _, material in keys]
    )


def delete_key(tx: Tx, key_id: str) -> None:
    """Remove a key with everything that belongs to it: material, aliases, grants,
    tags and import tokens."""
    for statement in (
        statements.key_delete_materials,
        statements.key_delete_aliases,
        statements.key_delete_grants,
        statements.key_delete_tags,
        statements.key_delete_import_tokens,
        statements.key_delete,
    ):
        tx.execute(statement, {"key_id": key_id})
    tx.converted_keys.pop(key_id, None)


def update_key(tx: Tx, key: Key) -> None:
    tx.execute(statements.key_update, {f"v_{k}": v for k, v in rows.key_values(key).items()})


def list_keys(tx: Tx, account: str, region: str, after: str | None, limit: int) -> list[Key]:
    values = {"account_id": account, "region": region, "lim": limit}
    if after is None:
        found = tx.fetch_all(statements.keys_list, values)
    else:
        found = tx.fetch_all(statements.keys_list_after, {**values, "after": after})
    return [rows.key_from_row(r) for r in found]


def related_keys(tx: Tx, account: str, public_id: str) -> list[Key]:
    """Every stored key of a multi-Region key (the primary and its replicas), by Region;
    read from the database each time (never the read cache: they change together)."""
    values = {"account_id": account, "lo": public_id + "@", "hi": public_id + "A"}
    return [rows.key_from_row(r) for r in tx.fetch_all(statements.related_keys, values)]


# key material ---------------------------------------------------------
def insert_material(tx: Tx, material: KeyMaterial) -> None:
    tx.execute(statements.material_insert, rows.material_values(material))


def update_material(tx: Tx, material: KeyMaterial) -> None:
    values = rows.material_values(material)
    tx.execute(statements.material_update, {f"v_{k}": v for k, v in values.items()})


def get_material(tx: Tx, key_id: str, version: int) -> KeyMaterial | None:
    row = tx.fetch_one(statements.material_get, {"key_id": key_id, "version": version})
    return None if row is None else rows.material_from_row(row)


def delete_material(tx: Tx, key_id: str, version: int) -> None:
    tx.execute(statements.material_delete, {"key_id": key_id, "version": version})


def list_materials(tx: Tx, key_id: str) -> list[KeyMaterial]:
    """Every material version of a key, oldest first."""
    return [
        rows.material_from_row(r)
        for r in tx.fetch_all(statements.materials_list, {"key_id": key_id})
    ]


# aliases --------------------------------------------------------------
def get_alias(tx: Tx, account: str, region: str, name: str) -> Alias | None:
    return tx.cached(
        ("alias", account, region, name), lambda: _read_alias(tx, account, region, name)
    )


def _read_alias(tx: Tx, account: str, region: str, name: str) -> Alias | None:
    row = tx.fetch_one(
        statements.alias_get, {"account_id": account, "region": region, "name": name}
    )
    return None if row is None else rows.alias_from_row(row)


def insert_alias(tx: Tx, alias: Alias) -> None:
    """A new alias; one of the same name raises
    :class:`~openkms.storage.repository.DuplicateError`."""
    tx.insert_unique(
        statements.alias_insert,
        {
            "account_id": alias.account,
            "region": alias.region,
            "name": alias.name,
            "target_key_id": alias.target_key_id,
            "created_at": alias.created_at,
            "updated_at": alias.updated_at,
        },
        alias.name,
    )


def update_alias(tx: Tx, alias: Alias) -> None:
    tx.execute(
        statements.alias_update,
        {
            "w_account_id": alias.account,
            "w_region": alias.region,
            "w_name": alias.name,
            "v_target_key_id": alias.target_key_id,
            "v_updated_at": alias.updated_at,
        },
    )


def delete_alias(tx: Tx, alias: Alias) -> None:
    tx.execute(
        statements.alias_delete,
        {"account_id": alias.account, "region": alias.region, "name": alias.name},
    )


def list_aliases(
    tx: Tx, account: str, region: str, key_id: str | None, after: str | None, limit: int
) -> list[Alias]:
    values: dict[str, Any] = {"account_id": account, "region": region, "lim": limit}
    if key_id is not None:
        values["target_key_id"] = key_id
    if after is not None:
        values["after"] = after
    statement = statements.aliases_list[key_id is not None, after is not None]

    def read() -> tuple[Alias, ...]:
        return tuple(rows.alias_from_row(r) for r in tx.fetch_all(statement, values))

    return list(tx.cached(("aliases", account, region, key_id, after, limit), read))


# tags -----------------------------------------------------------------
def get_tags(tx: Tx, key_id: str) -> dict[str, str]:
    def read() -> tuple[tuple[str, str], ...]:
        return tuple((r[0], r[1]) for r in tx.fetch_all(statements.tags_get, {"key_id": key_id}))

    return dict(tx.cached(("tags", key_id), read))


def replace_tags(tx: Tx, key_id: str, tags: Mapping[str, str]) -> None:
    tx.execute(statements.tags_delete, {"key_id": key_id})
    for tag_key, tag_value in tags.items():
        tx.execute(
            statements.tag_insert,
            {"key_id": key_id, "tag_key": tag_key, "tag_value": tag_value},
        )


def wipe_kms_state(tx: Tx) -> None:
    """Delete every key, alias, grant, tag, import token and material (dev-mode reset)."""
    for statement in (
        grant_statements.wipe_grants,
        statements.wipe_import_tokens,
        statements.wipe_tags,
        statements.wipe_aliases,
        statements.wipe_materials,
        statements.wipe_keys,
    ):
        tx.execute(statement, {})
