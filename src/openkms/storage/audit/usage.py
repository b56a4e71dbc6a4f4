"""Key usage read from the audit trail: the last successful cryptographic operation on a
key (GetKeyLastUsage) and when tracking began."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from openkms.storage.audit.tables import audit_events, audit_resources
from openkms.storage.repository import Tx
from openkms.storage.sql import Statement

#: KeyLastUsageTrackingOperation in the KMS API model.
TRACKED_OPERATIONS = (
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "ReEncrypt", "Sign", "Verify", "VerifyMac", "Encapsulate", "Decapsulate",
)  # fmt: skip


def _last_use() -> Any:
    # Driven by the key's resource rows, newest first (the index on (resource_name, seq)
    # read backwards), each record's row found by seq: the first one that qualifies
    # ends it. Ordered by the resource row's seq, which the index yields in order.
    e, r = audit_events.c, audit_resources.c
    return (
        select(e.event_name, e.event_time, e.event_id, e.record)
        .select_from(audit_resources.join(audit_events, e.seq == r.seq))
        .where(
            and_(
                r.resource_name == bindparam("arn"),
                e.account_id == bindparam("account_id"),
                e.error_code.is_(None),
                # Spelled out: an expanding IN does not survive one-time compilation.
                or_(*(e.event_name == name for name in TRACKED_OPERATIONS)),
            )
        )
        .order_by(r.seq.desc())
        .limit(1)
    )


def _first_event() -> Any:
    e = audit_events.c
    return select(e.event_time).order_by(e.seq).limit(1)


audit_last_use = Statement("audit_last_use", _last_use)
audit_first_event = Statement("audit_first_event", _first_event)


def last_use(tx: Tx, key_arn: str, account: str) -> dict[str, Any] | None:
    """KeyLastUsageData for the key, as its owner's trail records it (None: never used)."""
    row = tx.fetch_one(audit_last_use, {"arn": key_arn, "account_id": account})
    if row is None:
        return None
    name, when, event_id, record = row
    return {
        "Operation": name,
        "Timestamp": float(when),
        "CloudTrailEventId": event_id,
        "KmsRequestId": json.loads(record).get("requestID", ""),
    }


def tracking_start(tx: Tx) -> float | None:
    row = tx.fetch_one(audit_first_event, {})
    return None if row is None else float(row[0])
