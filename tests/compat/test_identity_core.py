"""One identity and authorization core, through boto3 against a live server.

Regression tests for issue 10, defects 7-10: each failed on the code that had three
authenticate steps, two authorization cores and two condition-context builders.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, make_client

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client(server: Any, service: str, creds: dict[str, str] | None = None) -> Any:
    if creds is None:
        return make_client(server.endpoint, service=service)
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=Config(retries={"max_attempts": 1}),
    )


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **extra}


def root_statement() -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def message_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"].get("Message", ""))


def new_user(server: Any, *policies: str) -> tuple[str, dict[str, str]]:
    iam = client(server, "iam")
    name = unique("user")
    user = iam.create_user(UserName=name)["User"]
    for index, text in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=text)
    return user["Arn"], iam.create_access_key(UserName=name)["AccessKey"]


def new_role_session(
    server: Any,
    *role_policies: str,
    path: str = "/",
    session_policy: str | None = None,
    tags: list[dict[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, str], str]:
    """A role (trusting a fresh user), a session of it and the session's ARN."""
    iam = client(server, "iam")
    user_arn, key = new_user(server)
    name = unique("role")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    role = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=trust, Tags=tags or []
    )["Role"]
    for index, text in enumerate(role_policies):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{index}", PolicyDocument=text)
    extra = {} if session_policy is None else {"Policy": session_policy}
    out = client(server, "sts", key).assume_role(RoleArn=role["Arn"], RoleSessionName="s1", **extra)
    return role, out["Credentials"], out["AssumedRoleUser"]["Arn"]


# --- defect 7: operations without a key are authorized by IAM -------------------------


def test_list_aliases_without_key_id_is_authorized(server) -> None:
    kms = client(server, "kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{unique('seen')}", TargetKeyId=key_id)
    _, denied_key = new_user(server, policy(allow("kms:*"), {**allow("kms:*"), "Effect": "Deny"}))
    with pytest.raises(ClientError) as exc:
        client(server, "kms", denied_key).list_aliases()
    assert code_of(exc) == "AccessDeniedException"
    assert message_of(exc).endswith(
        "kms:ListAliases on resource: * with an explicit deny in an identity-based policy"
    )
    _, silent_key = new_user(server)  # no identity policy at all
    with pytest.raises(ClientError) as exc:
        client(server, "kms", silent_key).list_aliases()
    assert message_of(exc).endswith(
        "because no identity-based policy allows the kms:ListAliases action"
    )
    _, allowed_key = new_user(server, policy(allow("kms:ListAliases")))
    names = [a["AliasName"] for a in client(server, "kms", allowed_key).list_aliases()["Aliases"]]
    assert any(name.startswith("alias/seen-") for name in names)


# --- defect 8: a session policy limits a key policy that names the role ----------------


def test_session_policy_limits_a_key_policy_naming_the_role(server) -> None:
    kms = client(server, "kms")
    only_describe = policy(allow("kms:DescribeKey"))
    role, creds, session_arn = new_role_session(server, session_policy=only_describe)
    by_role = kms.create_key(
        Policy=policy(
            root_statement(),
            {
                "Effect": "Allow",
                "Principal": {"AWS": role["Arn"]},
                "Action": "kms:*",
                "Resource": "*",
            },
        )
    )["KeyMetadata"]["KeyId"]
    by_session = kms.create_key(
        Policy=policy(
            root_statement(),
            {
                "Effect": "Allow",
                "Principal": {"AWS": session_arn},
                "Action": "kms:*",
                "Resource": "*",
            },
        )
    )["KeyMetadata"]["KeyId"]
    as_session = client(server, "kms", creds)
    # Naming the role: the session policy (DescribeKey only) limits what the key policy gives.
    as_session.describe_key(KeyId=by_role)
    with pytest.raises(ClientError) as exc:
        as_session.encrypt(KeyId=by_role, Plaintext=b"x")
    assert code_of(exc) == "AccessDeniedException"
    assert message_of(exc) == (
        f"User: {session_arn} is not authorized to perform: kms:Encrypt on resource: "
        f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{by_role} "
        "because no session policy allows the kms:Encrypt action"
    )
    # Naming the session itself: the session policy does not limit it.
    assert as_session.encrypt(KeyId=by_session, Plaintext=b"x")["KeyId"].endswith(by_session)


# --- defect 9: sessions and key policies are bound to unique ids -----------------------


def test_a_recreated_role_does_not_revive_old_sessions(server) -> None:
    iam = client(server, "iam")
    role, creds, _ = new_role_session(server)
    client(server, "sts", creds).get_caller_identity()  # valid while the role exists
    iam.delete_role(RoleName=role["RoleName"])
    iam.create_role(
        RoleName=role["RoleName"],
        AssumeRolePolicyDocument=role["AssumeRolePolicyDocument"]
        if isinstance(role["AssumeRolePolicyDocument"], str)
        else json.dumps(role["AssumeRolePolicyDocument"]),
    )
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="all",
        PolicyDocument=policy(allow(["kms:*", "sts:*"])),
    )
    with pytest.raises(ClientError) as exc:
        client(server, "sts", creds).get_caller_identity()
    assert code_of(exc) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as exc:
        client(server, "kms", creds).list_keys()
    assert code_of(exc) == "UnrecognizedClientException"
    assert message_of(exc) == "The security token included in the request is invalid."


# --- defect 10: aws:PrincipalArn and grants of a role with a path ----------------------


def test_a_role_with_a_path_uses_and_retires_its_grant(server) -> None:
    kms = client(server, "kms")
    role, creds, _ = new_role_session(server, path="/app/")
    assert ":role/app/" in role["Arn"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = kms.create_grant(
        KeyId=key_id, GranteePrincipal=role["Arn"], Operations=["Encrypt", "RetireGrant"]
    )
    as_session = client(server, "kms", creds)
    as_session.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    as_session.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_same_request_same_decision_and_keys_on_every_api(server) -> None:
    """One role session calls KMS, IAM, STS and CloudTrail under one identity policy whose
    conditions name every global key: all allowed; change one expected value: all denied."""

    def conditioned(role_arn: str, userid: str, tag: str) -> str:
        return policy(
            allow(
                ["kms:ListKeys", "iam:GetRole", "sts:AssumeRole", "cloudtrail:LookupEvents"],
                Condition={
                    "StringEquals": {
                        "aws:PrincipalArn": role_arn,
                        "aws:PrincipalAccount": ACCOUNT,
                        "aws:PrincipalType": "AssumedRole",
                        "aws:userid": userid,
                        "aws:RequestedRegion": "us-east-1",
                        "aws:PrincipalTag/team": tag,
                    },
                    "Bool": {"aws:SecureTransport": "false"},
                    "IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                    "StringLike": {"aws:UserAgent": "*Boto3*"},
                    "Null": {"aws:CurrentTime": "false", "aws:EpochTime": "false"},
                },
            )
        )

    iam = client(server, "iam")
    role, creds, _ = new_role_session(server, path="/core/", tags=[{"Key": "team", "Value": "a"}])
    userid = f"{role['RoleId']}:s1"
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="cond",
        PolicyDocument=conditioned(role["Arn"], userid, "a"),
    )
    target = iam.create_role(
        RoleName=unique("target"),
        AssumeRolePolicyDocument=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    calls = {
        "kms": lambda: client(server, "kms", creds).list_keys(),
        "iam": lambda: client(server, "iam", creds).get_role(RoleName=role["RoleName"]),
        "sts": lambda: client(server, "sts", creds).assume_role(
            RoleArn=target["Arn"], RoleSessionName="chained"
        ),
        "cloudtrail": lambda: client(server, "cloudtrail", creds).lookup_events(MaxResults=1),
    }
    for call in calls.values():
        call()  # every API sees the same keys, so every one allows
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="cond",
        PolicyDocument=conditioned(role["Arn"], userid, "b"),
    )
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert "AccessDenied" in code_of(exc), name


def test_key_policy_principals_are_bound_to_unique_ids(server) -> None:
    iam, kms = client(server, "iam"), client(server, "kms")
    name = unique("alice")
    user = iam.create_user(UserName=name)["User"]
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=policy(allow("kms:*")))
    old_key = iam.create_access_key(UserName=name)["AccessKey"]
    text = policy(
        root_statement(),
        {
            "Effect": "Allow",
            "Principal": {"AWS": [user["Arn"]]},
            "Action": "kms:Encrypt",
            "Resource": "*",
        },
    )
    key_id = kms.create_key(Policy=text)["KeyMetadata"]["KeyId"]
    client(server, "kms", old_key).encrypt(KeyId=key_id, Plaintext=b"x")
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == text  # unchanged while she exists
    # Alice leaves; a new Alice arrives under the same name (no IAM policy: only the key
    # policy statement naming Alice could let her in).
    iam.delete_access_key(UserName=name, AccessKeyId=old_key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="kms")
    iam.delete_user(UserName=name)
    shown = json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])
    assert shown["Statement"][1]["Principal"] == {"AWS": [user["UserId"]]}
    newcomer = iam.create_user(UserName=name)["User"]
    assert newcomer["Arn"] == user["Arn"] and newcomer["UserId"] != user["UserId"]
    new_key = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as exc:
        client(server, "kms", new_key).encrypt(KeyId=key_id, Plaintext=b"x")
    assert code_of(exc) == "AccessDeniedException"
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Statement"][1]["Principal"] == {
        "AWS": [user["UserId"]]
    }
    # Saving the shown policy again is refused: the unique id names no one now, nor does
    # a user who does not exist.
    for refused in (
        kms.get_key_policy(KeyId=key_id)["Policy"],
        text.replace(name, unique("nobody")),
    ):
        with pytest.raises(ClientError) as exc:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=refused)
        assert code_of(exc) == "MalformedPolicyDocumentException"
        assert message_of(exc) == (
            "Policy contains a statement with one or more invalid principals."
        )
    # Naming the newcomer again binds the new unique id.
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=text)
    client(server, "kms", new_key).encrypt(KeyId=key_id, Plaintext=b"x")


def test_an_explicit_deny_stops_even_a_retiring_principal(server) -> None:
    kms = client(server, "kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    denied_arn, denied = new_user(server, policy({**allow("kms:RetireGrant"), "Effect": "Deny"}))
    plain_arn, plain = new_user(server)  # no policy: the grant alone lets it retire
    for arn, creds, refused in ((denied_arn, denied, True), (plain_arn, plain, False)):
        grant = kms.create_grant(
            KeyId=key_id, GranteePrincipal=ROOT, RetiringPrincipal=arn, Operations=["Decrypt"]
        )
        as_user = client(server, "kms", creds)
        if refused:
            with pytest.raises(ClientError) as exc:
                as_user.retire_grant(GrantToken=grant["GrantToken"])
            assert message_of(exc).endswith("with an explicit deny in an identity-based policy")
        else:
            as_user.retire_grant(GrantToken=grant["GrantToken"])
    assert [g["RetiringPrincipal"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [denied_arn]
