"""The authorization chokepoint. Only :mod:`openkms.service.kms` calls it.

Invariant: an operation runs only after :func:`authorize` returned for every key it
acts on (or :func:`authorize_account` for operations on no key). The rules are AWS's
"Determining access to an AWS KMS key"
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html):

1. An explicit Deny in the key policy or in an identity policy of the caller wins.
2. Otherwise the key policy decides first. It may allow the caller directly, or allow
   the caller's *account* (``arn:aws:iam::ACCT:root``), which delegates to the
   account's IAM: then an identity policy must allow the caller too (the account's
   root user needs none: it is allowed everything in its account).
3. A caller from another account always needs both: the key policy allowing it (or its
   account) and an identity policy of its own account allowing it.
4. Failing that, a grant for the caller on this key and operation allows it.

Nothing here fails open: every path that does not end in an explicit allow raises
AccessDeniedException with AWS's message forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from openkms.authz import Decision, Request, evaluate, parse_policy
from openkms.authz.document import Policy
from openkms.domain.keys import Key
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, MalformedPolicyDocumentException
from openkms.service.context import RequestContext

#: Identity policies of a principal (JSON texts), looked up per request when needed.
IdentityPolicies = Callable[[Principal], Sequence[str]]
#: Whether a grant on the key allows the operation for the principal.
GrantCheck = Callable[[Key, Principal, str, Mapping[str, object]], bool]


def _deny(ctx: RequestContext, action: str, resource: str, why: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource} {why}"
    )


def _request(
    principal: Principal, action: str, resource: str, context: Mapping[str, object]
) -> Request:
    aliases = (principal.role_arn,) if principal.role_arn else ()
    return Request(principal.arn, principal.account, action, resource, context, aliases)


def is_account_root(principal: Principal) -> bool:
    return principal.arn == f"arn:aws:iam::{principal.account}:root"


def _identity_policy(text: str) -> Policy:
    """A stored identity policy; one that no longer parses denies everything (fail closed)."""
    try:
        return parse_policy(text, "identity")
    except MalformedPolicyDocumentException:
        return _DENY_ALL


_DENY_ALL = parse_policy(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}',
    "identity",
)


def _identity_decision(
    ctx: RequestContext, request: Request, identity_policies: IdentityPolicies
) -> Decision:
    """EXPLICIT_DENY / ALLOW / NO_MATCH over the caller's identity policies, narrowed by the
    session policy of a role session (which can only take permissions away)."""
    principal = ctx.principal
    if is_account_root(principal):
        return Decision.ALLOW
    decision = Decision.NO_MATCH
    for text in identity_policies(principal):
        result = evaluate(_identity_policy(text), request)
        if result.decision is Decision.EXPLICIT_DENY:
            return Decision.EXPLICIT_DENY
        if result.allowed:
            decision = Decision.ALLOW
    if principal.session_policy is not None:
        result = evaluate(_identity_policy(principal.session_policy), request)
        if result.decision is Decision.EXPLICIT_DENY:
            return Decision.EXPLICIT_DENY
        if not result.allowed:
            return Decision.NO_MATCH
    return decision


def authorize(
    ctx: RequestContext,
    action: str,
    key: Key,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
    grant_allows: GrantCheck,
) -> None:
    """Allow ``ctx.principal`` to perform ``action`` on ``key`` or raise AccessDenied."""
    principal = ctx.principal
    request = _request(principal, action, key.arn, context)
    by_key = evaluate(key_policy(key), request)
    if by_key.decision is Decision.EXPLICIT_DENY:
        raise _deny(ctx, action, key.arn, "with an explicit deny in a resource-based policy")
    by_identity = _identity_decision(ctx, request, identity_policies)
    if by_identity is Decision.EXPLICIT_DENY:
        raise _deny(ctx, action, key.arn, "with an explicit deny in an identity-based policy")
    same_account = principal.account == key.account
    if by_key.allowed:
        if same_account and (by_key.allows_directly or by_identity is Decision.ALLOW):
            return
        if not same_account and by_identity is Decision.ALLOW:
            return
    if grant_allows(key, principal, action.split(":", 1)[1], context):
        return
    if by_key.allowed:
        raise _deny(
            ctx, action, key.arn, f"because no identity-based policy allows the {action} action"
        )
    raise _deny(
        ctx, action, key.arn, f"because no resource-based policy allows the {action} action"
    )


def authorize_account(
    ctx: RequestContext,
    action: str,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
) -> None:
    """Operations on no particular key (CreateKey, ListKeys, ...): IAM alone decides,
    for the caller's own account."""
    principal = ctx.principal
    request = _request(principal, action, "*", context)
    decision = _identity_decision(ctx, request, identity_policies)
    if decision is Decision.ALLOW:
        return
    if decision is Decision.EXPLICIT_DENY:
        raise _deny(ctx, action, "*", "with an explicit deny in an identity-based policy")
    raise _deny(ctx, action, "*", f"because no identity-based policy allows the {action} action")


def key_policy(key: Key) -> Policy:
    return parse_policy(key.policy, "resource")


def allows_policy_updates(policy_text: str, ctx: RequestContext, key_arn: str) -> bool:
    """The policy lockout safety check: would the caller still be allowed PutKeyPolicy?"""
    request = _request(ctx.principal, "kms:PutKeyPolicy", key_arn, {})
    result = evaluate(parse_policy(policy_text, "resource"), request)
    return result.allowed
