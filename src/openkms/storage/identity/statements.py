"""Statements of the identity repositories (:mod:`openkms.storage.identity.repository`).

Each is compiled once per dialect by :class:`openkms.storage.sql.StatementCache`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage import tables as shared_tables
from openkms.storage.identity import tables
from openkms.storage.sql import Statement

SESSION_COLUMNS = tuple(c.name for c in tables.sessions.c if c.name != "wrapped_secret")


def _insert_all(table: Table) -> ClauseElement:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c})


def _eq(table: Table, *names: str) -> ColumnElement[bool]:
    return and_(*(table.c[n] == bindparam(n) for n in names))


def _get(table: Table, for_update: bool) -> ClauseElement:
    stmt = select(table).where(_eq(table, "account_id", "name_key"))
    return stmt.with_for_update() if for_update else stmt


def _set(table: Table, column: str) -> ClauseElement:
    return (
        update(table)
        .where(_eq(table, "account_id", "name_key"))
        .values({column: bindparam(f"v_{column}")})
    )


def _access_key_with_user() -> ClauseElement:
    """One read authenticates a long-term key: the key row and, for a user's key, the user."""
    ak, u = shared_tables.access_keys, tables.users
    joined = ak.outerjoin(u, and_(u.c.account_id == ak.c.account_id, u.c.arn == ak.c.principal_arn))
    return (
        select(
            ak.c.access_key_id,
            ak.c.account_id,
            ak.c.principal_arn,
            ak.c.wrapped_secret,
            ak.c.status,
            u.c.user_name,
            u.c.user_id,
            u.c.tags,
        )
        .select_from(joined)
        .where(ak.c.access_key_id == bindparam("access_key_id"))
    )


_POLICY_OWNER = ("account_id", "owner_type", "owner_key")
_ip = tables.inline_policies

iam_account_insert = Statement("iam_account_insert", lambda: _insert_all(tables.accounts))
iam_account_get = Statement(
    "iam_account_get", lambda: select(tables.accounts).where(_eq(tables.accounts, "account_id"))
)
iam_accounts_list = Statement(
    "iam_accounts_list", lambda: select(tables.accounts).order_by(tables.accounts.c.account_id)
)
iam_root_keys_all = Statement(
    "iam_root_keys_all",
    lambda: select(
        shared_tables.access_keys.c.account_id,
        shared_tables.access_keys.c.principal_arn,
        shared_tables.access_keys.c.access_key_id,
    ).order_by(shared_tables.access_keys.c.account_id, shared_tables.access_keys.c.created_at),
)
iam_user_get = Statement("iam_user_get", lambda: _get(tables.users, False))
iam_user_get_for_update = Statement("iam_user_get_for_update", lambda: _get(tables.users, True))
iam_user_insert = Statement("iam_user_insert", lambda: _insert_all(tables.users))
iam_user_set_tags = Statement("iam_user_set_tags", lambda: _set(tables.users, "tags"))
iam_user_delete = Statement(
    "iam_user_delete",
    lambda: delete(tables.users).where(_eq(tables.users, "account_id", "name_key")),
)
iam_users_list = Statement(
    "iam_users_list",
    lambda: (
        select(tables.users)
        .where(_eq(tables.users, "account_id"))
        .order_by(tables.users.c.name_key)
    ),
)
iam_role_get = Statement("iam_role_get", lambda: _get(tables.roles, False))
iam_role_get_for_update = Statement("iam_role_get_for_update", lambda: _get(tables.roles, True))
iam_role_insert = Statement("iam_role_insert", lambda: _insert_all(tables.roles))
iam_role_set_tags = Statement("iam_role_set_tags", lambda: _set(tables.roles, "tags"))
iam_role_delete = Statement(
    "iam_role_delete",
    lambda: delete(tables.roles).where(_eq(tables.roles, "account_id", "name_key")),
)
iam_roles_list = Statement(
    "iam_roles_list",
    lambda: (
        select(tables.roles)
        .where(_eq(tables.roles, "account_id"))
        .order_by(tables.roles.c.name_key)
    ),
)
iam_policy_get = Statement(
    "iam_policy_get", lambda: select(_ip.c.document).where(_eq(_ip, *_POLICY_OWNER, "policy_name"))
)
iam_policy_insert = Statement("iam_policy_insert", lambda: _insert_all(_ip))
iam_policy_delete = Statement(
    "iam_policy_delete", lambda: delete(_ip).where(_eq(_ip, *_POLICY_OWNER, "policy_name"))
)
iam_policies_list = Statement(
    "iam_policies_list",
    lambda: (
        select(_ip.c.policy_name, _ip.c.document)
        .where(_eq(_ip, *_POLICY_OWNER))
        .order_by(_ip.c.policy_name)
    ),
)
iam_access_keys_of = Statement(
    "iam_access_keys_of",
    lambda: (
        select(
            shared_tables.access_keys.c.access_key_id,
            shared_tables.access_keys.c.account_id,
            shared_tables.access_keys.c.principal_arn,
            shared_tables.access_keys.c.status,
            shared_tables.access_keys.c.created_at,
        )
        .where(_eq(shared_tables.access_keys, "account_id", "principal_arn"))
        .order_by(shared_tables.access_keys.c.created_at, shared_tables.access_keys.c.access_key_id)
    ),
)
iam_access_key_set_status = Statement(
    "iam_access_key_set_status",
    lambda: (
        update(shared_tables.access_keys)
        .where(shared_tables.access_keys.c.access_key_id == bindparam("w_access_key_id"))
        .values(status=bindparam("v_status"))
    ),
)
iam_access_key_with_user = Statement("iam_access_key_with_user", _access_key_with_user)
iam_user_by_id = Statement(
    "iam_user_by_id", lambda: select(tables.users).where(_eq(tables.users, "user_id"))
)
iam_role_by_id = Statement(
    "iam_role_by_id", lambda: select(tables.roles).where(_eq(tables.roles, "role_id"))
)
kms_policy_principal_insert = Statement(
    "kms_policy_principal_insert", lambda: _insert_all(tables.key_policy_principals)
)
kms_policy_principals_delete = Statement(
    "kms_policy_principals_delete",
    lambda: delete(tables.key_policy_principals).where(_eq(tables.key_policy_principals, "key_id")),
)
kms_policy_principals_of = Statement(
    "kms_policy_principals_of",
    lambda: (
        select(
            tables.key_policy_principals.c.principal_arn, tables.key_policy_principals.c.unique_id
        )
        .where(_eq(tables.key_policy_principals, "key_id"))
        .order_by(tables.key_policy_principals.c.principal_arn)
    ),
)
sts_session_insert = Statement("sts_session_insert", lambda: _insert_all(tables.sessions))
sts_session_get = Statement(
    "sts_session_get",
    lambda: select(
        *(tables.sessions.c[n] for n in SESSION_COLUMNS), tables.sessions.c.wrapped_secret
    ).where(_eq(tables.sessions, "access_key_id")),
)
sts_sessions_purge = Statement(
    "sts_sessions_purge",
    lambda: delete(tables.sessions).where(tables.sessions.c.expires_at < bindparam("before")),
)
