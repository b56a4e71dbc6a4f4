"""Helpers shared by the IAM handlers: existence checks, paging, entity views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from openkms.authz import parse_policy
from openkms.domain.identities import Role, Tags, User
from openkms.errors import NoSuchEntity
from openkms.service.identity.registry import IdentityCall

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


def require_user(call: IdentityCall) -> User:
    user = call.target.entity
    if not isinstance(user, User):
        raise NoSuchEntity(f"The user with name {call.target.name} cannot be found.")
    return user


def require_role(call: IdentityCall) -> Role:
    role = call.target.entity
    if not isinstance(role, Role):
        raise NoSuchEntity(f"The role with name {call.target.name} cannot be found.")
    return role


def check_identity_policy(document: str) -> None:
    """Raise MalformedPolicyDocument unless ``document`` is a valid identity policy."""
    parse_policy(document, "identity")


def page(
    items: Sequence[T], params: dict[str, Any], key: Callable[[T], str]
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items``, ordered by ``key`` (in Python: database collations differ),
    after ``Marker``, at most ``MaxItems``; the marker is the last key returned."""
    marker = params.get("Marker")
    limit = params.get("MaxItems") or DEFAULT_MAX_ITEMS
    rest = sorted((item for item in items if marker is None or key(item) > marker), key=key)
    chosen = rest[:limit]
    if len(rest) > limit:
        return chosen, {"IsTruncated": True, "Marker": key(chosen[-1])}
    return chosen, {"IsTruncated": False}


def tag_list(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def user_view(user: User, *, tags: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
    }
    if tags and user.tags:
        view["Tags"] = tag_list(user.tags)
    return view


def role_view(role: Role, *, tags: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": role.trust_policy,
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
    }
    if tags and role.tags:
        view["Tags"] = tag_list(role.tags)
    return view
