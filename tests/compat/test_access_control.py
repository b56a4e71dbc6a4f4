"""KMS authorization end to end: IAM users, role sessions, grants and a second account.

The rules are AWS's "Determining access to an AWS KMS key": the key policy first; an
account delegation needs an identity policy too; cross-account needs both sides; an
explicit deny anywhere wins; a grant is enough on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_iam_sts import client, new_user, trust

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def allow(*actions: str, effect: str = "Allow", resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Action": list(actions), "Resource": resource}],
    }


def code_and_message(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"].get("Message", "")


@pytest.fixture()
def iam(server: Any) -> Any:
    return client(server, "iam")


def test_iam_alone_is_not_enough_without_the_account_delegation(server, iam, kms) -> None:
    name, key = new_user(iam, allow("kms:*"))
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    as_user = client(server, "kms", key)
    default = kms.create_key()["KeyMetadata"]
    blob = as_user.encrypt(KeyId=default["Arn"], Plaintext=b"delegated")["CiphertextBlob"]
    assert as_user.decrypt(CiphertextBlob=blob)["Plaintext"] == b"delegated"
    # A key whose policy names only the root user and another user: IAM's allow no longer
    # reaches it (the other user must exist: a policy naming no one is refused).
    iam.create_user(UserName=f"nobody-{name}")
    closed = kms.create_key(
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:PutKeyPolicy",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody-{name}"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                ],
            }
        ),
        BypassPolicyLockoutSafetyCheck=True,
    )
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=closed["KeyMetadata"]["Arn"], Plaintext=b"x")
    code, message = code_and_message(exc)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user_arn} is not authorized to perform: kms:Encrypt")


def test_delegated_key_needs_an_identity_policy(server, iam, kms) -> None:
    name, key = new_user(iam)
    as_user = client(server, "kms", key)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=key_arn, Plaintext=b"x")
    assert code_and_message(exc) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: kms:Encrypt "
        f"on resource: {key_arn} because no identity-based policy allows the kms:Encrypt action",
    )
    iam.put_user_policy(
        UserName=name,
        PolicyName="use",
        PolicyDocument=json.dumps(allow("kms:Encrypt", resource=key_arn)),
    )
    assert as_user.encrypt(KeyId=key_arn, Plaintext=b"x")["KeyId"] == key_arn
    with pytest.raises(ClientError) as exc:
        as_user.describe_key(KeyId=key_arn)
    assert code_and_message(exc)[0] == "AccessDeniedException"
    iam.put_user_policy(
        UserName=name,
        PolicyName="deny",
        PolicyDocument=json.dumps(allow("kms:Encrypt", effect="Deny")),
    )
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=key_arn, Plaintext=b"x")
    assert code_and_message(exc)[1].endswith("with an explicit deny in an identity-based policy")


def test_key_policy_naming_the_user_directly_needs_no_iam(server, iam, kms) -> None:
    name, key = new_user(iam)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "admin",
                    "Effect": "Allow",
                    "Principal": {"AWS": ROOT},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "use",
                    "Effect": "Allow",
                    "Principal": {"AWS": user_arn},
                    "Action": ["kms:Encrypt", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:EncryptionContext:app": "billing"}},
                },
            ],
        }
    )
    key_arn = kms.create_key(Policy=policy)["KeyMetadata"]["Arn"]
    as_user = client(server, "kms", key)
    blob = as_user.encrypt(KeyId=key_arn, Plaintext=b"y", EncryptionContext={"app": "billing"})
    assert (
        as_user.decrypt(
            CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"app": "billing"}
        )["Plaintext"]
        == b"y"
    )
    with pytest.raises(ClientError) as exc:
        as_user.encrypt(KeyId=key_arn, Plaintext=b"y", EncryptionContext={"app": "other"})
    # The "admin" statement delegates to the account's IAM, which allows the user nothing.
    assert code_and_message(exc)[1].endswith(
        "because no identity-based policy allows the kms:Encrypt action"
    )


def test_role_session_uses_the_role_policies(server, iam, kms) -> None:
    role = "kms-user-" + uuid.uuid4().hex[:8]
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(ROOT))["Role"]["Arn"]
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    iam.put_role_policy(
        RoleName=role,
        PolicyName="p",
        PolicyDocument=json.dumps(allow("kms:GenerateDataKey", "kms:Decrypt", resource=key_arn)),
    )
    name, user_key = new_user(iam, allow("sts:AssumeRole"))
    creds = client(server, "sts", user_key).assume_role(RoleArn=role_arn, RoleSessionName="batch")[
        "Credentials"
    ]
    as_role = client(server, "kms", creds)
    data_key = as_role.generate_data_key(KeyId=key_arn, KeySpec="AES_256")
    assert (
        as_role.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        == data_key["Plaintext"]
    )
    with pytest.raises(ClientError) as exc:
        as_role.encrypt(KeyId=key_arn, Plaintext=b"z")
    assert code_and_message(exc)[1].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/batch is not authorized"
    )


def test_grant_gives_access_without_any_policy(server, iam, kms) -> None:
    name, key = new_user(iam)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    as_user = client(server, "kms", key)
    with pytest.raises(ClientError):
        as_user.encrypt(KeyId=key_arn, Plaintext=b"g")
    kms.create_grant(
        KeyId=key_arn,
        GranteePrincipal=user_arn,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextEquals": {"job": "42"}},
    )
    out = as_user.encrypt(KeyId=key_arn, Plaintext=b"g", EncryptionContext={"job": "42"})
    assert out["KeyId"] == key_arn
    with pytest.raises(ClientError):
        as_user.encrypt(KeyId=key_arn, Plaintext=b"g", EncryptionContext={"job": "43"})
    with pytest.raises(ClientError):
        as_user.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"job": "42"})


def _new_account(server: Any, account: str) -> dict[str, str]:
    args = [sys.executable, "-m", "openkms", "admin", "create-account", account]
    if server.data_dir:
        args += ["--data-dir", server.data_dir]
    if server.database:
        args += ["--database", server.database]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_cross_account_needs_both_sides(server, kms) -> None:
    other = str(444455550000 + int(uuid.uuid4().int % 9999))
    creds = _new_account(server, other)
    theirs = client(server, "kms", creds)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        theirs.encrypt(KeyId=key_arn, Plaintext=b"x")
    assert code_and_message(exc) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{other}:root is not authorized to perform: kms:Encrypt on "
        f"resource: {key_arn} because no resource-based policy allows the kms:Encrypt action",
    )
    kms.put_key_policy(
        KeyId=key_arn,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ROOT},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
                        "Action": ["kms:Encrypt", "kms:DescribeKey"],
                        "Resource": "*",
                    },
                ],
            }
        ),
    )
    assert theirs.encrypt(KeyId=key_arn, Plaintext=b"x")["KeyId"] == key_arn
    assert theirs.describe_key(KeyId=key_arn)["KeyMetadata"]["AWSAccountId"] == ACCOUNT
    # Their own listings never show our keys.
    assert key_arn not in {k["KeyArn"] for k in theirs.list_keys(Limit=1000)["Keys"]}
    # A user of the other account also needs its own account's IAM allow.
    their_iam = client(server, "iam", creds)
    name, user_key = new_user(their_iam)
    as_their_user = client(server, "kms", user_key)
    with pytest.raises(ClientError) as exc:
        as_their_user.encrypt(KeyId=key_arn, Plaintext=b"x")
    assert code_and_message(exc)[1].endswith(
        "because no identity-based policy allows the kms:Encrypt action"
    )
    their_iam.put_user_policy(
        UserName=name,
        PolicyName="p",
        PolicyDocument=json.dumps(allow("kms:Encrypt", resource=key_arn)),
    )
    assert as_their_user.encrypt(KeyId=key_arn, Plaintext=b"x")["KeyId"] == key_arn


def test_principal_tags_and_policy_variables(server, iam, kms) -> None:
    """aws:PrincipalTag and ${aws:username} reach conditions in key and identity policies."""
    name, key = new_user(iam)
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    key_arn = kms.create_key(Tags=[{"TagKey": "owner", "TagValue": name}])["KeyMetadata"]["Arn"]
    iam.put_user_policy(
        UserName=name,
        PolicyName="own",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "kms:Encrypt",
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {
                                "aws:ResourceTag/owner": "${aws:username}",
                                "aws:PrincipalTag/team": "blue",
                            }
                        },
                    }
                ],
            }
        ),
    )
    as_user = client(server, "kms", key)
    assert as_user.encrypt(KeyId=key_arn, Plaintext=b"mine")["KeyId"] == key_arn
    other = kms.create_key(Tags=[{"TagKey": "owner", "TagValue": "someone-else"}])
    with pytest.raises(ClientError):
        as_user.encrypt(KeyId=other["KeyMetadata"]["Arn"], Plaintext=b"theirs")
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "red"}])
    with pytest.raises(ClientError):
        as_user.encrypt(KeyId=key_arn, Plaintext=b"mine")


def test_re_encrypt_on_same_key_condition(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.put_key_policy(
        KeyId=key,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ROOT},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": ROOT},
                        "Action": "kms:ReEncrypt*",
                        "Resource": "*",
                        "Condition": {"Bool": {"kms:ReEncryptOnSameKey": "true"}},
                    },
                ],
            }
        ),
    )
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"r")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key)
    assert code_and_message(exc)[0] == "AccessDeniedException"
    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"r"
