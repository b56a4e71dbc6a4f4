"""The IAM policy language: parse, validate, compile and evaluate policy documents.

Public API::

    policy = parse_policy(text, "resource")      # or "identity", "trust"; cached by text
    result = evaluate(policy, Request(...))      # Decision EXPLICIT_DENY / ALLOW / NO_MATCH
    print(explain(policy, request).render())     # why each statement did or did not apply

Written to AWS's documentation: "IAM JSON policy elements reference", "Policy evaluation
logic", "IAM policy elements: Variables and tags", "IAM JSON policy elements: Condition
operators", and the AWS KMS "Key policies" and "AWS KMS condition keys" pages. Each module
cites the passages it implements. Invalid documents raise
:class:`openkms.errors.MalformedPolicyDocumentException`.
"""

from openkms.authz.conditions import Clause, Family, SetOperator
from openkms.authz.context import Request
from openkms.authz.document import (
    MAX_KEY_POLICY_BYTES,
    Effect,
    Policy,
    PolicyKind,
    Statement,
    StatementRef,
    parse_policy,
)
from openkms.authz.evaluate import Decision, Result, evaluate
from openkms.authz.explain import Check, Explanation, StatementTrace, explain
from openkms.authz.principals import PrincipalMatch

__all__ = [
    "MAX_KEY_POLICY_BYTES",
    "Check",
    "Clause",
    "Decision",
    "Effect",
    "Explanation",
    "Family",
    "Policy",
    "PolicyKind",
    "PrincipalMatch",
    "Request",
    "Result",
    "SetOperator",
    "Statement",
    "StatementRef",
    "StatementTrace",
    "evaluate",
    "explain",
    "parse_policy",
]
