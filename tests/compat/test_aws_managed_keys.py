"""AWS managed keys and the predefined aliases ``alias/aws/<service>`` (issue 14, item 6).

Each test uses a Region of its own on the shared server, so that it starts from an account
whose predefined aliases have no key yet."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import maintenance_report
from test_boto3_keys import error_of
from test_key_deletion import at_days, events_named

from conftest import ACCOUNT, make_client

PREDEFINED = [
    "alias/aws/acm",
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/elasticfilesystem",
    "alias/aws/es",
    "alias/aws/glue",
    "alias/aws/kinesisvideo",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/redshift",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
    "alias/aws/xray",
]
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def all_aliases(kms: Any, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in kms.get_paginator("list_aliases").paginate(**kwargs):
        out += page["Aliases"]
    return out


def test_predefined_aliases_are_listed_without_a_key(server) -> None:
    region = "ap-southeast-4"
    kms = make_client(server.endpoint, region=region)
    listed = kms.list_aliases()
    assert listed["Truncated"] is False
    assert [a["AliasName"] for a in listed["Aliases"]] == PREDEFINED
    for alias in listed["Aliases"]:
        assert alias == {
            "AliasName": alias["AliasName"],
            "AliasArn": f"arn:aws:kms:{region}:{ACCOUNT}:{alias['AliasName']}",
        }
    # Paging mixes them with the account's own aliases, in name order.
    key = kms.create_key()["KeyMetadata"]
    own = ["alias/aaa-first", "alias/aws-not-reserved", "alias/zzz-last"]
    for name in own:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    seen: list[str] = []
    marker = None
    while True:
        page = kms.list_aliases(Limit=4, **({"Marker": marker} if marker else {}))
        assert len(page["Aliases"]) <= 4
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert seen == sorted(PREDEFINED + own)
    # Filtered by a key: only that key's aliases.
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]] == own


def test_describe_key_creates_the_aws_managed_key(server) -> None:
    region = "ap-southeast-5"
    kms = make_client(server.endpoint, region=region)
    before = time.time()
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    assert meta["Description"] == (
        "Default key that protects my S3 objects when no other key is defined"
    )
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeyState"] == "Enabled" and meta["Origin"] == "AWS_KMS"
    assert meta["Arn"] == f"arn:aws:kms:{region}:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["CreationDate"].timestamp() >= before - 1
    # The same key ever after, by alias name or alias ARN.
    again = kms.describe_key(KeyId=f"arn:aws:kms:{region}:{ACCOUNT}:alias/aws/s3")
    assert again["KeyMetadata"]["KeyId"] == meta["KeyId"]
    listed = {a["AliasName"]: a for a in all_aliases(kms)}
    assert listed["alias/aws/s3"]["TargetKeyId"] == meta["KeyId"]
    assert {"CreationDate", "LastUpdatedDate"} <= set(listed["alias/aws/s3"])
    assert "TargetKeyId" not in listed["alias/aws/ebs"]
    by_key = kms.list_aliases(KeyId=meta["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in by_key] == ["alias/aws/s3"]
    assert meta["KeyId"] in {k["KeyId"] for k in kms.list_keys()["Keys"]}
    # Created by AWS, not by the caller: an AwsServiceEvent in the account's trail.
    (created,) = events_named(server, meta["Arn"], "CreateKey")
    assert created["eventType"] == "AwsServiceEvent"
    assert created["userIdentity"] == {"accountId": ACCOUNT, "invokedBy": "AWS Internal"}
    assert created["awsRegion"] == region
    # Rotated every year, automatically.
    status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    rotation_in = status["NextRotationDate"].timestamp() - meta["CreationDate"].timestamp()
    assert abs(rotation_in - 365 * 86400) < 2
    # The managed key policy.
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"])["Policy"])
    assert policy["Statement"] == [
        {
            "Sid": "Allow access through S3 for all principals in the account that are "
            "authorized to use S3",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": ACCOUNT,
                    "kms:ViaService": f"s3.{region}.amazonaws.com",
                }
            },
        },
        {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
            "Resource": "*",
        },
    ]
    # EBS uses grants: its policy allows them through EC2.
    ebs = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert ebs["Description"] == (
        "Default key that protects my EBS volumes when no other key is defined"
    )
    ebs_policy = json.loads(kms.get_key_policy(KeyId=ebs["KeyId"])["Policy"])
    first = ebs_policy["Statement"][0]
    assert "kms:CreateGrant" in first["Action"]
    assert first["Condition"]["StringEquals"]["kms:ViaService"] == f"ec2.{region}.amazonaws.com"


def test_the_customer_cannot_manage_an_aws_managed_key(server) -> None:
    region = "ap-southeast-6"
    kms = make_client(server.endpoint, region=region)
    meta = kms.describe_key(KeyId="alias/aws/lambda")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    own = kms.create_key()["KeyMetadata"]
    refused = {
        "kms:PutKeyPolicy": lambda: kms.put_key_policy(
            KeyId=key_id, PolicyName="default", Policy=json.dumps({"Statement": []})
        ),
        "kms:DisableKey": lambda: kms.disable_key(KeyId=key_id),
        "kms:ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=key_id),
        "kms:CreateGrant": lambda: kms.create_grant(
            KeyId=key_id, GranteePrincipal=ROOT, Operations=["Decrypt"]
        ),
        "kms:TagResource": lambda: kms.tag_resource(
            KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "b"}]
        ),
        "kms:UpdateKeyDescription": lambda: kms.update_key_description(
            KeyId=key_id, Description="mine"
        ),
        "kms:EnableKeyRotation": lambda: kms.enable_key_rotation(KeyId=key_id),
        "kms:RotateKeyOnDemand": lambda: kms.rotate_key_on_demand(KeyId=key_id),
        "kms:CreateAlias": lambda: kms.create_alias(AliasName="alias/mine", TargetKeyId=key_id),
        # Called directly, not through the service: the policy's condition does not hold.
        "kms:Encrypt": lambda: kms.encrypt(KeyId="alias/aws/lambda", Plaintext=b"x"),
    }
    for action, attempt in refused.items():
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_of(exc) == (
            "AccessDeniedException",
            f"User: {ROOT} is not authorized to perform: {action} on resource: {arn} "
            f"because no resource-based policy allows the {action} action",
        ), action
    # Its alias is reserved: no customer may create or move one under alias/aws/.
    for attempt in (
        lambda: kms.create_alias(AliasName="alias/aws/lambda", TargetKeyId=own["KeyId"]),
        lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=own["KeyId"]),
        lambda: kms.update_alias(AliasName="alias/aws/lambda", TargetKeyId=own["KeyId"]),
    ):
        with pytest.raises(ClientError) as exc:
            attempt()
        assert error_of(exc)[0] == "InvalidAliasNameException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Reading it is allowed (Describe*, Get*, List*).
    assert kms.get_key_policy(KeyId=key_id)["Policy"]
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_service_principal_uses_the_key_through_its_service(server) -> None:
    """An IAM user tagged ``openkms:via-service`` calls as that service does: its requests
    carry kms:ViaService, so the AWS managed key's policy lets it use the key."""
    region = "ap-southeast-7"
    iam = make_client(server.endpoint, service="iam")
    keys = {}
    for name, service in (("s3-sim", "s3"), ("ebs-sim", "ec2"), ("plain", None)):
        user = f"{name}-{time.time_ns()}"
        iam.create_user(UserName=user)
        if service is not None:
            iam.tag_user(UserName=user, Tags=[{"Key": "openkms:via-service", "Value": service}])
        created = iam.create_access_key(UserName=user)["AccessKey"]
        keys[name] = make_client(
            server.endpoint,
            region=region,
            access_key=created["AccessKeyId"],
            secret_key=created["SecretAccessKey"],
        )
    root = make_client(server.endpoint, region=region)
    meta = root.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    s3 = keys["s3-sim"]
    blob = s3.encrypt(KeyId="alias/aws/s3", Plaintext=b"object")
    assert blob["KeyId"] == meta["Arn"]
    assert s3.decrypt(CiphertextBlob=blob["CiphertextBlob"])["Plaintext"] == b"object"
    data_key = s3.generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")
    assert s3.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["KeyId"] == meta["Arn"]
    for other in ("ebs-sim", "plain"):  # another service, or none: refused
        with pytest.raises(ClientError) as exc:
            keys[other].encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
        code, message = error_of(exc)
        assert code == "AccessDeniedException"
        assert message.endswith(
            f"is not authorized to perform: kms:Encrypt on resource: {meta['Arn']} because "
            "no resource-based policy allows the kms:Encrypt action"
        )
    # Grants are made through the service: EBS's key lets EC2 create them.
    ebs = root.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    grant = keys["ebs-sim"].create_grant(
        KeyId=ebs["KeyId"], GranteePrincipal=ROOT, Operations=["Decrypt"]
    )
    assert grant["GrantId"]
    with pytest.raises(ClientError) as exc:
        keys["plain"].create_grant(
            KeyId=ebs["KeyId"], GranteePrincipal=ROOT, Operations=["Decrypt"]
        )
    assert error_of(exc)[0] == "AccessDeniedException"
    # kms:GrantIsForAWSResource is true for a service principal's requests only.
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {
            "Bool": {"kms:GrantIsForAWSResource": "true"},
            "StringEquals": {"kms:CallerAccount": ACCOUNT},
        },
    }
    admin = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
    own = root.create_key(
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [admin, statement]})
    )["KeyMetadata"]
    keys["s3-sim"].create_grant(KeyId=own["Arn"], GranteePrincipal=ROOT, Operations=["Decrypt"])
    with pytest.raises(ClientError) as exc:
        keys["plain"].create_grant(KeyId=own["Arn"], GranteePrincipal=ROOT, Operations=["Decrypt"])
    assert error_of(exc)[0] == "AccessDeniedException"
    # Even the service principal cannot manage the key.
    with pytest.raises(ClientError) as exc:
        s3.disable_key(KeyId=meta["KeyId"])
    assert error_of(exc)[0] == "AccessDeniedException"


def test_the_aws_managed_key_rotates_every_year(quiet_server) -> None:
    """Maintenance rotates it as of a year later, as any key whose rotation is enabled;
    old ciphertexts keep decrypting."""
    kms = make_client(quiet_server.endpoint, region="ap-southeast-4")
    meta = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    first = meta["CurrentKeyMaterialId"]
    assert maintenance_report(quiet_server, at_days(364))["Rotated"] == []
    rotated: Any = maintenance_report(quiet_server, at_days(366))["Rotated"]
    (entry,) = [r for r in rotated if r["KeyId"] == meta["KeyId"]]
    assert entry["RotationType"] == "AUTOMATIC"
    current = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current == entry["KeyMaterialId"] != first
    (listed,) = kms.list_key_rotations(KeyId=meta["KeyId"])["Rotations"]
    assert listed["RotationType"] == "AUTOMATIC" and listed["KeyMaterialId"] == current


def test_first_use_through_the_service_creates_the_key(server) -> None:
    """As AWS services do: the first Encrypt/GenerateDataKey through S3 naming alias/aws/s3
    creates the AWS managed key; a direct caller, or another service, gets NotFound."""
    region = "ap-southeast-3"
    iam = make_client(server.endpoint, service="iam")
    clients = {}
    for name, service in (("s3", "s3"), ("ec2", "ec2"), ("plain", None)):
        user = f"first-use-{name}-{time.time_ns()}"
        iam.create_user(UserName=user)
        if service is not None:
            iam.tag_user(UserName=user, Tags=[{"Key": "openkms:via-service", "Value": service}])
        created = iam.create_access_key(UserName=user)["AccessKey"]
        clients[name] = make_client(
            server.endpoint,
            region=region,
            access_key=created["AccessKeyId"],
            secret_key=created["SecretAccessKey"],
        )
    missing = f"Alias arn:aws:kms:{region}:{ACCOUNT}:alias/aws/s3 is not found."
    for name in ("plain", "ec2"):
        with pytest.raises(ClientError) as exc:
            clients[name].encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
        assert error_of(exc) == ("NotFoundException", missing)
    root = make_client(server.endpoint, region=region)
    assert "TargetKeyId" not in {a["AliasName"]: a for a in all_aliases(root)}["alias/aws/s3"]
    data_key = clients["s3"].generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")
    meta = root.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and data_key["KeyId"] == meta["Arn"]
    blob = clients["s3"].encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
    assert blob["KeyId"] == meta["Arn"]  # the same key: created once
    assert len([k for k in root.list_keys()["Keys"] if k["KeyId"] == meta["KeyId"]]) == 1
