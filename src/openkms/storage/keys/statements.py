"""The statements of the key records (keys, materials, aliases, tags, import tokens),
written once with SQLAlchemy Core.

Each :class:`~openkms.storage.sql.Statement` builds a statement with named bind
parameters; :mod:`openkms.storage.sql` compiles it once per dialect. The other record
families keep theirs in their subpackage (``grants``, ``identity``, ``audit``); the
statements of the shared tables are in :mod:`openkms.storage.statements`.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.grants.tables import grants
from openkms.storage.keys import tables
from openkms.storage.sql import Statement


def _insert_all(table: Table) -> ClauseElement:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c})


def _eq(table: Table, *names: str) -> ColumnElement[bool]:
    return and_(*(table.c[n] == bindparam(n) for n in names))


def _key_get(for_update: bool) -> ClauseElement:
    stmt = select(tables.keys).where(tables.keys.c.key_id == bindparam("key_id"))
    return stmt.with_for_update() if for_update else stmt


def _key_update() -> ClauseElement:
    return (
        update(tables.keys)
        .where(tables.keys.c.key_id == bindparam("v_key_id"))
        .values({c.name: bindparam(f"v_{c.name}") for c in tables.keys.c if c.name != "key_id"})
    )


def _material_update() -> ClauseElement:
    m = tables.key_materials
    return (
        update(m)
        .where(and_(m.c.key_id == bindparam("v_key_id"), m.c.version == bindparam("v_version")))
        .values(
            {c.name: bindparam(f"v_{c.name}") for c in m.c if c.name not in ("key_id", "version")}
        )
    )


def _due(column: str, extra: ColumnElement[bool] | None = None) -> ClauseElement:
    """Key ids whose ``column`` is set and at or before ``:at`` (maintenance work)."""
    c = tables.keys.c[column]
    cond = and_(c.isnot(None), c <= bindparam("at"))
    if extra is not None:
        cond = and_(cond, extra)
    return select(tables.keys.c.key_id).where(cond).order_by(c).limit(bindparam("lim"))


def _keys_list(after: bool) -> ClauseElement:
    cond = _eq(tables.keys, "account_id", "region")
    if after:
        cond = and_(cond, tables.keys.c.key_id > bindparam("after"))
    return select(tables.keys).where(cond).order_by(tables.keys.c.key_id).limit(bindparam("lim"))


def _related_keys() -> ClauseElement:
    """The keys of one account whose stored id lies in ``(lo, hi)``: the related keys of
    a multi-Region key are stored as ``<key id>@<region>``, so ``lo = "<key id>@"`` and
    ``hi = "<key id>A"`` ("A" follows "@") bound them on the primary key's index."""
    k = tables.keys.c
    cond = and_(
        k.account_id == bindparam("account_id"),
        k.key_id > bindparam("lo"),
        k.key_id < bindparam("hi"),
    )
    return select(tables.keys).where(cond).order_by(k.region)


def _aliases_list(for_key: bool, after: bool) -> ClauseElement:
    c = tables.aliases.c
    cond = _eq(tables.aliases, "account_id", "region")
    if for_key:
        cond = and_(cond, c.target_key_id == bindparam("target_key_id"))
    if after:
        cond = and_(cond, c.name > bindparam("after"))
    return select(tables.aliases).where(cond).order_by(c.name).limit(bindparam("lim"))


def _alias_update() -> ClauseElement:
    c = tables.aliases.c
    return (
        update(tables.aliases)
        .where(
            and_(
                c.account_id == bindparam("w_account_id"),
                c.region == bindparam("w_region"),
                c.name == bindparam("w_name"),
            )
        )
        .values(target_key_id=bindparam("v_target_key_id"), updated_at=bindparam("v_updated_at"))
    )


key_get = Statement("key_get", lambda: _key_get(False))
key_get_for_update = Statement("key_get_for_update", lambda: _key_get(True))
key_insert = Statement("key_insert", lambda: _insert_all(tables.keys))
key_update = Statement("key_update", _key_update)
keys_list = Statement("keys_list", lambda: _keys_list(False))
keys_list_after = Statement("keys_list_after", lambda: _keys_list(True))
material_insert = Statement("material_insert", lambda: _insert_all(tables.key_materials))
material_get = Statement(
    "material_get",
    lambda: select(tables.key_materials).where(_eq(tables.key_materials, "key_id", "version")),
)
material_update = Statement("material_update", _material_update)
materials_list = Statement(
    "materials_list",
    lambda: (
        select(tables.key_materials)
        .where(_eq(tables.key_materials, "key_id"))
        .order_by(tables.key_materials.c.version)
    ),
)
key_delete_materials = Statement(
    "key_delete_materials",
    lambda: delete(tables.key_materials).where(_eq(tables.key_materials, "key_id")),
)
key_delete_aliases = Statement(
    "key_delete_aliases",
    lambda: delete(tables.aliases).where(tables.aliases.c.target_key_id == bindparam("key_id")),
)
key_delete_grants = Statement(
    "key_delete_grants", lambda: delete(grants).where(_eq(grants, "key_id"))
)
key_delete_tags = Statement(
    "key_delete_tags", lambda: delete(tables.tags).where(_eq(tables.tags, "key_id"))
)
key_delete_import_tokens = Statement(
    "key_delete_import_tokens",
    lambda: delete(tables.import_tokens).where(_eq(tables.import_tokens, "key_id")),
)
key_delete = Statement("key_delete", lambda: delete(tables.keys).where(_eq(tables.keys, "key_id")))
import_token_insert = Statement("import_token_insert", lambda: _insert_all(tables.import_tokens))
import_token_get = Statement(
    "import_token_get",
    lambda: select(tables.import_tokens).where(_eq(tables.import_tokens, "token_id")),
)
import_token_delete = Statement(
    "import_token_delete",
    lambda: delete(tables.import_tokens).where(_eq(tables.import_tokens, "token_id")),
)
material_delete = Statement(
    "material_delete",
    lambda: delete(tables.key_materials).where(_eq(tables.key_materials, "key_id", "version")),
)
import_tokens_purge = Statement(
    "import_tokens_purge",
    lambda: delete(tables.import_tokens).where(tables.import_tokens.c.valid_to <= bindparam("at")),
)
due_deletions = Statement("due_deletions", lambda: _due("deletion_date"))
due_rotations = Statement(
    "due_rotations",
    lambda: _due(
        "next_rotation_date",
        and_(
            tables.keys.c.rotation_enabled == bindparam("enabled"),
            tables.keys.c.key_state == bindparam("state"),
            # A multi-Region replica rotates with its primary, never on its own.
            or_(
                tables.keys.c.primary_region.is_(None),
                tables.keys.c.primary_region == tables.keys.c.region,
            ),
        ),
    ),
)
related_keys = Statement("related_keys", _related_keys)
due_sync = Statement("due_sync", lambda: _due("sync_due"))
due_on_demand = Statement("due_on_demand", lambda: _due("on_demand_rotation_started"))
due_expirations = Statement(
    "due_expirations",
    lambda: (
        select(tables.key_materials.c.key_id, tables.key_materials.c.version)
        .where(
            and_(
                tables.key_materials.c.valid_to.isnot(None),
                tables.key_materials.c.valid_to <= bindparam("at"),
                tables.key_materials.c.wrapped_material.isnot(None),
            )
        )
        .order_by(tables.key_materials.c.valid_to)
        .limit(bindparam("lim"))
    ),
)
alias_get = Statement(
    "alias_get",
    lambda: select(tables.aliases).where(_eq(tables.aliases, "account_id", "region", "name")),
)
alias_insert = Statement("alias_insert", lambda: _insert_all(tables.aliases))
alias_update = Statement("alias_update", _alias_update)
alias_delete = Statement(
    "alias_delete",
    lambda: delete(tables.aliases).where(_eq(tables.aliases, "account_id", "region", "name")),
)
#: (for one target key, after a name) -> the ListAliases page statement.
aliases_list: dict[tuple[bool, bool], Statement] = {
    (for_key, after): Statement(
        f"aliases_list_{for_key:d}{after:d}", partial(_aliases_list, for_key, after)
    )
    for for_key in (False, True)
    for after in (False, True)
}
tags_get = Statement(
    "tags_get",
    lambda: (
        select(tables.tags.c.tag_key, tables.tags.c.tag_value)
        .where(_eq(tables.tags, "key_id"))
        .order_by(tables.tags.c.tag_key)
    ),
)
tags_delete = Statement(
    "tags_delete", lambda: delete(tables.tags).where(_eq(tables.tags, "key_id"))
)
tag_insert = Statement("tag_insert", lambda: _insert_all(tables.tags))
wipe_tags = Statement("wipe_tags", lambda: delete(tables.tags))
wipe_import_tokens = Statement("wipe_import_tokens", lambda: delete(tables.import_tokens))
wipe_aliases = Statement("wipe_aliases", lambda: delete(tables.aliases))
wipe_materials = Statement("wipe_materials", lambda: delete(tables.key_materials))
wipe_keys = Statement("wipe_keys", lambda: delete(tables.keys))
