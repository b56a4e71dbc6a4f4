"""The statements of the tables no single record family owns: access keys (an account
root's and IAM users') and settings (``openkms_meta``).

Each record family keeps its own statements in its subpackage.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage import tables
from openkms.storage.sql import Statement


def _insert_all(table: Table) -> ClauseElement:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c})


def _eq(table: Table, *names: str) -> ColumnElement[bool]:
    return and_(*(table.c[n] == bindparam(n) for n in names))


access_key_get = Statement(
    "access_key_get",
    lambda: select(
        tables.access_keys.c.access_key_id,
        tables.access_keys.c.account_id,
        tables.access_keys.c.principal_arn,
        tables.access_keys.c.wrapped_secret,
        tables.access_keys.c.status,
    ).where(_eq(tables.access_keys, "access_key_id")),
)
access_key_delete = Statement(
    "access_key_delete",
    lambda: delete(tables.access_keys).where(_eq(tables.access_keys, "access_key_id")),
)
access_key_insert = Statement("access_key_insert", lambda: _insert_all(tables.access_keys))
access_keys_for_principal = Statement(
    "access_keys_for_principal",
    lambda: (
        select(tables.access_keys.c.access_key_id)
        .where(_eq(tables.access_keys, "account_id", "principal_arn"))
        .order_by(tables.access_keys.c.created_at)
    ),
)
meta_get = Statement(
    "meta_get", lambda: select(tables.meta.c.value).where(_eq(tables.meta, "name"))
)
meta_delete = Statement("meta_delete", lambda: delete(tables.meta).where(_eq(tables.meta, "name")))
meta_insert = Statement("meta_insert", lambda: _insert_all(tables.meta))
state_generation_get = Statement(
    "state_generation_get",
    lambda: select(tables.state_generation.c.value).where(tables.state_generation.c.id == 1),
)
state_generation_bump = Statement(
    "state_generation_bump",
    lambda: (
        update(tables.state_generation)
        .where(tables.state_generation.c.id == 1)
        .values(value=tables.state_generation.c.value + 1)
    ),
)
