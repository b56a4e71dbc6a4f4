"""IAM users and their inline policies: CreateUser, GetUser, ListUsers, DeleteUser,
TagUser, PutUserPolicy, GetUserPolicy, ListUserPolicies, DeleteUserPolicy."""

from __future__ import annotations

from typing import Any

from openkms.domain.identities import (
    User,
    check_request_tags,
    merge_tags,
    new_user_id,
)
from openkms.domain.principals import root_arn
from openkms.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    UnsupportedOperation,
)
from openkms.service.identity import inline_policies, targets
from openkms.service.identity.common import (
    page,
    require_user,
    user_view,
)
from openkms.service.identity.registry import IdentityCall, IdentityOperation, operation
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import DuplicateError

IAM = "iam"


@operation(IAM, "CreateUser", resolve=targets.new_user, writes=True)
def create_user(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html"""
    p = call.params
    if p.get("PermissionsBoundary") is not None:
        raise UnsupportedOperation("PermissionsBoundary is not supported by this OpenKMS server.")
    tags = check_request_tags((t["Key"], t["Value"]) for t in p.get("Tags") or ())
    user = User(
        account=call.account,
        name=p["UserName"],
        user_id=new_user_id(),
        path=p.get("Path") or "/",
        created_at=call.ctx.now,
        tags=tags,
    )
    try:
        identity_records.insert_user(call.tx, user)
    except DuplicateError:
        raise EntityAlreadyExists(f"User with name {user.name} already exists.") from None
    return {"User": user_view(user)}


@operation(IAM, "GetUser", resolve=targets.user(implicit=True))
def get_user(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUser.html

    Without UserName the caller is meant; for an account's root user AWS answers with
    its account id as UserId and the root ARN (no UserName or Path)."""
    if call.target.name is None:
        account = call.account
        keys = identity_records.access_keys_of(call.tx, account, root_arn(account))
        created = min((k.created_at for k in keys), default=call.ctx.now)
        return {"User": {"UserId": account, "Arn": root_arn(account), "CreateDate": created}}
    return {"User": user_view(require_user(call))}


@operation(IAM, "ListUsers", resolve=targets.listing("user"))
def list_users(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html

    Like AWS, the listing leaves out tags ("use GetUser")."""
    prefix = call.params.get("PathPrefix") or "/"
    users = [
        u for u in identity_records.list_users(call.tx, call.account) if u.path.startswith(prefix)
    ]
    chosen, paging = page(users, call.params, lambda u: u.name.lower())
    return {"Users": [user_view(u, tags=False) for u in chosen], **paging}


@operation(IAM, "DeleteUser", resolve=targets.user(), writes=True)
def delete_user(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUser.html

    "you must delete the items attached to the user manually": access keys and inline
    policies first, else DeleteConflict."""
    user = require_user(call)
    if identity_records.access_keys_of(call.tx, user.account, user.arn):
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if identity_records.list_policies(call.tx, user.account, "user", user.name):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    identity_records.delete_user(call.tx, user)
    return {}


@operation(IAM, "TagUser", resolve=targets.user(tags=True), writes=True)
def tag_user(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagUser.html"""
    user = require_user(call)
    new = check_request_tags((t["Key"], t["Value"]) for t in call.params["Tags"])
    identity_records.set_user_tags(call.tx, user, merge_tags(user.tags, new, "TagsPerUser"))
    return {}


def _owner(call: IdentityCall) -> inline_policies.Owner:
    user = require_user(call)
    return inline_policies.Owner("user", user.account, user.name)


@operation(IAM, "PutUserPolicy", resolve=targets.user(), writes=True)
def put_user_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutUserPolicy.html"""
    return inline_policies.put(call, _owner(call))


@operation(IAM, "GetUserPolicy", resolve=targets.user())
def get_user_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetUserPolicy.html"""
    return inline_policies.get(call, _owner(call))


@operation(IAM, "ListUserPolicies", resolve=targets.user())
def list_user_policies(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUserPolicies.html"""
    return inline_policies.list_names(call, _owner(call))


@operation(IAM, "DeleteUserPolicy", resolve=targets.user(), writes=True)
def delete_user_policy(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteUserPolicy.html"""
    return inline_policies.delete(call, _owner(call))


OPERATIONS: tuple[IdentityOperation, ...] = (
    create_user,
    get_user,
    list_users,
    delete_user,
    tag_user,
    put_user_policy,
    get_user_policy,
    list_user_policies,
    delete_user_policy,
)
