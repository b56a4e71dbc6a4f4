"""Repository functions for key lifecycle work: import tokens and due maintenance work.

Plain functions over a :class:`~openkms.storage.repository.Tx`, like the grant and
identity repositories.
"""

from __future__ import annotations

from typing import Any

from openkms.domain.imports import ImportToken
from openkms.domain.keys import KeyState
from openkms.storage.keys import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

#: How many due items one maintenance pass takes of each kind before it looks again.
DUE_BATCH = 200
#: Column name -> position in the rows of ``import_token_get``.
_IMPORT_TOKEN = columns(statements.import_token_get)


def insert_import_token(tx: Tx, token: ImportToken) -> None:
    tx.execute(
        statements.import_token_insert,
        {
            "token_id": token.token_id,
            "key_id": token.key_id,
            "wrapping_algorithm": token.wrapping_algorithm,
            "wrapping_key_spec": token.wrapping_key_spec,
            "wrapped_private_key": token.wrapped_private_key,
            "created_at": token.created_at,
            "valid_to": token.valid_to,
        },
    )


def get_import_token(tx: Tx, token_id: str) -> ImportToken | None:
    r = tx.fetch_one(statements.import_token_get, {"token_id": token_id})
    if r is None:
        return None
    c = _IMPORT_TOKEN
    return ImportToken(
        token_id=r[c["token_id"]],
        key_id=r[c["key_id"]],
        wrapping_algorithm=r[c["wrapping_algorithm"]],
        wrapping_key_spec=r[c["wrapping_key_spec"]],
        wrapped_private_key=bytes(r[c["wrapped_private_key"]]),
        created_at=r[c["created_at"]],
        valid_to=r[c["valid_to"]],
    )


def delete_import_token(tx: Tx, token_id: str) -> None:
    tx.execute(statements.import_token_delete, {"token_id": token_id})


def purge_import_tokens(tx: Tx, at: float) -> int:
    """Forget import tokens whose 24 hours ended at or before ``at``."""
    cursor: Any = tx.execute(statements.import_tokens_purge, {"at": at})
    return int(cursor.rowcount or 0)


def due_deletions(tx: Tx, at: float, limit: int = DUE_BATCH) -> list[str]:
    """Keys whose deletion date is at or before ``at`` (their state is checked again,
    under lock, before anything is removed)."""
    return [r[0] for r in tx.fetch_all(statements.due_deletions, {"at": at, "lim": limit})]


def due_rotations(tx: Tx, at: float, limit: int = DUE_BATCH) -> list[str]:
    """Enabled keys with automatic rotation on whose next rotation date has come (a
    disabled key is not rotated; once enabled again it is, at once, if it is past due)."""
    values = {"at": at, "lim": limit, "enabled": True, "state": KeyState.ENABLED.value}
    return [r[0] for r in tx.fetch_all(statements.due_rotations, values)]


def due_on_demand(tx: Tx, at: float, limit: int = DUE_BATCH) -> list[str]:
    """Keys with an on-demand rotation waiting to be carried out."""
    return [r[0] for r in tx.fetch_all(statements.due_on_demand, {"at": at, "lim": limit})]


def due_sync(tx: Tx, at: float, limit: int = DUE_BATCH) -> list[str]:
    """Multi-Region keys with a replica creation or a primary-Region change to finish."""
    return [r[0] for r in tx.fetch_all(statements.due_sync, {"at": at, "lim": limit})]


def due_expirations(tx: Tx, at: float, limit: int = DUE_BATCH) -> list[tuple[str, int]]:
    """(key id, version) of imported material whose ValidTo is at or before ``at``."""
    return [
        (r[0], int(r[1]))
        for r in tx.fetch_all(statements.due_expirations, {"at": at, "lim": limit})
    ]
