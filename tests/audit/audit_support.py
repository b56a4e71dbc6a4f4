"""Synthetic CloudTrail records for the audit trail tests."""

from __future__ import annotations

import uuid
from typing import Any

from openkms.domain.audit import PendingRecord, format_event_time

ACCOUNT = "111122223333"
BASE_TIME = 1_764_400_000.0


def record(
    i: int, *, account: str = ACCOUNT, name: str = "Encrypt", when: float | None = None
) -> dict[str, Any]:
    when = BASE_TIME + i if when is None else when
    key = f"arn:aws:kms:us-east-1:{account}:key/{uuid.UUID(int=i)}"
    return {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "Root",
            "principalId": account,
            "arn": f"arn:aws:iam::{account}:root",
            "accountId": account,
            "accessKeyId": "AKIAOPENKMSTESTROOT1",
        },
        "eventTime": format_event_time(when),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "tests",
        "requestParameters": {"keyId": key, "encryptionContext": {"n": str(i), "é": "ü"}},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def pending(i: int, **kwargs: Any) -> PendingRecord:
    when = kwargs.get("when")
    return PendingRecord.from_record(
        record(i, **kwargs), event_time=BASE_TIME + i if when is None else when
    )
