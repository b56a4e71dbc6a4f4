"""IAM roles and their inline policies: CreateRole, GetRole, ListRoles, DeleteRole, TagRole,
PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy."""

from __future__ import annotations

from typing import Any

from openkms.authz import parse_policy
from openkms.domain.identities import (
    DEFAULT_MAX_SESSION_SECONDS,
    Role,
    check_request_tags,
    check_trust_policy_size,
    merge_tags,
    new_role_id,
)
from openkms.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    UnsupportedOperation,
)
from openkms.service.identity import inline_policies, targets
from openkms.service.identity.common import (
    page,
    require_role,
    role_view,
)
from openkms.service.identity.registry import IdentityCall, IdentityOperation, operation
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import DuplicateError

IAM = "iam"


@operation(IAM, "CreateRole", resolve=targets.new_role, writes=True)
def create_role(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html"""
    p = call.params
    for unsupported in ("PermissionsBoundary", "MaxSigninSessionDuration"):
        if p.get(unsupported) is not None:
            raise UnsupportedOperation(f"{unsupported} is not supported by this OpenKMS server.")
    trust = p["AssumeRolePolicyDocument"]
    parse_policy(trust, "trust")
    check_trust_policy_size(trust)
    role = Role(
        account=call.account,
        name=p["RoleName"],
        role_id=new_role_id(),
        path=p.get("Path") or "/",
        created_at=call.ctx.now,
        trust_policy=trust,
        description=p.get("Description"),
        max_session_duration=p.get("MaxSessionDuration") or DEFAULT_MAX_SESSION_SECONDS,
        tags=check_request_tags((t["Key"], t["Value"]) for t in p.get("Tags") or ()),
    )
    try:
        identity_records.insert_role(call.tx, role)
    except DuplicateError:
        raise EntityAlreadyExists(f"Role with name {role.name} already exists.") from None
    return {"Role": role_view(role)}


@operation(IAM, "GetRole", resolve=targets.role())
def get_role(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html"""
    return {"Role": role_view(require_role(call))}


@operation(IAM, "ListRoles", resolve=targets.listing("role"))
def list_roles(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html

    Like AWS, the listing leaves out tags ("use GetRole")."""
    prefix = call.params.get("PathPrefix") or "/"
    roles = [
        r for r in identity_records.list_roles(call.tx, call.account) if r.path.startswith(prefix)
    ]
    chosen, paging = page(roles, call.params, lambda r: r.name.lower())
    return {"Roles": [role_view(r, tags=False) for r in chosen], **paging}


@operation(IAM, "DeleteRole", resolve=targets.role(), writes=True)
def delete_role(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html

    Inline policies must be deleted first. Sessions already issued keep authenticating
    until they expire, but lose every permission the role's policies gave them."""
    role = require_role(call)
    if identity_records.list_policies(call.tx, role.account, "role", role.name):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    identity_records.delete_role(call.tx, role)
    return {}


@operation(IAM, "TagRole", resolve=targets.role(tags=True), writes=True)
def tag_role(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagRole.html"""
    role = require_role(call)
    new = check_request_tags((t["Key"], t["Value"]) for t in call.params["Tags"])
    identity_records.set_role_tags(call.tx, role, merge_tags(role.tags, new, "TagsPerRole"))
    return {}


def _owner(call: IdentityCall) -> inline_policies.Owner:
    role = require_role(call)
    return inline_policies.Owner("role", role.account, role.name)


@operation(IAM, "PutRolePolicy", resolve=targets.role(), writes=True)
def put_role_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html"""
    return inline_policies.put(call, _owner(call))


@operation(IAM, "GetRolePolicy", resolve=targets.role())
def get_role_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html"""
    return inline_policies.get(call, _owner(call))


@operation(IAM, "ListRolePolicies", resolve=targets.role())
def list_role_policies(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRolePolicies.html"""
    return inline_policies.list_names(call, _owner(call))


@operation(IAM, "DeleteRolePolicy", resolve=targets.role(), writes=True)
def delete_role_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRolePolicy.html"""
    return inline_policies.delete(call, _owner(call))


OPERATIONS: tuple[IdentityOperation, ...] = (
    create_role,
    get_role,
    list_roles,
    delete_role,
    tag_role,
    put_role_policy,
    get_role_policy,
    list_role_policies,
    delete_role_policy,
)
