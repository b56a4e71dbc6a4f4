"""The statements of :mod:`openkms.storage.grants.repository`, merged into
:data:`openkms.storage.statements.BUILDERS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.grants.tables import grants

_c = grants.c


def _for_key(by_grantee: bool, after: bool) -> ClauseElement:
    cond = _c.key_id == bindparam("key_id")
    if by_grantee:
        cond = and_(cond, _c.grantee_principal == bindparam("grantee_principal"))
    if after:
        cond = and_(cond, _c.grant_id > bindparam("after"))
    return select(grants).where(cond).order_by(_c.grant_id).limit(bindparam("lim"))


def _retirable(after: bool) -> ClauseElement:
    cond = and_(
        _c.region == bindparam("region"),
        _c.retiring_principal == bindparam("retiring_principal"),
    )
    if after:
        cond = and_(cond, _c.grant_id > bindparam("after"))
    return select(grants).where(cond).order_by(_c.grant_id).limit(bindparam("lim"))


BUILDERS: dict[str, Callable[[], Any]] = {
    "grant_insert": lambda: insert(grants).values({c.name: bindparam(c.name) for c in grants.c}),
    "grant_get": lambda: select(grants).where(_c.grant_id == bindparam("grant_id")),
    "grant_delete": lambda: delete(grants).where(_c.grant_id == bindparam("grant_id")),
    "grants_all_for_key": lambda: (
        select(grants).where(_c.key_id == bindparam("key_id")).order_by(_c.grant_id)
    ),
    "grants_for_grantee": lambda: (
        select(grants)
        .where(
            and_(
                _c.key_id == bindparam("key_id"),
                _c.grantee_principal == bindparam("grantee_principal"),
            )
        )
        .order_by(_c.grant_id)
    ),
    "grants_by_name": lambda: (
        select(grants)
        .where(and_(_c.key_id == bindparam("key_id"), _c.name == bindparam("name")))
        .order_by(_c.grant_id)
    ),
    "grants_count_for_key": lambda: (
        select(func.count()).select_from(grants).where(_c.key_id == bindparam("key_id"))
    ),
    "grants_list": lambda: _for_key(False, False),
    "grants_list_after": lambda: _for_key(False, True),
    "grants_list_grantee": lambda: _for_key(True, False),
    "grants_list_grantee_after": lambda: _for_key(True, True),
    "grants_retirable": lambda: _retirable(False),
    "grants_retirable_after": lambda: _retirable(True),
    "wipe_grants": lambda: delete(grants),
}
