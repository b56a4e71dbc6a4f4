"""Key management through boto3 against a live server (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err.get("Message", "")


def test_create_and_describe_key(kms) -> None:
    before = time.time()
    meta = kms.create_key(Description="first key", Tags=[{"TagKey": "team", "TagValue": "a"}])[
        "KeyMetadata"
    ]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{meta['KeyId']}"
    assert meta["AWSAccountId"] == "111122223333"
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Origin"] == "AWS_KMS" and meta["KeyManager"] == "CUSTOMER"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["MultiRegion"] is False
    assert len(meta["CurrentKeyMaterialId"]) == 64
    assert meta["CreationDate"].timestamp() >= before - 1
    assert "DeletionDate" not in meta
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert described == meta
    tags = kms.list_resource_tags(KeyId=meta["KeyId"])
    assert tags["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    assert tags["Truncated"] is False


def test_describe_by_every_identifier_form(kms) -> None:
    meta = kms.create_key()["KeyMetadata"]
    alias = f"alias/describe-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    alias_arn = f"arn:aws:kms:us-east-1:111122223333:{alias}"
    for ident in (meta["KeyId"], meta["Arn"], alias, alias_arn):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"]["KeyId"] == meta["KeyId"]


def test_not_found_messages(kms) -> None:
    missing = "0b1b5e8f-2a0b-4d3c-9a55-1f1f1f1f1f1f"
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=missing)
    assert error_of(exc) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist",
    )
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="alias/none-such")
    assert error_of(exc) == (
        "NotFoundException",
        "Alias arn:aws:kms:us-east-1:111122223333:alias/none-such is not found.",
    )
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="foo")
    assert error_of(exc) == ("NotFoundException", "Invalid keyId 'foo'")


def test_enable_disable_and_state_errors(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    arn = key["Arn"]
    kms.disable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=arn, Plaintext=b"x")
    assert error_of(exc) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=arn)
    assert kms.encrypt(KeyId=arn, Plaintext=b"x")["KeyId"] == arn


def test_schedule_and_cancel_deletion(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    arn = key["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=arn)
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is not pending deletion.")
    now = time.time()
    out = kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert out["KeyId"] == arn and out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == 7
    assert abs(out["DeletionDate"].timestamp() - (now + 7 * 86400)) < 60
    meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["PendingDeletionWindowInDays"] == 7
    assert meta["Enabled"] is False
    for call in (
        lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"),
        lambda: kms.enable_key(KeyId=arn),
        lambda: kms.schedule_key_deletion(KeyId=arn),
        lambda: kms.update_key_description(KeyId=arn, Description="d"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=arn)["KeyId"] == arn
    meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta


def test_default_deletion_window_is_30_days(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    assert kms.schedule_key_deletion(KeyId=key["KeyId"])["PendingWindowInDays"] == 30


@pytest.mark.parametrize("days", [1, 6, 31, 365])
def test_pending_window_outside_7_to_30_is_refused(kms, days: int) -> None:
    key = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=days)
    assert error_of(exc) == ("ValidationException", "PendingWindowInDays must be between 7 and 30")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_update_description(kms) -> None:
    key = kms.create_key(Description="old")["KeyMetadata"]
    kms.update_key_description(KeyId=key["KeyId"], Description="new")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "new"


def test_list_keys_pages(kms) -> None:
    made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    seen: list[str] = []
    marker = None
    while True:
        kwargs = {"Limit": 2} | ({"Marker": marker} if marker else {})
        page = kms.list_keys(**kwargs)
        assert len(page["Keys"]) <= 2
        for entry in page["Keys"]:
            assert entry["KeyArn"].endswith(entry["KeyId"])
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    with pytest.raises(ClientError) as exc:
        kms.list_keys(Marker="not-a-marker")
    assert error_of(exc)[0] == "InvalidMarkerException"


def test_management_ops_refuse_aliases(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/mgmt-{key['KeyId'][:8]}", TargetKeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.disable_key(KeyId=f"alias/mgmt-{key['KeyId'][:8]}")
    assert error_of(exc) == (
        "InvalidArnException",
        "Key Aliases are not supported for this operation.",
    )


def test_regions_are_separate(server) -> None:
    from conftest import make_client

    east = make_client(server.endpoint, region="us-east-1")
    west = make_client(server.endpoint, region="eu-west-1")
    key = east.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=key["KeyId"])
    assert error_of(exc) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:eu-west-1:111122223333:key/{key['KeyId']}' does not exist",
    )
    with pytest.raises(ClientError) as exc:
        west.describe_key(KeyId=key["Arn"])
    assert error_of(exc) == ("NotFoundException", "Invalid arn us-east-1")
    assert key["KeyId"] not in {k["KeyId"] for k in west.list_keys(Limit=1000)["Keys"]}
    west_key = west.create_key()["KeyMetadata"]
    assert west_key["Arn"].startswith("arn:aws:kms:eu-west-1:")
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"regional")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        west.decrypt(CiphertextBlob=blob)
    assert error_of(exc)[0] == "InvalidCiphertextException"
