"""Key policies from the AWS KMS Developer Guide ("Default key policy", "Creating a key
policy", "AWS KMS condition keys"), evaluated as AWS describes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openkms.authz import Decision, PrincipalMatch, Request, evaluate, parse_policy
from openkms.domain.policy import default_policy
from openkms.errors import MalformedPolicyDocumentException

A = "111122223333"
B = "444455556666"
ROOT = f"arn:aws:iam::{A}:root"
KEY = f"arn:aws:kms:us-west-2:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN_USER = f"arn:aws:iam::{A}:user/KMSAdminUser"
ADMIN_ROLE = f"arn:aws:iam::{A}:role/KMSAdminRole"
EXAMPLE_USER = f"arn:aws:iam::{A}:user/ExampleUser"
EXAMPLE_ROLE = f"arn:aws:iam::{A}:role/ExampleRole"
EXAMPLE_SESSION = f"arn:aws:sts::{A}:assumed-role/ExampleRole/app"
APP_ROLE = f"arn:aws:iam::{A}:role/RoleForExampleApp"
APP_SESSION = f"arn:aws:sts::{A}:assumed-role/RoleForExampleApp/s1"
OUTSIDER = f"arn:aws:iam::{B}:user/Outsider"
STRANGER = "arn:aws:iam::999999999999:user/Stranger"

CONSOLE_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-consolepolicy-2",
    "Statement": [
        {
            "Sid": "Enable IAM policies",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": [ADMIN_USER, ADMIN_ROLE]},
            "Action": [
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion",
            ],
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": [EXAMPLE_USER, EXAMPLE_ROLE, f"arn:aws:iam::{B}:root"]},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": [EXAMPLE_USER, EXAMPLE_ROLE, f"arn:aws:iam::{B}:root"]},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ],
}


def req(
    principal: str,
    action: str,
    context: dict[str, object] | None = None,
    account: str | None = None,
) -> Request:
    if account is None:
        account = principal.split(":")[4]
    return Request(principal, account, action, KEY, context or {})


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(
    principal: object,
    action: object,
    condition: dict[str, Any] | None = None,
    effect: str = "Allow",
) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Effect": effect,
        "Principal": principal,
        "Action": action,
        "Resource": "*",
    }
    if condition is not None:
        st["Condition"] = condition
    return st


def outcome(
    policy_text: str, request: Request
) -> tuple[Decision, PrincipalMatch | None, tuple[str | None, ...]]:
    result = evaluate(parse_policy(policy_text, "resource"), request)
    sids = tuple(ref.sid for ref in result.denied_by or result.allowed_by)
    return result.decision, result.principal_match, sids


# ----------------------------------------------------------------------------- default policy

DEFAULT = default_policy(A)


@pytest.mark.parametrize(
    ("request_", "decision", "match"),
    [
        (req(ROOT, "kms:Encrypt"), Decision.ALLOW, PrincipalMatch.DIRECT),
        (req(ROOT, "kms:PutKeyPolicy"), Decision.ALLOW, PrincipalMatch.DIRECT),
        (req(EXAMPLE_USER, "kms:Encrypt"), Decision.ALLOW, PrincipalMatch.ACCOUNT),
        (req(EXAMPLE_SESSION, "kms:Decrypt"), Decision.ALLOW, PrincipalMatch.ACCOUNT),
        (req(EXAMPLE_USER, "kms:ScheduleKeyDeletion"), Decision.ALLOW, PrincipalMatch.ACCOUNT),
        (req(OUTSIDER, "kms:Encrypt"), Decision.NO_MATCH, None),
        (req(f"arn:aws:iam::{B}:root", "kms:Encrypt"), Decision.NO_MATCH, None),
        (req("", "kms:Encrypt", account=""), Decision.NO_MATCH, None),
        (req("ec2.amazonaws.com", "kms:Encrypt", account=""), Decision.NO_MATCH, None),
        (req(ROOT, "s3:GetObject"), Decision.NO_MATCH, None),
    ],
)
def test_default_key_policy(
    request_: Request, decision: Decision, match: PrincipalMatch | None
) -> None:
    got, how, _ = outcome(DEFAULT, request_)
    assert (got, how) == (decision, match)


# ----------------------------------------------------------------------------- console policy

CONSOLE = json.dumps(CONSOLE_POLICY)

CONSOLE_CASES = [
    # principal, action, context, decision, principal match, sids
    (
        ADMIN_USER,
        "kms:PutKeyPolicy",
        {},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        ("Enable IAM policies", "Allow access for Key Administrators"),
    ),
    (ADMIN_USER, "kms:CreateAlias", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    (ADMIN_USER, "kms:ScheduleKeyDeletion", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    (ADMIN_USER, "kms:EnableKeyRotation", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    (ADMIN_USER, "kms:GetKeyPolicy", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    # Key administrators cannot use the key by themselves: only through the account.
    (
        ADMIN_USER,
        "kms:Encrypt",
        {},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Enable IAM policies",),
    ),
    (
        ADMIN_USER,
        "kms:Decrypt",
        {},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Enable IAM policies",),
    ),
    (
        f"arn:aws:sts::{A}:assumed-role/KMSAdminRole/s",
        "kms:DisableKey",
        {},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        None,
    ),
    (
        EXAMPLE_USER,
        "kms:Encrypt",
        {},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        ("Enable IAM policies", "Allow use of the key"),
    ),
    (EXAMPLE_USER, "kms:ReEncryptFrom", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    (
        EXAMPLE_USER,
        "kms:GenerateDataKeyWithoutPlaintext",
        {},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        None,
    ),
    (
        EXAMPLE_USER,
        "kms:PutKeyPolicy",
        {},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Enable IAM policies",),
    ),
    (EXAMPLE_SESSION, "kms:Decrypt", {}, Decision.ALLOW, PrincipalMatch.DIRECT, None),
    (
        EXAMPLE_USER,
        "kms:CreateGrant",
        {"kms:GrantIsForAWSResource": True},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        ("Enable IAM policies", "Allow attachment of persistent resources"),
    ),
    (
        EXAMPLE_USER,
        "kms:CreateGrant",
        {"kms:GrantIsForAWSResource": "true"},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        None,
    ),
    (
        EXAMPLE_USER,
        "kms:CreateGrant",
        {"kms:GrantIsForAWSResource": False},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Enable IAM policies",),
    ),
    (
        EXAMPLE_USER,
        "kms:CreateGrant",
        {},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Enable IAM policies",),
    ),
    (
        EXAMPLE_USER,
        "kms:ListGrants",
        {"kms:GrantIsForAWSResource": True},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        None,
    ),
    # The external account 444455556666 is a key user, through its account principal.
    (
        OUTSIDER,
        "kms:Encrypt",
        {},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        ("Allow use of the key",),
    ),
    (
        f"arn:aws:iam::{B}:root",
        "kms:Decrypt",
        {},
        Decision.ALLOW,
        PrincipalMatch.DIRECT,
        ("Allow use of the key",),
    ),
    (
        OUTSIDER,
        "kms:CreateGrant",
        {"kms:GrantIsForAWSResource": True},
        Decision.ALLOW,
        PrincipalMatch.ACCOUNT,
        None,
    ),
    (OUTSIDER, "kms:CreateGrant", {}, Decision.NO_MATCH, None, ()),
    (OUTSIDER, "kms:PutKeyPolicy", {}, Decision.NO_MATCH, None, ()),
    (OUTSIDER, "kms:ScheduleKeyDeletion", {}, Decision.NO_MATCH, None, ()),
    (STRANGER, "kms:Encrypt", {}, Decision.NO_MATCH, None, ()),
]


@pytest.mark.parametrize(
    ("principal", "action", "context", "decision", "match", "sids"), CONSOLE_CASES
)
def test_console_key_policy(
    principal: str,
    action: str,
    context: dict[str, object],
    decision: Decision,
    match: PrincipalMatch | None,
    sids: tuple[str, ...] | None,
) -> None:
    got, how, got_sids = outcome(CONSOLE, req(principal, action, context))
    assert (got, how) == (decision, match)
    if sids is not None:
        assert got_sids == sids


# ----------------------------------------------------------------------------- condition keys

APP_PRINCIPAL = {"AWS": APP_ROLE}
EC = "kms:EncryptionContext:"


def allowed(policy_text: str, principal: str, action: str, context: dict[str, object]) -> Decision:
    return outcome(policy_text, req(principal, action, context))[0]


REQUIRE_APPNAME = key_policy(
    stmt(APP_PRINCIPAL, "kms:GenerateDataKey", {"StringEquals": {EC + "AppName": "ExampleApp"}})
)
ONLY_APPNAME = key_policy(
    stmt(
        {"AWS": APP_ROLE},
        "kms:GenerateDataKey",
        {
            "StringEquals": {EC + "AppName": "ExampleApp"},
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName"]},
        },
    )
)
DENY_STAGES = key_policy(
    stmt(APP_PRINCIPAL, "kms:*"),
    stmt(
        APP_PRINCIPAL,
        "kms:GenerateDataKey",
        {"StringEquals": {EC + "Stage": ["Restricted", "Production"]}},
        "Deny",
    ),
)
TWO_PAIRS = key_policy(
    stmt(
        APP_PRINCIPAL,
        "kms:Decrypt",
        {"StringEquals": {EC + "Department": "IT", EC + "Project": "Alpha"}},
    )
)
APPNAME_KEY_CASE_SENSITIVE = key_policy(
    stmt(
        APP_PRINCIPAL,
        "kms:GenerateDataKey",
        {
            "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"},
            "StringEquals": {EC + "AppName": "ExampleApp"},
        },
    )
)
REQUIRE_ANY_EC = key_policy(
    stmt(
        APP_PRINCIPAL,
        ["kms:Encrypt", "kms:GenerateDataKey*"],
        {"Null": {"kms:EncryptionContextKeys": False}},
    )
)
USER_IN_EC = key_policy(
    stmt(
        {"AWS": f"arn:aws:iam::{A}:role/TestTeam"},
        ["kms:Decrypt", "kms:Encrypt"],
        {"StringEquals": {EC + "user": "${aws:username}"}},
    )
)
TEST_TEAM = f"arn:aws:sts::{A}:assumed-role/TestTeam/bob"


def ec(pairs: dict[str, str]) -> dict[str, object]:
    context: dict[str, object] = {EC + k: v for k, v in pairs.items()}
    if pairs:
        context["kms:EncryptionContextKeys"] = list(pairs)
    return context


CONDITION_CASES: list[tuple[str, str, str, str, dict[str, object], Decision]] = [
    (
        "require pair",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "ExampleApp"}),
        Decision.ALLOW,
    ),
    (
        "require pair, others ok",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "ExampleApp", "Project": "Alpha"}),
        Decision.ALLOW,
    ),
    (
        "require pair, key case-insensitive",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"appname": "ExampleApp"}),
        Decision.ALLOW,
    ),
    (
        "require pair, value case-sensitive",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "exampleapp"}),
        Decision.NO_MATCH,
    ),
    (
        "require pair, missing",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({}),
        Decision.NO_MATCH,
    ),
    (
        "require pair, wrong action",
        REQUIRE_APPNAME,
        APP_SESSION,
        "kms:Decrypt",
        ec({"AppName": "ExampleApp"}),
        Decision.NO_MATCH,
    ),
    (
        "only AppName",
        ONLY_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "ExampleApp"}),
        Decision.ALLOW,
    ),
    (
        "only AppName, extra key",
        ONLY_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "ExampleApp", "Project": "Alpha"}),
        Decision.NO_MATCH,
    ),
    (
        "only AppName, none",
        ONLY_APPNAME,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({}),
        Decision.NO_MATCH,
    ),
    (
        "deny Restricted",
        DENY_STAGES,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"Stage": "Restricted"}),
        Decision.EXPLICIT_DENY,
    ),
    (
        "deny Production",
        DENY_STAGES,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"Stage": "Production"}),
        Decision.EXPLICIT_DENY,
    ),
    (
        "allow Test stage",
        DENY_STAGES,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"Stage": "Test"}),
        Decision.ALLOW,
    ),
    ("allow no stage", DENY_STAGES, APP_SESSION, "kms:GenerateDataKey", ec({}), Decision.ALLOW),
    (
        "deny only for GenerateDataKey",
        DENY_STAGES,
        APP_SESSION,
        "kms:Decrypt",
        ec({"Stage": "Restricted"}),
        Decision.ALLOW,
    ),
    (
        "two pairs",
        TWO_PAIRS,
        APP_SESSION,
        "kms:Decrypt",
        ec({"Department": "IT", "Project": "Alpha"}),
        Decision.ALLOW,
    ),
    (
        "two pairs, one",
        TWO_PAIRS,
        APP_SESSION,
        "kms:Decrypt",
        ec({"Department": "IT"}),
        Decision.NO_MATCH,
    ),
    (
        "case-sensitive key via keys",
        APPNAME_KEY_CASE_SENSITIVE,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"AppName": "ExampleApp"}),
        Decision.ALLOW,
    ),
    (
        "case-sensitive key via keys, wrong case",
        APPNAME_KEY_CASE_SENSITIVE,
        APP_SESSION,
        "kms:GenerateDataKey",
        ec({"appname": "ExampleApp"}),
        Decision.NO_MATCH,
    ),
    (
        "any EC required",
        REQUIRE_ANY_EC,
        APP_SESSION,
        "kms:GenerateDataKeyPair",
        ec({"a": "b"}),
        Decision.ALLOW,
    ),
    (
        "any EC required, none",
        REQUIRE_ANY_EC,
        APP_SESSION,
        "kms:Encrypt",
        ec({}),
        Decision.NO_MATCH,
    ),
    (
        "user variable",
        USER_IN_EC,
        TEST_TEAM,
        "kms:Decrypt",
        {**ec({"user": "bob"}), "aws:username": "bob"},
        Decision.ALLOW,
    ),
    (
        "user variable, other user",
        USER_IN_EC,
        TEST_TEAM,
        "kms:Decrypt",
        {**ec({"user": "alice"}), "aws:username": "bob"},
        Decision.NO_MATCH,
    ),
]


@pytest.mark.parametrize(
    ("policy_text", "principal", "action", "context", "decision"),
    [c[1:] for c in CONDITION_CASES],
    ids=[c[0] for c in CONDITION_CASES],
)
def test_encryption_context_conditions(
    policy_text: str, principal: str, action: str, context: dict[str, object], decision: Decision
) -> None:
    assert allowed(policy_text, principal, action, context) is decision


EBS_POLICY = key_policy(
    {
        "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Condition": {
            "StringEquals": {
                "kms:CallerAccount": A,
                "kms:ViaService": "ec2.us-west-2.amazonaws.com",
            }
        },
        "Action": [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:CreateGrant",
            "kms:DescribeKey",
        ],
        "Resource": "*",
    }
)
VIA_SERVICES = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:CreateGrant",
            "kms:ListGrants",
            "kms:DescribeKey",
        ],
        {
            "StringEquals": {
                "kms:ViaService": ["ec2.us-west-2.amazonaws.com", "rds.us-west-2.amazonaws.com"]
            }
        },
    ),
    stmt(
        {"AWS": EXAMPLE_USER},
        "kms:Encrypt",
        {"StringEquals": {"kms:ViaService": ["lambda.us-west-2.amazonaws.com"]}},
        "Deny",
    ),
)


@pytest.mark.parametrize(
    ("policy_text", "principal", "action", "context", "decision", "match"),
    [
        (
            EBS_POLICY,
            EXAMPLE_USER,
            "kms:Decrypt",
            {"kms:CallerAccount": A, "kms:ViaService": "ec2.us-west-2.amazonaws.com"},
            Decision.ALLOW,
            PrincipalMatch.WILDCARD,
        ),
        (
            EBS_POLICY,
            EXAMPLE_USER,
            "kms:Decrypt",
            {"kms:CallerAccount": A},
            Decision.NO_MATCH,
            None,
        ),
        (
            EBS_POLICY,
            OUTSIDER,
            "kms:Decrypt",
            {"kms:CallerAccount": B, "kms:ViaService": "ec2.us-west-2.amazonaws.com"},
            Decision.NO_MATCH,
            None,
        ),
        (
            EBS_POLICY,
            EXAMPLE_USER,
            "kms:Decrypt",
            {"kms:CallerAccount": A, "kms:ViaService": "ec2.us-east-1.amazonaws.com"},
            Decision.NO_MATCH,
            None,
        ),
        (
            EBS_POLICY,
            EXAMPLE_USER,
            "kms:ScheduleKeyDeletion",
            {"kms:CallerAccount": A, "kms:ViaService": "ec2.us-west-2.amazonaws.com"},
            Decision.NO_MATCH,
            None,
        ),
        (
            VIA_SERVICES,
            EXAMPLE_USER,
            "kms:Encrypt",
            {"kms:ViaService": "rds.us-west-2.amazonaws.com"},
            Decision.ALLOW,
            PrincipalMatch.DIRECT,
        ),
        (VIA_SERVICES, EXAMPLE_USER, "kms:Encrypt", {}, Decision.NO_MATCH, None),
        (
            VIA_SERVICES,
            EXAMPLE_USER,
            "kms:Encrypt",
            {"kms:ViaService": "lambda.us-west-2.amazonaws.com"},
            Decision.EXPLICIT_DENY,
            None,
        ),
        (
            VIA_SERVICES,
            EXAMPLE_USER,
            "kms:Decrypt",
            {"kms:ViaService": "lambda.us-west-2.amazonaws.com"},
            Decision.NO_MATCH,
            None,
        ),
    ],
)
def test_caller_account_and_via_service(
    policy_text: str,
    principal: str,
    action: str,
    context: dict[str, object],
    decision: Decision,
    match: PrincipalMatch | None,
) -> None:
    got, how, _ = outcome(policy_text, req(principal, action, context))
    assert got is decision
    if decision is Decision.ALLOW:
        assert how is match


ONE_ALGORITHM = key_policy(
    stmt({"AWS": EXAMPLE_ROLE}, "kms:*"),
    stmt(
        {"AWS": EXAMPLE_ROLE},
        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*"],
        {"StringNotEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}},
        "Deny",
    ),
)
VALID_TO = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        "kms:ImportKeyMaterial",
        {"NumericLessThanEquals": {"kms:ValidTo": "1546257599.0"}},
    )
)
NO_EXPIRY = key_policy(
    stmt({"AWS": EXAMPLE_USER}, "kms:ImportKeyMaterial", {"Null": {"kms:ExpirationModel": True}})
)
NO_BYPASS = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        "kms:PutKeyPolicy",
        {"Null": {"kms:BypassPolicyLockoutSafetyCheck": True}},
    )
)
DENY_BYPASS = key_policy(
    stmt({"AWS": EXAMPLE_USER}, "kms:*"),
    stmt(
        {"AWS": EXAMPLE_USER},
        ["kms:CreateKey", "kms:PutKeyPolicy"],
        {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": True}},
        "Deny",
    ),
)
GRANT_OPS = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        "kms:CreateGrant",
        {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "ReEncryptTo"]}},
    )
)
GRANTEE = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        "kms:CreateGrant",
        {"StringEquals": {"kms:GranteePrincipal": f"arn:aws:iam::{A}:role/LimitedAdminRole"}},
    )
)
MAC_TWO_STATEMENTS = key_policy(
    stmt(
        {"AWS": f"arn:aws:iam::{A}:role/testers"},
        ["kms:GenerateMac", "kms:VerifyMac"],
        {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_384"}},
    ),
    stmt(
        {"AWS": f"arn:aws:iam::{A}:role/testers"},
        ["kms:GenerateMac", "kms:VerifyMac"],
        {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_512"}},
    ),
)
RSA_PAIRS = key_policy(
    stmt(
        {"AWS": EXAMPLE_USER},
        ["kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext"],
        {"StringLike": {"kms:DataKeyPairSpec": "RSA*"}},
    )
)
TESTERS = f"arn:aws:sts::{A}:assumed-role/testers/t"


@pytest.mark.parametrize(
    ("policy_text", "principal", "action", "context", "decision"),
    [
        (
            ONE_ALGORITHM,
            EXAMPLE_SESSION,
            "kms:Decrypt",
            {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
            Decision.ALLOW,
        ),
        (
            ONE_ALGORITHM,
            EXAMPLE_SESSION,
            "kms:Decrypt",
            {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_1"},
            Decision.EXPLICIT_DENY,
        ),
        (
            ONE_ALGORITHM,
            EXAMPLE_SESSION,
            "kms:ReEncryptFrom",
            {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            Decision.EXPLICIT_DENY,
        ),
        (
            ONE_ALGORITHM,
            EXAMPLE_SESSION,
            "kms:Sign",
            {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            Decision.ALLOW,
        ),
        (ONE_ALGORITHM, EXAMPLE_SESSION, "kms:Decrypt", {}, Decision.EXPLICIT_DENY),
        (
            VALID_TO,
            EXAMPLE_USER,
            "kms:ImportKeyMaterial",
            {"kms:ValidTo": 1546257599},
            Decision.ALLOW,
        ),
        (
            VALID_TO,
            EXAMPLE_USER,
            "kms:ImportKeyMaterial",
            {"kms:ValidTo": 1546257600},
            Decision.NO_MATCH,
        ),
        (VALID_TO, EXAMPLE_USER, "kms:ImportKeyMaterial", {}, Decision.NO_MATCH),
        (NO_EXPIRY, EXAMPLE_USER, "kms:ImportKeyMaterial", {}, Decision.ALLOW),
        (
            NO_EXPIRY,
            EXAMPLE_USER,
            "kms:ImportKeyMaterial",
            {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"},
            Decision.NO_MATCH,
        ),
        (NO_BYPASS, EXAMPLE_USER, "kms:PutKeyPolicy", {}, Decision.ALLOW),
        (
            NO_BYPASS,
            EXAMPLE_USER,
            "kms:PutKeyPolicy",
            {"kms:BypassPolicyLockoutSafetyCheck": False},
            Decision.NO_MATCH,
        ),
        (
            DENY_BYPASS,
            EXAMPLE_USER,
            "kms:PutKeyPolicy",
            {"kms:BypassPolicyLockoutSafetyCheck": True},
            Decision.EXPLICIT_DENY,
        ),
        (
            DENY_BYPASS,
            EXAMPLE_USER,
            "kms:PutKeyPolicy",
            {"kms:BypassPolicyLockoutSafetyCheck": False},
            Decision.ALLOW,
        ),
        (
            GRANT_OPS,
            EXAMPLE_USER,
            "kms:CreateGrant",
            {"kms:GrantOperations": ["Encrypt"]},
            Decision.ALLOW,
        ),
        (
            GRANT_OPS,
            EXAMPLE_USER,
            "kms:CreateGrant",
            {"kms:GrantOperations": ["Encrypt", "ReEncryptTo"]},
            Decision.ALLOW,
        ),
        (
            GRANT_OPS,
            EXAMPLE_USER,
            "kms:CreateGrant",
            {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
            Decision.NO_MATCH,
        ),
        (
            GRANTEE,
            EXAMPLE_USER,
            "kms:CreateGrant",
            {"kms:GranteePrincipal": f"arn:aws:iam::{A}:role/LimitedAdminRole"},
            Decision.ALLOW,
        ),
        (
            GRANTEE,
            EXAMPLE_USER,
            "kms:CreateGrant",
            {"kms:GranteePrincipal": f"arn:aws:iam::{A}:role/Other"},
            Decision.NO_MATCH,
        ),
        (
            MAC_TWO_STATEMENTS,
            TESTERS,
            "kms:GenerateMac",
            {"kms:MacAlgorithm": "HMAC_SHA_384"},
            Decision.ALLOW,
        ),
        (
            MAC_TWO_STATEMENTS,
            TESTERS,
            "kms:VerifyMac",
            {"kms:MacAlgorithm": "HMAC_SHA_512"},
            Decision.ALLOW,
        ),
        (
            MAC_TWO_STATEMENTS,
            TESTERS,
            "kms:GenerateMac",
            {"kms:MacAlgorithm": "HMAC_SHA_256"},
            Decision.NO_MATCH,
        ),
        (
            RSA_PAIRS,
            EXAMPLE_USER,
            "kms:GenerateDataKeyPair",
            {"kms:DataKeyPairSpec": "RSA_2048"},
            Decision.ALLOW,
        ),
        (
            RSA_PAIRS,
            EXAMPLE_USER,
            "kms:GenerateDataKeyPair",
            {"kms:DataKeyPairSpec": "ECC_NIST_P256"},
            Decision.NO_MATCH,
        ),
    ],
)
def test_kms_condition_key_examples(
    policy_text: str, principal: str, action: str, context: dict[str, object], decision: Decision
) -> None:
    assert allowed(policy_text, principal, action, context) is decision


def test_forallvalues_on_encryption_context_is_rejected_with_aws_message() -> None:
    text = key_policy(
        stmt(
            {"AWS": APP_ROLE},
            "kms:Decrypt",
            {"ForAllValues:StringEquals": {EC + "Department": "IT"}},
        )
    )
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(text, "resource")
    assert "OverlyPermissiveCondition" in exc.value.message
    assert "To fix, remove ForAllValues." in exc.value.message


def test_iam_policy_with_account_principal_and_key_policy() -> None:
    """The two halves of "key policy allows the account, IAM policy allows the user"."""
    iam = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt"],
                    "Resource": f"arn:aws:kms:us-west-2:{A}:key/*",
                }
            ],
        }
    )
    request = req(EXAMPLE_USER, "kms:Decrypt")
    key_result = evaluate(parse_policy(DEFAULT, "resource"), request)
    iam_result = evaluate(parse_policy(iam, "identity"), request)
    assert key_result.allowed and key_result.principal_match is PrincipalMatch.ACCOUNT
    assert iam_result.allowed
    assert not evaluate(
        parse_policy(iam, "identity"), req(EXAMPLE_USER, "kms:ScheduleKeyDeletion")
    ).allowed
