"""The request thread only captures a call; the writer builds its record (issue 12).

What is stored must not change: the columns built with the record are the ones
``PendingRecord.from_record`` reads back from it, event ids stay unique UUID v4 strings
(also across a fork), and the cached event times are the ones ``datetime`` renders.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.audit import event_ids
from openkms.audit.event_ids import new_event_id
from openkms.audit.records import AuditedCall, cloudtrail_record, indexed_record
from openkms.domain.audit import PendingRecord, format_event_time
from openkms.domain.keys import Key, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, NotFoundException
from openkms.service.audit_trail import AuditWriter, Entry, RequestTrail

ACCOUNT = "111122223333"
OTHER = "444455556666"


def key(account: str) -> Key:
    return Key(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        account=account,
        region="us-east-1",
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        description="",
        policy="{}",
        created_at=1.0,
        current_version=1,
    )


PRINCIPALS = [
    Principal.root(ACCOUNT, "AKIAROOT"),
    Principal.user(
        ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice", "AKIAUSER", user_id="AIDA1", user_name="a"
    ),
    Principal.assumed_role(
        ACCOUNT,
        "ASIASESSION",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/R",
        role_id="AROA1",
        session_name="s",
        expiration=2e9,
    ),
]


def call(principal: Principal, **extra: Any) -> AuditedCall:
    fields: dict[str, Any] = dict(
        request_id="req-1",
        event_id=new_event_id(),
        event_time=1_764_400_000.25,
        event_source="kms.amazonaws.com",
        event_name="Encrypt",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="tests",
        principal=principal,
        request={"KeyId": "alias/a", "EncryptionContext": {"k": "v"}},
        response={"KeyId": key(ACCOUNT).arn},
        resources=((ACCOUNT, key(ACCOUNT).arn), (OTHER, key(OTHER).arn)),
    )
    fields.update(extra)
    return AuditedCall(**fields)


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.kind.value)
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"error_code": "NotFoundException", "error_message": "no such key"},
        {"event_name": "CreateAlias", "resources": ()},
        {"event_name": "Bad Name", "region": "NOT A REGION", "additional": {"a": 1}},
    ],
)
def test_the_columns_built_with_a_record_are_those_read_back_from_it(
    principal: Principal, extra: dict[str, Any]
) -> None:
    audited = call(principal, **extra)
    for recipient, shared in ((ACCOUNT, None), (OTHER, "5f0c8d0e-8f0b-4c71-9a3e-3c1f0a7d2b11")):
        built = indexed_record(audited, recipient, shared)
        record = cloudtrail_record(audited, recipient, shared)
        assert built.record == record
        assert built == PendingRecord.from_record(record, event_time=audited.event_time)


def test_entries_only_capture_the_call_and_build_the_record_once() -> None:
    trail = RequestTrail(
        request_id="req-2",
        event_source="kms.amazonaws.com",
        event_name="Decrypt",
        region="us-east-1",
        source_ip="::1",
        user_agent="tests",
        now=time.time(),
        principal=PRINCIPALS[0],
        request={"KeyId": "alias/a"},
        keys=[key(ACCOUNT), key(OTHER)],
    )
    entries = trail.entries({"KeyId": key(ACCOUNT).arn})
    assert [e.recipient_account for e in entries] == [ACCOUNT, OTHER]
    assert all(e._pending is None for e in entries)  # nothing built on the request thread
    first = entries[0].pending()
    assert entries[0].pending() is first and entries[0].record is first.record
    shared = {e.record["sharedEventID"] for e in entries}
    assert len(shared) == 1 and uuid.UUID(shared.pop()).version == 4
    assert entries[0].record["eventID"] != entries[1].record["eventID"]
    assert entries[0].record == cloudtrail_record(
        entries[0].call, ACCOUNT, first.record["sharedEventID"]
    )
    # A denied cross-account call is recorded for the caller only, without sharedEventID.
    denied = trail.entries(None, AccessDeniedException("no"))
    assert [e.recipient_account for e in denied] == [ACCOUNT]
    assert "sharedEventID" not in denied[0].record
    failed = trail.entries(None, NotFoundException("gone"))
    assert [e.recipient_account for e in failed] == [ACCOUNT, OTHER]
    assert failed[1].record["errorCode"] == "NotFoundException"


def test_event_ids_are_unique_uuid4_strings() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:100] + ids[-100:]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_draws_its_own_event_ids() -> None:
    before = new_event_id()
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock; the child
        # here only formats an id and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, new_event_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    assert child[:19] != before[:19]  # another random prefix, not the parent's next id
    assert event_ids._IDS.prefix == before[:19]  # the parent's own sequence goes on


@given(
    st.one_of(
        st.floats(min_value=0, max_value=253402300799.999),
        st.integers(min_value=1_000_000_000, max_value=2_000_000_000).map(lambda s: s + 0.9995),
        st.integers(min_value=1_000_000_000, max_value=2_000_000_000).map(lambda s: s - 1e-7),
    )
)
def test_cached_event_times_are_what_datetime_renders(timestamp: float) -> None:
    expected = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert format_event_time(timestamp) == expected
    assert format_event_time(timestamp) == expected  # and again, from the cache


class RecordingStore:
    """Stands in for the store: notes, when a write transaction begins, whether the
    records of the batch were built and checked already."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.ready_at_begin: list[bool] = []

    @contextmanager
    def transaction(self, *, write: bool = False, changes_state: bool = True) -> Iterator[object]:
        self.ready_at_begin.append(all(e._checked is not None for e in self.entries))
        yield object()


def test_the_writer_builds_and_checks_records_before_its_transaction() -> None:
    trail = RequestTrail(
        request_id="req-3",
        event_source="kms.amazonaws.com",
        event_name="Encrypt",
        region="us-east-1",
        source_ip="::1",
        user_agent="tests",
        now=time.time(),
        principal=PRINCIPALS[1],
        keys=[key(ACCOUNT)],
    )
    entries = trail.entries(None)
    store = RecordingStore(entries)
    appended: list[str] = []
    writer = AuditWriter(
        store,  # type: ignore[arg-type]
        lambda tx, batch: appended.extend(e.checked().pending.event_id for e in batch),
    )
    writer.submit(entries).result(10)
    writer.close()
    assert store.ready_at_begin == [True]
    assert appended == [entries[0].call.event_id]
