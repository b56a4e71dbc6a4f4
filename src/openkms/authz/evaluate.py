"""Evaluate one compiled policy against a request: explicit deny, allow, or no match.

Implements the statement-level part of "Policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
a statement applies when its Action (or NotAction), Resource (or NotResource), Principal
(or NotPrincipal) and every Condition clause match the request; "an explicit deny in any
of these policies overrides the allow"; with no applicable statement the request is not
allowed by this policy ("implicit deny").

Combining policies is the caller's job ("Determining access to an AWS KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html): the key
policy is evaluated first; an ALLOW whose :attr:`Result.principal_match` is ``ACCOUNT``
(Principal ``arn:aws:iam::ACCT:root`` or ``"ACCT"``) only lets the account delegate, so
the caller must also find an identity-policy ALLOW unless the caller is the account root
itself. A ``DIRECT`` or ``WILDCARD`` allow grants same-account principals on its own;
principals from another account always need their own account's IAM allow too.

:attr:`Result.names_caller` tells *which* identity an allow matched: the request's own
principal ARN (e.g. a role session's ARN) rather than one of its other identities (the
session's role ARN) or ``*``. A session policy limits what a resource-based policy grants
by naming the role, but not what it grants by naming the session ("Session policies",
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from openkms.authz.context import Context, Request
from openkms.authz.document import Policy, Statement, StatementRef
from openkms.authz.principals import PrincipalMatch

__all__ = ["Decision", "Request", "Result", "evaluate", "principal_coverage", "statement_applies"]

_RANK = {PrincipalMatch.ACCOUNT: 0, PrincipalMatch.WILDCARD: 1, PrincipalMatch.DIRECT: 2}
_NO_CONTEXT = Context({})
_DIRECT, _WILDCARD = PrincipalMatch.DIRECT, PrincipalMatch.WILDCARD


class Decision(StrEnum):
    EXPLICIT_DENY = "EXPLICIT_DENY"
    ALLOW = "ALLOW"
    NO_MATCH = "NO_MATCH"


_EXPLICIT_DENY, _ALLOW, _NO_MATCH = Decision.EXPLICIT_DENY, Decision.ALLOW, Decision.NO_MATCH


class Result(NamedTuple):
    """What one policy says about one request.

    ``principal_match`` is the strongest way an *allowing* statement covered the principal
    (DIRECT > WILDCARD > ACCOUNT); it is ``None`` when nothing allowed and for identity
    policies, whose statements implicitly name the identity they are attached to.
    """

    decision: Decision
    allowed_by: tuple[StatementRef, ...]
    denied_by: tuple[StatementRef, ...]
    principal_match: PrincipalMatch | None
    #: An allowing statement names the request's own principal ARN, not just another of
    #: its identities, its account or "*" (False for identity policies).
    names_caller: bool = False

    @property
    def allowed(self) -> bool:
        return self.decision is _ALLOW

    @property
    def allows_directly(self) -> bool:
        """ALLOW without needing an identity-policy allow from the principal's account
        (for a principal of the resource's own account)."""
        return self.allowed and self.principal_match in (
            PrincipalMatch.DIRECT,
            PrincipalMatch.WILDCARD,
        )


def evaluate(policy: Policy, request: Request) -> Result:
    """Evaluate every statement of ``policy`` against ``request``."""
    ctx = Context(request.context) if policy.uses_context else _NO_CONTEXT
    allowed: list[StatementRef] = []
    denied: list[StatementRef] = []
    best: PrincipalMatch | None = None
    names_caller = False
    action, resource = request.action, request.resource
    for statement in policy.statements:
        # statement_applies(), inlined: this loop is on every request's path.
        if not statement.actions.applies(action):
            continue
        if not statement.resources.applies(resource, ctx):
            continue
        how = principal_coverage(statement, request)
        if how is None:
            continue
        if statement.conditions and not _conditions_hold(statement, ctx):
            continue
        if statement.is_deny:
            denied.append(statement.ref)
        else:
            allowed.append(statement.ref)
            if best is None or _RANK[how] > _RANK[best]:
                best = how
            if how is _DIRECT and not names_caller:
                names_caller = _names_caller(statement, request)
    if denied:
        decision = _EXPLICIT_DENY
    elif allowed:
        decision = _ALLOW
    else:
        decision = _NO_MATCH
    if policy.kind == "identity":
        best, names_caller = None, False
    return Result(decision, tuple(allowed), tuple(denied), best, names_caller)


def _names_caller(statement: Statement, request: Request) -> bool:
    spec = statement.principal
    if spec is None or statement.not_principal:
        return False
    return request.principal_arn in spec.arns


def _conditions_hold(statement: Statement, ctx: Context) -> bool:
    for clause in statement.conditions:
        if not clause.evaluate(ctx):
            return False
    return True


def statement_applies(
    statement: Statement, request: Request, ctx: Context
) -> PrincipalMatch | None:
    """How the statement covers the request's principal if it applies, else ``None``."""
    if not statement.actions.applies(request.action):
        return None
    if not statement.resources.applies(request.resource, ctx):
        return None
    how = principal_coverage(statement, request)
    if how is None or not _conditions_hold(statement, ctx):
        return None
    return how


def principal_coverage(statement: Statement, request: Request) -> PrincipalMatch | None:
    """Principal/NotPrincipal check; a statement without either (identity policy) names
    the identity it is attached to, i.e. covers the principal directly."""
    spec = statement.principal
    if spec is None:
        return _DIRECT
    if statement.not_principal:
        return None if spec.excludes(request, deny=statement.is_deny) else _WILDCARD
    return spec.match(request)
