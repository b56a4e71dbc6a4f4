"""Policy variables ("IAM policy elements: Variables and tags")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from openkms.authz import Decision, Request, evaluate, parse_policy
from openkms.authz.variables import Escaped, Variable, parse_template
from openkms.errors import MalformedPolicyDocumentException

A = "111122223333"
ALICE = f"arn:aws:iam::{A}:user/alice"


def identity(statement: dict[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": [statement]}
    if version:
        body["Version"] = version
    return json.dumps(body)


def allowed(
    statement: dict[str, Any],
    context: Mapping[str, object],
    *,
    resource: str = "*",
    version: str | None = "2012-10-17",
) -> bool:
    policy = parse_policy(identity(statement, version), "identity")
    req = Request(ALICE, A, "s3:GetObject", resource, context)
    return evaluate(policy, req).decision is Decision.ALLOW


def cond(operator: str, key: str, value: object) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "*",
        "Condition": {operator: {key: value}},
    }


def res(pattern: str | list[str], element: str = "Resource") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", element: pattern}


# ----------------------------------------------------------------------------- parsing


def test_template_parts() -> None:
    t = parse_template("home/${aws:username}/${*}${?}${$}", variables=True)
    assert t.parts == (
        "home/",
        Variable("aws:username", None),
        "/",
        Escaped("*"),
        Escaped("?"),
        Escaped("$"),
    )
    assert not t.static


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ("${aws:userid, 'anonymous'}", Variable("aws:userid", "anonymous")),
        ("${aws:userid,'anonymous'}", Variable("aws:userid", "anonymous")),
        ("${ aws:userid , 'anonymous' }", Variable("aws:userid", "anonymous")),
        ("${AWS:UserName}", Variable("aws:username", None)),
        ("${aws:username, 'it''s'}", Variable("aws:username", "it's")),
        ("${aws:username, ''}", Variable("aws:username", "")),
        ("${aws:PrincipalTag/team}", Variable("aws:principaltag/team", None)),
    ],
)
def test_variable_syntax(text: str, variable: Variable) -> None:
    assert parse_template(text, variables=True).parts == (variable,)


@pytest.mark.parametrize(
    "text",
    [
        "${aws:username",
        "${}",
        "${ }",
        "${a b}",
        "${aws:username, default}",
        "${x, 'a'b'}",
        "$aws:username",
    ],
)
def test_malformed_variables_stay_literal(text: str) -> None:
    t = parse_template(text, variables=True)
    assert t.static
    assert t.literal() == text


def test_2008_version_has_no_variables() -> None:
    t = parse_template("${aws:username}${*}", variables=False)
    assert t.static and t.literal() == "${aws:username}${*}"


# ----------------------------------------------------------------------------- conditions

USER = {"aws:username": "bob"}

CONDITION_CASES: list[tuple[str, str, object, dict[str, object], bool]] = [
    (
        "StringEquals",
        "kms:EncryptionContext:user",
        "${aws:username}",
        {**USER, "kms:EncryptionContext:user": "bob"},
        True,
    ),
    (
        "StringEquals",
        "kms:EncryptionContext:user",
        "${aws:username}",
        {**USER, "kms:EncryptionContext:user": "alice"},
        False,
    ),
    (
        "StringEquals",
        "kms:EncryptionContext:user",
        "${aws:username}",
        {"kms:EncryptionContext:user": "bob"},
        False,
    ),
    (
        "StringEquals",
        "kms:EncryptionContext:user",
        "${aws:username}",
        {"kms:EncryptionContext:user": "${aws:username}"},
        False,
    ),
    ("StringEquals", "k:v", "${AWS:USERNAME}", {**USER, "k:v": "bob"}, True),
    ("StringEquals", "k:v", "user-${aws:username}-x", {**USER, "k:v": "user-bob-x"}, True),
    ("StringEquals", "k:v", "${aws:username, 'anonymous'}", {"k:v": "anonymous"}, True),
    ("StringEquals", "k:v", "${aws:username, 'anonymous'}", {**USER, "k:v": "anonymous"}, False),
    ("StringEquals", "k:v", "${aws:username, 'anonymous'}", {**USER, "k:v": "bob"}, True),
    ("StringEquals", "k:v", ["${aws:username}", "admin"], {"k:v": "admin"}, True),
    ("StringEquals", "k:v", "${*}", {"k:v": "*"}, True),
    ("StringEquals", "k:v", "${?}", {"k:v": "?"}, True),
    ("StringEquals", "k:v", "${$}{aws:username}", {**USER, "k:v": "${aws:username}"}, True),
    (
        "StringEquals",
        "k:v",
        "${aws:SecureTransport}",
        {"aws:SecureTransport": True, "k:v": "true"},
        True,
    ),
    (
        "StringEquals",
        "k:v",
        "${aws:MultiFactorAuthAge}",
        {"aws:MultiFactorAuthAge": 300, "k:v": "300"},
        True,
    ),
    ("StringEquals", "k:v", "${aws:TagKeys}", {"aws:TagKeys": ["a"], "k:v": "a"}, False),
    (
        "StringEquals",
        "k:v",
        "${aws:TagKeys, 'none'}",
        {"aws:TagKeys": ["a", "b"], "k:v": "none"},
        True,
    ),
    (
        "StringEquals",
        "k:v",
        "${aws:CurrentTime}",
        {"aws:CurrentTime": datetime(2024, 1, 1, tzinfo=UTC), "k:v": "2024-01-01T00:00:00+00:00"},
        True,
    ),
    (
        "StringEqualsIgnoreCase",
        "k:v",
        "${aws:username}",
        {"aws:username": "Bob", "k:v": "BOB"},
        True,
    ),
    (
        "StringLike",
        "s3:prefix",
        "home/${aws:username}/*",
        {**USER, "s3:prefix": "home/bob/docs"},
        True,
    ),
    (
        "StringLike",
        "s3:prefix",
        "home/${aws:username}/*",
        {**USER, "s3:prefix": "home/alice/docs"},
        False,
    ),
    (
        "StringLike",
        "s3:prefix",
        ["", "home/", "home/${aws:username}/"],
        {**USER, "s3:prefix": "home/"},
        True,
    ),
    ("StringLike", "k:v", "${aws:username}", {"aws:username": "b*", "k:v": "bob"}, False),
    ("StringLike", "k:v", "${aws:username}", {"aws:username": "b*", "k:v": "b*"}, True),
    ("StringLike", "k:v", "a${*}", {"k:v": "a*"}, True),
    ("StringLike", "k:v", "a${*}", {"k:v": "abc"}, False),
    ("StringLike", "k:v", "a${?}*", {"k:v": "a?xyz"}, True),
    ("StringLike", "k:v", "a${?}*", {"k:v": "abxyz"}, False),
    ("StringNotEquals", "k:v", "${aws:username}", {**USER, "k:v": "bob"}, False),
    ("StringNotEquals", "k:v", "${aws:username}", {**USER, "k:v": "eve"}, True),
    ("StringNotEquals", "k:v", "${aws:username}", {"k:v": "eve"}, True),
    ("StringNotLike", "k:v", "${aws:username}*", {**USER, "k:v": "bobby"}, False),
    (
        "ArnLike",
        "aws:SourceArn",
        "arn:aws:iam::${aws:PrincipalAccount}:role/*",
        {"aws:PrincipalAccount": A, "aws:SourceArn": f"arn:aws:iam::{A}:role/x"},
        True,
    ),
    (
        "ArnLike",
        "aws:SourceArn",
        "arn:aws:iam::${aws:PrincipalAccount}:role/*",
        {"aws:PrincipalAccount": "444455556666", "aws:SourceArn": f"arn:aws:iam::{A}:role/x"},
        False,
    ),
    (
        "ArnEquals",
        "aws:SourceArn",
        "arn:aws:iam::111122223333:user/${aws:username}",
        {**USER, "aws:SourceArn": f"arn:aws:iam::{A}:user/bob"},
        True,
    ),
    (
        "ArnNotEquals",
        "aws:SourceArn",
        "arn:aws:iam::111122223333:user/${aws:username}",
        {**USER, "aws:SourceArn": f"arn:aws:iam::{A}:user/bob"},
        False,
    ),
    (
        "StringEquals",
        "k:v",
        "${aws:PrincipalTag/team}",
        {"aws:PrincipalTag/Team": "blue", "k:v": "blue"},
        True,
    ),
]


@pytest.mark.parametrize(("operator", "key", "value", "context", "expected"), CONDITION_CASES)
def test_variables_in_conditions(
    operator: str, key: str, value: object, context: dict[str, object], expected: bool
) -> None:
    assert allowed(cond(operator, key, value), context) is expected


@pytest.mark.parametrize(
    ("value", "context", "expected"),
    [
        ("${aws:username}", {"aws:username": "bob", "k:v": "bob"}, False),
        ("${aws:username}", {"aws:username": "bob", "k:v": "${aws:username}"}, True),
        ("${*}", {"k:v": "${*}"}, True),
    ],
)
def test_2008_policies_do_not_substitute(
    value: str, context: dict[str, object], expected: bool
) -> None:
    assert allowed(cond("StringEquals", "k:v", value), context, version="2008-10-17") is expected
    assert allowed(cond("StringEquals", "k:v", value), context, version=None) is expected


def test_2008_star_in_stringlike_is_a_wildcard_inside_the_literal() -> None:
    # No substitution: "${*}" is the literal "${" + wildcard + "}".
    assert allowed(cond("StringLike", "k:v", "${*}"), {"k:v": "${anything}"}, version="2008-10-17")


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("NumericEquals", "${aws:MultiFactorAuthAge}"),
        ("DateLessThan", "${aws:CurrentTime}"),
        ("IpAddress", "${aws:SourceIp}"),
        ("Null", "${x}"),
        ("BinaryEquals", "${x}"),
    ],
)
def test_variables_are_not_allowed_in_non_string_operators(operator: str, value: str) -> None:
    with pytest.raises(MalformedPolicyDocumentException):
        parse_policy(identity(cond(operator, "k:v", value)), "identity")


# ----------------------------------------------------------------------------- resources

BUCKET = "arn:aws:s3:::mybucket"

RESOURCE_CASES: list[tuple[str, dict[str, object], str, bool]] = [
    (f"{BUCKET}/${{aws:username}}/*", {"aws:username": "alice"}, f"{BUCKET}/alice/doc.txt", True),
    (f"{BUCKET}/${{aws:username}}/*", {"aws:username": "alice"}, f"{BUCKET}/bob/doc.txt", False),
    (f"{BUCKET}/${{aws:username}}/*", {}, f"{BUCKET}/alice/doc.txt", False),
    (f"{BUCKET}/${{aws:username}}/*", {}, f"{BUCKET}/${{aws:username}}/doc.txt", False),
    (f"{BUCKET}/${{aws:username, 'shared'}}/*", {}, f"{BUCKET}/shared/doc.txt", True),
    (f"{BUCKET}/${{aws:username}}/*", {"aws:username": "a*"}, f"{BUCKET}/abc/doc.txt", False),
    (f"{BUCKET}/${{aws:username}}/*", {"aws:username": "a*"}, f"{BUCKET}/a*/doc.txt", True),
    (f"{BUCKET}/${{*}}", {}, f"{BUCKET}/*", True),
    (f"{BUCKET}/${{*}}", {}, f"{BUCKET}/x", False),
    (
        "arn:aws:sqs:us-east-2:*:${aws:username}-queue",
        {"aws:username": "alice"},
        "arn:aws:sqs:us-east-2:111122223333:alice-queue",
        True,
    ),
    (
        "arn:aws:dynamodb:us-east-2:111122223333:table/${aws:username}",
        {"aws:username": "alice"},
        "arn:aws:dynamodb:us-east-2:111122223333:table/alice",
        True,
    ),
    (
        "arn:aws:s3:::bucket/${aws:PrincipalTag/department}",
        {"aws:PrincipalTag/department": "hr"},
        "arn:aws:s3:::bucket/hr",
        True,
    ),
    # Variables only after the fifth colon: earlier ones are literal text.
    (
        "arn:aws:kms:${aws:RequestedRegion}:111122223333:key/*",
        {"aws:RequestedRegion": "us-east-1"},
        "arn:aws:kms:us-east-1:111122223333:key/k",
        False,
    ),
    (
        "arn:aws:iam::${aws:PrincipalAccount}:user/*",
        {"aws:PrincipalAccount": A},
        f"arn:aws:iam::{A}:user/alice",
        False,
    ),
]


@pytest.mark.parametrize(("pattern", "context", "resource", "expected"), RESOURCE_CASES)
def test_variables_in_resource(
    pattern: str, context: dict[str, object], resource: str, expected: bool
) -> None:
    assert allowed(res(pattern), context, resource=resource) is expected


def test_variables_in_not_resource() -> None:
    statement = res(f"{BUCKET}/${{aws:username}}/*", element="NotResource")
    ctx = {"aws:username": "alice"}
    assert not allowed(statement, ctx, resource=f"{BUCKET}/alice/x")
    assert allowed(statement, ctx, resource=f"{BUCKET}/bob/x")
    # Unresolved: the pattern matches nothing, so NotResource excludes nothing.
    assert allowed(statement, {}, resource=f"{BUCKET}/alice/x")


def test_resource_variables_are_literal_in_2008_policies() -> None:
    statement = res(f"{BUCKET}/${{aws:username}}/*")
    assert not allowed(
        statement, {"aws:username": "alice"}, resource=f"{BUCKET}/alice/x", version="2008-10-17"
    )
    assert allowed(statement, {}, resource=f"{BUCKET}/${{aws:username}}/x", version="2008-10-17")


def test_mixed_static_and_variable_resources() -> None:
    statement = res([f"{BUCKET}/public/*", f"{BUCKET}/${{aws:username}}/*"])
    assert allowed(statement, {}, resource=f"{BUCKET}/public/x")
    assert allowed(statement, {"aws:username": "alice"}, resource=f"{BUCKET}/alice/x")
    assert not allowed(statement, {"aws:username": "alice"}, resource=f"{BUCKET}/bob/x")
