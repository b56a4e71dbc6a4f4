"""Aliases, tags and key policies through boto3."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from test_boto3_keys import error_of

ACCOUNT = "111122223333"


def unique(prefix: str) -> str:
    return f"alias/{prefix}-{uuid.uuid4().hex[:10]}"


def test_alias_lifecycle(kms) -> None:
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    name = unique("life")
    kms.create_alias(AliasName=name, TargetKeyId=a["Arn"])
    listed = kms.list_aliases(KeyId=a["KeyId"])["Aliases"]
    assert [x["AliasName"] for x in listed] == [name]
    entry = listed[0]
    assert entry["AliasArn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:{name}"
    assert entry["TargetKeyId"] == a["KeyId"]
    assert entry["CreationDate"] and entry["LastUpdatedDate"]
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=name, TargetKeyId=b["KeyId"])
    assert error_of(exc) == (
        "AlreadyExistsException",
        f"An alias with the name arn:aws:kms:us-east-1:{ACCOUNT}:{name} already exists",
    )
    kms.update_alias(AliasName=name, TargetKeyId=b["KeyId"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == b["KeyId"]
    assert kms.list_aliases(KeyId=a["KeyId"])["Aliases"] == []
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=name)
    assert error_of(exc)[0] == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName=name)
    assert error_of(exc) == (
        "NotFoundException",
        f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:{name} is not found.",
    )


def test_alias_name_rules(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert error_of(exc)[0] == "InvalidAliasNameException"
    other = unique("target")
    kms.create_alias(AliasName=other, TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=unique("chain"), TargetKeyId=other)
    assert error_of(exc) == ("ValidationException", "Aliases must refer to keys. Not aliases")


def test_alias_on_pending_deletion_key_is_refused(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName=unique("pending"), TargetKeyId=key["KeyId"])
    assert error_of(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")


def test_list_aliases_pages(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    names = sorted(unique("page") for _ in range(5))
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    seen: list[str] = []
    marker = None
    while True:
        kwargs = {"KeyId": key["KeyId"], "Limit": 2} | ({"Marker": marker} if marker else {})
        page = kms.list_aliases(**kwargs)
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert seen == names
    everything = kms.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]
    assert set(names) <= {a["AliasName"] for a in everything}


def test_tags(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(
        KeyId=key, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}]
    )
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "changed"}])
    kms.untag_resource(KeyId=key, TagKeys=["b", "never-set"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "a", "TagValue": "changed"}]
    for bad, message in (
        ([{"TagKey": "aws:x", "TagValue": "1"}], "Tags beginning with aws: are reserved"),
        (
            [{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}],
            "Duplicate tag keys",
        ),
        ([{"TagKey": f"k{i}", "TagValue": "v"} for i in range(50)], "Too many tags"),
    ):
        with pytest.raises(ClientError) as exc:
            kms.tag_resource(KeyId=key, Tags=bad)
        assert error_of(exc) == ("TagException", message)
    # Nothing of a refused request was applied.
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "a", "TagValue": "changed"}]


def test_tags_page(kms) -> None:
    key = kms.create_key(Tags=[{"TagKey": f"t{i}", "TagValue": str(i)} for i in range(7)])
    key_id = key["KeyMetadata"]["KeyId"]
    first = kms.list_resource_tags(KeyId=key_id, Limit=4)
    assert first["Truncated"] is True and len(first["Tags"]) == 4
    rest = kms.list_resource_tags(KeyId=key_id, Limit=4, Marker=first["NextMarker"])
    assert rest["Truncated"] is False
    assert [t["TagKey"] for t in first["Tags"] + rest["Tags"]] == [f"t{i}" for i in range(7)]


def test_key_policy(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    default = json.loads(kms.get_key_policy(KeyId=key)["Policy"])
    assert default["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["PolicyName"] == "default"
    assert kms.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]
    new = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "root",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=new)
    assert kms.get_key_policy(KeyId=key)["Policy"] == new
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, Policy="{not json")
    assert error_of(exc)[0] == "MalformedPolicyDocumentException"
    assert kms.get_key_policy(KeyId=key)["Policy"] == new
    with pytest.raises(ClientError) as exc:
        kms.get_key_policy(KeyId=key, PolicyName="other")
    assert error_of(exc) == ("NotFoundException", "No such policy exists")


def test_create_key_with_policy_and_bad_policy(kms) -> None:
    good = json.dumps(
        {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}
    )
    key = kms.create_key(Policy=good)["KeyMetadata"]["KeyId"]
    assert kms.get_key_policy(KeyId=key)["Policy"] == good
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy='{"Statement": []}')
    assert error_of(exc)[0] == "MalformedPolicyDocumentException"
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


def test_create_key_refuses_what_is_not_built(kms) -> None:
    for kwargs, code in (
        # Outside China Regions AWS's KeySpec enum has no SM2 (test_aws_fidelity.py).
        ({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}, "ValidationException"),
        ({"KeySpec": "RSA_2048", "KeyUsage": "GENERATE_VERIFY_MAC"}, "ValidationException"),
        ({"KeySpec": "RSA_2048"}, "ValidationException"),
        ({"Origin": "AWS_CLOUDHSM"}, "ValidationException"),  # no CustomKeyStoreId
        ({"Origin": "EXTERNAL_KEY_STORE"}, "ValidationException"),  # no CustomKeyStoreId
        (
            {"Origin": "EXTERNAL", "KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY"},
            "UnsupportedOperationException",
        ),
        ({"KeyUsage": "SIGN_VERIFY"}, "ValidationException"),
        (
            {"KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT"},
            "ValidationException",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            kms.create_key(**kwargs)
        assert error_of(exc)[0] == code, kwargs
