"""External keys and XKS proxy credentials over a :class:`~openkms.storage.repository.Tx`.

Reads go through the unit of work's read cache (``Tx.cached``), so a proxy answers a
known key's requests from memory; every write here is a state-changing transaction
(the admin commands), which moves the state generation on: a running proxy sees a key
disabled, deleted or a credential revoked within the read cache's cross-process bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openkms.domain.xks import XksKey, XksKeyStatus, XksKeyUsage
from openkms.storage.repository import Tx
from openkms.storage.sql import columns
from openkms.storage.xks import statements

_KEY = columns(statements.xks_key_get)


def _key(row: Sequence[Any]) -> XksKey:
    c = _KEY
    return XksKey(
        key_id=row[c["key_id"]],
        status=XksKeyStatus(row[c["status"]]),
        usage=frozenset(XksKeyUsage(u) for u in json.loads(row[c["usage"]])),
        version=int(row[c["version"]]),
        wrapped_material=bytes(row[c["wrapped_material"]]),
        created_at=float(row[c["created_at"]]),
        allowed_principals=tuple(json.loads(row[c["allowed_principals"]])),
        allowed_operations=tuple(json.loads(row[c["allowed_operations"]])),
        description=row[c["description"]],
    )


def get_key(tx: Tx, key_id: str) -> XksKey | None:
    def load() -> XksKey | None:
        row = tx.fetch_one(statements.xks_key_get, {"key_id": key_id})
        return None if row is None else _key(row)

    return tx.cached(("xks_key", key_id), load)


def list_keys(tx: Tx) -> list[XksKey]:
    return [_key(row) for row in tx.fetch_all(statements.xks_key_list, {})]


def insert_key(tx: Tx, key: XksKey) -> None:
    """Store a new key; :class:`~openkms.storage.repository.DuplicateError` if its id is
    taken."""
    tx.insert_unique(
        statements.xks_key_insert,
        {
            "key_id": key.key_id,
            "status": key.status.value,
            "usage": json.dumps(sorted(u.value for u in key.usage)),
            "version": key.version,
            "wrapped_material": key.wrapped_material,
            "allowed_principals": json.dumps(list(key.allowed_principals)),
            "allowed_operations": json.dumps(list(key.allowed_operations)),
            "description": key.description,
            "created_at": key.created_at,
        },
        key.key_id,
    )


def set_status(tx: Tx, key_id: str, status: XksKeyStatus) -> bool:
    """Whether the key exists (and now has ``status``)."""
    cursor = tx.execute(statements.xks_key_set_status, {"key_id": key_id, "status": status.value})
    return bool(cursor.rowcount)


def delete_key(tx: Tx, key_id: str) -> bool:
    cursor = tx.execute(statements.xks_key_delete, {"key_id": key_id})
    return bool(cursor.rowcount)


def get_credential(tx: Tx, access_key_id: str) -> bytes | None:
    """The sealed secret of a stored credential, or None."""

    def load() -> bytes | None:
        row = tx.fetch_one(statements.xks_credential_get, {"access_key_id": access_key_id})
        return None if row is None else bytes(row[0])

    return tx.cached(("xks_credential", access_key_id), load)


def list_credentials(tx: Tx) -> list[tuple[str, float]]:
    """``(access key id, created at)`` of every stored credential, oldest first."""
    return [(r[0], float(r[1])) for r in tx.fetch_all(statements.xks_credential_list, {})]


def insert_credential(tx: Tx, access_key_id: str, wrapped_secret: bytes, now: float) -> None:
    tx.insert_unique(
        statements.xks_credential_insert,
        {"access_key_id": access_key_id, "wrapped_secret": wrapped_secret, "created_at": now},
        access_key_id,
    )


def delete_credential(tx: Tx, access_key_id: str) -> bool:
    cursor = tx.execute(statements.xks_credential_delete, {"access_key_id": access_key_id})
    return bool(cursor.rowcount)
