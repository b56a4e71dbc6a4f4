"""Why each statement of a policy did or did not apply to a request.

The same predicates as :func:`openkms.authz.evaluate.evaluate`, run without
short-circuiting, each with a sentence. This powers ``openkms authz explain``: for every
statement, which of Action/NotAction, Resource/NotResource, Principal/NotPrincipal and
each Condition clause (operator, key, values) held or failed ("Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from openkms.authz.context import Context, Request
from openkms.authz.document import Effect, Policy, Statement, StatementRef
from openkms.authz.evaluate import Result, evaluate, principal_coverage
from openkms.authz.principals import PrincipalMatch


@dataclass(frozen=True, slots=True)
class Check:
    element: str  # Action, NotAction, Resource, NotResource, Principal, NotPrincipal, Condition
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class StatementTrace:
    ref: StatementRef
    effect: Effect
    applies: bool
    principal_match: PrincipalMatch | None
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


@dataclass(frozen=True, slots=True)
class Explanation:
    request: Request
    result: Result
    statements: tuple[StatementTrace, ...]

    def render(self) -> str:
        r = self.request
        lines = [
            f"Request: {r.principal_arn or '(anonymous)'} -> {r.action} on {r.resource}",
            f"Decision: {self.result.decision.value}" + _decided_by(self.result),
        ]
        for trace in self.statements:
            verdict = "applies" if trace.applies else "does not apply"
            lines.append(f"{trace.ref} [{trace.effect.value}]: {verdict}")
            for check in trace.checks:
                lines.append(f"  {'ok  ' if check.passed else 'FAIL'} {check.detail}")
        return "\n".join(lines)


def explain(policy: Policy, request: Request) -> Explanation:
    ctx = Context(request.context)
    traces = tuple(_trace(st, request, ctx) for st in policy.statements)
    result = evaluate(policy, request)
    return Explanation(request, result, traces)


def _decided_by(result: Result) -> str:
    refs = result.denied_by or result.allowed_by
    if not refs:
        return " (no statement applies: implicit deny)"
    text = " by " + "; ".join(str(ref) for ref in refs)
    if result.allowed and result.principal_match is PrincipalMatch.ACCOUNT:
        text += " (through the account principal only: an IAM policy must also allow)"
    return text


def _trace(st: Statement, request: Request, ctx: Context) -> StatementTrace:
    checks = [_action_check(st, request), _resource_check(st, request, ctx)]
    how = principal_coverage(st, request)
    if st.principal is not None:
        checks.append(_principal_check(st, request, how))
    for clause in st.conditions:
        passed, detail = clause.explain(ctx)
        checks.append(Check("Condition", passed, detail))
    applies = all(c.passed for c in checks)
    return StatementTrace(st.ref, st.effect, applies, how if applies else None, tuple(checks))


def _action_check(st: Statement, request: Request) -> Check:
    m = st.actions
    passed = m.applies(request.action)
    listed = _list(m.patterns)
    if m.element == "Action":
        verb = "matches" if passed else "does not match"
        return Check("Action", passed, f"Action {listed} {verb} {request.action!r}")
    verb = "is not listed in" if passed else "is listed in"
    return Check("NotAction", passed, f"{request.action!r} {verb} NotAction {listed}")


def _resource_check(st: Statement, request: Request, ctx: Context) -> Check:
    m = st.resources
    passed = m.applies(request.resource, ctx)
    if not m.element:
        why = (
            "trust policy statement: no Resource element"
            if passed
            else "no Resource element: a key policy statement without Resource applies to no key"
        )
        return Check("Resource", passed, why)
    listed = _list(m.patterns)
    if m.element == "Resource":
        verb = "matches" if passed else "does not match"
        return Check("Resource", passed, f"Resource {listed} {verb} {request.resource!r}")
    verb = "is not listed in" if passed else "is listed in"
    return Check("NotResource", passed, f"{request.resource!r} {verb} NotResource {listed}")


def _principal_check(st: Statement, request: Request, how: PrincipalMatch | None) -> Check:
    assert st.principal is not None
    who = request.principal_arn or "(anonymous)"
    shown = st.principal.shown
    if st.not_principal:
        if how is None:
            return Check("NotPrincipal", False, f"NotPrincipal [{shown}] excludes {who}")
        return Check("NotPrincipal", True, f"NotPrincipal [{shown}] does not exclude {who}")
    if how is None:
        return Check("Principal", False, f"Principal [{shown}] does not cover {who}")
    if how is PrincipalMatch.ACCOUNT:
        detail = (
            f"Principal [{shown}] covers {who} only through account "
            f"{request.principal_account} (the account principal delegates to IAM policies)"
        )
        return Check("Principal", True, detail)
    if how is PrincipalMatch.WILDCARD:
        return Check("Principal", True, f"Principal [{shown}] covers every principal")
    return Check("Principal", True, f"Principal [{shown}] names {who}")


def _list(patterns: tuple[str, ...]) -> str:
    return json.dumps(list(patterns))
