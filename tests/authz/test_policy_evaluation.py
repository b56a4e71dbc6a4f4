"""Statement matching and the deny > allow > no-match decision ("Policy evaluation logic",
"IAM JSON policy elements: Action / Resource / Principal / NotPrincipal")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from openkms.authz import Decision, PrincipalMatch, Request, StatementRef, evaluate, parse_policy

A = "111122223333"
B = "444455556666"
ROOT_A = f"arn:aws:iam::{A}:root"
ALICE = f"arn:aws:iam::{A}:user/alice"
BOB_B = f"arn:aws:iam::{B}:user/bob"
ROLE = f"arn:aws:iam::{A}:role/ExampleRole"
SESSION = f"arn:aws:sts::{A}:assumed-role/ExampleRole/my-session"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:us-east-1:{A}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ALIAS = f"arn:aws:kms:us-east-1:{A}:alias/ExampleAlias"


def key_policy(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version:
        body["Version"] = version
    return json.dumps(body)


def allow(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def deny(**fields: Any) -> dict[str, Any]:
    return allow(Effect="Deny", **fields)


def request(
    action: str = "kms:Encrypt",
    resource: str = KEY,
    principal: str = ALICE,
    account: str = A,
    context: Mapping[str, object] | None = None,
    aliases: tuple[str, ...] = (),
) -> Request:
    return Request(principal, account, action, resource, context or {}, aliases)


def decide(statement: dict[str, Any], req: Request, kind: str = "resource") -> Decision:
    if kind == "identity":
        statement = {k: v for k, v in statement.items() if k != "Principal"}
    policy = parse_policy(key_policy(statement), kind)  # type: ignore[arg-type]
    return evaluate(policy, req).decision


# ----------------------------------------------------------------------------- Action

ACTIONS = [
    ("kms:Encrypt", "kms:Encrypt", True),
    ("kms:Encrypt", "KMS:encrypt", True),
    ("KMS:ENCRYPT", "kms:Encrypt", True),
    ("kms:Encrypt", "kms:Decrypt", False),
    ("kms:Encrypt", "kms:EncryptX", False),
    ("kms:Encrypt", "s3:Encrypt", False),
    ("kms:*", "kms:Encrypt", True),
    ("kms:*", "kms:CreateKey", True),
    ("kms:*", "s3:GetObject", False),
    ("*", "kms:Encrypt", True),
    ("*", "s3:GetObject", True),
    ("kms:Enc*", "kms:Encrypt", True),
    ("kms:ReEncrypt*", "kms:ReEncryptFrom", True),
    ("kms:ReEncrypt*", "kms:ReEncryptTo", True),
    ("kms:ReEncrypt*", "kms:Encrypt", False),
    ("kms:GenerateDataKey*", "kms:GenerateDataKey", True),
    ("kms:GenerateDataKey*", "kms:GenerateDataKeyPairWithoutPlaintext", True),
    ("kms:Generate*", "kms:GenerateMac", True),
    ("kms:?ecrypt", "kms:Decrypt", True),
    ("kms:?ecrypt", "kms:ReEncrypt", False),
    ("kms:*Key*", "kms:CreateKey", True),
    ("kms:*Key*", "kms:DescribeKey", True),
    ("kms:*Key*", "kms:GetKeyPolicy", True),
    ("kms:*Key*", "kms:Encrypt", False),
    ("kms:Get*", "kms:GetKeyPolicy", True),
    ("kms:Get*", "kms:GetPublicKey", True),
    ("kms:Describe*", "kms:DescribeKey", True),
    ("kms:Describe*", "kms:ListKeys", False),
    ("kms:*Grant", "kms:CreateGrant", True),
    ("kms:*Grant", "kms:ListGrants", False),
    ("*:Encrypt", "kms:Encrypt", True),
    ("k?s:Encrypt", "kms:Encrypt", True),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Decrypt", True),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Sign", False),
    (["kms:Create*", "kms:Describe*", "kms:Enable*"], "kms:EnableKeyRotation", True),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTIONS)
def test_action(pattern: object, action: str, expected: bool) -> None:
    got = decide(allow(Action=pattern), request(action=action))
    assert got is (Decision.ALLOW if expected else Decision.NO_MATCH)


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTIONS)
def test_not_action_is_the_complement(pattern: object, action: str, expected: bool) -> None:
    got = decide(allow(Action=None, NotAction=pattern), request(action=action))
    assert got is (Decision.NO_MATCH if expected else Decision.ALLOW)


# ----------------------------------------------------------------------------- Resource

RESOURCES = [
    ("*", KEY, True),
    ("*", "*", True),
    ("*", ALIAS, True),
    (KEY, KEY, True),
    (KEY, OTHER_KEY, False),
    (KEY, "*", False),
    (f"arn:aws:kms:us-east-1:{A}:key/*", KEY, True),
    (f"arn:aws:kms:us-east-1:{A}:key/*", ALIAS, False),
    (f"arn:aws:kms:us-east-1:{A}:key/*", "*", False),
    (f"arn:aws:kms:*:{A}:key/*", KEY, True),
    (f"arn:aws:kms:us-west-2:{A}:key/*", KEY, False),
    (f"arn:aws:kms:us-east-1:{B}:key/*", KEY, False),
    (f"arn:aws:kms:*:{A}:alias/*", ALIAS, True),
    (f"arn:aws:kms:us-east-?:{A}:key/*", KEY, True),
    (f"arn:aws:kms:us-east-1:{A}:key/1234ABCD-12ab-34cd-56ef-1234567890ab", KEY, False),
    (f"arn:aws:kms:us-east-1:{A}:key/1234abcd-????-34cd-56ef-1234567890ab", KEY, True),
    ("arn:aws:kms:*", KEY, True),
    ("arn:aws:kms:*:*:*", KEY, True),
    ("arn:aws:s3:::*", KEY, False),
    (f"arn:aws:kms:us-east-1:{A}:key/1234abcd.12ab-34cd-56ef-1234567890ab", KEY, False),
    ([OTHER_KEY, KEY], KEY, True),
    ([OTHER_KEY, ALIAS], KEY, False),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", True),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_resource(pattern: object, resource: str, expected: bool) -> None:
    got = decide(allow(Resource=pattern), request(resource=resource))
    assert got is (Decision.ALLOW if expected else Decision.NO_MATCH)


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_not_resource_is_the_complement(pattern: object, resource: str, expected: bool) -> None:
    got = decide(allow(Resource=None, NotResource=pattern), request(resource=resource))
    assert got is (Decision.NO_MATCH if expected else Decision.ALLOW)


def test_key_policy_statement_without_resource_never_applies() -> None:
    assert decide(allow(Resource=None), request()) is Decision.NO_MATCH
    assert decide(deny(Resource=None), request()) is Decision.NO_MATCH


def test_trust_policy_statement_applies_without_resource() -> None:
    text = key_policy(
        allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole", Resource=None)
    )
    policy = parse_policy(text, "trust")
    req = Request("ec2.amazonaws.com", "", "sts:AssumeRole", ROLE)
    assert evaluate(policy, req).decision is Decision.ALLOW
    assert evaluate(policy, Request(ALICE, A, "sts:AssumeRole", ROLE)).decision is Decision.NO_MATCH


# ----------------------------------------------------------------------------- Principal

SERVICE = "ec2.amazonaws.com"
D, W, ACC = PrincipalMatch.DIRECT, PrincipalMatch.WILDCARD, PrincipalMatch.ACCOUNT

PRINCIPALS: list[tuple[str, object, Request, PrincipalMatch | None]] = [
    ("star", "*", request(), W),
    ("aws star", {"AWS": "*"}, request(), W),
    ("aws star list", {"AWS": [ROOT_A, "*"]}, request(principal=BOB_B, account=B), W),
    ("star anonymous", "*", request(principal="", account=""), W),
    ("star service", "*", request(principal=SERVICE, account=""), W),
    ("account id", {"AWS": A}, request(), ACC),
    ("account root arn", {"AWS": ROOT_A}, request(), ACC),
    ("account root arn for root", {"AWS": ROOT_A}, request(principal=ROOT_A), D),
    ("account id for root", {"AWS": A}, request(principal=ROOT_A), D),
    (
        "account id for root in another partition",
        {"AWS": A},
        request(principal=f"arn:aws-cn:iam::{A}:root"),
        D,
    ),
    ("account other", {"AWS": A}, request(principal=BOB_B, account=B), None),
    ("account list", {"AWS": [A, B]}, request(principal=BOB_B, account=B), ACC),
    ("account anonymous", {"AWS": A}, request(principal="", account=""), None),
    ("user exact", {"AWS": ALICE}, request(), D),
    ("user other", {"AWS": f"arn:aws:iam::{A}:user/bob"}, request(), None),
    ("user case sensitive", {"AWS": f"arn:aws:iam::{A}:user/Alice"}, request(), None),
    ("user and account", {"AWS": [ROOT_A, ALICE]}, request(), D),
    ("user in other account", {"AWS": BOB_B}, request(principal=BOB_B, account=B), D),
    ("role matches session", {"AWS": ROLE}, request(principal=SESSION), D),
    (
        "role matches session alias with path",
        {"AWS": f"arn:aws:iam::{A}:role/team/ExampleRole"},
        request(principal=SESSION, aliases=(f"arn:aws:iam::{A}:role/team/ExampleRole",)),
        D,
    ),
    (
        "role with path not derived",
        {"AWS": f"arn:aws:iam::{A}:role/team/ExampleRole"},
        request(principal=SESSION),
        None,
    ),
    ("other role", {"AWS": f"arn:aws:iam::{A}:role/Other"}, request(principal=SESSION), None),
    ("session exact", {"AWS": SESSION}, request(principal=SESSION), D),
    (
        "other session",
        {"AWS": f"arn:aws:sts::{A}:assumed-role/ExampleRole/other"},
        request(principal=SESSION),
        None,
    ),
    ("session via account", {"AWS": A}, request(principal=SESSION), ACC),
    ("role does not match user", {"AWS": ROLE}, request(), None),
    ("service", {"Service": SERVICE}, request(principal=SERVICE, account=""), D),
    ("service case", {"Service": "EC2.amazonaws.com"}, request(principal=SERVICE, account=""), D),
    (
        "service list",
        {"Service": ["ecs.amazonaws.com", SERVICE]},
        request(principal=SERVICE, account=""),
        D,
    ),
    (
        "service other",
        {"Service": "ecs.amazonaws.com"},
        request(principal=SERVICE, account=""),
        None,
    ),
    ("service vs user", {"Service": SERVICE}, request(), None),
    ("aws account vs service", {"AWS": A}, request(principal=SERVICE, account=""), None),
    (
        "federated",
        {"Federated": "cognito-identity.amazonaws.com"},
        request(principal="cognito-identity.amazonaws.com", account=""),
        D,
    ),
    (
        "canonical user",
        {"CanonicalUser": "79a59df9"},
        request(principal="x", account="", aliases=("79a59df9",)),
        D,
    ),
    (
        "unique id alias",
        {"AWS": "AIDACKCEVSQ6C2EXAMPLE"},
        request(aliases=("AIDACKCEVSQ6C2EXAMPLE",)),
        D,
    ),
    ("mixed types", {"AWS": BOB_B, "Service": SERVICE}, request(principal=SERVICE, account=""), D),
]


@pytest.mark.parametrize(
    ("principal", "req", "expected"),
    [(p, r, e) for _, p, r, e in PRINCIPALS],
    ids=[name for name, *_ in PRINCIPALS],
)
def test_principal(principal: object, req: Request, expected: PrincipalMatch | None) -> None:
    result = evaluate(parse_policy(key_policy(allow(Principal=principal)), "resource"), req)
    if expected is None:
        assert result.decision is Decision.NO_MATCH
        assert result.principal_match is None
    else:
        assert result.decision is Decision.ALLOW
        assert result.principal_match is expected


# NotPrincipal: a Deny spares a principal only when every layer (account, role, session or
# user) is listed; an Allow leaves a principal out when any layer is listed.
NOT_PRINCIPALS: list[tuple[str, object, Request, bool, bool]] = [
    # name, NotPrincipal, request, deny applies, allow applies
    ("user and account listed", {"AWS": [ALICE, ROOT_A]}, request(), False, False),
    ("only user listed", {"AWS": ALICE}, request(), True, False),
    ("only account listed", {"AWS": ROOT_A}, request(), True, False),
    ("nothing listed", {"AWS": BOB_B}, request(), True, True),
    ("other user", {"AWS": [BOB_B, f"arn:aws:iam::{B}:root"]}, request(), True, True),
    (
        "listed user in other account",
        {"AWS": [BOB_B, f"arn:aws:iam::{B}:root"]},
        request(principal=BOB_B, account=B),
        False,
        False,
    ),
    (
        "session, role, account listed",
        {"AWS": [SESSION, ROLE, ROOT_A]},
        request(principal=SESSION),
        False,
        False,
    ),
    (
        "session and account only",
        {"AWS": [SESSION, ROOT_A]},
        request(principal=SESSION),
        True,
        False,
    ),
    ("role and account only", {"AWS": [ROLE, ROOT_A]}, request(principal=SESSION), True, False),
    ("root listed", {"AWS": ROOT_A}, request(principal=ROOT_A), False, False),
    ("account id listed for root", {"AWS": A}, request(principal=ROOT_A), False, False),
    ("wildcard", "*", request(), False, False),
    ("aws wildcard", {"AWS": "*"}, request(principal=BOB_B, account=B), False, False),
    ("service listed", {"Service": SERVICE}, request(principal=SERVICE, account=""), False, False),
    ("service not listed", {"AWS": ROOT_A}, request(principal=SERVICE, account=""), True, True),
    ("anonymous", {"AWS": ROOT_A}, request(principal="", account=""), True, True),
]


@pytest.mark.parametrize(
    ("not_principal", "req", "deny_applies", "allow_applies"),
    [(p, r, d, a) for _, p, r, d, a in NOT_PRINCIPALS],
    ids=[name for name, *_ in NOT_PRINCIPALS],
)
def test_not_principal(
    not_principal: object, req: Request, deny_applies: bool, allow_applies: bool
) -> None:
    denying = parse_policy(key_policy(deny(Principal=None, NotPrincipal=not_principal)), "resource")
    allowing = parse_policy(
        key_policy(allow(Principal=None, NotPrincipal=not_principal)), "resource"
    )
    assert (evaluate(denying, req).decision is Decision.EXPLICIT_DENY) is deny_applies
    got = evaluate(allowing, req)
    assert (got.decision is Decision.ALLOW) is allow_applies
    if allow_applies:
        assert got.principal_match is PrincipalMatch.WILDCARD


# ----------------------------------------------------------------------------- decisions


def test_explicit_deny_beats_allow() -> None:
    text = key_policy(
        allow(Sid="AllowAll"),
        deny(Sid="DenyDecrypt", Action="kms:Decrypt"),
        allow(Sid="AllowDecrypt", Principal={"AWS": ALICE}, Action="kms:Decrypt"),
    )
    policy = parse_policy(text, "resource")
    result = evaluate(policy, request(action="kms:Decrypt"))
    assert result.decision is Decision.EXPLICIT_DENY
    assert not result.allowed
    assert result.denied_by == (StatementRef(1, "DenyDecrypt"),)
    assert result.allowed_by == (StatementRef(0, "AllowAll"), StatementRef(2, "AllowDecrypt"))
    assert evaluate(policy, request(action="kms:Encrypt")).decision is Decision.ALLOW


def test_deny_order_does_not_matter() -> None:
    first = parse_policy(key_policy(deny(Sid="D"), allow(Sid="A")), "resource")
    last = parse_policy(key_policy(allow(Sid="A"), deny(Sid="D")), "resource")
    assert evaluate(first, request()).decision is Decision.EXPLICIT_DENY
    assert evaluate(last, request()).decision is Decision.EXPLICIT_DENY


def test_no_matching_statement_is_no_match() -> None:
    policy = parse_policy(key_policy(allow(Action="kms:Decrypt")), "resource")
    result = evaluate(policy, request())
    assert result.decision is Decision.NO_MATCH
    assert not result.allows_directly
    assert (result.allowed_by, result.denied_by, result.principal_match) == ((), (), None)


def test_deny_only_policy_without_match_is_no_match() -> None:
    policy = parse_policy(key_policy(deny(Action="kms:Decrypt")), "resource")
    assert evaluate(policy, request()).decision is Decision.NO_MATCH


def test_strongest_principal_match_is_reported() -> None:
    text = key_policy(
        allow(Sid="Account", Principal={"AWS": A}),
        allow(Sid="Direct", Principal={"AWS": ALICE}),
        allow(Sid="Everyone", Principal="*"),
    )
    result = evaluate(parse_policy(text, "resource"), request())
    assert result.principal_match is PrincipalMatch.DIRECT
    assert result.allows_directly
    only_account = evaluate(
        parse_policy(key_policy(allow(Principal={"AWS": A})), "resource"), request()
    )
    assert only_account.principal_match is PrincipalMatch.ACCOUNT
    assert only_account.allowed and not only_account.allows_directly


def test_identity_policy_has_no_principal_match() -> None:
    text = key_policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": KEY})
    result = evaluate(parse_policy(text, "identity"), request())
    assert result.decision is Decision.ALLOW
    assert result.principal_match is None


def test_identity_policy_deny() -> None:
    text = key_policy(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
    )
    policy = parse_policy(text, "identity")
    assert (
        evaluate(policy, request(action="kms:ScheduleKeyDeletion")).decision
        is Decision.EXPLICIT_DENY
    )
    assert evaluate(policy, request(action="kms:DescribeKey")).decision is Decision.ALLOW


def test_condition_decides_between_allow_and_deny() -> None:
    text = key_policy(
        allow(Sid="Use"),
        deny(Sid="NoPlainHttp", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    policy = parse_policy(text, "resource")
    assert (
        evaluate(policy, request(context={"aws:SecureTransport": True})).decision is Decision.ALLOW
    )
    assert (
        evaluate(policy, request(context={"aws:SecureTransport": False})).decision
        is Decision.EXPLICIT_DENY
    )
    # The key is absent: Bool does not match, so the deny does not apply.
    assert evaluate(policy, request()).decision is Decision.ALLOW


def test_request_context_is_not_mutated_and_policy_is_reusable() -> None:
    policy = parse_policy(
        key_policy(allow(Condition={"StringEquals": {"aws:username": "alice"}})), "resource"
    )
    ctx = {"AWS:UserName": "alice"}
    for _ in range(3):
        assert evaluate(policy, request(context=ctx)).decision is Decision.ALLOW
    assert ctx == {"AWS:UserName": "alice"}
    assert evaluate(policy, request(context={"aws:username": "bob"})).decision is Decision.NO_MATCH


def test_principal_arn_condition_instead_of_not_principal() -> None:
    # "Principal": "*" with ArnNotEquals aws:PrincipalArn, from the Principal docs.
    text = key_policy(
        deny(Condition={"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{B}:user/user-name"}})
    )
    policy = parse_policy(text, "resource")
    denied = request(context={"aws:PrincipalArn": ALICE})
    spared = request(
        principal=f"arn:aws:iam::{B}:user/user-name",
        account=B,
        context={"aws:PrincipalArn": f"arn:aws:iam::{B}:user/user-name"},
    )
    assert evaluate(policy, denied).decision is Decision.EXPLICIT_DENY
    assert evaluate(policy, spared).decision is Decision.NO_MATCH


def test_deny_with_negated_ifexists_still_denies_when_key_is_missing() -> None:
    # "If you are using an "Effect": "Deny" element with a negated condition operator like
    # StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    text = key_policy(
        allow(Sid="Use"),
        deny(
            Sid="TeamOnly", Condition={"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "blue"}}
        ),
    )
    policy = parse_policy(text, "resource")
    assert evaluate(policy, request()).decision is Decision.EXPLICIT_DENY
    assert (
        evaluate(policy, request(context={"aws:PrincipalTag/team": "red"})).decision
        is Decision.EXPLICIT_DENY
    )
    assert (
        evaluate(policy, request(context={"aws:PrincipalTag/team": "blue"})).decision
        is Decision.ALLOW
    )


def test_ifexists_lets_statement_apply_to_requests_without_the_key() -> None:
    # The RunInstances example: StringLike fails for resources without ec2:InstanceType,
    # StringLikeIfExists does not.
    plain = parse_policy(
        key_policy(allow(Condition={"StringLike": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}})),
        "resource",
    )
    if_exists = parse_policy(
        key_policy(
            allow(Condition={"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}})
        ),
        "resource",
    )
    without_key = request(action="ec2:RunInstances")
    assert evaluate(plain, without_key).decision is Decision.NO_MATCH
    assert evaluate(if_exists, without_key).decision is Decision.ALLOW
    big = request(action="ec2:RunInstances", context={"ec2:InstanceType": "x1.32xlarge"})
    assert evaluate(if_exists, big).decision is Decision.NO_MATCH
