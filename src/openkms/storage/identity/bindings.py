"""Which IAM user or role each principal ARN of a key policy meant when it was saved.

Rows of :data:`openkms.storage.identity.tables.key_policy_principals`; the rules live in
:mod:`openkms.service.policy_principals`.
"""

from __future__ import annotations

from collections.abc import Mapping

from openkms.storage.identity import statements
from openkms.storage.repository import Tx


def replace_bindings(tx: Tx, key_id: str, bindings: Mapping[str, str]) -> None:
    """Make ``bindings`` (principal ARN → unique id) the key's, replacing any before."""
    tx.execute(statements.kms_policy_principals_delete, {"key_id": key_id})
    tx.execute_many(
        statements.kms_policy_principal_insert,
        [
            {"key_id": key_id, "principal_arn": arn, "unique_id": unique_id}
            for arn, unique_id in sorted(bindings.items())
        ],
    )


def bindings_of(tx: Tx, key_id: str) -> dict[str, str]:
    """The key's bindings: principal ARN → the unique id it meant when saved."""

    def read() -> tuple[tuple[str, str], ...]:
        rows = tx.fetch_all(statements.kms_policy_principals_of, {"key_id": key_id})
        return tuple((arn, unique_id) for arn, unique_id in rows)

    return dict(tx.cached(("bindings", key_id), read))
