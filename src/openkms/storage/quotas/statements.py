"""Statements of the quota overrides table, and the counts the resource quotas check
(keys per account and Region, aliases per key, grants per grantee per key)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, delete, func, insert, select

from openkms.storage.grants.tables import grants
from openkms.storage.keys.tables import aliases, keys
from openkms.storage.quotas.tables import quota_overrides
from openkms.storage.sql import Statement

_q = quota_overrides.c

overrides_all = Statement(
    "quota_overrides_all",
    lambda: select(_q.account_id, _q.quota, _q.rate).order_by(_q.account_id, _q.quota),
)
override_delete = Statement(
    "quota_override_delete",
    lambda: delete(quota_overrides).where(
        and_(_q.account_id == bindparam("account_id"), _q.quota == bindparam("quota"))
    ),
)
override_insert = Statement(
    "quota_override_insert",
    lambda: insert(quota_overrides).values({c.name: bindparam(c.name) for c in quota_overrides.c}),
)
#: Customer managed keys of an account in a Region (every state: AWS counts them all).
customer_keys_count = Statement(
    "quota_customer_keys_count",
    lambda: (
        select(func.count())
        .select_from(keys)
        .where(
            and_(
                keys.c.account_id == bindparam("account_id"),
                keys.c.region == bindparam("region"),
                keys.c.key_manager == "CUSTOMER",
            )
        )
    ),
)
aliases_of_key_count = Statement(
    "quota_aliases_of_key_count",
    lambda: (
        select(func.count())
        .select_from(aliases)
        .where(aliases.c.target_key_id == bindparam("key_id"))
    ),
)
grants_for_grantee_count = Statement(
    "quota_grants_for_grantee_count",
    lambda: (
        select(func.count())
        .select_from(grants)
        .where(
            and_(
                grants.c.key_id == bindparam("key_id"),
                grants.c.grantee_principal == bindparam("grantee_principal"),
            )
        )
    ),
)
#: Keys by state, for the metrics (``openkms_keys``).
keys_by_state = Statement(
    "quota_keys_by_state",
    lambda: select(keys.c.key_state, func.count()).group_by(keys.c.key_state),
)
