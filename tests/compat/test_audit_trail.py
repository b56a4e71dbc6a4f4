"""The audit trail as an auditor sees it: records per call, GetKeyLastUsage, verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import text

from openkms.storage.engine import make_engine, sqlite_url

SECRET = b"audit-me-never-logged-0123456789"


def records(server: Any) -> list[dict[str, Any]]:
    engine = make_engine(server.database or sqlite_url(server.data_dir))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT record FROM audit_events ORDER BY seq")).fetchall()
    finally:
        engine.dispose()
    return [json.loads(r[0]) for r in rows]


def by_request(server: Any, request_id: str) -> list[dict[str, Any]]:
    # .get: service events (a scheduled deletion carried out) have no requestID
    return [r for r in records(server) if r.get("requestID") == request_id]


def test_records_per_call_and_no_secrets(server, kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=SECRET, EncryptionContext={"dept": "hr"})
    (record,) = by_request(server, out["ResponseMetadata"]["RequestId"])
    assert record["eventName"] == "Encrypt" and record["eventSource"] == "kms.amazonaws.com"
    assert record["requestParameters"] == {
        "keyId": key["KeyId"],
        "encryptionContext": {"dept": "hr"},
    }
    assert record["responseElements"] is None and record["readOnly"] is True
    assert record["resources"] == [
        {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": key["Arn"]}
    ]
    assert record["userIdentity"]["type"] == "Root"
    assert record["recipientAccountId"] == "111122223333"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"dept": "it"})
    (failed,) = by_request(server, exc.value.response["ResponseMetadata"]["RequestId"])
    assert failed["errorCode"] == "InvalidCiphertextException"
    disabled = kms.disable_key(KeyId=key["KeyId"])
    (change,) = by_request(server, disabled["ResponseMetadata"]["RequestId"])
    assert change["eventName"] == "DisableKey" and change["readOnly"] is False
    blob = json.dumps(records(server))
    for secret in (SECRET, out["CiphertextBlob"]):
        import base64

        assert base64.b64encode(secret).decode() not in blob


def test_get_key_last_usage(server, kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    fresh = kms.get_key_last_usage(KeyId=key["KeyId"])
    assert "KeyLastUsage" not in fresh and fresh["KeyId"] == key["Arn"]
    assert fresh["KeyCreationDate"] == key["CreationDate"]
    assert fresh["TrackingStartDate"] <= fresh["KeyCreationDate"]
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=out["CiphertextBlob"] + b"!")
    used = kms.get_key_last_usage(KeyId=key["Arn"])["KeyLastUsage"]
    assert used["Operation"] == "Encrypt"
    assert used["KmsRequestId"] == out["ResponseMetadata"]["RequestId"]
    (record,) = by_request(server, used["KmsRequestId"])
    assert used["CloudTrailEventId"] == record["eventID"]
    assert abs(used["Timestamp"].timestamp() - time.time()) < 120
    kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"


def test_audit_verify_on_the_live_trail(server, kms) -> None:
    kms.create_key(Description="verify me")
    args = [sys.executable, "-m", "openkms", "audit", "verify", "--data-dir", server.data_dir]
    if server.database:
        args += ["--database", server.database]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout


def test_iam_and_sts_calls_are_recorded_without_secrets(server) -> None:
    import uuid

    from conftest import make_client

    iam = make_client(server.endpoint, service="iam")
    name = "audited-" + uuid.uuid4().hex[:8]
    created = iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    (record,) = by_request(server, created["ResponseMetadata"]["RequestId"])
    assert record["eventSource"] == "iam.amazonaws.com" and record["eventName"] == "CreateUser"
    assert record["requestParameters"] == {"userName": name}
    identity = make_client(server.endpoint, service="sts").get_caller_identity()
    (sts_record,) = by_request(server, identity["ResponseMetadata"]["RequestId"])
    assert sts_record["eventSource"] == "sts.amazonaws.com"
    assert key["SecretAccessKey"] not in json.dumps(records(server))


def test_denied_call_is_recorded_with_its_error(server, kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.put_key_policy(
        KeyId=key["KeyId"],
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"},
                ],
            }
        ),
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no")
    (record,) = by_request(server, exc.value.response["ResponseMetadata"]["RequestId"])
    assert record["errorCode"] == "AccessDeniedException"
    assert "explicit deny" in record["errorMessage"]
    assert record["resources"][0]["ARN"] == key["Arn"]
