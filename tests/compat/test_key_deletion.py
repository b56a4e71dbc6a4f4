"""Key deletion after the waiting period, carried out by ``openkms maintenance run`` as of a
later time, through boto3 against real servers (SQLite and PostgreSQL): what goes with the
key (aliases, grants, material), what is recorded, cancelling in time, keys of every kind,
exactly once with two runs at once, and a bad ``--at``.

``maintenance_run(server, at=...)`` acts on every key of the module's database, so every
assertion about a report looks only at the keys its own test made (or at a second run as
of the same time, which must find nothing left).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess, maintenance_report, maintenance_reports_together, maintenance_run

from conftest import ACCOUNT, make_client

DAY = 86400.0


def kms_of(server: ServerProcess) -> Any:
    return make_client(server.endpoint)


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def at_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def run(server: ServerProcess, at: str | None = None) -> dict[str, Any]:
    return maintenance_report(server, at)


def events_named(server: ServerProcess, arn: str, name: str) -> list[dict[str, Any]]:
    trail = make_client(server.endpoint, service="cloudtrail")
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": arn}]
    events = trail.lookup_events(LookupAttributes=attrs, MaxResults=50)["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == name]


def alias_names(kms: Any) -> set[str]:
    names: set[str] = set()
    for page in kms.get_paginator("list_aliases").paginate():
        names.update(a["AliasName"] for a in page["Aliases"])
    return names


def assert_gone(kms: Any, key_id: str) -> None:
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key_id)
    assert code_of(exc) == "NotFoundException"


def test_deletion_after_the_waiting_period(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key(Tags=[{"TagKey": "k", "TagValue": "v"}])["KeyMetadata"]
    key_id, arn = key["KeyId"], key["Arn"]
    alias = "alias/deleted-" + os.urandom(4).hex()
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    grantee = f"arn:aws:iam::{ACCOUNT}:role/deletion-test"
    retiring = f"arn:aws:iam::{ACCOUNT}:role/retiring-{os.urandom(4).hex()}"
    kms.create_grant(
        KeyId=key_id, GranteePrincipal=grantee, RetiringPrincipal=retiring, Operations=["Decrypt"]
    )
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1
    assert len(kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"]) == 1
    blob = kms.encrypt(KeyId=alias, Plaintext=b"doomed")["CiphertextBlob"]

    before = time.time()
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyId"] == arn
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    assert scheduled["DeletionDate"].timestamp() >= before + 7 * DAY - 60
    assert scheduled["DeletionDate"].timestamp() <= before + 8 * DAY

    early = run(own_server, at_days(6))
    assert arn not in early["Deleted"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["DeletionDate"] == scheduled["DeletionDate"]
    assert alias in alias_names(kms)
    assert events_named(own_server, arn, "DeleteKey") == []

    due = at_days(8)
    report = run(own_server, due)
    assert report["Deleted"].count(arn) == 1
    assert_gone(kms, key_id)
    assert_gone(kms, arn)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=alias)
    assert code_of(exc) == "NotFoundException"
    assert alias not in alias_names(kms)
    assert all(a.get("TargetKeyId") != key_id for a in kms.list_aliases()["Aliases"])
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key_id)
    assert code_of(exc) == "NotFoundException"
    assert kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"] == []
    listed = {k["KeyId"] for p in kms.get_paginator("list_keys").paginate() for k in p["Keys"]}
    assert key_id not in listed
    with pytest.raises(ClientError) as exc:
        kms.list_resource_tags(KeyId=key_id)
    assert code_of(exc) == "NotFoundException"
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob)
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=key_id)
    assert code_of(exc) == "NotFoundException"

    successor = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=successor)  # the name is free again
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == successor

    (event,) = events_named(own_server, arn, "DeleteKey")
    assert event["eventType"] == "AwsServiceEvent"
    assert event["eventSource"] == "kms.amazonaws.com"
    assert event["userIdentity"]["invokedBy"] == "AWS Internal"
    assert event["userIdentity"]["accountId"] == ACCOUNT
    assert event["sourceIPAddress"] == "AWS Internal"
    assert event["readOnly"] is False
    assert event["requestParameters"] is None and event["responseElements"] is None
    assert event["recipientAccountId"] == ACCOUNT
    assert [r["ARN"] for r in event["resources"]] == [arn]

    again = run(own_server, due)
    assert again["Deleted"] == []
    assert len(events_named(own_server, arn, "DeleteKey")) == 1


def test_cancel_before_the_date_keeps_the_key(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    key_id = key["KeyId"]
    alias = "alias/kept-" + os.urandom(4).hex()
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == key["Arn"]
    report = run(own_server, at_days(8))
    assert key["Arn"] not in report["Deleted"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False
    assert "DeletionDate" not in meta
    assert alias in alias_names(kms)
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    assert events_named(own_server, key["Arn"], "DeleteKey") == []


KINDS = {
    "external-pending-import": {"Origin": "EXTERNAL"},
    "ecc-sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
    "rsa-encrypt": {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
    "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_deletion_of_every_kind_of_key(own_server, kind: str) -> None:
    kms = kms_of(own_server)
    key = kms.create_key(**KINDS[kind])["KeyMetadata"]
    if kind == "external-pending-import":
        assert key["KeyState"] == "PendingImport"
    alias = "alias/kind-" + os.urandom(4).hex()
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion"
    report = run(own_server, at_days(8))
    assert report["Deleted"].count(key["Arn"]) == 1
    assert_gone(kms, key["KeyId"])
    assert alias not in alias_names(kms)
    if kind in ("ecc-sign", "rsa-encrypt"):
        with pytest.raises(ClientError) as exc:
            kms.get_public_key(KeyId=key["KeyId"])
        assert code_of(exc) == "NotFoundException"
    if kind == "external-pending-import":
        with pytest.raises(ClientError) as exc:
            kms.get_parameters_for_import(
                KeyId=key["KeyId"],
                WrappingAlgorithm="RSAES_OAEP_SHA_256",
                WrappingKeySpec="RSA_2048",
            )
        assert code_of(exc) == "NotFoundException"
    (event,) = events_named(own_server, key["Arn"], "DeleteKey")
    assert event["eventType"] == "AwsServiceEvent"


def test_two_concurrent_runs_delete_each_key_once(own_server) -> None:
    kms = kms_of(own_server)
    arns = []
    for _ in range(30):
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        arns.append(arn)
    at = at_days(8)
    reports: list[dict[str, Any]] = maintenance_reports_together(own_server, at)
    union = [arn for report in reports for arn in report["Deleted"]]
    assert len(union) == len(set(union)), "a key was deleted twice"
    assert set(arns) <= set(union)
    for arn in arns:
        assert_gone(kms, arn)
        assert len(events_named(own_server, arn, "DeleteKey")) == 1


def test_maintenance_run_rejects_a_bad_time(own_server) -> None:
    done = maintenance_run(own_server, at="not-a-time", check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--at" in lines[0] and "not-a-time" in lines[0]
    assert done.stdout == ""
