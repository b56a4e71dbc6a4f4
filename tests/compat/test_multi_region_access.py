"""Who may replicate a multi-Region key, and what the trail records, through boto3 against
real servers (SQLite and PostgreSQL).

ReplicateKey needs kms:ReplicateKey on the primary (its key policy, and IAM when the
policy delegates to the account), kms:CreateKey in the replica Region (IAM), and with
Tags kms:TagResource there too. Each related key's own policy governs it in its Region.
The trail holds ReplicateKey in the primary's Region, CreateKey in the replica's, and
SynchronizeMultiRegionKey once the replica is made.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from test_access_control import allow
from test_audit_trail import records
from test_iam_sts import client, new_user
from test_multi_region_keys import OTHER, THIRD, code_of, kms_in, wait_state

from conftest import ACCOUNT, REGION


def as_user_in(server: Any, creds: dict[str, str], region: str) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


def in_region(region: str, *actions: str) -> dict[str, Any]:
    policy = allow(*actions)
    policy["Statement"][0]["Condition"] = {"StringEquals": {"aws:RequestedRegion": region}}
    return policy


def test_replicate_key_needs_create_key_in_the_replica_region(server: Any) -> None:
    iam = client(server, "iam")
    east = kms_in(server, REGION)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    # kms:ReplicateKey (the default key policy delegates to IAM) and kms:CreateKey, but
    # only in the primary's Region.
    name, creds = new_user(iam, in_region(REGION, "kms:ReplicateKey", "kms:CreateKey"))
    user = as_user_in(server, creds, REGION)
    with pytest.raises(ClientError) as exc:
        user.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert code_of(exc) == "AccessDeniedException"
    assert "kms:CreateKey" in exc.value.response["Error"]["Message"]
    # kms:CreateKey in the replica Region as well: allowed.
    iam.put_user_policy(
        UserName=name,
        PolicyName="there",
        PolicyDocument=json.dumps(in_region(OTHER, "kms:CreateKey")),
    )
    made = user.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)["ReplicaKeyMetadata"]
    assert made["Arn"] == f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}"
    # Tags need kms:TagResource in the replica Region.
    with pytest.raises(ClientError) as exc:
        user.replicate_key(
            KeyId=key_id, ReplicaRegion=THIRD, Tags=[{"TagKey": "a", "TagValue": "b"}]
        )
    assert code_of(exc) == "AccessDeniedException"
    iam.put_user_policy(
        UserName=name,
        PolicyName="third",
        PolicyDocument=json.dumps(in_region(THIRD, "kms:CreateKey", "kms:TagResource")),
    )
    user.replicate_key(KeyId=key_id, ReplicaRegion=THIRD, Tags=[{"TagKey": "a", "TagValue": "b"}])
    wait_state(kms_in(server, THIRD), key_id, "Enabled")


def test_replicate_key_needs_the_primary_key_policy(server: Any) -> None:
    iam = client(server, "iam")
    east = kms_in(server, REGION)
    name, creds = new_user(iam, allow("kms:*"))
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": user_arn},
                "Action": "kms:ReplicateKey",
                "Resource": "*",
            },
        ],
    }
    key_id = east.create_key(MultiRegion=True, Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    user = as_user_in(server, creds, REGION)
    with pytest.raises(ClientError) as exc:
        user.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert code_of(exc) == "AccessDeniedException"
    assert "explicit deny in a resource-based policy" in exc.value.response["Error"]["Message"]
    # The replica made by another caller has the default policy: this user may use it
    # there, while the primary's policy still refuses the user ReplicateKey.
    east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    wait_state(kms_in(server, OTHER), key_id, "Enabled")
    there = as_user_in(server, creds, OTHER)
    assert there.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_the_trail_records_replication_in_both_regions(server: Any) -> None:
    east = kms_in(server, REGION)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    answer = east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER, Description="dr copy")
    request_id = answer["ResponseMetadata"]["RequestId"]
    wait_state(kms_in(server, OTHER), key_id, "Enabled")
    primary_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    replica_arn = f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}"
    trail = records(server)
    mine = [r for r in trail if r.get("requestID") == request_id]
    by_name = {r["eventName"]: r for r in mine}
    assert set(by_name) == {"ReplicateKey", "CreateKey"}
    replicated, created = by_name["ReplicateKey"], by_name["CreateKey"]
    assert replicated["awsRegion"] == REGION
    assert [r["ARN"] for r in replicated["resources"]] == [primary_arn]
    assert replicated["requestParameters"]["replicaRegion"] == OTHER
    assert created["awsRegion"] == OTHER and created["eventType"] == "AwsApiCall"
    assert [r["ARN"] for r in created["resources"]] == [replica_arn]
    assert created["responseElements"]["keyMetadata"]["keyState"] == "Creating"
    synced = [
        r
        for r in trail
        if r["eventName"] == "SynchronizeMultiRegionKey"
        and [x["ARN"] for x in r["resources"]] == [primary_arn]
    ]
    assert len(synced) == 1
    assert synced[0]["awsRegion"] == REGION and synced[0]["eventType"] == "AwsServiceEvent"


def test_the_trail_records_update_primary_region_in_both_regions(server: Any) -> None:
    east = kms_in(server, REGION)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion=THIRD)
    third = kms_in(server, THIRD)
    wait_state(third, key_id, "Enabled")
    answer = east.update_primary_region(KeyId=key_id, PrimaryRegion=THIRD)
    request_id = answer["ResponseMetadata"]["RequestId"]
    wait_state(third, key_id, "Enabled")
    mine = [r for r in records(server) if r.get("requestID") == request_id]
    assert sorted((r["eventName"], r["awsRegion"]) for r in mine) == sorted(
        [("UpdatePrimaryRegion", REGION), ("UpdatePrimaryRegion", THIRD)]
    )
    here = next(r for r in mine if r["awsRegion"] == REGION)
    assert here["requestParameters"]["primaryRegion"] == THIRD
    assert sorted(x["ARN"] for x in here["resources"]) == sorted(
        [
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}",
            f"arn:aws:kms:{THIRD}:{ACCOUNT}:key/{key_id}",
        ]
    )
