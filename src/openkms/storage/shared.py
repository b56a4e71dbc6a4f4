"""The records no single family owns, over a :class:`~openkms.storage.repository.Tx`:
access keys (an account root's and IAM users') and settings (``openkms_meta``).

Plain functions over a ``Tx``, like every family's repository; their tables and
statements are :mod:`openkms.storage.tables` and :mod:`openkms.storage.statements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openkms.domain.principals import root_arn
from openkms.storage import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

#: Column name -> position in the rows of ``access_key_get``.
_ACCESS_KEY = columns(statements.access_key_get)


class StoredAccessKey:
    __slots__ = ("access_key_id", "account_id", "principal_arn", "status", "wrapped_secret")

    def __init__(self, row: Sequence[Any]) -> None:
        c = _ACCESS_KEY
        self.access_key_id: str = row[c["access_key_id"]]
        self.account_id: str = row[c["account_id"]]
        self.principal_arn: str = row[c["principal_arn"]]
        self.wrapped_secret: bytes = bytes(row[c["wrapped_secret"]])
        self.status: str = row[c["status"]]


# access keys ----------------------------------------------------------
def get_access_key(tx: Tx, access_key_id: str) -> StoredAccessKey | None:
    row = tx.fetch_one(statements.access_key_get, {"access_key_id": access_key_id})
    return None if row is None else StoredAccessKey(row)


def put_access_key(
    tx: Tx,
    access_key_id: str,
    account: str,
    principal_arn: str,
    wrapped_secret: bytes,
    now: float,
) -> None:
    tx.execute(statements.access_key_delete, {"access_key_id": access_key_id})
    tx.execute(
        statements.access_key_insert,
        {
            "access_key_id": access_key_id,
            "account_id": account,
            "principal_arn": principal_arn,
            "wrapped_secret": wrapped_secret,
            "status": "Active",
            "created_at": now,
        },
    )


def delete_access_key(tx: Tx, access_key_id: str) -> None:
    tx.execute(statements.access_key_delete, {"access_key_id": access_key_id})


def root_access_key_ids(tx: Tx, account: str) -> list[str]:
    found = tx.fetch_all(
        statements.access_keys_for_principal,
        {"account_id": account, "principal_arn": root_arn(account)},
    )
    return [r[0] for r in found]


# settings -------------------------------------------------------------
def get_meta(tx: Tx, name: str) -> bytes | None:
    row = tx.fetch_one(statements.meta_get, {"name": name})
    return None if row is None else bytes(row[0])


def set_meta(tx: Tx, name: str, value: bytes) -> None:
    tx.execute(statements.meta_delete, {"name": name})
    tx.execute(statements.meta_insert, {"name": name, "value": value})


def delete_meta(tx: Tx, name: str) -> None:
    tx.execute(statements.meta_delete, {"name": name})


class Settings:
    """The settings of one unit of work as an object (what
    :func:`openkms.crypto.signing.load_audit_signer` is given)."""

    __slots__ = ("_tx",)

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def get_meta(self, name: str) -> bytes | None:
        return get_meta(self._tx, name)

    def set_meta(self, name: str, value: bytes) -> None:
        set_meta(self._tx, name, value)
