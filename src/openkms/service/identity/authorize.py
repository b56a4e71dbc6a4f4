"""Authorization of IAM and STS calls. Only :mod:`.dispatch` calls these functions.

Invariants:

* An account's root user may do everything to the IAM entities of its own account
  ("AWS account root user": it "has complete access to all AWS services and resources
  in the account"), but may not assume roles: AWS answers ``AccessDenied`` "Roles may
  not be assumed by root accounts." (AssumeRole API reference: "You cannot use AWS
  account root user credentials to call AssumeRole").
* Any other principal is allowed an action only if one of its identity-based policies
  allows it and none denies it ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
  An IAM user's policies are its inline policies; a role session's are its role's
  inline policies, further limited by the session policy passed to AssumeRole
  ("Session policies": "The resulting session's permissions are the intersection of
  the role's identity-based policy and the session policies").
* AssumeRole is also decided by the role's trust policy, a resource-based policy:
  an explicit deny in either wins; a same-account caller named directly (or by ``*``)
  in the trust policy needs no identity-policy allow; a caller admitted only through
  its account principal (``arn:aws:iam::ACCT:root``), or from another account, needs
  one ("How IAM roles differ from resource-based policies",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_compare-resource-policies.html).
  A role that does not exist is denied with the same message as a trust policy that
  does not admit the caller, so its existence is not revealed.
* Failing closed: a stored policy that no longer parses denies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from openkms.authz import Decision, Policy, Request, evaluate, parse_policy
from openkms.domain.iam_errors import AccessDenied
from openkms.domain.identities import Role
from openkms.domain.principals import Principal, PrincipalKind
from openkms.errors import MalformedPolicyDocumentException
from openkms.service.context import RequestContext
from openkms.storage import identities as store
from openkms.storage.repository import Tx

ROOT_MAY_NOT_ASSUME = "Roles may not be assumed by root accounts."
_PRINCIPAL_TYPE = {
    PrincipalKind.ROOT: "Account",
    PrincipalKind.IAM_USER: "User",
    PrincipalKind.ASSUMED_ROLE: "AssumedRole",
}


def request_context(
    ctx: RequestContext, extra: Mapping[str, object] | None = None
) -> dict[str, object]:
    """The global condition keys of a request by ``ctx.principal``."""
    p = ctx.principal
    values: dict[str, object] = {
        "aws:PrincipalArn": p.role_arn or p.arn,
        "aws:PrincipalAccount": p.account,
        "aws:PrincipalType": _PRINCIPAL_TYPE[p.kind],
        "aws:userid": p.principal_id,
        "aws:CurrentTime": datetime.fromtimestamp(ctx.now, UTC),
        "aws:EpochTime": int(ctx.now),
        "aws:RequestedRegion": ctx.region,
        "aws:SecureTransport": False,
    }
    if p.user_name is not None:
        values["aws:username"] = p.user_name
    if ctx.source_ip:
        values["aws:SourceIp"] = ctx.source_ip
    if ctx.user_agent:
        values["aws:UserAgent"] = ctx.user_agent
    for key, value in p.tags:
        values[f"aws:PrincipalTag/{key}"] = value
    values.update(extra or {})
    return values


def identity_policies(tx: Tx, principal: Principal) -> list[str]:
    """The identity-based policy documents of a principal (none for an account root)."""
    if principal.kind is PrincipalKind.IAM_USER and principal.user_name is not None:
        return [
            doc
            for _, doc in store.list_policies(tx, principal.account, "user", principal.user_name)
        ]
    if principal.kind is PrincipalKind.ASSUMED_ROLE and principal.role_arn is not None:
        role_name = principal.role_arn.rsplit("/", 1)[-1]
        return [doc for _, doc in store.list_policies(tx, principal.account, "role", role_name)]
    return []


_DENY_ALL = parse_policy(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}',
    "identity",
)


def _parsed(document: str) -> Policy:
    try:
        return parse_policy(document, "identity")
    except MalformedPolicyDocumentException:
        return _DENY_ALL  # fail closed


def _identity_decision(tx: Tx, principal: Principal, request: Request) -> tuple[Decision, str]:
    """The identity-policy decision and, for a denial, AWS's reason clause."""
    allowed = False
    for document in identity_policies(tx, principal):
        result = evaluate(_parsed(document), request)
        if result.decision is Decision.EXPLICIT_DENY:
            return Decision.EXPLICIT_DENY, "with an explicit deny in an identity-based policy"
        allowed = allowed or result.allowed
    if not allowed:
        return (
            Decision.NO_MATCH,
            f"because no identity-based policy allows the {request.action} action",
        )
    if principal.session_policy is not None:
        result = evaluate(_parsed(principal.session_policy), request)
        if result.decision is Decision.EXPLICIT_DENY:
            return Decision.EXPLICIT_DENY, "with an explicit deny in a session policy"
        if not result.allowed:
            return (
                Decision.NO_MATCH,
                f"because no session policy allows the {request.action} action",
            )
    return Decision.ALLOW, ""


def _request(
    principal: Principal, action: str, resource: str, context: Mapping[str, object]
) -> Request:
    aliases = (principal.role_arn,) if principal.role_arn else ()
    return Request(principal.arn, principal.account, action, resource, context, aliases)


def _denied(principal: Principal, action: str, resource: str, reason: str = "") -> AccessDenied:
    message = (
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource}"
    )
    return AccessDenied(f"{message} {reason}" if reason else message)


def authorize_iam(
    tx: Tx, principal: Principal, action: str, resource: str, context: Mapping[str, object]
) -> None:
    """Allow ``action`` on ``resource`` (an ARN in the caller's account) or raise AccessDenied."""
    if principal.is_root:
        return
    decision, reason = _identity_decision(
        tx, principal, _request(principal, action, resource, context)
    )
    if decision is not Decision.ALLOW:
        raise _denied(principal, action, resource, reason)


def authorize_assume_role(
    tx: Tx,
    principal: Principal,
    role_arn: str,
    role: Role | None,
    context: Mapping[str, object],
) -> None:
    """Allow ``principal`` to assume ``role`` (None: no such role) or raise AccessDenied."""
    action = "sts:AssumeRole"
    if principal.is_root:
        raise AccessDenied(ROOT_MAY_NOT_ASSUME)
    if role is None:
        raise _denied(principal, action, role_arn)
    request = _request(principal, action, role.arn, context)
    try:
        trust = evaluate(parse_policy(role.trust_policy, "trust"), request)
    except MalformedPolicyDocumentException:
        raise _denied(principal, action, role_arn) from None
    if trust.decision is Decision.EXPLICIT_DENY:
        raise _denied(principal, action, role_arn)
    identity, _ = _identity_decision(tx, principal, request)
    if identity is Decision.EXPLICIT_DENY or not trust.allowed:
        raise _denied(principal, action, role_arn)
    if trust.allows_directly and principal.account == role.account:
        return
    if identity is not Decision.ALLOW:
        raise _denied(principal, action, role_arn)
