"""Key policy documents: the default policy and the structural checks PutKeyPolicy makes.

Enforcement (evaluating statements against a request) belongs to the authorization
layer; here a document is checked to be a well-formed IAM policy, as
"Key policies in AWS KMS" and "IAM JSON policy elements reference" describe
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html).
"""

from __future__ import annotations

import json
from typing import Any

from openkms.errors import MalformedPolicyDocumentException

MAX_POLICY_BYTES = 32_768
_VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)


def default_policy(account: str) -> str:
    """AWS's default key policy, in the layout GetKeyPolicy returns it."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "arn:aws:iam::{account}:root"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )


def check_policy_document(text: str) -> dict[str, Any]:
    """Parse and structurally validate a key policy; raise MalformedPolicyDocumentException."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise MalformedPolicyDocumentException(
            f"Policy document exceeds the maximum size of {MAX_POLICY_BYTES} bytes."
        )
    try:
        doc = json.loads(text)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise MalformedPolicyDocumentException(f"Policy has an invalid Version: {version}")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocumentException("Policy must contain at least one Statement.")
    for i, statement in enumerate(statements):
        _check_statement(statement, i)
    return doc


def _check_statement(st: object, index: int) -> None:
    where = f"Statement {index}"
    if not isinstance(st, dict):
        raise MalformedPolicyDocumentException(f"{where} must be a JSON object.")
    unknown = set(st) - _STATEMENT_KEYS
    if unknown:
        raise MalformedPolicyDocumentException(
            f"{where} has unsupported element(s): {', '.join(sorted(unknown))}"
        )
    if st.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyDocumentException(f"{where} must have Effect Allow or Deny.")
    if ("Principal" in st) == ("NotPrincipal" in st):
        raise MalformedPolicyDocumentException(
            f"{where} must have exactly one of Principal or NotPrincipal."
        )
    if ("Action" in st) == ("NotAction" in st):
        raise MalformedPolicyDocumentException(
            f"{where} must have exactly one of Action or NotAction."
        )
    if "Resource" in st and "NotResource" in st:
        raise MalformedPolicyDocumentException(
            f"{where} must not have both Resource and NotResource."
        )
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        value = st.get(name)
        if value is not None and not _is_string_or_strings(value):
            raise MalformedPolicyDocumentException(
                f"{where}: {name} must be a string or a list of strings."
            )
    condition = st.get("Condition")
    if condition is not None and not isinstance(condition, dict):
        raise MalformedPolicyDocumentException(f"{where}: Condition must be a JSON object.")


def _is_string_or_strings(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
