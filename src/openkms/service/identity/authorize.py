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

The request, the identity/session decision, the global condition keys and the message
forms are the ones KMS uses (:mod:`openkms.service.access`,
:func:`openkms.service.conditions.global_context`), so a caller gets the same answer
from every API.
"""

from __future__ import annotations

from collections.abc import Mapping

from openkms.authz import Decision, evaluate
from openkms.domain.identities import Role
from openkms.domain.principals import Principal, PrincipalKind
from openkms.errors import AccessDenied
from openkms.service import access
from openkms.service.conditions import global_context
from openkms.service.context import RequestContext
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import Tx

ROOT_MAY_NOT_ASSUME = "Roles may not be assumed by root accounts."


def request_context(
    ctx: RequestContext, extra: Mapping[str, object] | None = None
) -> dict[str, object]:
    """The global condition keys of a request by ``ctx.principal`` (as for KMS), plus
    ``extra`` (the target's resource and request keys)."""
    values = global_context(ctx)
    values.update(extra or {})
    return values


def identity_policies(tx: Tx, principal: Principal) -> list[str]:
    """The identity-based policy documents of a principal (none for an account root)."""
    if principal.kind is PrincipalKind.IAM_USER and principal.user_name is not None:
        return [
            doc
            for _, doc in identity_records.list_policies(
                tx, principal.account, "user", principal.user_name
            )
        ]
    if principal.kind is PrincipalKind.ASSUMED_ROLE and principal.role_arn is not None:
        role_name = principal.role_arn.rsplit("/", 1)[-1]
        return [
            doc
            for _, doc in identity_records.list_policies(tx, principal.account, "role", role_name)
        ]
    return []


def _denied(principal: Principal, action: str, resource: str, reason: str = "") -> AccessDenied:
    return AccessDenied(access.denial(principal, action, resource, reason))


def authorize_iam(
    tx: Tx, principal: Principal, action: str, resource: str, context: Mapping[str, object]
) -> None:
    """Allow ``action`` on ``resource`` (an ARN in the caller's account) or raise AccessDenied."""
    request = access.request_for(principal, action, resource, context)
    verdict = access.identity_decision(principal, request, identity_policies(tx, principal))
    if not verdict.allowed:
        raise _denied(principal, action, resource, verdict.reason)


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
    request = access.request_for(principal, action, role.arn, context)
    trust = evaluate(access.stored_policy(role.trust_policy, "trust"), request)
    if trust.decision is Decision.EXPLICIT_DENY or not trust.allowed:
        raise _denied(principal, action, role_arn)
    identity = access.identity_decision(principal, request, identity_policies(tx, principal))
    if identity.decision is Decision.EXPLICIT_DENY:
        raise _denied(principal, action, role_arn)
    if access.resource_grants_alone(principal, role.account, trust, request).allowed:
        return
    if not identity.allowed:
        raise _denied(principal, action, role_arn)
