"""IAM identity and STS session records over a :class:`~openkms.storage.repository.Tx`.

Rows become frozen values of :mod:`openkms.domain.identities` here. Long-term access
keys of IAM users live in the ``access_keys`` table next to account roots' keys;
:func:`long_term_key` reads a key and its user in one query, which is what
authenticating a user's request costs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openkms.domain.identities import (
    AccessKeyInfo,
    KeyStatus,
    Role,
    Session,
    Tags,
    User,
    name_key,
)
from openkms.domain.principals import is_root_arn
from openkms.storage import statements as shared_statements
from openkms.storage.identity import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

#: Column name -> position in the rows of each statement below (and of those returning
#: the same row: the ``_by_id``, ``_for_update`` and list variants).
_USER = columns(statements.iam_user_get)
_ROLE = columns(statements.iam_role_get)
_LONG_TERM_KEY = columns(statements.iam_access_key_with_user)
_SESSION = columns(statements.sts_session_get)


def _tags_json(tags: Tags) -> str:
    return json.dumps([list(pair) for pair in tags])


def _tags(raw: str | None) -> Tags:
    return tuple((k, v) for k, v in json.loads(raw)) if raw else ()


# --- accounts -------------------------------------------------------------------------


def insert_account(tx: Tx, account: str, now: float) -> None:
    """Register an account (a known account raises DuplicateError)."""
    tx.insert_unique(
        statements.iam_account_insert, {"account_id": account, "created_at": now}, account
    )


def account_exists(tx: Tx, account: str) -> bool:
    return tx.fetch_one(statements.iam_account_get, {"account_id": account}) is not None


def list_accounts(tx: Tx) -> dict[str, float | None]:
    """Registered accounts and accounts with root keys; value: registration time or None."""
    found: dict[str, float | None] = {
        r[0]: r[1] for r in tx.fetch_all(statements.iam_accounts_list, {})
    }
    for account, principal_arn, _ in tx.fetch_all(statements.iam_root_keys_all, {}):
        if is_root_arn(principal_arn, account):
            found.setdefault(account, None)
    return dict(sorted(found.items()))


def is_known_account(tx: Tx, account: str) -> bool:
    """A registered account, or one with a root access key (the server's own)."""
    return account_exists(tx, account) or bool(root_key_ids(tx, account))


def root_key_ids(tx: Tx, account: str) -> list[str]:
    return [
        r[2]
        for r in tx.fetch_all(statements.iam_root_keys_all, {})
        if r[0] == account and is_root_arn(r[1], account)
    ]


# --- users ----------------------------------------------------------------------------


def _user(r: Sequence[Any]) -> User:
    c = _USER
    return User(
        account=r[c["account_id"]],
        name=r[c["user_name"]],
        user_id=r[c["user_id"]],
        path=r[c["path"]],
        created_at=r[c["created_at"]],
        tags=_tags(r[c["tags"]]),
    )


def get_user(tx: Tx, account: str, name: str, *, for_update: bool = False) -> User | None:
    stmt = (
        statements.iam_user_get_for_update if for_update and tx.write else statements.iam_user_get
    )
    row = tx.fetch_one(stmt, {"account_id": account, "name_key": name_key(name)})
    return None if row is None else _user(row)


def user_by_id(tx: Tx, user_id: str) -> User | None:
    """The user with this unique id (``AIDA...``), in any account."""
    row = tx.fetch_one(statements.iam_user_by_id, {"user_id": user_id})
    return None if row is None else _user(row)


def insert_user(tx: Tx, user: User) -> None:
    """Store a new user; a user of the same name (in any case) raises DuplicateError."""
    values = {
        "account_id": user.account,
        "name_key": name_key(user.name),
        "user_name": user.name,
        "user_id": user.user_id,
        "path": user.path,
        "arn": user.arn,
        "created_at": user.created_at,
        "tags": _tags_json(user.tags),
    }
    tx.insert_unique(statements.iam_user_insert, values, user.name)


def set_user_tags(tx: Tx, user: User, tags: Tags) -> None:
    values = {"account_id": user.account, "name_key": name_key(user.name)}
    tx.execute(statements.iam_user_set_tags, {**values, "v_tags": _tags_json(tags)})


def delete_user(tx: Tx, user: User) -> None:
    tx.execute(
        statements.iam_user_delete, {"account_id": user.account, "name_key": name_key(user.name)}
    )


def list_users(tx: Tx, account: str) -> list[User]:
    return [_user(r) for r in tx.fetch_all(statements.iam_users_list, {"account_id": account})]


# --- roles ----------------------------------------------------------------------------


def _role(r: Sequence[Any]) -> Role:
    c = _ROLE
    return Role(
        account=r[c["account_id"]],
        name=r[c["role_name"]],
        role_id=r[c["role_id"]],
        path=r[c["path"]],
        created_at=r[c["created_at"]],
        trust_policy=r[c["trust_policy"]],
        description=r[c["description"]],
        max_session_duration=r[c["max_session_duration"]],
        tags=_tags(r[c["tags"]]),
    )


def get_role(tx: Tx, account: str, name: str, *, for_update: bool = False) -> Role | None:
    stmt = (
        statements.iam_role_get_for_update if for_update and tx.write else statements.iam_role_get
    )
    row = tx.fetch_one(stmt, {"account_id": account, "name_key": name_key(name)})
    return None if row is None else _role(row)


def role_by_id(tx: Tx, role_id: str) -> Role | None:
    """The role with this unique id (``AROA...``), in any account."""
    row = tx.fetch_one(statements.iam_role_by_id, {"role_id": role_id})
    return None if row is None else _role(row)


def insert_role(tx: Tx, role: Role) -> None:
    values = {
        "account_id": role.account,
        "name_key": name_key(role.name),
        "role_name": role.name,
        "role_id": role.role_id,
        "path": role.path,
        "arn": role.arn,
        "created_at": role.created_at,
        "trust_policy": role.trust_policy,
        "description": role.description,
        "max_session_duration": role.max_session_duration,
        "tags": _tags_json(role.tags),
    }
    tx.insert_unique(statements.iam_role_insert, values, role.name)


def set_role_tags(tx: Tx, role: Role, tags: Tags) -> None:
    values = {"account_id": role.account, "name_key": name_key(role.name)}
    tx.execute(statements.iam_role_set_tags, {**values, "v_tags": _tags_json(tags)})


def delete_role(tx: Tx, role: Role) -> None:
    tx.execute(
        statements.iam_role_delete, {"account_id": role.account, "name_key": name_key(role.name)}
    )


def list_roles(tx: Tx, account: str) -> list[Role]:
    return [_role(r) for r in tx.fetch_all(statements.iam_roles_list, {"account_id": account})]


# --- inline policies ------------------------------------------------------------------


def _owner(account: str, owner_type: str, owner_name: str) -> dict[str, str]:
    return {"account_id": account, "owner_type": owner_type, "owner_key": name_key(owner_name)}


def get_policy(tx: Tx, account: str, owner_type: str, owner: str, name: str) -> str | None:
    row = tx.fetch_one(
        statements.iam_policy_get, {**_owner(account, owner_type, owner), "policy_name": name}
    )
    return None if row is None else str(row[0])


def put_policy(tx: Tx, account: str, owner_type: str, owner: str, name: str, doc: str) -> None:
    values = {**_owner(account, owner_type, owner), "policy_name": name}
    tx.execute(statements.iam_policy_delete, values)
    tx.execute(statements.iam_policy_insert, {**values, "document": doc})


def delete_policy(tx: Tx, account: str, owner_type: str, owner: str, name: str) -> None:
    tx.execute(
        statements.iam_policy_delete, {**_owner(account, owner_type, owner), "policy_name": name}
    )


def list_policies(tx: Tx, account: str, owner_type: str, owner: str) -> list[tuple[str, str]]:
    """(name, document) of every inline policy of a user or role, by name."""

    def read() -> tuple[tuple[str, str], ...]:
        rows = tx.fetch_all(statements.iam_policies_list, _owner(account, owner_type, owner))
        return tuple((r[0], r[1]) for r in rows)

    return list(tx.cached(("policies", account, owner_type, owner), read))


# --- long-term access keys ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LongTermKey:
    """An access key row and, for an IAM user's key, the user's name, id and tags."""

    access_key_id: str
    account: str
    principal_arn: str
    wrapped_secret: bytes
    status: KeyStatus
    user_name: str | None
    user_id: str | None
    tags: Tags


def long_term_key(tx: Tx, access_key_id: str) -> LongTermKey | None:
    row = tx.fetch_one(statements.iam_access_key_with_user, {"access_key_id": access_key_id})
    if row is None:
        return None
    c = _LONG_TERM_KEY
    return LongTermKey(
        access_key_id=row[c["access_key_id"]],
        account=row[c["account_id"]],
        principal_arn=row[c["principal_arn"]],
        wrapped_secret=bytes(row[c["wrapped_secret"]]),
        status=KeyStatus(row[c["status"]]),
        user_name=row[c["user_name"]],
        user_id=row[c["user_id"]],
        tags=_tags(row[c["tags"]]),
    )


def access_keys_of(tx: Tx, account: str, owner_arn: str) -> list[AccessKeyInfo]:
    rows = tx.fetch_all(
        statements.iam_access_keys_of, {"account_id": account, "principal_arn": owner_arn}
    )
    return [AccessKeyInfo(r[0], r[1], r[2], KeyStatus(r[3]), r[4]) for r in rows]


def insert_access_key(tx: Tx, key: AccessKeyInfo, wrapped_secret: bytes) -> None:
    values = {
        "access_key_id": key.access_key_id,
        "account_id": key.account,
        "principal_arn": key.owner_arn,
        "wrapped_secret": wrapped_secret,
        "status": key.status.value,
        "created_at": key.created_at,
    }
    tx.insert_unique(shared_statements.access_key_insert, values, key.access_key_id)


def set_access_key_status(tx: Tx, access_key_id: str, status: KeyStatus) -> None:
    tx.execute(
        statements.iam_access_key_set_status,
        {"w_access_key_id": access_key_id, "v_status": status.value},
    )


def delete_access_key(tx: Tx, access_key_id: str) -> None:
    tx.execute(shared_statements.access_key_delete, {"access_key_id": access_key_id})


# --- sessions -------------------------------------------------------------------------


def insert_session(tx: Tx, session: Session, token_hash: str, wrapped_secret: bytes) -> None:
    values = {
        "access_key_id": session.access_key_id,
        "account_id": session.account,
        "token_hash": token_hash,
        "wrapped_secret": wrapped_secret,
        "role_arn": session.role_arn,
        "role_id": session.role_id,
        "session_name": session.session_name,
        "source_arn": session.source_arn,
        "tags": _tags_json(session.tags),
        "session_policy": session.session_policy,
        "chained": session.chained,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
    }
    tx.insert_unique(statements.sts_session_insert, values, session.access_key_id)


def get_session(tx: Tx, access_key_id: str) -> tuple[Session, str, bytes] | None:
    """A session, its token hash and its wrapped secret."""
    r = tx.fetch_one(statements.sts_session_get, {"access_key_id": access_key_id})
    if r is None:
        return None
    c = _SESSION
    session = Session(
        access_key_id=r[c["access_key_id"]],
        account=r[c["account_id"]],
        role_arn=r[c["role_arn"]],
        role_id=r[c["role_id"]],
        session_name=r[c["session_name"]],
        source_arn=r[c["source_arn"]],
        tags=_tags(r[c["tags"]]),
        session_policy=r[c["session_policy"]],
        chained=bool(r[c["chained"]]),
        created_at=r[c["created_at"]],
        expires_at=r[c["expires_at"]],
    )
    return session, r[c["token_hash"]], bytes(r[c["wrapped_secret"]])


def purge_sessions(tx: Tx, before: float) -> int:
    """Forget sessions that expired before ``before``; return how many."""
    return int(tx.execute(statements.sts_sessions_purge, {"before": before}).rowcount or 0)
