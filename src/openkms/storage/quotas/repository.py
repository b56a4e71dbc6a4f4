"""Request quota overrides and the counts behind the resource quotas, over a
:class:`~openkms.storage.repository.Tx`."""

from __future__ import annotations

from openkms.storage.quotas import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import Statement

#: The account of an override that applies to every account without one of its own.
EVERY_ACCOUNT = "*"


def overrides(tx: Tx) -> dict[tuple[str, str], float]:
    """(account or ``*``, quota) -> rate in requests per second."""
    return {
        (account, quota): float(rate)
        for account, quota, rate in tx.fetch_all(statements.overrides_all, {})
    }


def set_override(tx: Tx, account: str, quota: str, rate: float, now: float) -> None:
    tx.execute(statements.override_delete, {"account_id": account, "quota": quota})
    tx.execute(
        statements.override_insert,
        {"account_id": account, "quota": quota, "rate": rate, "updated_at": now},
    )


def remove_override(tx: Tx, account: str, quota: str) -> bool:
    """Drop an override; whether there was one."""
    done = tx.execute(statements.override_delete, {"account_id": account, "quota": quota})
    return bool(done.rowcount)


def _count(tx: Tx, statement: Statement, values: dict[str, str]) -> int:
    row = tx.fetch_one(statement, values)
    return 0 if row is None else int(row[0])


def customer_keys(tx: Tx, account: str, region: str) -> int:
    return _count(tx, statements.customer_keys_count, {"account_id": account, "region": region})


def aliases_of_key(tx: Tx, key_id: str) -> int:
    return _count(tx, statements.aliases_of_key_count, {"key_id": key_id})


def grants_for_grantee(tx: Tx, key_id: str, grantee: str) -> int:
    values = {"key_id": key_id, "grantee_principal": grantee}
    return _count(tx, statements.grants_for_grantee_count, values)


def keys_by_state(tx: Tx) -> dict[str, int]:
    return {state: int(n) for state, n in tx.fetch_all(statements.keys_by_state, {})}
