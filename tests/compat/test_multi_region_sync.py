"""Multi-Region keys kept in step, through boto3 against a real server per module (SQLite
and PostgreSQL): rotations of the primary (on demand and automatic) reach every replica,
rotation is managed on the primary only, UpdatePrimaryRegion swaps the roles, deletion of
a primary waits for its replicas (PendingReplicaDeletion), and the kms:MultiRegion*,
kms:ReplicaRegion and kms:PrimaryRegion condition keys.

``maintenance_run(server, at=...)`` acts on every key of the module's database, so every
assertion looks only at the keys its own test made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess, maintenance_report
from test_access_control import allow
from test_iam_sts import client, new_user
from test_multi_region_access import as_user_in
from test_multi_region_keys import OTHER, THIRD, code_of, kms_in, wait_state

from conftest import ACCOUNT, REGION

T = TypeVar("T")
DAY = 86400.0


def eventually(check: Callable[[], T], timeout: float = 10) -> T:
    """``check()`` once it stops raising AssertionError (a change another process made,
    such as ``openkms maintenance run``, reaches the server's caches within a bound)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def at_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def related_pair(server: ServerProcess, **create: Any) -> tuple[Any, Any, str]:
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    key_id = east.create_key(MultiRegion=True, **create)["KeyMetadata"]["KeyId"]
    east.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    wait_state(west, key_id, "Enabled")
    return east, west, key_id


def test_on_demand_rotation_of_the_primary_reaches_the_replica(own_server: ServerProcess) -> None:
    east, west, key_id = related_pair(own_server)
    before = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    east.rotate_key_on_demand(KeyId=key_id)

    def rotated_everywhere() -> str:
        current = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert current != before
        assert west.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == current
        return str(current)

    current = eventually(rotated_everywhere)
    west_rotations = west.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["KeyMaterialId"] for r in west_rotations] == [current]
    assert west_rotations[0]["RotationType"] == "ON_DEMAND"
    # New ciphertexts (new version) open in the replica's Region; old ones still open.
    blob = east.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    assert west.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == current
    # Rotation is managed on the primary only.
    for call in (
        lambda: west.rotate_key_on_demand(KeyId=key_id),
        lambda: west.enable_key_rotation(KeyId=key_id),
        lambda: west.disable_key_rotation(KeyId=key_id),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "UnsupportedOperationException"


def test_automatic_rotation_settings_and_rotations_are_shared(own_server: ServerProcess) -> None:
    east, west, key_id = related_pair(own_server)
    east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = west.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    assert (
        status["NextRotationDate"] == east.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    )
    before = west.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    report: Any = maintenance_report(own_server, at_days(91))
    primary_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert [r["RotationType"] for r in report["Rotated"] if key_id in r["KeyId"]] == [
        "AUTOMATIC"
    ]  # once, by the primary: the replica rotates with it

    def replica_rotated() -> None:
        meta = west.describe_key(KeyId=key_id)["KeyMetadata"]
        assert meta["CurrentKeyMaterialId"] != before

    eventually(replica_rotated)
    blob = east.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    assert primary_arn  # the rotation was the primary's (its record is its own)
    east.disable_key_rotation(KeyId=key_id)
    assert west.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_update_primary_region_swaps_the_roles(own_server: ServerProcess) -> None:
    east, west, key_id = related_pair(own_server)
    kms_in(own_server, REGION).replicate_key(KeyId=key_id, ReplicaRegion=THIRD)
    third = kms_in(own_server, THIRD)
    wait_state(third, key_id, "Enabled")
    blob = east.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    east.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER)
    # Updating (or already done) and usable meanwhile.
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] in ("Updating", "Enabled")
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    west_meta = wait_state(west, key_id, "Enabled")
    east_meta = wait_state(east, key_id, "Enabled")
    west_arn = f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}"
    assert west_meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert east_meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    third_config = third.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert third_config["PrimaryKey"] == {"Arn": west_arn, "Region": OTHER}
    assert sorted(r["Region"] for r in third_config["ReplicaKeys"]) == sorted([REGION, THIRD])
    # Now the new primary replicates and rotates; the old one cannot.
    with pytest.raises(ClientError) as exc:
        east.replicate_key(KeyId=key_id, ReplicaRegion="sa-east-1")
    assert code_of(exc) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as exc:
        east.rotate_key_on_demand(KeyId=key_id)
    assert code_of(exc) == "UnsupportedOperationException"
    before = east_meta["CurrentKeyMaterialId"]
    west.rotate_key_on_demand(KeyId=key_id)

    def rotated() -> None:
        assert east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] != before

    eventually(rotated)


def test_update_primary_region_errors(own_server: ServerProcess) -> None:
    east, west, key_id = related_pair(own_server)
    cases = [
        (west, key_id, REGION, "UnsupportedOperationException"),  # a replica is named
        (east, key_id, THIRD, "NotFoundException"),  # no replica there
        (east, key_id, REGION, "ValidationException"),  # already the primary's Region
    ]
    for kms, named, region, code in cases:
        with pytest.raises(ClientError) as exc:
            kms.update_primary_region(KeyId=named, PrimaryRegion=region)
        assert code_of(exc) == code, region
    single = east.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        east.update_primary_region(KeyId=single, PrimaryRegion=OTHER)
    assert code_of(exc) == "UnsupportedOperationException"
    west.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as exc:
        east.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER)
    assert code_of(exc) == "DisabledException"


def test_deleting_a_primary_waits_for_its_replicas(own_server: ServerProcess) -> None:
    east, west, key_id = related_pair(own_server)
    scheduled = east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in scheduled
    meta = east.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion"
    assert meta["PendingDeletionWindowInDays"] == 7 and "DeletionDate" not in meta
    with pytest.raises(ClientError) as exc:
        east.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code_of(exc) == "KMSInvalidStateException"
    # The replica is deleted on its own (its own 7-30 day window).
    west_scheduled = west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=10)
    assert west_scheduled["KeyState"] == "PendingDeletion" and "DeletionDate" in west_scheduled
    report: Any = maintenance_report(own_server, at_days(8))
    assert all(key_id not in arn for arn in report["Deleted"])  # neither is due yet
    report = maintenance_report(own_server, at_days(11))
    assert f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{key_id}" in report["Deleted"]

    def primary_waits_its_own_window() -> dict[str, Any]:
        found: dict[str, Any] = east.describe_key(KeyId=key_id)["KeyMetadata"]
        assert found["KeyState"] == "PendingDeletion"
        return found

    primary = eventually(primary_waits_its_own_window)
    assert primary["DeletionDate"].timestamp() > time.time() + 17 * DAY
    assert primary["MultiRegionConfiguration"]["ReplicaKeys"] == []
    report = maintenance_report(own_server, at_days(19))
    assert f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}" in report["Deleted"]


def test_cancel_deletion_of_a_primary_waiting_for_replicas(own_server: ServerProcess) -> None:
    east, _west, key_id = related_pair(own_server)
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    east.cancel_key_deletion(KeyId=key_id)
    meta = east.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "PendingDeletionWindowInDays" not in meta


def test_multi_region_condition_keys(own_server: ServerProcess) -> None:
    iam = client(own_server, "iam")
    east, west, key_id = related_pair(own_server)
    single = east.create_key()["KeyMetadata"]["KeyId"]
    policy = allow("kms:DescribeKey", "kms:ReplicateKey", "kms:CreateKey")
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}},
        }
    )
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Action": "kms:ReplicateKey",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ReplicaRegion": THIRD}},
        }
    )
    _name, creds = new_user(iam, policy)
    user_east, user_west = (
        as_user_in(own_server, creds, REGION),
        as_user_in(own_server, creds, OTHER),
    )
    assert user_east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegion"] is True
    assert user_east.describe_key(KeyId=single)["KeyMetadata"]["MultiRegion"] is False
    with pytest.raises(ClientError) as exc:
        user_west.describe_key(KeyId=key_id)
    assert code_of(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        user_east.replicate_key(KeyId=key_id, ReplicaRegion="sa-east-1")
    assert code_of(exc) == "AccessDeniedException"
    user_east.replicate_key(KeyId=key_id, ReplicaRegion=THIRD)
    # kms:MultiRegion in a key policy; kms:PrimaryRegion on UpdatePrimaryRegion.
    deny_single = {
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
                "Principal": "*",
                "Action": "kms:UpdatePrimaryRegion",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:PrimaryRegion": THIRD}},
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:Encrypt",
                "Resource": "*",
                "Condition": {"Bool": {"kms:MultiRegion": "true"}},
            },
        ],
    }
    east.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(deny_single))
    with pytest.raises(ClientError) as exc:
        east.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code_of(exc) == "AccessDeniedException"
    wait_state(kms_in(own_server, THIRD), key_id, "Enabled")
    with pytest.raises(ClientError) as exc:
        east.update_primary_region(KeyId=key_id, PrimaryRegion=THIRD)
    assert code_of(exc) == "AccessDeniedException"
    east.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER)
    wait_state(west, key_id, "Enabled")
