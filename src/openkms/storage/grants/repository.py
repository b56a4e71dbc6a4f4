"""Grant records over a :class:`~openkms.storage.repository.Tx`.

Rows become frozen :class:`~openkms.domain.grants.Grant` values here; nothing above this
module sees a row. :func:`grants_for_grantee` and :func:`grants_for_key` are what the
authorizer reads on cryptographic requests: one indexed query each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openkms.domain.grants import ConstraintKind, Grant, GrantConstraints, GrantOperation
from openkms.storage.grants import statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

#: Column name -> position in the grant rows (every grant statement but the count
#: selects the whole kms_grants row).
_GRANT = columns(statements.grant_get)


def _grant_from_row(r: Sequence[Any]) -> Grant:
    c = _GRANT
    constraints = None
    kind = r[c["constraint_kind"]]
    if kind is not None:
        constraints = GrantConstraints.of(
            ConstraintKind(kind), json.loads(r[c["constraint_context"]])
        )
    return Grant(
        grant_id=r[c["grant_id"]],
        key_id=r[c["key_id"]],
        account=r[c["account_id"]],
        region=r[c["region"]],
        name=r[c["name"]],
        grantee_principal=r[c["grantee_principal"]],
        retiring_principal=r[c["retiring_principal"]],
        operations=tuple(GrantOperation(op) for op in r[c["operations"]].split(",")),
        constraints=constraints,
        issuing_account=r[c["issuing_account"]],
        creation_date=r[c["created_at"]],
    )


def _grant_values(grant: Grant) -> dict[str, Any]:
    constraints = grant.constraints
    return {
        "grant_id": grant.grant_id,
        "key_id": grant.key_id,
        "account_id": grant.account,
        "region": grant.region,
        "name": grant.name,
        "grantee_principal": grant.grantee_principal,
        "retiring_principal": grant.retiring_principal,
        "operations": ",".join(op.value for op in grant.operations),
        "constraint_kind": None if constraints is None else constraints.kind.value,
        "constraint_context": (
            None if constraints is None else json.dumps(constraints.context, sort_keys=True)
        ),
        "issuing_account": grant.issuing_account,
        "created_at": grant.creation_date,
    }


def insert_grant(tx: Tx, grant: Grant) -> None:
    """Store a new grant (a clashing grant id raises DuplicateError)."""
    tx.insert_unique(statements.grant_insert, _grant_values(grant), grant.grant_id)


def get_grant(tx: Tx, grant_id: str) -> Grant | None:
    row = tx.fetch_one(statements.grant_get, {"grant_id": grant_id})
    return None if row is None else _grant_from_row(row)


def delete_grant(tx: Tx, grant_id: str) -> None:
    tx.execute(statements.grant_delete, {"grant_id": grant_id})


def count_grants_for_key(tx: Tx, key_id: str) -> int:
    row = tx.fetch_one(statements.grants_count_for_key, {"key_id": key_id})
    return 0 if row is None else int(row[0])


def grants_by_name(tx: Tx, key_id: str, name: str) -> list[Grant]:
    """The key's grants with this name (names need not be unique)."""
    rows = tx.fetch_all(statements.grants_by_name, {"key_id": key_id, "name": name})
    return [_grant_from_row(r) for r in rows]


def list_grants(
    tx: Tx, key_id: str, grantee_principal: str | None, after: str | None, limit: int
) -> list[Grant]:
    """A page of the key's grants in grant id order, after the grant id ``after``."""
    values: dict[str, Any] = {"key_id": key_id, "lim": limit}
    if grantee_principal is not None:
        values["grantee_principal"] = grantee_principal
    if after is not None:
        values["after"] = after
    statement = statements.grants_list[grantee_principal is not None, after is not None]
    return [_grant_from_row(r) for r in tx.fetch_all(statement, values)]


def list_retirable_grants(
    tx: Tx, region: str, retiring_principal: str, after: str | None, limit: int
) -> list[Grant]:
    """A page of the region's grants (on any account's keys) with this retiring principal."""
    values: dict[str, Any] = {"region": region, "retiring_principal": retiring_principal}
    values["lim"] = limit
    if after is None:
        rows = tx.fetch_all(statements.grants_retirable, values)
    else:
        rows = tx.fetch_all(statements.grants_retirable_after, {**values, "after": after})
    return [_grant_from_row(r) for r in rows]


def grants_for_key(tx: Tx, key_id: str) -> list[Grant]:
    """Every grant on the key (up to 50,000)."""
    return [
        _grant_from_row(r) for r in tx.fetch_all(statements.grants_all_for_key, {"key_id": key_id})
    ]


def grants_for_grantee(tx: Tx, key_id: str, principal_arns: Sequence[str]) -> list[Grant]:
    """The key's grants whose grantee is one of ``principal_arns``: the selective read for
    :func:`openkms.domain.grants.grant_allows` (one indexed query per identity)."""
    found: list[Grant] = []
    for arn in dict.fromkeys(principal_arns):

        def read(arn: str = arn) -> tuple[Grant, ...]:
            rows = tx.fetch_all(
                statements.grants_for_grantee, {"key_id": key_id, "grantee_principal": arn}
            )
            return tuple(_grant_from_row(r) for r in rows)

        found.extend(tx.cached(("grants", key_id, arn), read))
    return found
