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


def start_trail(store: Any, keyring: Any) -> None:
    """What a server's first start does to its trail: make the signing key, then sign the
    start digest."""
    from openkms.service.audit_sealer import Sealer, prepare_signing_key

    prepare_signing_key(store, keyring)
    Sealer(store, keyring).start()


def signer_in(tx: Any, keyring: Any) -> Any:
    """The stored audit signer, made on first use (as a first start makes it)."""
    from openkms.crypto.signing import (
        SigningKeyMissingError,
        create_audit_signer,
        load_audit_signer,
    )
    from openkms.storage import shared as shared_records

    settings = shared_records.Settings(tx)
    try:
        return load_audit_signer(settings, keyring)
    except SigningKeyMissingError:
        return create_audit_signer(settings, keyring)
