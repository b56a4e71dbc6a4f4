"""The usage rollup over a real SQLite store (no server): what it counts and skips
(failed calls, service events, the owner's copy of a cross-account call, ReplicateKey's
second record), key lives from lifecycle records, and roll-ups running at once (several
nodes, or a node and the command) counting each record exactly once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from openkms.domain.audit import PendingRecord
from openkms.service.usage_rollup import roll_up
from openkms.storage.audit import trail as audit_store
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store
from openkms.storage.usage import repository as usage_records

OWNER, CALLER = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WHEN = "2026-12-05T10:00:00Z"


def _record(name: str, recipient: str = OWNER, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {"type": "Root", "accountId": recipient, "accessKeyId": "AKIAEXAMPLE"},
        "eventTime": WHEN,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "requestParameters": None,
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "resources": [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": KEY}],
        "eventType": "AwsApiCall",
        "recipientAccountId": recipient,
    }
    record.update(extra)
    return record


def _append(store: Store, records: list[dict[str, Any]]) -> None:
    with store.transaction(write=True, changes_state=False) as tx:
        audit_store.append_records(tx, [PendingRecord.from_record(r) for r in records])


def _counts(store: Store) -> dict[tuple[str, str, str], int]:
    with store.transaction() as tx:
        rows = usage_records.requests_per_key(tx, False, 0, 10**6, None)
    return {(account, arn, cls): n for account, _, arn, cls, n in rows}


def test_what_is_counted_and_concurrent_rollups(tmp_path: Path) -> None:
    store = Store(make_engine(sqlite_url(str(tmp_path)), threads=4))
    try:
        created = _record(
            "CreateKey",
            resources=[],
            responseElements={"keyMetadata": {"arn": KEY, "keySpec": "RSA_2048"}},
        )
        shared = str(uuid.uuid4())
        _append(
            store,
            [
                created,
                _record("Sign"),
                _record("Sign", errorCode="DisabledException", errorMessage="x"),
                # A cross-account call: the caller's copy counts, the owner's does not.
                _record("Verify", recipient=CALLER, sharedEventID=shared),
                _record("Verify", recipient=OWNER, sharedEventID=shared),
                _record(
                    "CreateKey",
                    requestParameters={"replicaRegion": "eu-west-1"},
                    responseElements={"keyMetadata": {"arn": KEY, "keySpec": "RSA_2048"}},
                ),
                _record("RotateKey", eventType="AwsServiceEvent"),
                _record("ScheduleKeyDeletion"),
            ],
        )
        assert roll_up(store, batch=3) == 8
        assert _counts(store) == {
            (OWNER, KEY, "symmetric"): 2,  # CreateKey and ScheduleKeyDeletion
            (OWNER, KEY, "asymmetric-rsa-2048"): 1,
            (CALLER, KEY, "asymmetric-rsa-2048"): 1,
        }
        with store.transaction() as tx:
            (life,) = usage_records.keys_created_before(tx, 2e9, OWNER)
        assert life["key_spec"] == "RSA_2048"
        assert life["rotations"] == 1 and life["rotation1_at"] is not None
        assert life["scheduled_at"] is not None and life["rotation2_at"] is None

        # Several roll-ups at once: every record counted exactly once.
        _append(store, [_record("Sign") for _ in range(40)])
        done: list[int] = []
        threads = [
            threading.Thread(target=lambda: done.append(roll_up(store, batch=7))) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(done) == 40
        assert _counts(store)[(OWNER, KEY, "asymmetric-rsa-2048")] == 41
        assert roll_up(store) == 0
    finally:
        store.close()


def test_a_window_is_read_as_whole_months_and_partial_days() -> None:
    from datetime import date

    from openkms.domain.billing import day_of, month_of_day
    from openkms.service.usage_report import Window

    def day(text: str) -> int:
        return day_of(_seconds(text))

    december, february = month_of_day(day("2026-12-01")), month_of_day(day("2027-02-01"))
    assert Window.month(2026, 12).parts() == [(True, december, december)]
    window = Window(date(2026, 11, 20), date(2027, 3, 4))
    assert window.parts() == [
        (False, day("2026-11-20"), day("2026-11-30")),
        (True, december, february),
        (False, day("2027-03-01"), day("2027-03-04")),
    ]
    assert Window(date(2026, 12, 5), date(2026, 12, 5)).parts() == [
        (False, day("2026-12-05"), day("2026-12-05"))
    ]


def _seconds(text: str) -> float:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_limited_roll_up_counts_whole_batches_and_leaves_the_rest(tmp_path: Path) -> None:
    store = Store(make_engine(sqlite_url(str(tmp_path)), threads=2))
    try:
        _append(store, [_record("Sign") for _ in range(25)])
        assert roll_up(store, batch=10, limit=15) == 20
        assert roll_up(store, batch=10) == 5
    finally:
        store.close()
