"""Policies an attacker writes or feeds, through a real server and boto3 (issue 10).

* Defect 1: wildcards were backtracking regexes. A key-policy Resource
  ``key/*********a`` made CreateKey take ~8 s; a ``StringLike`` ``*/*/*/*.log`` condition
  against an encryption context of 800 slashes made an Encrypt take 38 s; a session
  policy given to AssumeRole did the same on every call of the session. Each request
  here must answer within the issue's bound (1 s; the real cost is milliseconds).
* Defect 6: a policy nested 1,000 levels deep made the JSON decoder raise
  ``RecursionError`` (a 500 with no AWS error). KMS must answer
  MalformedPolicyDocumentException, IAM and STS MalformedPolicyDocument (query XML).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, make_client

T = TypeVar("T")
BOUND_S = 1.0
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ADMIN = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
LOG_PATHS = {"Condition": {"StringLike": {"kms:EncryptionContext:path": "*/*/*/*.log"}}}
SLASHES = {"path": "/" * 800}
DEEP = '{"Version": "2012-10-17", "Statement": ' + "[" * 1000 + "]" * 1000 + "}"
DEPTH_MESSAGE = "The policy nests JSON arrays and objects more than 32 levels deep."


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def timed(call: Callable[[], T]) -> T:
    """The call's result; fails if it took longer than the bound."""
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"took {elapsed:.2f} s"
    return result


def refused(call: Callable[[], object]) -> dict[str, Any]:
    """The error response of a call that must fail, within the bound."""
    start = time.perf_counter()
    with pytest.raises(ClientError) as exc:
        call()
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"took {elapsed:.2f} s"
    response: dict[str, Any] = exc.value.response
    assert response["ResponseMetadata"]["RequestId"]
    return response


def client(server: Any, service: str, creds: dict[str, str] | None = None) -> Any:
    if creds is None:
        return make_client(server.endpoint, service=service)
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds.get("AccessKeyId"),
        aws_secret_access_key=creds.get("SecretAccessKey"),
        aws_session_token=creds.get("SessionToken"),
        config=Config(retries={"max_attempts": 1}),
    )


def new_user(iam: Any) -> tuple[str, dict[str, str]]:
    """A user with an access key and no policy at all."""
    name = f"redos-{uuid.uuid4().hex[:10]}"
    iam.create_user(UserName=name)
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})  # fmt: skip


# --------------------------------------------------------------------------- wildcards


def test_create_key_with_a_star_heavy_resource_answers_quickly(kms) -> None:
    starry = {**ADMIN, "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*********a"}
    key = timed(lambda: kms.create_key(Policy=policy(ADMIN, starry)))["KeyMetadata"]
    blob = timed(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))["CiphertextBlob"]
    assert timed(lambda: kms.decrypt(CiphertextBlob=blob))["Plaintext"] == b"x"
    never = {
        **ADMIN,
        "Effect": "Deny",
        "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/" + "*" * 12 + "z",
    }
    timed(lambda: kms.put_key_policy(KeyId=key["KeyId"], Policy=policy(ADMIN, never)))
    timed(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_encrypt_with_800_slashes_against_string_like_is_denied_quickly(server, kms) -> None:
    anyone = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt",
              "Resource": "*", **LOG_PATHS}  # fmt: skip
    key = kms.create_key(Policy=policy(ADMIN, anyone))["KeyMetadata"]
    _, access_key = new_user(client(server, "iam"))
    as_user = client(server, "kms", access_key)
    response = refused(
        lambda: as_user.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=SLASHES)
    )
    assert response["Error"]["Code"] == "AccessDeniedException"
    # The condition is evaluated, not skipped: a matching path is allowed.
    context = {"path": "/" * 800 + "x.log"}
    timed(lambda: as_user.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context))


def test_session_policy_with_such_patterns_answers_quickly(server, kms) -> None:
    iam = client(server, "iam")
    user, access_key = new_user(iam)
    role_name = f"redos-{uuid.uuid4().hex[:10]}"
    role = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/{user}")
    )["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName="kms", PolicyDocument=policy(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))  # fmt: skip
    session_policy = policy(
        {"Effect": "Allow", "Action": "kms:*",
         "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*********z"},
        {"Effect": "Allow", "Action": "kms:*a*a*a*a*a*a*a*a*a*b", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*", **LOG_PATHS},
    )  # fmt: skip
    out = timed(lambda: client(server, "sts", access_key).assume_role(
        RoleArn=role["Arn"], RoleSessionName="s1", Policy=session_policy))  # fmt: skip
    as_session = client(server, "kms", out["Credentials"])
    key = kms.create_key()["KeyMetadata"]["KeyId"]  # default policy: IAM policies apply
    response = refused(
        lambda: as_session.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=SLASHES)
    )
    assert response["Error"]["Code"] == "AccessDeniedException"
    # The session policy is what limits the session (its role may do kms:*).
    response = refused(lambda: as_session.describe_key(KeyId=key))
    assert response["Error"]["Code"] == "AccessDeniedException"
    context = {"path": "a/b/c/d.log"}
    timed(lambda: as_session.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context))


# --------------------------------------------------------------------------- nesting


def test_deeply_nested_key_policy_is_malformed(kms) -> None:
    for call in (
        lambda: kms.create_key(Policy=DEEP),
        lambda: kms.put_key_policy(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Policy=DEEP),
    ):
        response = refused(call)
        assert (response["Error"]["Code"], response["Error"]["Message"]) == (
            "MalformedPolicyDocumentException",
            DEPTH_MESSAGE,
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_deeply_nested_iam_and_sts_policies_are_malformed(server) -> None:
    iam = client(server, "iam")
    user, access_key = new_user(iam)
    role_name = f"redos-{uuid.uuid4().hex[:10]}"
    role = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCOUNT}:user/{user}")
    )["Role"]
    as_user = client(server, "sts", access_key)
    for call in (
        lambda: iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=DEEP),
        lambda: iam.put_role_policy(RoleName=role_name, PolicyName="p", PolicyDocument=DEEP),
        lambda: iam.create_role(RoleName=role_name + "-2", AssumeRolePolicyDocument=DEEP),
        lambda: as_user.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", Policy=DEEP),
    ):
        response = refused(call)
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "MalformedPolicyDocument",
            400,
        )
        assert DEPTH_MESSAGE in response["Error"]["Message"]
