"""Does a grant let the caller do this? The last way into a key, after the policies.

Grants name a grantee principal (the caller's ARN, or its role's ARN for a session),
the operations they allow, and optional encryption-context constraints
("Grants in AWS KMS", https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
A grant that allows CreateGrant lets its grantee create only grants within it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openkms.domain.grants import grant_allows, is_within, parse_constraints, parse_operations
from openkms.domain.keys import Key
from openkms.domain.principals import Principal
from openkms.storage.grants.repository import grants_for_grantee
from openkms.storage.repository import Tx

_CONTEXT_PARAMETER = {
    "ReEncryptFrom": "SourceEncryptionContext",
    "ReEncryptTo": "DestinationEncryptionContext",
}


def identities(principal: Principal) -> tuple[str, ...]:
    """The ARNs a grant may name the caller by (:meth:`Principal.identities`: its own and,
    for a role session, its role's, with the role's path)."""
    return principal.identities()


def check_grants(
    tx: Tx, key: Key, principal: Principal, operation: str, params: Mapping[str, Any]
) -> bool:
    names = identities(principal)
    grants = grants_for_grantee(tx, key.key_id, names)
    if not grants:
        return False
    context = params.get(_CONTEXT_PARAMETER.get(operation, "EncryptionContext"))
    grant = grant_allows(grants, names, operation, context)
    if grant is None:
        return False
    if operation == "CreateGrant":
        return is_within(
            grant,
            parse_operations(params.get("Operations", [])),
            parse_constraints(params.get("Constraints")),
        )
    return True
