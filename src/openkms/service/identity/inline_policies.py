"""Inline policies of users and roles: Put/Get/List/Delete{User,Role}Policy share these.

(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkms.domain.identities import check_inline_policies
from openkms.errors import NoSuchEntity
from openkms.service.identity.common import check_identity_policy, page
from openkms.service.identity.registry import IdentityCall
from openkms.storage.identity import repository as identity_records


@dataclass(frozen=True, slots=True)
class Owner:
    """The identity an inline policy is attached to."""

    kind: str  # "user" or "role"
    account: str
    name: str

    @property
    def name_member(self) -> str:
        return "UserName" if self.kind == "user" else "RoleName"


def put(call: IdentityCall, owner: Owner) -> dict[str, Any]:
    name, document = call.params["PolicyName"], call.params["PolicyDocument"]
    check_identity_policy(document)
    others = [
        d
        for n, d in identity_records.list_policies(call.tx, owner.account, owner.kind, owner.name)
        if n != name
    ]
    check_inline_policies(owner.kind, owner.name, [*others, document])
    identity_records.put_policy(call.tx, owner.account, owner.kind, owner.name, name, document)
    return {}


def _existing(call: IdentityCall, owner: Owner) -> tuple[str, str]:
    name = call.params["PolicyName"]
    document = identity_records.get_policy(call.tx, owner.account, owner.kind, owner.name, name)
    if document is None:
        raise NoSuchEntity(f"The {owner.kind} policy with name {name} cannot be found.")
    return name, document


def get(call: IdentityCall, owner: Owner) -> dict[str, Any]:
    name, document = _existing(call, owner)
    return {owner.name_member: owner.name, "PolicyName": name, "PolicyDocument": document}


def list_names(call: IdentityCall, owner: Owner) -> dict[str, Any]:
    names = [
        n for n, _ in identity_records.list_policies(call.tx, owner.account, owner.kind, owner.name)
    ]
    chosen, paging = page(names, call.params, lambda n: n)
    return {"PolicyNames": chosen, **paging}


def delete(call: IdentityCall, owner: Owner) -> dict[str, Any]:
    name, _ = _existing(call, owner)
    identity_records.delete_policy(call.tx, owner.account, owner.kind, owner.name, name)
    return {}
