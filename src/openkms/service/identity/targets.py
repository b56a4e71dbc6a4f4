"""Resolvers: the resource each IAM/STS operation acts on, read before authorization.

AWS authorizes IAM actions on the entity's ARN, which includes its path
("IAM identifiers"); when the entity does not exist the path is unknown and ``/`` is
used, and the handler then reports ``NoSuchEntity``, after authorization, so that an
unauthorized caller cannot probe which names exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openkms.domain.identities import Tags, parse_role_arn, role_arn, user_arn
from openkms.domain.principals import PrincipalKind, root_arn
from openkms.errors import ValidationError
from openkms.service.context import RequestContext
from openkms.service.identity.registry import Resolver, Target
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import Tx

NON_USER_CALLER = "Must specify userName when calling with non-User credentials"


def _tag_pairs(params: dict[str, Any], name: str = "Tags") -> Tags:
    return tuple((t["Key"], t["Value"]) for t in params.get(name) or ())


def resource_tag_context(tags: Tags) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tags:
        out[f"aws:ResourceTag/{key}"] = value
        out[f"iam:ResourceTag/{key}"] = value
    return out


def request_tag_context(tags: Tags) -> dict[str, object]:
    out: dict[str, object] = {f"aws:RequestTag/{k}": v for k, v in tags}
    if tags:
        out["aws:TagKeys"] = [k for k, _ in tags]
    return out


def user(param: str = "UserName", *, implicit: bool = False, tags: bool = False) -> Resolver:
    """The user named by ``param``; with ``implicit``, an absent name means the caller
    (an IAM user itself, or the account's root user)."""

    def resolve(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
        principal = ctx.principal
        name = params.get(param)
        if name is None:
            if not implicit or principal.kind is PrincipalKind.ASSUMED_ROLE:
                raise ValidationError(NON_USER_CALLER)
            if principal.kind is PrincipalKind.ROOT:
                return Target(root_arn(principal.account))
            name = principal.user_name
        assert isinstance(name, str)
        found = identity_records.get_user(tx, principal.account, name, for_update=tx.write)
        context = resource_tag_context(found.tags) if found else {}
        if tags:
            context.update(request_tag_context(_tag_pairs(params)))
        arn = found.arn if found else user_arn(principal.account, "/", name)
        return Target(arn, name, found, context)

    return resolve


def new_user(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
    name = params["UserName"]
    arn = user_arn(ctx.principal.account, params.get("Path") or "/", name)
    return Target(arn, name, None, request_tag_context(_tag_pairs(params)))


def role(param: str = "RoleName", *, tags: bool = False) -> Resolver:
    def resolve(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
        name = params[param]
        found = identity_records.get_role(tx, ctx.principal.account, name, for_update=tx.write)
        context = resource_tag_context(found.tags) if found else {}
        if tags:
            context.update(request_tag_context(_tag_pairs(params)))
        arn = found.arn if found else role_arn(ctx.principal.account, "/", name)
        return Target(arn, name, found, context)

    return resolve


def new_role(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
    name = params["RoleName"]
    arn = role_arn(ctx.principal.account, params.get("Path") or "/", name)
    return Target(arn, name, None, request_tag_context(_tag_pairs(params)))


def listing(kind: str) -> Resolver:
    """ListUsers / ListRoles act on ``arn:aws:iam::ACCT:user/`` (``role/``)."""

    def resolve(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
        return Target(f"arn:aws:iam::{ctx.principal.account}:{kind}/")

    return resolve


def caller(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
    return Target(ctx.principal.arn)


def assumed_role(ctx: RequestContext, params: dict[str, Any], tx: Tx) -> Target:
    """AssumeRole's role (None if it does not exist or the ARN's path is not its path)
    and the sts: condition keys of the request."""
    arn = params["RoleArn"]
    account, name = parse_role_arn(arn)
    found = identity_records.get_role(tx, account, name)
    if found is not None and found.arn != arn:
        found = None
    session_tags = _tag_pairs(params)
    context: dict[str, object] = {"sts:RoleSessionName": params["RoleSessionName"]}
    for key in ("ExternalId", "SourceIdentity"):
        if params.get(key) is not None:
            context[f"sts:{key}"] = params[key]
    transitive: Sequence[str] = params.get("TransitiveTagKeys") or ()
    if transitive:
        context["sts:TransitiveTagKeys"] = list(transitive)
    context.update(request_tag_context(session_tags))
    if found is not None:
        context.update(resource_tag_context(found.tags))
    return Target(arn, name, found, context)
