"""The authorization chokepoint. Only :mod:`openkms.service.kms.dispatch` calls it.

Invariant: an operation runs only after :func:`authorize` returned for every key it
acts on, or :func:`authorize_account` for operations on no key and for those whose
optional key is not given (ListAliases without KeyId); the few whose handler decides
who may act (RetireGrant) still pass :func:`refuse_explicit_deny`. The rules are AWS's
"Determining access to an AWS KMS key"
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html):

1. An explicit Deny in the key policy or in an identity policy of the caller wins.
2. Otherwise the key policy decides first. It may allow the caller directly, or allow
   the caller's *account* (``arn:aws:iam::ACCT:root``), which delegates to the
   account's IAM: then an identity policy must allow the caller too (the account's
   root user needs none: it is allowed everything in its account). A key policy that
   names a role session's *role* (or ``*``) is limited by the session policy; one that
   names the session itself is not ("Session policies", IAM User Guide).
3. A caller from another account always needs both: the key policy allowing it (or its
   account) and an identity policy of its own account allowing it.
4. Failing that, a grant for the caller on this key and operation allows it.

The shared parts (the request for a caller, identity and session policies, when a key
policy's allow stands alone, the message forms) are :mod:`openkms.service.access`, the
core IAM, STS and CloudTrail build on too. The key policy is read as it reads now:
principals bound to unique ids (:mod:`openkms.service.policy_principals`).

Nothing here fails open: every path that does not end in an explicit allow raises
AccessDeniedException with AWS's message forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from openkms.authz import Decision, evaluate, parse_policy
from openkms.authz.document import Policy, PolicyKind
from openkms.domain.keys import Key
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException
from openkms.service import access
from openkms.service.context import RequestContext

#: Identity policies of a principal (JSON texts), looked up per request when needed.
IdentityPolicies = Callable[[Principal], Sequence[str]]
#: Whether a grant on the key allows the operation for the principal.
GrantCheck = Callable[[Key, Principal, str, Mapping[str, object]], bool]


def _deny(ctx: RequestContext, action: str, resource: str, why: str) -> AccessDeniedException:
    return AccessDeniedException(access.denial(ctx.principal, action, resource, why))


def is_account_root(principal: Principal) -> bool:
    return principal.is_root


def authorize(
    ctx: RequestContext,
    action: str,
    key: Key,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
    grant_allows: GrantCheck,
    policy_text: str | None = None,
) -> None:
    """Allow ``ctx.principal`` to perform ``action`` on ``key`` or raise AccessDenied.
    ``policy_text`` is the key policy as it reads now (principals bound to unique ids,
    :mod:`openkms.service.policy_principals`); by default the stored text."""
    verdict = policy_verdict(ctx.principal, action, key, context, identity_policies, policy_text)
    if verdict.allowed:
        return
    if verdict.decision is not Decision.EXPLICIT_DENY and grant_allows(
        key, ctx.principal, action.split(":", 1)[1], context
    ):
        return
    raise _deny(ctx, action, key.arn, verdict.reason)


def policy_verdict(
    principal: Principal,
    action: str,
    key: Key,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
    policy_text: str | None = None,
) -> access.Verdict:
    """What the policies say (rules 1-3): the key policy, the caller's identity policies
    and its session policy; grants are not asked. A denial carries its reason clause."""
    request = access.request_for(principal, action, key.arn, context)
    by_key = evaluate(
        access.stored_policy(key.policy if policy_text is None else policy_text, "resource"),
        request,
    )
    if by_key.decision is Decision.EXPLICIT_DENY:
        return access.Verdict(Decision.EXPLICIT_DENY, access.DENY_IN_RESOURCE_POLICY)
    by_identity = access.identity_decision(principal, request, identity_policies(principal))
    if by_identity.decision is Decision.EXPLICIT_DENY:
        return by_identity
    reason = access.no_resource_policy_allows(action)
    if by_key.allowed:
        alone = access.resource_grants_alone(principal, key.account, by_key, request)
        if alone.allowed or by_identity.allowed:
            return access.ALLOWED
        reason = alone.reason or by_identity.reason  # the session policy, else IAM
    return access.Verdict(Decision.NO_MATCH, reason)


def allowed_whatever_the_context(
    principal: Principal,
    action: str,
    key: Key,
    identity_policies: IdentityPolicies,
    policy_text: str,
) -> bool:
    """Whether the policies allow the call without reading a single condition key: none
    of them has a Condition or a policy variable, and together they allow. Such an answer
    depends only on the principal, the action, the key's ARN and the policy texts, so a
    memo keyed by exactly those may keep it (the dispatcher keeps it in the read cache,
    which a change of state empties). False is no denial: the full check decides."""
    texts: list[tuple[str, PolicyKind]] = [(policy_text, "resource")]
    if not principal.is_root:
        texts += [(text, "identity") for text in identity_policies(principal)]
    if principal.session_policy is not None:
        texts.append((principal.session_policy, "identity"))
    if any(access.stored_policy(text, kind).uses_context for text, kind in texts):
        return False
    return policy_verdict(principal, action, key, {}, identity_policies, policy_text).allowed


def authorize_account(
    ctx: RequestContext,
    action: str,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
) -> None:
    """Operations on no particular key (CreateKey, ListKeys, ListAliases without KeyId,
    ...): IAM alone decides, for the caller's own account."""
    principal = ctx.principal
    request = access.request_for(principal, action, "*", context)
    verdict = access.identity_decision(principal, request, identity_policies(principal))
    if not verdict.allowed:
        raise _deny(ctx, action, "*", verdict.reason)


def refuse_explicit_deny(
    ctx: RequestContext,
    action: str,
    context: Mapping[str, object],
    identity_policies: IdentityPolicies,
) -> None:
    """Operations whose handler decides who may act (RetireGrant: the grant names its
    retiring principals) are still refused by an explicit deny in the caller's identity
    or session policies: "an explicit deny in any of these policies overrides the allow"."""
    principal = ctx.principal
    request = access.request_for(principal, action, "*", context)
    verdict = access.identity_decision(principal, request, identity_policies(principal))
    if verdict.decision is Decision.EXPLICIT_DENY:
        raise _deny(ctx, action, "*", verdict.reason)


def key_policy(key: Key) -> Policy:
    """The key's policy; one that no longer parses denies everything (fail closed)."""
    return access.stored_policy(key.policy, "resource")


def allows_policy_updates(policy_text: str, ctx: RequestContext, key_arn: str) -> bool:
    """The policy lockout safety check: would the caller still be allowed PutKeyPolicy?"""
    request = access.request_for(ctx.principal, "kms:PutKeyPolicy", key_arn, {})
    result = evaluate(parse_policy(policy_text, "resource"), request)
    return result.allowed
