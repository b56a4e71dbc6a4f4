"""Condition operators, one table row per case (IAM "Condition operators" and
"Creating a condition with multiple keys or values")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openkms.authz.conditions import compile_condition
from openkms.authz.context import Context
from openkms.errors import MalformedPolicyDocumentException

MISSING = object()
KEY = "test:Key"


def holds(operator: str, policy_values: object, context_value: object, *, key: str = KEY) -> bool:
    clauses = compile_condition(
        {operator: {key: policy_values}}, where="t", variables=True, key_policy=False
    )
    ctx = Context({} if context_value is MISSING else {KEY: context_value})
    return all(c.evaluate(ctx) for c in clauses)


def case_id(row: tuple[object, ...]) -> str:
    op, pol, ctx, exp = row
    shown = "MISSING" if ctx is MISSING else repr(ctx)
    return f"{op}|{pol!r}|{shown}|{exp}"


STRING = [
    ("StringEquals", "a", "a", True),
    ("StringEquals", "a", "A", False),
    ("StringEquals", "ExampleApp", "exampleapp", False),
    ("StringEquals", ["a", "b"], "b", True),
    ("StringEquals", ["a", "b"], "c", False),
    ("StringEquals", "a", MISSING, False),
    ("StringEquals", "", "", True),
    ("StringEquals", "a", "", False),
    ("StringEquals", "a", ["x", "a"], True),
    ("StringEquals", "a", ["x", "y"], False),
    ("StringEquals", "a", [], False),
    ("StringEquals", 10, "10", True),
    ("StringEquals", "10", 10, True),
    ("StringEquals", True, True, True),
    ("StringEquals", "true", True, True),
    ("StringEquals", "True", True, False),
    ("StringEquals", "a*", "abc", False),
    ("StringEquals", "a*", "a*", True),
    ("StringEquals", "a?", "ab", False),
    ("StringNotEquals", "a", "a", False),
    ("StringNotEquals", "a", "b", True),
    ("StringNotEquals", "a", "A", True),
    ("StringNotEquals", ["a", "b"], "a", False),
    ("StringNotEquals", ["a", "b"], "b", False),
    ("StringNotEquals", ["a", "b"], "c", True),
    ("StringNotEquals", "a", MISSING, True),
    ("StringNotEquals", "a", ["a", "b"], False),
    ("StringNotEquals", "a", ["b", "c"], True),
    ("StringNotEquals", "a", [], True),
    ("StringEqualsIgnoreCase", "ExampleApp", "exampleapp", True),
    ("StringEqualsIgnoreCase", "johndoe", "JohnDoe", True),
    ("StringEqualsIgnoreCase", "a", "b", False),
    ("StringEqualsIgnoreCase", ["X", "y"], "Y", True),
    ("StringEqualsIgnoreCase", "a", MISSING, False),
    ("StringEqualsIgnoreCase", "a*", "A*", True),
    ("StringNotEqualsIgnoreCase", "a", "A", False),
    ("StringNotEqualsIgnoreCase", "a", "b", True),
    ("StringNotEqualsIgnoreCase", ["a", "B"], "b", False),
    ("StringNotEqualsIgnoreCase", "a", MISSING, True),
    ("StringLike", "a*", "abc", True),
    ("StringLike", "a*", "Abc", False),
    ("StringLike", "a*", "a", True),
    ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "ac", False),
    ("StringLike", "a?c", "abbc", False),
    ("StringLike", "*", "", True),
    ("StringLike", "*", "anything at all", True),
    ("StringLike", "*", MISSING, False),
    ("StringLike", "home/*", "home/x/y", True),
    ("StringLike", "home/*", "other/home/x", False),
    ("StringLike", "*AccessKey*", "CreateAccessKey", True),
    ("StringLike", "a.c", "abc", False),
    ("StringLike", "a.c", "a.c", True),
    ("StringLike", "a+b", "a+b", True),
    ("StringLike", "a+b", "aab", False),
    ("StringLike", "(x)[y]", "(x)[y]", True),
    ("StringLike", "^a$", "^a$", True),
    ("StringLike", "a\\d", "a\\d", True),
    ("StringLike", "a\\d", "a1", False),
    ("StringLike", "a*", "a\nb", True),
    ("StringLike", ["x*", "y*"], "yes", True),
    ("StringLike", ["x*", "y*"], "no", False),
    ("StringLike", "RSA*", "RSA_2048", True),
    ("StringLike", "RSA*", "ECC_NIST_P256", False),
    ("StringLike", "*-*-*", "a-b-c", True),
    ("StringLike", "t2.*", "t2.micro", True),
    ("StringLike", "t2.*", "t2xmicro", False),
    ("StringLike", "a*", ["b", "ab"], True),
    ("StringNotLike", "a*", "abc", False),
    ("StringNotLike", "a*", "bcd", True),
    ("StringNotLike", "a*", MISSING, True),
    ("StringNotLike", ["a*", "b*"], "bx", False),
    ("StringNotLike", ["a*", "b*"], "cx", True),
    ("StringNotLike", "a*", ["b", "ab"], False),
    ("StringNotLike", "a*", "A", True),
]

NUMERIC = [
    ("NumericEquals", "10", 10, True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", 10, "10", True),
    ("NumericEquals", "10", 10.0, True),
    ("NumericEquals", "10", 11, False),
    ("NumericEquals", "1.5", 1.5, True),
    ("NumericEquals", "0.1", 0.1, True),
    ("NumericEquals", "10", MISSING, False),
    ("NumericEquals", "10", "abc", False),
    ("NumericEquals", "10", True, False),
    ("NumericEquals", ["1", "2"], 2, True),
    ("NumericEquals", ["1", "2"], 3, False),
    ("NumericEquals", "9007199254740993", 9007199254740993, True),
    ("NumericEquals", "9007199254740993", "9007199254740992", False),
    ("NumericEquals", "-3", "-3", True),
    ("NumericEquals", "1e3", 1000, True),
    ("NumericEquals", "10", " 10 ", True),
    ("NumericNotEquals", "10", 10, False),
    ("NumericNotEquals", "10", 11, True),
    ("NumericNotEquals", "10", MISSING, True),
    ("NumericNotEquals", ["1", "2"], 2, False),
    ("NumericNotEquals", ["1", "2"], 3, True),
    ("NumericNotEquals", "10", "abc", True),
    ("NumericLessThan", "10", 9, True),
    ("NumericLessThan", "10", 10, False),
    ("NumericLessThan", "10", 11, False),
    ("NumericLessThan", "10", "9.999", True),
    ("NumericLessThan", "10", MISSING, False),
    ("NumericLessThan", ["5", "10"], 7, True),
    ("NumericLessThanEquals", "10", 10, True),
    ("NumericLessThanEquals", "10", 11, False),
    ("NumericLessThanEquals", "10", 9, True),
    ("NumericLessThanEquals", "1546257599.0", 1546257599, True),
    ("NumericLessThanEquals", "1546257599.0", 1546257600, False),
    ("NumericGreaterThan", "10", 11, True),
    ("NumericGreaterThan", "10", 10, False),
    ("NumericGreaterThan", "10", -11, False),
    ("NumericGreaterThanEquals", "10", 10, True),
    ("NumericGreaterThanEquals", "10", 9, False),
    ("NumericGreaterThanEquals", "-5", "-4", True),
    ("NumericGreaterThanEquals", "10", MISSING, False),
]

JAN1 = "2020-01-01T00:00:00Z"
JAN1_EPOCH = 1577836800

DATE = [
    ("DateEquals", JAN1, datetime(2020, 1, 1, tzinfo=UTC), True),
    ("DateEquals", JAN1, JAN1_EPOCH, True),
    ("DateEquals", JAN1, str(JAN1_EPOCH), True),
    ("DateEquals", JAN1, float(JAN1_EPOCH), True),
    ("DateEquals", str(JAN1_EPOCH), JAN1, True),
    ("DateEquals", JAN1_EPOCH, JAN1, True),
    ("DateEquals", "2020-01-01", JAN1, True),
    ("DateEquals", "2020-01", JAN1, True),
    ("DateEquals", "2020", JAN1, False),  # a bare integer is epoch time, not a year
    ("DateEquals", "2020", "1970-01-01T00:33:40Z", True),
    ("DateEquals", "2020-01-01T00:00Z", JAN1, True),
    ("DateEquals", "2020-01-01T01:00:00+01:00", JAN1, True),
    ("DateEquals", "2019-12-31T19:00:00-05:00", JAN1, True),
    ("DateEquals", "2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.500Z", True),
    ("DateEquals", "2020-01-01T00:00:00.5Z", JAN1, False),
    ("DateEquals", JAN1, datetime(2020, 1, 1), True),
    ("DateEquals", JAN1, "2020-01-02T00:00:00Z", False),
    ("DateEquals", JAN1, "yesterday", False),
    ("DateEquals", JAN1, MISSING, False),
    ("DateNotEquals", JAN1, JAN1, False),
    ("DateNotEquals", JAN1, "2020-01-02T00:00:00Z", True),
    ("DateNotEquals", JAN1, MISSING, True),
    ("DateLessThan", JAN1, "2019-12-31T23:59:59Z", True),
    ("DateLessThan", JAN1, JAN1, False),
    ("DateLessThan", JAN1, "2020-01-01T00:00:01Z", False),
    ("DateLessThanEquals", JAN1, JAN1, True),
    ("DateLessThanEquals", JAN1, "2020-01-01T00:00:01Z", False),
    ("DateGreaterThan", "2020-01-01T00:00:01Z", "2020-06-01T00:00:00Z", True),
    ("DateGreaterThan", "2020-01-01T00:00:01Z", "2019-06-01T00:00:00Z", False),
    ("DateGreaterThan", str(JAN1_EPOCH), "2020-01-02T00:00:00Z", True),
    ("DateGreaterThan", JAN1, MISSING, False),
    ("DateGreaterThanEquals", JAN1, JAN1_EPOCH, True),
    ("DateGreaterThanEquals", JAN1, JAN1_EPOCH - 1, False),
    ("DateGreaterThanEquals", [JAN1, "2030-01-01T00:00:00Z"], "2025-01-01T00:00:00Z", True),
]

BOOL = [
    ("Bool", "true", True, True),
    ("Bool", "true", "true", True),
    ("Bool", "true", "TRUE", True),
    ("Bool", "true", False, False),
    ("Bool", "true", "false", False),
    ("Bool", True, True, True),
    ("Bool", True, "true", True),
    ("Bool", "false", False, True),
    ("Bool", "false", "false", True),
    ("Bool", False, False, True),
    ("Bool", "True", True, True),
    ("Bool", "true", MISSING, False),
    ("Bool", "false", MISSING, False),
    ("Bool", "true", "yes", False),
    ("Bool", "true", 1, False),
    ("Bool", ["true", "false"], False, True),
]

B64 = "QmluYXJ5VmFsdWVJbkJhc2U2NA=="
BINARY = [
    ("BinaryEquals", B64, b"BinaryValueInBase64", True),
    ("BinaryEquals", B64, bytearray(b"BinaryValueInBase64"), True),
    ("BinaryEquals", B64, b"other", False),
    ("BinaryEquals", B64, B64, True),
    ("BinaryEquals", B64, "not base64!", False),
    ("BinaryEquals", B64, MISSING, False),
    ("BinaryEquals", [B64, "AAE="], b"\x00\x01", True),
]

IP = [
    ("IpAddress", "203.0.113.0/24", "203.0.113.5", True),
    ("IpAddress", "203.0.113.0/24", "203.0.113.255", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.5", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", "203.0.113.7", "203.0.113.8", False),
    ("IpAddress", "203.0.113.5/24", "203.0.113.77", True),
    ("IpAddress", "10.0.0.0/8", "10.255.255.255", True),
    ("IpAddress", "0.0.0.0/0", "8.8.8.8", True),
    ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
    ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", False),
    ("IpAddress", "2001:db8::1", "2001:DB8::1", True),
    ("IpAddress", "::/0", "::1", True),
    ("IpAddress", "0.0.0.0/0", "::1", False),
    ("IpAddress", "::/0", "127.0.0.1", False),
    (
        "IpAddress",
        ["203.0.113.0/24", "2001:DB8:1234:5678::/64"],
        "2001:db8:1234:5678:abcd::1",
        True,
    ),
    ("IpAddress", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"], "198.51.100.1", False),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("IpAddress", "203.0.113.0/24", MISSING, False),
    ("IpAddress", "203.0.113.0/24", ["198.51.100.1", "203.0.113.9"], True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.5", False),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "203.0.113.0/24", MISSING, True),
    ("NotIpAddress", ["203.0.113.0/24", "198.51.100.0/24"], "198.51.100.1", False),
    ("NotIpAddress", ["203.0.113.0/24", "198.51.100.0/24"], "192.0.2.1", True),
    ("NotIpAddress", "2001:DB8::/32", "2001:db8::5", False),
]

ROLE = "arn:aws:iam::111122223333:role/Admin"
ARN = [
    (
        "ArnEquals",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "arn:aws:sns:us-east-1:123456789012:topic",
        True,
    ),
    (
        "ArnEquals",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "arn:aws:sns:us-east-1:123456789012:other",
        False,
    ),
    (
        "ArnEquals",
        "arn:aws:sns:*:123456789012:topic",
        "arn:aws:sns:us-west-2:123456789012:topic",
        True,
    ),
    ("ArnLike", "arn:aws:iam::111122223333:role/*", ROLE, True),
    ("ArnLike", "arn:aws:iam::111122223333:role/*", "arn:aws:iam::444455556666:role/Admin", False),
    ("ArnLike", "arn:aws:iam::111122223333:role/admin", ROLE, False),
    ("ArnLike", "arn:aws:iam::*:role/Admin", ROLE, True),
    ("ArnLike", "arn:aws:iam::111122223333:*", ROLE, True),
    (
        "ArnLike",
        "arn:aws:someservice:*:111122223333:finance/*",
        "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
        False,
    ),
    (
        "ArnLike",
        "arn:aws:someservice:*:111122223333:finance/*",
        "arn:aws:someservice:us-east-2:111122223333:finance/document.txt",
        True,
    ),
    ("ArnLike", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b", True),
    ("ArnLike", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/a", False),
    (
        "ArnLike",
        "arn:aws:logs:*:*:log-group:x:*",
        "arn:aws:logs:us-east-1:1:log-group:x:log-stream:y",
        True,
    ),
    (
        "ArnLike",
        "arn:aws:kms:us-east-?:111122223333:key/*",
        "arn:aws:kms:us-east-1:111122223333:key/k",
        True,
    ),
    (
        "ArnLike",
        "arn:aws:kms:us-east-?:111122223333:key/*",
        "arn:aws:kms:us-east-10:111122223333:key/k",
        False,
    ),
    (
        "ArnLike",
        "arn:aws:kms:*:111122223333:key/*",
        "arn:aws:kms:us-east-1:111122223333:alias/x",
        False,
    ),
    ("ArnLike", "arn:aws:iam::111122223333:role/*", "not-an-arn", False),
    ("ArnLike", "*", ROLE, True),
    ("ArnLike", "arn:aws:iam::111122223333:role/*", MISSING, False),
    ("ArnLike", ["arn:aws:iam::1:role/*", "arn:aws:iam::111122223333:role/A*"], ROLE, True),
    ("ArnNotEquals", ROLE, ROLE, False),
    ("ArnNotEquals", ROLE, "arn:aws:iam::111122223333:role/Other", True),
    ("ArnNotEquals", ROLE, MISSING, True),
    ("ArnNotLike", "arn:aws:iam::111122223333:role/*", ROLE, False),
    ("ArnNotLike", "arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:user/bob", True),
    ("ArnNotLike", "arn:aws:iam::111122223333:role/*", "not-an-arn", True),
    (
        "ArnNotLike",
        "arn:aws:someservice:*:111122223333:finance/*",
        "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
        True,
    ),
]

NULL = [
    ("Null", "true", MISSING, True),
    ("Null", "true", "present", False),
    ("Null", "false", MISSING, False),
    ("Null", "false", "present", True),
    ("Null", True, MISSING, True),
    ("Null", False, "x", True),
    ("Null", "true", [], True),
    ("Null", "false", [], False),
    ("Null", "false", ["a"], True),
    ("Null", "false", "", True),
    ("Null", "TRUE", MISSING, True),
    ("Null", ["true", "false"], "x", True),
    ("Null", ["true", "false"], MISSING, True),
]

IF_EXISTS = [
    ("StringEqualsIfExists", "a", MISSING, True),
    ("StringEqualsIfExists", "a", "a", True),
    ("StringEqualsIfExists", "a", "b", False),
    ("StringNotEqualsIfExists", "a", MISSING, True),
    ("StringNotEqualsIfExists", "a", "a", False),
    ("StringNotEqualsIfExists", "a", "b", True),
    ("StringLikeIfExists", ["t1.*", "t2.*", "m3.*"], MISSING, True),
    ("StringLikeIfExists", ["t1.*", "t2.*", "m3.*"], "t2.micro", True),
    ("StringLikeIfExists", ["t1.*", "t2.*", "m3.*"], "c5.large", False),
    ("StringEqualsIgnoreCaseIfExists", "a", "A", True),
    ("NumericLessThanIfExists", "10", MISSING, True),
    ("NumericLessThanIfExists", "10", 11, False),
    ("NumericLessThanIfExists", "10", 9, True),
    ("DateGreaterThanIfExists", JAN1, MISSING, True),
    ("DateGreaterThanIfExists", JAN1, "2019-01-01T00:00:00Z", False),
    ("BoolIfExists", "true", MISSING, True),
    ("BoolIfExists", "true", False, False),
    ("IpAddressIfExists", "10.0.0.0/8", MISSING, True),
    ("IpAddressIfExists", "10.0.0.0/8", "11.0.0.1", False),
    ("NotIpAddressIfExists", "10.0.0.0/8", MISSING, True),
    ("ArnLikeIfExists", "arn:aws:iam::*:role/*", MISSING, True),
    ("ArnLikeIfExists", "arn:aws:iam::*:role/*", "arn:aws:iam::1:user/x", False),
    ("ArnNotLikeIfExists", "arn:aws:iam::*:role/*", MISSING, True),
    ("BinaryEqualsIfExists", B64, MISSING, True),
    ("NumericEqualsIfExists", "1", [], True),
]

SET_OPERATORS = [
    ("ForAllValues:StringEquals", ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["b", "a", "a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a", "b"], MISSING, True),
    ("ForAllValues:StringEquals", ["a", "b"], [], True),
    ("ForAllValues:StringEquals", ["a", "b"], "", True),
    ("ForAllValues:StringEquals", ["a", "b"], "a", True),
    ("ForAllValues:StringEquals", ["a", "b"], "c", False),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "a"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], MISSING, False),
    ("ForAnyValue:StringEquals", ["a", "b"], [], False),
    ("ForAnyValue:StringEquals", ["a", "b"], "", False),
    ("ForAnyValue:StringEquals", "AppName", ["AppName", "Project"], True),
    ("ForAnyValue:StringEquals", "AppName", ["appname"], False),
    ("ForAnyValue:StringEqualsIgnoreCase", "AppName", ["appname"], True),
    ("ForAllValues:StringLike", "key1*", ["key1:a", "key1:b"], True),
    ("ForAllValues:StringLike", "key1*", ["key1:a", "key2"], False),
    (
        "ForAllValues:StringLike",
        ["PostDateTime", "Message", "Tags"],
        ["PostDateTime", "Message"],
        True,
    ),
    (
        "ForAllValues:StringLike",
        ["PostDateTime", "Message", "Tags"],
        ["PostDateTime", "UserName"],
        False,
    ),
    (
        "ForAnyValue:StringLike",
        ["ID", "PostDateTime"],
        ["UserName", "Message", "PostDateTime"],
        True,
    ),
    ("ForAnyValue:StringLike", ["ID", "PostDateTime"], ["UserName"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key1:legal"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key2:audit"], True),
    ("ForAllValues:StringNotLike", "key1*", ["key2:audit", "key1:x"], False),
    ("ForAllValues:StringNotLike", "key1*", MISSING, True),
    ("ForAnyValue:StringNotLike", "key1*", ["key1:legal", "key2:x"], True),
    ("ForAnyValue:StringNotLike", "key1*", ["key1:a"], False),
    ("ForAnyValue:StringNotLike", "key1*", MISSING, False),
    ("ForAllValues:StringNotEquals", ["a", "b"], ["c", "d"], True),
    ("ForAllValues:StringNotEquals", ["a", "b"], ["a", "c"], False),
    ("ForAnyValue:StringNotEquals", "a", ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", "a", ["a"], False),
    ("ForAllValues:StringEqualsIfExists", "a", MISSING, True),
    ("ForAnyValue:StringEqualsIfExists", "a", MISSING, True),
    ("ForAnyValue:StringEqualsIfExists", "a", ["b"], False),
    ("ForAnyValue:NumericGreaterThan", "5", [1, 6], True),
    ("ForAnyValue:NumericGreaterThan", "5", [1, 2], False),
    ("ForAllValues:NumericLessThan", "5", [1, 2], True),
    ("ForAllValues:NumericLessThan", "5", [1, 9], False),
    ("ForAllValues:IpAddress", "10.0.0.0/8", ["10.1.1.1", "10.2.2.2"], True),
    ("ForAllValues:IpAddress", "10.0.0.0/8", ["10.1.1.1", "11.0.0.1"], False),
    ("ForAnyValue:ArnLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::1:user/u", ROLE], True),
    ("ForAllValues:ArnLike", "arn:aws:iam::*:role/*", ["arn:aws:iam::1:user/u", ROLE], False),
    ("ForAllValues:StringEquals", ["Encrypt", "ReEncryptTo"], ["Encrypt"], True),
    ("ForAllValues:StringEquals", ["Encrypt", "ReEncryptTo"], ["Encrypt", "Decrypt"], False),
    ("ForAnyValue:StringEquals", ["Encrypt", "ReEncryptTo"], ["Encrypt", "Decrypt"], True),
    ("ForAllValues:StringEquals", "a", "a", True),
]

ALL_CASES = STRING + NUMERIC + DATE + BOOL + BINARY + IP + ARN + NULL + IF_EXISTS + SET_OPERATORS


@pytest.mark.parametrize("row", ALL_CASES, ids=[case_id(r) for r in ALL_CASES])
def test_operator(row: tuple[str, object, object, bool]) -> None:
    operator, policy_values, context_value, expected = row
    assert holds(operator, policy_values, context_value) is expected


@pytest.mark.parametrize(
    ("policy_key", "context_key"),
    [
        ("aws:SourceIp", "aws:sourceip"),
        ("AWS:SOURCEIP", "aws:SourceIp"),
        ("kms:EncryptionContext:AppName", "kms:encryptioncontext:appname"),
        ("kms:encryptioncontext:appname", "kms:EncryptionContext:AppName"),
    ],
)
def test_condition_key_names_are_case_insensitive(policy_key: str, context_key: str) -> None:
    clauses = compile_condition(
        {"StringEquals": {policy_key: "v"}}, where="t", variables=True, key_policy=False
    )
    assert clauses[0].evaluate(Context({context_key: "v"}))
    assert not clauses[0].evaluate(Context({context_key: "V"}))


def test_keys_in_one_block_are_anded_and_blocks_are_anded() -> None:
    condition = {
        "StringEquals": {"a:x": "1", "a:y": "2"},
        "Bool": {"a:z": "true"},
    }
    clauses = compile_condition(condition, where="t", variables=True, key_policy=False)
    assert len(clauses) == 3

    def all_hold(ctx: dict[str, object]) -> bool:
        c = Context(ctx)
        return all(cl.evaluate(c) for cl in clauses)

    assert all_hold({"a:x": "1", "a:y": "2", "a:z": True})
    assert not all_hold({"a:x": "1", "a:y": "3", "a:z": True})
    assert not all_hold({"a:x": "1", "a:y": "2", "a:z": False})
    assert not all_hold({"a:x": "1", "a:z": True})


def test_case_variant_context_keys_merge_into_one_multivalued_key() -> None:
    ctx = Context({"ec2:ResourceTag/Foo": "bar2", "ec2:resourcetag/foo": "bar1"})
    assert ctx.values("ec2:resourcetag/foo") == ("bar2", "bar1")


@pytest.mark.parametrize(
    "operator",
    ["stringequals", "STRINGLIKE", "forallvalues:stringequals", "StringEqualsifexists"],
)
def test_operator_names_are_accepted_in_any_case(operator: str) -> None:
    clauses = compile_condition(
        {operator: {"k:k": "v"}}, where="t", variables=True, key_policy=False
    )
    assert clauses[0].operator.lower() == operator.lower()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"StringEqualz": {"k:k": "v"}}, "'StringEqualz' is not a valid condition operator"),
        ({"ForSomeValues:StringEquals": {"k:k": "v"}}, "is not a valid condition operator"),
        ({"NullIfExists": {"k:k": "true"}}, "Null does not take the IfExists suffix"),
        ({"ForAllValues:Null": {"k:k": "true"}}, "Null does not take a set operator"),
        ({"IfExists": {"k:k": "v"}}, "is not a valid condition operator"),
        ({"NumericEquals": {"k:k": "abc"}}, "value 'abc' is not a number"),
        ({"NumericLessThan": {"k:k": "${aws:x}"}}, "is not a number"),
        ({"NumericEquals": {"k:k": "NaN"}}, "is not a number"),
        ({"DateLessThan": {"k:k": "not a date"}}, "is not an ISO 8601 date or epoch time"),
        ({"DateLessThan": {"k:k": "2020-13-01"}}, "is not an ISO 8601 date"),
        ({"DateEquals": {"k:k": "2020-01-*"}}, "is not an ISO 8601 date"),
        ({"Bool": {"k:k": "yes"}}, 'is not "true" or "false"'),
        ({"Bool": {"k:k": "${aws:SecureTransport}"}}, 'is not "true" or "false"'),
        ({"Null": {"k:k": "maybe"}}, 'is not "true" or "false"'),
        ({"BinaryEquals": {"k:k": "not base64!"}}, "is not base64"),
        ({"IpAddress": {"k:k": "300.1.1.1"}}, "is not an IP address or CIDR block"),
        ({"NotIpAddress": {"k:k": "10.0.0.0/33"}}, "is not an IP address or CIDR block"),
        ({"StringEquals": {"k:k": []}}, "needs at least one value"),
        ({"StringEquals": {"k:k": None}}, "must be a string, number or boolean"),
        ({"StringEquals": {"k:k": {"nested": "x"}}}, "must be a string, number or boolean"),
        ({"StringEquals": {"k:k": ["a", ["b"]]}}, "must be a string, number or boolean"),
        ({"StringEquals": "k:k"}, "must map condition keys to values"),
        ({"StringEquals": {"": "v"}}, "empty condition key"),
        (["StringEquals"], "must be a JSON object"),
        ("StringEquals", "must be a JSON object"),
    ],
)
def test_malformed_conditions(condition: object, message: str) -> None:
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        compile_condition(condition, where="Statement 3", variables=True, key_policy=False)
    assert message in exc.value.message
    assert exc.value.message.startswith("Statement 3: Condition")


@pytest.mark.parametrize(
    "key",
    ["kms:EncryptionContext:Department", "KMS:ENCRYPTIONCONTEXT:x", "aws:RequestTag/Project"],
)
def test_kms_rejects_forallvalues_with_single_valued_keys(key: str) -> None:
    condition = {"ForAllValues:StringEquals": {key: "IT"}}
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        compile_condition(condition, where="Statement 0", variables=True, key_policy=True)
    assert "OverlyPermissiveCondition" in exc.value.message
    # IAM (identity) policies are not checked by KMS.
    assert compile_condition(condition, where="s", variables=True, key_policy=False)


@pytest.mark.parametrize(
    "condition",
    [
        {"ForAnyValue:StringEquals": {"kms:EncryptionContext:Department": "IT"}},
        {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Department"]}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["Project"]}},
    ],
)
def test_kms_accepts_other_set_operator_uses(condition: dict[str, object]) -> None:
    assert compile_condition(condition, where="s", variables=True, key_policy=True)


def test_empty_condition_object_has_no_clauses() -> None:
    assert compile_condition({}, where="s", variables=True, key_policy=False) == ()
