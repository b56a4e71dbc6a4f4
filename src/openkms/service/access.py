"""The one authorization core every API builds on: KMS keys, IAM, STS and CloudTrail.

KMS (:mod:`openkms.service.kms.authorize`) adds key policies and grants; IAM and STS
(:mod:`openkms.service.identity.authorize`) add trust policies; CloudTrail asks IAM
alone. What they share lives here, once, so that the same caller asking the same
question gets the same answer from every API:

* :func:`request_for`: the :class:`~openkms.authz.Request` for a caller, naming every
  identity it answers to (:meth:`Principal.identities`: its ARN and, for a role session,
  the role's ARN with its path) and its unique id (``AIDA...``/``AROA...``, which a key
  policy may name).
* :func:`stored_policy`: a stored document that no longer parses denies everything
  (fail closed), whatever its kind.
* :func:`identity_decision`: the caller's identity-based policies, intersected with the
  session policy of a role session ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html;
  "Session policies": "The resulting session's permissions are the intersection of the
  role's identity-based policy and the session policies"). An account's root user is
  allowed everything in its own account and has no identity policies.
* :func:`resource_grants_alone`: whether a resource-based policy's ALLOW stands without an
  identity-policy allow. Only for a caller of the resource's account named directly
  (or by ``*``); and for a role session, the session policy still limits it unless the
  policy named the *session* ARN ("Session policies": "A resource-based policy can
  specify the ARN of the user or role as a principal. In that case, the permissions
  from the resource-based policy are added to the role or user's identity-based policy
  before the session is created. The session policy limits the total permissions ...
  [when it] specif[ies] the ARN of the session as a principal ... the session policy
  doesn't limit the permissions"). A ``*`` principal does not name the session, so the
  session policy limits it too (the choice that denies).
* :func:`denial`: AWS's message, ``User: ARN is not authorized to perform: ACTION on
  resource: RESOURCE`` followed by the reason clause; each API wraps it in its own
  AccessDenied error type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from openkms.authz import Decision, Policy, Request, evaluate, parse_policy
from openkms.authz.evaluate import Result
from openkms.domain.principals import Principal
from openkms.errors import MalformedPolicyDocumentException

PolicyKind = Literal["identity", "resource", "trust"]

_DENY_ALL: dict[str, Policy] = {
    "identity": parse_policy(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}',
        "identity",
    ),
    "resource": parse_policy(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
        '"Action":"*","Resource":"*"}]}',
        "resource",
    ),
    "trust": parse_policy(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}',
        "trust",
    ),
}

DENY_IN_RESOURCE_POLICY = "with an explicit deny in a resource-based policy"
DENY_IN_IDENTITY_POLICY = "with an explicit deny in an identity-based policy"
DENY_IN_SESSION_POLICY = "with an explicit deny in a session policy"


def no_resource_policy_allows(action: str) -> str:
    return f"because no resource-based policy allows the {action} action"


def no_identity_policy_allows(action: str) -> str:
    return f"because no identity-based policy allows the {action} action"


def no_session_policy_allows(action: str) -> str:
    return f"because no session policy allows the {action} action"


def request_for(
    principal: Principal, action: str, resource: str, context: Mapping[str, object]
) -> Request:
    """The authorization question for ``principal``; it answers to all its identities and
    to its unique id (a key policy may name a user or role by it)."""
    aliases = principal.identities()[1:]
    if principal.unique_id is not None:
        aliases = (*aliases, principal.unique_id)
    return Request(principal.arn, principal.account, action, resource, context, aliases)


def stored_policy(text: str, kind: PolicyKind) -> Policy:
    """A stored policy document; one that no longer parses denies everything."""
    try:
        return parse_policy(text, kind)
    except MalformedPolicyDocumentException:
        return _DENY_ALL[kind]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, unless it is ALLOW, AWS's reason clause for the denial."""

    decision: Decision
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


ALLOWED = Verdict(Decision.ALLOW)


def session_decision(principal: Principal, request: Request) -> Verdict:
    """What the session policy of a role session says (ALLOW when there is none)."""
    if principal.session_policy is None:
        return ALLOWED
    result = evaluate(stored_policy(principal.session_policy, "identity"), request)
    if result.decision is Decision.EXPLICIT_DENY:
        return Verdict(Decision.EXPLICIT_DENY, DENY_IN_SESSION_POLICY)
    if not result.allowed:
        return Verdict(Decision.NO_MATCH, no_session_policy_allows(request.action))
    return ALLOWED


def identity_decision(principal: Principal, request: Request, policies: Iterable[str]) -> Verdict:
    """The caller's identity-based policies, narrowed by its session policy."""
    if principal.is_root:
        return ALLOWED
    allowed = False
    for text in policies:
        result = evaluate(stored_policy(text, "identity"), request)
        if result.decision is Decision.EXPLICIT_DENY:
            return Verdict(Decision.EXPLICIT_DENY, DENY_IN_IDENTITY_POLICY)
        allowed = allowed or result.allowed
    session = session_decision(principal, request)
    if session.decision is Decision.EXPLICIT_DENY:
        return session
    if not allowed:
        return Verdict(Decision.NO_MATCH, no_identity_policy_allows(request.action))
    return session


def resource_grants_alone(
    principal: Principal, resource_account: str, by_resource: Result, request: Request
) -> Verdict:
    """Whether a resource-based policy's ALLOW suffices without an identity-policy allow
    (see the module docstring). NO_MATCH with no reason: the caller needs an identity
    policy's allow; with a reason: the session policy limits what the policy gives."""
    if not (by_resource.allows_directly and principal.account == resource_account):
        return Verdict(Decision.NO_MATCH)
    if by_resource.names_caller:
        return ALLOWED
    return session_decision(principal, request)


def denial(principal: Principal, action: str, resource: str, reason: str = "") -> str:
    """AWS's AccessDenied message for ``principal`` (the reason clause is optional)."""
    message = (
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource}"
    )
    return f"{message} {reason}" if reason else message
