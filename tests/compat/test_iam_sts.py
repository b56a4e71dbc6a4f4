"""IAM and STS through boto3 against a live server (SQLite and PostgreSQL).

The ``iam`` and ``sts`` clients use the same endpoint as ``kms``; requests are routed
by the SigV4 credential scope. Responses are parsed by botocore's own query-protocol
parser, so a shape the model does not expect fails here.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, make_client

ALLOW_ALL_IAM = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client(server: Any, service: str, creds: Mapping[str, str | None] | None = None) -> Any:
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


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def trust(principal: str, effect: str = "Allow") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": effect, "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


@pytest.fixture()
def iam(server: Any) -> Any:
    return client(server, "iam")


@pytest.fixture()
def sts(server: Any) -> Any:
    return client(server, "sts")


def new_user(iam: Any, policy: dict[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    """A user with one access key (and an inline policy); its name and key."""
    name = unique("user")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return name, iam.create_access_key(UserName=name)["AccessKey"]


# --- users ------------------------------------------------------------------------------


def test_user_lifecycle(iam) -> None:
    name = unique("Alice")
    created = iam.create_user(UserName=name, Path="/div/", Tags=[{"Key": "team", "Value": "blue"}])[
        "User"
    ]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/div/{name}"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 20
    assert created["Path"] == "/div/" and created["Tags"] == [{"Key": "team", "Value": "blue"}]
    fetched = iam.get_user(UserName=name.lower())["User"]  # names are case-insensitive
    assert fetched == created
    listed = [u for u in iam.list_users(PathPrefix="/div/")["Users"] if u["UserName"] == name]
    assert listed == [{k: v for k, v in created.items() if k != "Tags"}]
    iam.tag_user(UserName=name, Tags=[{"Key": "TEAM", "Value": "red"}, {"Key": "x", "Value": ""}])
    assert iam.get_user(UserName=name)["User"]["Tags"] == [
        {"Key": "TEAM", "Value": "red"},
        {"Key": "x", "Value": ""},
    ]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name.upper())
    assert error_of(exc) == (
        "EntityAlreadyExists",
        f"User with name {name.upper()} already exists.",
        409,
    )
    iam.delete_user(UserName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as exc:
        iam.get_user(UserName=name)
    assert error_of(exc) == ("NoSuchEntity", f"The user with name {name} cannot be found.", 404)


def test_list_users_pages(iam) -> None:
    prefix = f"/{unique('page')}/"
    names = sorted(unique("u") for _ in range(3))
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == names[:2] and first["IsTruncated"]
    rest = iam.list_users(PathPrefix=prefix, Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == names[2:] and not rest["IsTruncated"]


def test_get_user_without_name_is_the_caller(iam) -> None:
    root = iam.get_user()["User"]
    assert root["UserId"] == ACCOUNT and root["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_validation_error_is_query_xml(iam) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="has space")
    assert error_of(exc) == (
        "ValidationError",
        "1 validation error detected: Value 'has space' at 'userName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        400,
    )
    with pytest.raises(ClientError) as exc:
        iam.create_user(
            UserName=unique("t"), Tags=[{"Key": "k", "Value": "a"}, {"Key": "K", "Value": "b"}]
        )
    assert error_of(exc)[0] == "InvalidInput"


def test_user_policies(iam) -> None:
    name = unique("pol")
    iam.create_user(UserName=name)
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="enc", PolicyDocument=json.dumps(doc))
    got = iam.get_user_policy(UserName=name, PolicyName="enc")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == (name, "enc", doc)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["enc"]
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=name, PolicyName="bad", PolicyDocument='{"Statement": []}')
    assert error_of(exc)[0::2] == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error_of(exc) == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
        409,
    )
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Encrypt",
                "Resource": f"arn:aws:kms:*:*:key/{i:040d}",
            }
            for i in range(40)
        ],
    }
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=name, PolicyName="big", PolicyDocument=json.dumps(big))
    assert error_of(exc) == (
        "LimitExceeded",
        f"Maximum policy size of 2048 bytes exceeded for user {name}",
        409,
    )
    iam.delete_user_policy(UserName=name, PolicyName="enc")
    with pytest.raises(ClientError) as exc:
        iam.get_user_policy(UserName=name, PolicyName="enc")
    assert error_of(exc) == ("NoSuchEntity", "The user policy with name enc cannot be found.", 404)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    iam.delete_user(UserName=name)


# --- access keys ------------------------------------------------------------------------


def test_access_keys_lifecycle_and_revocation(server, iam) -> None:
    name, key = new_user(iam)
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    as_user = client(server, "sts", key)
    assert as_user.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["UserName"]) for k in listed] == [
        (key["AccessKeyId"], "Active", name)
    ]

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        as_user.get_caller_identity()
    assert error_of(exc) == (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
    )
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert as_user.get_caller_identity()["Account"] == ACCOUNT

    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=name)
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error_of(exc)[0] == "DeleteConflict"

    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:  # revoked at once
        as_user.get_caller_identity()
    assert error_of(exc)[0] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert error_of(exc) == (
        "NoSuchEntity",
        f"The Access Key with id {key['AccessKeyId']} cannot be found.",
        404,
    )


def test_users_manage_their_own_keys_without_user_name(server, iam) -> None:
    name, key = new_user(iam, ALLOW_ALL_IAM)
    as_user = client(server, "iam", key)
    assert as_user.get_user()["User"]["UserName"] == name
    second = as_user.create_access_key()["AccessKey"]
    assert second["UserName"] == name
    ids = {k["AccessKeyId"] for k in as_user.list_access_keys()["AccessKeyMetadata"]}
    assert ids == {key["AccessKeyId"], second["AccessKeyId"]}
    as_user.delete_access_key(AccessKeyId=second["AccessKeyId"])
    assert client(server, "sts", key).get_caller_identity()["UserId"].startswith("AIDA")


def test_user_key_authenticates_kms_calls(server, iam) -> None:
    name, key = new_user(iam)
    kms = client(server, "kms", key)
    try:
        kms.list_keys()  # allowed once identity policies take part in KMS authorization
    except ClientError as err:
        code, message = err.response["Error"]["Code"], err.response["Error"]["Message"]
        assert code == "AccessDeniedException"
        assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized")


def test_wrong_secret_and_unknown_key(server) -> None:
    bad = {"AccessKeyId": "AKIAUNKNOWNKEY000000", "SecretAccessKey": "x" * 40}
    with pytest.raises(ClientError) as exc:
        client(server, "sts", bad).get_caller_identity()
    assert error_of(exc)[0] == "InvalidClientTokenId"


# --- IAM authorization --------------------------------------------------------------------


def test_users_need_identity_policies_for_iam(server, iam) -> None:
    _, key = new_user(iam)
    as_user = client(server, "iam", key)
    target = unique("target")
    with pytest.raises(ClientError) as exc:
        as_user.create_user(UserName=target)
    assert error_of(exc) == (
        "AccessDenied",
        f"User: {as_user_arn(server, key)} is not authorized to perform: iam:CreateUser on "
        f"resource: arn:aws:iam::{ACCOUNT}:user/{target} because no identity-based policy "
        "allows the iam:CreateUser action",
        403,
    )
    name2, key2 = new_user(
        iam,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iam:*User", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"},
            ],
        },
    )
    as_admin = client(server, "iam", key2)
    as_admin.create_user(UserName=target)
    assert as_admin.get_user(UserName=target)["User"]["UserName"] == target
    with pytest.raises(ClientError) as exc:
        as_admin.delete_user(UserName=target)
    assert error_of(exc)[1].endswith("with an explicit deny in an identity-based policy")
    with pytest.raises(ClientError) as exc:  # not allowed, so existence is not revealed
        as_user.get_user(UserName=unique("nobody"))
    assert error_of(exc)[0] == "AccessDenied"


def as_user_arn(server: Any, key: dict[str, str]) -> str:
    return str(client(server, "sts", key).get_caller_identity()["Arn"])


# --- roles ------------------------------------------------------------------------------


def test_role_lifecycle(iam) -> None:
    name = unique("Role")
    document = json.loads(trust(f"arn:aws:iam::{ACCOUNT}:root"))
    role = iam.create_role(
        RoleName=name,
        Path="/app/",
        AssumeRolePolicyDocument=json.dumps(document),
        Description="test role",
        MaxSessionDuration=7200,
        Tags=[{"Key": "env", "Value": "test"}],
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/app/{name}"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 20
    got = iam.get_role(RoleName=name)["Role"]
    assert got["AssumeRolePolicyDocument"] == document
    assert (got["Description"], got["MaxSessionDuration"]) == ("test role", 7200)
    assert got["Tags"] == [{"Key": "env", "Value": "test"}]
    assert name in [r["RoleName"] for r in iam.list_roles(PathPrefix="/app/")["Roles"]]
    iam.tag_role(RoleName=name, Tags=[{"Key": "owner", "Value": "me"}])
    assert len(iam.get_role(RoleName=name)["Role"]["Tags"]) == 2
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name.lower(), AssumeRolePolicyDocument=json.dumps(document))
    assert error_of(exc)[0::2] == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=json.dumps(ALLOW_ALL_IAM))
    assert error_of(exc)[0] == "MalformedPolicyDocument"  # a trust policy needs a Principal

    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps(policy))
    assert iam.get_role_policy(RoleName=name, PolicyName="list")["PolicyDocument"] == policy
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error_of(exc)[0] == "DeleteConflict"
    iam.delete_role_policy(RoleName=name, PolicyName="list")
    with pytest.raises(ClientError) as exc:
        iam.delete_role_policy(RoleName=name, PolicyName="list")
    assert error_of(exc) == ("NoSuchEntity", "The role policy with name list cannot be found.", 404)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert error_of(exc) == ("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


# --- STS ----------------------------------------------------------------------------------


def test_caller_identity_of_root(sts) -> None:
    me = sts.get_caller_identity()
    assert (me["UserId"], me["Account"], me["Arn"]) == (
        ACCOUNT,
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:root",
    )


def test_assume_role_named_directly_in_trust_policy(server, iam) -> None:
    user, key = new_user(iam)  # no identity policy: the trust policy names the user
    role_name = unique("direct")
    role = iam.create_role(
        RoleName=role_name,
        Path="/p/",
        AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/{user}"),
    )
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}],
            }
        ),
    )
    out = client(server, "sts", key).assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="sess-1", DurationSeconds=900
    )
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert creds["SessionToken"]
    assert 890 < creds["Expiration"].timestamp() - time.time() <= 901
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/sess-1"
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['Role']['RoleId']}:sess-1",
        "Arn": session_arn,
    }
    me = client(server, "sts", creds).get_caller_identity()
    assert (me["Arn"], me["UserId"], me["Account"]) == (
        session_arn,
        f"{role['Role']['RoleId']}:sess-1",
        ACCOUNT,
    )
    # The session has the role's permissions, and only those.
    as_role = client(server, "iam", creds)
    assert as_role.get_role(RoleName=role_name)["Role"]["RoleName"] == role_name
    with pytest.raises(ClientError) as exc:
        as_role.list_users()
    assert error_of(exc)[1].startswith(
        f"User: {session_arn} is not authorized to perform: iam:ListUsers"
    )
    # The token is part of the credentials.
    for token in (None, "not-the-token"):
        with pytest.raises(ClientError) as exc:
            client(server, "sts", {**creds, "SessionToken": token}).get_caller_identity()
        assert error_of(exc)[0] == "InvalidClientTokenId"


def test_assume_role_through_the_account_needs_an_identity_policy(server, iam) -> None:
    role = iam.create_role(
        RoleName=unique("acct"), AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:root")
    )["Role"]
    user, key = new_user(iam)
    with pytest.raises(ClientError) as exc:
        client(server, "sts", key).assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert error_of(exc) == (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: "
        f"sts:AssumeRole on resource: {role['Arn']}",
        403,
    )
    iam.put_user_policy(
        UserName=user,
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}
                ],
            }
        ),
    )
    out = client(server, "sts", key).assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert out["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role['RoleName']}/s1")
    # Session credentials authenticate KMS requests too.
    kms = client(server, "kms", out["Credentials"])
    try:
        kms.list_keys()
    except ClientError as err:
        assert err.response["Error"]["Code"] == "AccessDeniedException"
        assert out["AssumedRoleUser"]["Arn"] in err.response["Error"]["Message"]


def test_assume_role_refusals(server, sts, iam) -> None:
    user, key = new_user(
        iam,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        },
    )
    as_user = client(server, "sts", key)
    other = iam.create_role(
        RoleName=unique("other"),
        AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/nobody"),
    )
    denied = iam.create_role(
        RoleName=unique("deny"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user}"},
                        "Action": "sts:AssumeRole",
                    },
                ],
            }
        ),
    )
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"
    for arn in (other["Role"]["Arn"], denied["Role"]["Arn"], missing):
        with pytest.raises(ClientError) as exc:
            as_user.assume_role(RoleArn=arn, RoleSessionName="s1")
        assert error_of(exc) == (
            "AccessDenied",
            f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: "
            f"sts:AssumeRole on resource: {arn}",
            403,
        )
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=denied["Role"]["Arn"], RoleSessionName="s1")
    assert error_of(exc) == ("AccessDenied", "Roles may not be assumed by root accounts.", 403)


def test_session_duration_limits(server, iam) -> None:
    user, key = new_user(iam)
    role = iam.create_role(
        RoleName=unique("dur"),
        AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/{user}"),
    )
    as_user = client(server, "sts", key)
    with pytest.raises(ClientError) as exc:
        as_user.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    assert error_of(exc) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        400,
    )
    out = as_user.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="s1")
    assert 3590 < out["Credentials"]["Expiration"].timestamp() - time.time() <= 3601


def test_session_policy_limits_the_session(server, iam) -> None:
    user, key = new_user(iam)
    role_name = unique("scoped")
    role = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/{user}")
    )
    iam.put_role_policy(
        RoleName=role_name, PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL_IAM)
    )
    scoped = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}],
        }
    )
    out = client(server, "sts", key).assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="s1", Policy=scoped
    )
    as_role = client(server, "iam", out["Credentials"])
    assert as_role.get_role(RoleName=role_name)["Role"]["RoleName"] == role_name
    with pytest.raises(ClientError) as exc:
        as_role.list_roles()
    assert error_of(exc)[1].endswith("because no session policy allows the iam:ListRoles action")


# --- protocol -----------------------------------------------------------------------------


def test_unsigned_iam_request_is_refused_in_xml(server) -> None:
    request = urllib.request.Request(
        server.endpoint + "/",
        data=b"Action=ListUsers&Version=2010-05-08",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=10)
    body = exc.value.read().decode()
    assert exc.value.code == 403 and exc.value.headers["Content-Type"] == "text/xml"
    assert "<Code>MissingAuthenticationToken</Code>" in body
    assert body.startswith('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">')


def test_unimplemented_iam_action_is_explicit(iam) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_group(GroupName=unique("g"))
    assert error_of(exc) == (
        "UnsupportedOperation",
        "CreateGroup is not supported by this OpenKMS server yet.",
        400,
    )
