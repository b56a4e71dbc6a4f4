"""Parsing and validation of policy documents ("IAM JSON policy elements reference",
"Grammar of the IAM JSON policy language", KMS "Creating a key policy")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openkms.authz import MAX_KEY_POLICY_BYTES, Effect, PolicyKind, parse_policy
from openkms.errors import LimitExceededException, MalformedPolicyDocumentException

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def stmt(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def doc(*statements: dict[str, Any], **top: Any) -> str:
    body: dict[str, Any] = {"Version": "2012-10-17", "Statement": list(statements)}
    body.update(top)
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


def identity_stmt(**overrides: Any) -> dict[str, Any]:
    return stmt(**{"Principal": None, **overrides})


def trust_stmt(**overrides: Any) -> dict[str, Any]:
    return stmt(**{"Resource": None, "Action": "sts:AssumeRole", **overrides})


# ----------------------------------------------------------------------------- valid


def test_default_key_policy_parses() -> None:
    from openkms.domain.policy import default_policy

    policy = parse_policy(default_policy(ACCOUNT), "resource")
    assert policy.version == "2012-10-17"
    assert policy.id == "key-default-1"
    assert policy.variables_enabled
    (st,) = policy.statements
    assert st.effect is Effect.ALLOW
    assert st.ref.sid == "Enable IAM User Permissions"
    assert st.principal is not None and st.principal.accounts == {ACCOUNT}


def test_statement_may_be_a_single_object() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": stmt()})
    assert len(parse_policy(text, "resource").statements) == 1


@pytest.mark.parametrize(("version", "variables"), [("2012-10-17", True), ("2008-10-17", False)])
def test_versions(version: str, variables: bool) -> None:
    policy = parse_policy(doc(stmt(), Version=version), "resource")
    assert policy.version == version
    assert policy.variables_enabled is variables


def test_missing_version_means_2008_semantics() -> None:
    text = json.dumps({"Statement": [stmt()]})
    policy = parse_policy(text, "resource")
    assert policy.version is None
    assert not policy.variables_enabled


def test_account_id_principal_is_normalised_to_root_arn() -> None:
    policy = parse_policy(doc(stmt(Principal={"AWS": ACCOUNT})), "resource")
    spec = policy.statements[0].principal
    assert spec is not None
    assert ROOT in spec.arns and spec.accounts == {ACCOUNT}


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": ["*"]},
        {"AWS": ACCOUNT},
        {"AWS": ROOT},
        {"AWS": [ROOT, "444455556666"]},
        {"AWS": "arn:aws:iam::111122223333:user/alice"},
        {"AWS": "arn:aws:iam::111122223333:user/division/alice"},
        {"AWS": "arn:aws:iam::111122223333:role/ExampleRole"},
        {"AWS": "arn:aws:sts::111122223333:assumed-role/ExampleRole/session"},
        {"AWS": "arn:aws:sts::111122223333:federated-user/bob"},
        {"AWS": "arn:aws-cn:iam::111122223333:root"},
        {"AWS": "AIDACKCEVSQ6C2EXAMPLE"},
        {"Service": "ec2.amazonaws.com"},
        {"Service": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"]},
        {"Federated": "cognito-identity.amazonaws.com"},
        {"Federated": "arn:aws:iam::111122223333:saml-provider/provider"},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
        {"AWS": [ROOT, "999999999999"], "CanonicalUser": "79a59df9"},
    ],
)
def test_valid_principals(principal: object) -> None:
    assert parse_policy(doc(stmt(Principal=principal)), "resource").statements


@pytest.mark.parametrize(
    "action",
    [
        "*",
        "kms:*",
        "kms:Encrypt",
        "KMS:encrypt",
        "kms:Create*",
        "kms:*Key*",
        "kms:?ecrypt",
        "iam:*AccessKey*",
    ],
)
def test_valid_actions(action: str) -> None:
    assert parse_policy(doc(stmt(Action=action)), "resource").statements


def test_key_policy_sid_may_contain_spaces_and_repeat() -> None:
    text = doc(stmt(Sid="Allow use of the key"), stmt(Sid="Allow use of the key"))
    policy = parse_policy(text, "resource")
    assert [s.ref.sid for s in policy.statements] == ["Allow use of the key"] * 2


def test_key_policy_statement_without_resource_is_accepted() -> None:
    # "If the required Resource element is missing ... the CreateKey and PutKeyPolicy
    # APIs succeed, even though the policy statement is ineffective."
    policy = parse_policy(doc(stmt(Resource=None)), "resource")
    assert policy.statements[0].resources.element == ""


def test_identity_and_trust_policies() -> None:
    assert parse_policy(doc(identity_stmt(Sid="Stmt1")), "identity").statements
    assert parse_policy(doc(trust_stmt(Sid="Trust1")), "trust").statements


def test_parse_policy_caches_by_text() -> None:
    text = doc(stmt(Sid="cache"))
    assert parse_policy(text, "resource") is parse_policy(text, "resource")


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_policy(doc(stmt()), "bucket")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- size, chars


def _padded(size: int) -> str:
    base = doc(stmt())
    padding = size - len(base.encode())
    assert padding >= 0
    return base[:-1] + " " * padding + "}"


def test_key_policy_of_exactly_32_kb_is_accepted() -> None:
    text = _padded(MAX_KEY_POLICY_BYTES)
    assert len(text.encode()) == 32_768
    assert parse_policy(text, "resource").statements


def test_key_policy_over_32_kb_is_rejected() -> None:
    text = _padded(MAX_KEY_POLICY_BYTES + 1)
    with pytest.raises(LimitExceededException, match="32769 bytes; the maximum is 32768"):
        parse_policy(text, "resource")


def test_size_counts_utf8_bytes() -> None:
    base = doc(stmt(Sid="é" * 100))
    text = base[:-1] + " " * (MAX_KEY_POLICY_BYTES - len(base.encode()) + 1) + "}"
    assert len(text) <= MAX_KEY_POLICY_BYTES < len(text.encode())
    with pytest.raises(LimitExceededException, match="maximum is 32768"):
        parse_policy(text, "resource")


@pytest.mark.parametrize("char", ["é", "ÿ", "\u00a0", "~", "\t"])
def test_key_policy_allows_latin1_printable(char: str) -> None:
    assert parse_policy(doc(stmt(Sid=f"Sid {char}")), "resource")


@pytest.mark.parametrize("char", ["\u0100", "\u20ac", "\U0001f600", "\x7f", "\x85"])
def test_key_policy_rejects_other_characters(char: str) -> None:
    text = doc(stmt(Sid="x")).replace('"x"', f'"x{char}"')
    with pytest.raises(MalformedPolicyDocumentException, match=f"U\\+{ord(char):04X}"):
        parse_policy(text, "resource")


def test_key_policy_rejects_raw_control_character_outside_strings() -> None:
    with pytest.raises(MalformedPolicyDocumentException, match="U\\+0001"):
        parse_policy("\x01" + doc(stmt()), "resource")


def test_identity_policy_is_not_limited_to_latin1() -> None:
    text = doc(identity_stmt(Condition={"StringEquals": {"aws:username": "日本"}}))
    assert parse_policy(text, "identity")


# ----------------------------------------------------------------------------- malformed

MALFORMED: list[tuple[str, str, PolicyKind, str]] = [
    ("not json", "{", "resource", "The policy is not valid JSON"),
    ("trailing garbage", doc(stmt()) + "x", "resource", "not valid JSON"),
    ("NaN constant", '{"Version": NaN, "Statement": []}', "resource", "NaN is not a JSON value"),
    ("array document", "[]", "resource", "must be a JSON object"),
    ("string document", '"x"', "resource", "must be a JSON object"),
    ("unknown top-level", doc(stmt(), Foo="x"), "resource", "unsupported element: Foo"),
    (
        "bad version",
        doc(stmt(), Version="2012-10-18"),
        "resource",
        "Version '2012-10-18' is invalid",
    ),
    ("numeric version", doc(stmt(), Version=2012), "resource", "Version 2012 is invalid"),
    ("id not string", doc(stmt(), Id=5), "resource", "Id must be a string"),
    (
        "id null",
        '{"Id": null, "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*"}}',
        "resource",
        "Id must be a string",
    ),
    (
        "version null",
        '{"Version": null, "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*"}}',
        "resource",
        "Version None is invalid",
    ),
    (
        "sid null",
        '{"Statement": {"Sid": null, "Effect": "Allow", "Principal": "*", "Action": "*"}}',
        "resource",
        "Sid must be a string",
    ),
    ("id in identity", doc(identity_stmt(), Id="x"), "identity", "Id element is not allowed"),
    ("no statement", json.dumps({"Version": "2012-10-17"}), "resource", "at least one Statement"),
    ("empty statements", json.dumps({"Statement": []}), "resource", "at least one Statement"),
    ("statement string", json.dumps({"Statement": "x"}), "resource", "at least one Statement"),
    (
        "statement item string",
        json.dumps({"Statement": ["x"]}),
        "resource",
        "Statement 0 must be a JSON object",
    ),
    (
        "duplicate json key",
        '{"Statement": [], "Statement": []}',
        "resource",
        "repeats the key 'Statement'",
    ),
    (
        "duplicate key in statement",
        '{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}',
        "resource",
        "repeats the key 'Effect'",
    ),
    (
        "unknown statement element",
        doc(stmt(Foo=1)),
        "resource",
        "Statement 0: unsupported element 'Foo'",
    ),
    (
        "lowercase effect",
        doc(stmt(Effect="allow")),
        "resource",
        "Effect must be Allow or Deny, not 'allow'",
    ),
    (
        "missing effect",
        doc(stmt(Effect=None)),
        "resource",
        "Effect must be Allow or Deny, not None",
    ),
    ("sid not string", doc(stmt(Sid=1)), "resource", "Statement 0: Sid must be a string"),
    ("iam sid with space", doc(identity_stmt(Sid="a b")), "identity", "Sid must be alphanumeric"),
    (
        "iam sid with dash",
        doc(identity_stmt(Sid="autogenerated-id")),
        "identity",
        "Sid must be alphanumeric",
    ),
    ("trust sid with space", doc(trust_stmt(Sid="a b")), "trust", "Sid must be alphanumeric"),
    (
        "iam duplicate sid",
        doc(identity_stmt(Sid="A"), identity_stmt(Sid="A")),
        "identity",
        "Statement 1 (Sid 'A'): Statement IDs (SID) in a single policy must be unique",
    ),
    (
        "trust duplicate sid",
        doc(trust_stmt(Sid="A"), trust_stmt(Sid="A")),
        "trust",
        "must be unique",
    ),
    (
        "missing principal",
        doc(stmt(Principal=None)),
        "resource",
        "exactly one of Principal or NotPrincipal",
    ),
    (
        "both principals",
        doc(stmt(NotPrincipal={"AWS": ROOT})),
        "resource",
        "exactly one of Principal or NotPrincipal",
    ),
    (
        "trust missing principal",
        doc(trust_stmt(Principal=None)),
        "trust",
        "exactly one of Principal",
    ),
    (
        "principal in identity",
        doc(identity_stmt(Principal="*")),
        "identity",
        "Principal is not allowed in an identity-based policy",
    ),
    (
        "notprincipal in identity",
        doc(identity_stmt(NotPrincipal="*")),
        "identity",
        "NotPrincipal is not allowed",
    ),
    (
        "principal bare arn",
        doc(stmt(Principal=ROOT)),
        "resource",
        'Principal must be "*" or a non-empty object',
    ),
    ("principal empty object", doc(stmt(Principal={})), "resource", "non-empty object"),
    ("principal list", doc(stmt(Principal=["*"])), "resource", "non-empty object"),
    (
        "principal unknown type",
        doc(stmt(Principal={"Group": "x"})),
        "resource",
        "invalid principal type 'Group'",
    ),
    (
        "principal wildcard in arn",
        doc(stmt(Principal={"AWS": "arn:aws:iam::111122223333:user/*"})),
        "resource",
        "wildcards cannot match part of a principal",
    ),
    (
        "principal wildcard account",
        doc(stmt(Principal={"AWS": "arn:aws:iam::*:root"})),
        "resource",
        "wildcards cannot",
    ),
    (
        "principal group",
        doc(stmt(Principal={"AWS": "arn:aws:iam::111122223333:group/admins"})),
        "resource",
        "is not an account ID, principal ARN",
    ),
    (
        "principal short account",
        doc(stmt(Principal={"AWS": "12345"})),
        "resource",
        "is not an account ID",
    ),
    (
        "principal user name",
        doc(stmt(Principal={"AWS": "alice"})),
        "resource",
        "is not an account ID",
    ),
    (
        "principal s3 arn",
        doc(stmt(Principal={"AWS": "arn:aws:s3:::bucket"})),
        "resource",
        "is not an account ID",
    ),
    (
        "principal empty list",
        doc(stmt(Principal={"AWS": []})),
        "resource",
        "AWS must be a non-empty string",
    ),
    (
        "principal empty string",
        doc(stmt(Principal={"AWS": ""})),
        "resource",
        "AWS must be a non-empty string",
    ),
    (
        "principal number",
        doc(stmt(Principal={"AWS": 111122223333})),
        "resource",
        "AWS must be a non-empty string",
    ),
    (
        "service wildcard",
        doc(stmt(Principal={"Service": "*"})),
        "resource",
        "Service principal '*': wildcards",
    ),
    (
        "notprincipal invalid",
        doc(stmt(Principal=None, NotPrincipal={"AWS": "bob"})),
        "resource",
        "Statement 0: NotPrincipal AWS principal 'bob'",
    ),
    ("missing action", doc(stmt(Action=None)), "resource", "exactly one of Action or NotAction"),
    (
        "both actions",
        doc(stmt(NotAction="kms:Decrypt")),
        "resource",
        "exactly one of Action or NotAction",
    ),
    (
        "action without service",
        doc(stmt(Action="Encrypt")),
        "resource",
        'Action \'Encrypt\' must be "*" or "<service>:<action>"',
    ),
    ("action empty name", doc(stmt(Action="kms:")), "resource", 'must be "*" or'),
    ("action empty", doc(stmt(Action="")), "resource", 'must be "*" or'),
    ("action two colons", doc(stmt(Action="kms:a:b")), "resource", 'must be "*" or'),
    ("action with space", doc(stmt(Action="kms:Encrypt Decrypt")), "resource", 'must be "*" or'),
    (
        "action number",
        doc(stmt(Action=5)),
        "resource",
        "Action must be a string or a non-empty list",
    ),
    (
        "action empty list",
        doc(stmt(Action=[])),
        "resource",
        "Action must be a string or a non-empty list",
    ),
    (
        "action nested list",
        doc(stmt(Action=[["kms:Encrypt"]])),
        "resource",
        "non-empty list of strings",
    ),
    (
        "notaction invalid",
        doc(stmt(Action=None, NotAction="x")),
        "resource",
        "NotAction 'x' must be",
    ),
    (
        "both resources",
        doc(stmt(NotResource="*")),
        "resource",
        "must not have both Resource and NotResource",
    ),
    (
        "resource not arn",
        doc(stmt(Resource="my-key")),
        "resource",
        "Resource 'my-key' must be in ARN format or \"*\"",
    ),
    ("resource empty", doc(stmt(Resource="")), "resource", "must be in ARN format"),
    (
        "resource empty list",
        doc(stmt(Resource=[])),
        "resource",
        "Resource must be a string or a non-empty list",
    ),
    (
        "notresource not arn",
        doc(stmt(Resource=None, NotResource="x")),
        "resource",
        "NotResource 'x' must be in ARN format",
    ),
    (
        "identity missing resource",
        doc(identity_stmt(Resource=None)),
        "identity",
        "must have a Resource or NotResource",
    ),
    (
        "trust with resource",
        doc(trust_stmt(Resource="*")),
        "trust",
        "Resource is not allowed in a trust policy",
    ),
    (
        "trust with notresource",
        doc(trust_stmt(NotResource="*")),
        "trust",
        "NotResource is not allowed in a trust policy",
    ),
    (
        "condition not object",
        doc(stmt(Condition="x")),
        "resource",
        "Statement 0: Condition must be a JSON object",
    ),
    (
        "condition bad operator",
        doc(stmt(Sid="S1", Condition={"Foo": {"a:b": "c"}})),
        "resource",
        "Statement 0 (Sid 'S1'): Condition operator 'Foo' is not a valid condition operator",
    ),
    (
        "overly permissive",
        doc(stmt(Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:a": "b"}})),
        "resource",
        "OverlyPermissiveCondition",
    ),
    (
        "second statement reported",
        doc(stmt(), stmt(Effect="Maybe")),
        "resource",
        "Statement 1: Effect",
    ),
]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [(t, k, m) for _, t, k, m in MALFORMED],
    ids=[name for name, *_ in MALFORMED],
)
def test_malformed_documents(text: str, kind: PolicyKind, message: str) -> None:
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(text, kind)
    assert message in exc.value.message
    assert exc.value.type_name == "MalformedPolicyDocumentException"


def test_identity_policy_accepts_forallvalues_on_encryption_context() -> None:
    text = doc(
        identity_stmt(Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:a": "b"}})
    )
    assert parse_policy(text, "identity")


# --- nesting (issue 10: 1,000 levels made json.loads raise RecursionError, a 500) ------


def nested(depth: int, inner: str = "1") -> str:
    return '{"Version": "2012-10-17", "Statement": ' + "[" * depth + inner + "]" * depth + "}"


@pytest.mark.parametrize("kind", ["resource", "identity", "trust"])
@pytest.mark.parametrize("depth", [32, 1_000, 100_000])
def test_deeply_nested_document_is_malformed(kind: PolicyKind, depth: int) -> None:
    text = nested(depth)
    if kind == "resource" and len(text) > MAX_KEY_POLICY_BYTES:
        text = nested(16_000)
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(text, kind)
    assert exc.value.message == (
        "The policy nests JSON arrays and objects more than 32 levels deep."
    )


def test_nesting_up_to_the_limit_reaches_the_ordinary_checks() -> None:
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(nested(31), "identity")
    assert exc.value.message == "Statement 0 must be a JSON object."


@pytest.mark.parametrize(
    "text",
    [
        # Brackets inside strings (escaped quotes too) do not count.
        doc(identity_stmt(Sid="x", Resource="arn:aws:s3:::" + "[{" * 40)),
        doc(identity_stmt(Condition={"StringLike": {"aws:userid": '\\"[' * 40 + "\\"}})),
    ],
)
def test_brackets_inside_strings_do_not_count(text: str) -> None:
    assert parse_policy(text, "identity")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"Statement": "' + "[" * 100, "Unterminated string"),
        ('{"Statement": "\\', "Unterminated string"),
    ],
)
def test_unterminated_strings_are_ordinary_json_errors(text: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(text, "identity")
    assert message in exc.value.message


def test_mixed_arrays_and_objects_count_level_by_level() -> None:
    """33 levels alternating objects and arrays: each level counts once."""
    inner = '{"a": ' * 16 + "[1]" + "}" * 16
    text = '{"Version": "2012-10-17", "Statement": ' + "[" * 15 + inner + "]" * 15 + "}"
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(text, "identity")
    assert "more than 32 levels deep" in exc.value.message
    shallower = text.replace('{"a": ', "", 1).replace("}", "", 1)
    with pytest.raises(MalformedPolicyDocumentException) as exc:
        parse_policy(shallower, "identity")
    assert "levels deep" not in exc.value.message
