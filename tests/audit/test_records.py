"""CloudTrail record building: shape, user identities, and no secrets in any record."""

from __future__ import annotations

import base64
import json
from typing import Any

from openkms.audit.records import AuditedCall, cloudtrail_record, is_read_only, user_identity
from openkms.domain.principals import Principal

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = base64.b64encode(b"top secret plaintext").decode()


def call(
    name: str, request: dict[str, Any], response: dict[str, Any] | None, **extra: object
) -> AuditedCall:
    fields: dict[str, Any] = dict(
        request_id="req-1",
        event_id="evt-1",
        event_time=1_764_400_000.0,
        event_source="kms.amazonaws.com",
        event_name=name,
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="Boto3/1.x",
        principal=Principal.root(ACCOUNT, "AKIA1"),
        request=request,
        response=response,
        resources=((ACCOUNT, KEY),),
    )
    fields.update(extra)
    return AuditedCall(**fields)


def test_crypto_record_shape_and_no_secrets() -> None:
    record = cloudtrail_record(
        call(
            "Encrypt",
            {
                "KeyId": "alias/app",
                "Plaintext": SECRET,
                "EncryptionContext": {"tenant": "a"},
                "GrantTokens": ["token"],
            },
            {"CiphertextBlob": SECRET, "KeyId": KEY, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        ),
        ACCOUNT,
        None,
    )
    assert record["eventVersion"] == "1.11"
    assert record["eventSource"] == "kms.amazonaws.com" and record["eventName"] == "Encrypt"
    assert record["eventTime"] == "2025-11-29T07:06:40Z"
    assert record["requestParameters"] == {
        "keyId": "alias/app",
        "encryptionContext": {"tenant": "a"},
    }
    assert record["responseElements"] is None
    assert record["readOnly"] is True and record["managementEvent"] is True
    assert record["eventCategory"] == "Management" and record["eventType"] == "AwsApiCall"
    assert record["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY}]
    assert record["userIdentity"] == {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIA1",
    }
    text = json.dumps(record)
    assert SECRET not in text and "token" not in text and "errorCode" not in record


def test_management_record_keeps_response_without_secrets() -> None:
    record = cloudtrail_record(
        call(
            "CreateGrant",
            {"KeyId": KEY, "GranteePrincipal": "arn:aws:iam::1:role/x"},
            {"GrantToken": "secret-token", "GrantId": "abc"},
        ),
        ACCOUNT,
        "shared-1",
    )
    assert record["responseElements"] == {"grantId": "abc"}
    assert record["readOnly"] is False and record["sharedEventID"] == "shared-1"
    assert "secret-token" not in json.dumps(record)


def test_failure_fields() -> None:
    record = cloudtrail_record(
        call(
            "Decrypt",
            {"CiphertextBlob": SECRET},
            None,
            error_code="InvalidCiphertextException",
            error_message="",
        ),
        ACCOUNT,
        None,
    )
    assert record["errorCode"] == "InvalidCiphertextException" and record["errorMessage"] == ""
    assert record["requestParameters"] is None


def test_identities_of_users_and_sessions() -> None:
    user = Principal.user(
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        "AKIA2",
        user_id="AIDAEXAMPLE",
        user_name="alice",
    )
    assert user_identity(user)["type"] == "IAMUser" and user_identity(user)["userName"] == "alice"
    session = Principal.assumed_role(
        ACCOUNT,
        "ASIA3",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/R",
        role_id="AROAEXAMPLE",
        session_name="s",
        expiration=2e9,
    )
    identity = user_identity(session)
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == f"arn:aws:iam::{ACCOUNT}:role/R"


def test_read_only_classification() -> None:
    for name in ("Decrypt", "DescribeKey", "ListAliases", "GetKeyPolicy", "GetCallerIdentity"):
        assert is_read_only(name), name
    for name in (
        "CreateKey",
        "DisableKey",
        "PutKeyPolicy",
        "TagResource",
        "AssumeRole",
        "ScheduleKeyDeletion",
        "RetireGrant",
    ):
        assert not is_read_only(name), name
