"""The statements of :mod:`openkms.storage.grants.repository`."""

from __future__ import annotations

from functools import partial

from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.grants.tables import grants
from openkms.storage.sql import Statement

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


grant_insert = Statement(
    "grant_insert", lambda: insert(grants).values({c.name: bindparam(c.name) for c in grants.c})
)
grant_get = Statement(
    "grant_get", lambda: select(grants).where(_c.grant_id == bindparam("grant_id"))
)
grant_delete = Statement(
    "grant_delete", lambda: delete(grants).where(_c.grant_id == bindparam("grant_id"))
)
grants_all_for_key = Statement(
    "grants_all_for_key",
    lambda: select(grants).where(_c.key_id == bindparam("key_id")).order_by(_c.grant_id),
)
grants_for_grantee = Statement(
    "grants_for_grantee",
    lambda: (
        select(grants)
        .where(
            and_(
                _c.key_id == bindparam("key_id"),
                _c.grantee_principal == bindparam("grantee_principal"),
            )
        )
        .order_by(_c.grant_id)
    ),
)
grants_by_name = Statement(
    "grants_by_name",
    lambda: (
        select(grants)
        .where(and_(_c.key_id == bindparam("key_id"), _c.name == bindparam("name")))
        .order_by(_c.grant_id)
    ),
)
grants_count_for_key = Statement(
    "grants_count_for_key",
    lambda: select(func.count()).select_from(grants).where(_c.key_id == bindparam("key_id")),
)
#: (for one grantee, after a grant id) -> the ListGrants page statement.
grants_list: dict[tuple[bool, bool], Statement] = {
    (grantee, after): Statement(
        f"grants_list_{grantee:d}{after:d}", partial(_for_key, grantee, after)
    )
    for grantee in (False, True)
    for after in (False, True)
}
grants_retirable = Statement("grants_retirable", lambda: _retirable(False))
grants_retirable_after = Statement("grants_retirable_after", lambda: _retirable(True))
wipe_grants = Statement("wipe_grants", lambda: delete(grants))
