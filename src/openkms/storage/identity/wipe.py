"""Wiping IAM and STS state, for ``POST /_openkms/reset`` (``serve --dev`` only).

A reset gives a test suite a clean server: every IAM user (with its access keys and
inline policies), role and STS session goes, and so do the key-policy principal
bindings (the keys they belong to are wiped with them). What a reset keeps is what the
server is configured with rather than what callers made: registered accounts
(``openkms admin create-account``) and account root access keys (the root ARN
``arn:aws:iam::<account>:root``; a user named ``root`` is ``...:user/root``).
"""

from __future__ import annotations

from sqlalchemy import delete

from openkms.storage import tables as shared_tables
from openkms.storage.identity import tables
from openkms.storage.repository import Tx
from openkms.storage.sql import Statement

_keys = shared_tables.access_keys
wipe_user_access_keys = Statement(
    "wipe_user_access_keys",
    lambda: delete(_keys).where(_keys.c.principal_arn.not_like("%:root")),
)
wipe_inline_policies = Statement("wipe_inline_policies", lambda: delete(tables.inline_policies))
wipe_sessions = Statement("wipe_sessions", lambda: delete(tables.sessions))
wipe_roles = Statement("wipe_roles", lambda: delete(tables.roles))
wipe_users = Statement("wipe_users", lambda: delete(tables.users))
wipe_policy_principals = Statement(
    "wipe_policy_principals", lambda: delete(tables.key_policy_principals)
)


def wipe_identity_state(tx: Tx) -> None:
    """Delete every IAM user, access key but the roots', inline policy, role, STS session
    and key-policy principal binding (dev-mode reset)."""
    for statement in (
        wipe_user_access_keys,
        wipe_inline_policies,
        wipe_sessions,
        wipe_roles,
        wipe_users,
        wipe_policy_principals,
    ):
        tx.execute(statement, {})
