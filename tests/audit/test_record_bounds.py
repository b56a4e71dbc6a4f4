"""Audit records are bounded before they reach the trail, and one record the database
refuses fails only its own request (issue 10, defects 3 and 4)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from audit_support import record

from openkms.audit import bounds
from openkms.audit.records import AuditedCall, cloudtrail_record
from openkms.domain.audit import PendingRecord
from openkms.domain.principals import Principal
from openkms.server.bootstrap import append_audit_entries
from openkms.service.audit_trail import AuditWriter, Entry, RequestTrail
from openkms.storage.audit import trail
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def hostile_call(**extra: Any) -> AuditedCall:
    fields: dict[str, Any] = dict(
        request_id="r" * 5000,
        event_id=str(uuid.uuid4()),
        event_time=1_764_400_000.0,
        event_source="kms.amazonaws.com",
        event_name="TrentService." + "A" * 100,
        region="x" * 40,
        source_ip="1" * 500,
        user_agent="U" * (8 << 20),
        principal=Principal.root(ACCOUNT, "AKIA" + "Z" * 5000),
        request={"KeyId": "alias/a", "Description": "d" * 200_000},
        response=None,
        error_code="E" * 500,
        error_message="m\x00" * 10_000,
        resources=((ACCOUNT, KEY),),
    )
    fields.update(extra)
    return AuditedCall(**fields)


def test_every_field_of_a_hostile_call_is_bounded() -> None:
    rec = cloudtrail_record(hostile_call(), ACCOUNT, None)
    assert rec["eventName"] == bounds.UNKNOWN_OPERATION
    assert rec["awsRegion"] == bounds.INVALID_REGION
    assert len(rec["userAgent"]) == bounds.USER_AGENT == 1024
    assert len(rec["sourceIPAddress"]) == bounds.SOURCE_IP
    assert len(rec["requestID"]) == bounds.REQUEST_ID
    assert len(rec["userIdentity"]["accessKeyId"]) == bounds.ACCESS_KEY_ID
    assert len(rec["errorCode"]) == bounds.ERROR_CODE
    assert len(rec["errorMessage"]) == bounds.ERROR_MESSAGE and "\x00" not in rec["errorMessage"]
    # requestParameters over 100 kB are omitted, and the record says so.
    assert rec["requestParameters"] is None
    assert rec["additionalEventData"] == {"omittedElements": ["requestParameters"]}
    # The record fits every column it is indexed by (what PostgreSQL enforces).
    trail._check_widths(PendingRecord.from_record(rec, event_time=1_764_400_000.0))
    assert len(str(rec)) < 8 * 1024


def test_ordinary_records_are_unchanged() -> None:
    call = hostile_call(
        request_id="req-1",
        event_name="Encrypt",
        region="us-gov-west-1",
        source_ip="::1",
        user_agent="Boto3/1.35 md/Botocore#1.35",
        principal=Principal.root(ACCOUNT, "AKIA1"),
        request={"KeyId": "alias/a", "EncryptionContext": {"k": "v\nw"}},
        error_code="AccessDeniedException",
        error_message="User: arn:... is not authorized",
    )
    rec = cloudtrail_record(call, ACCOUNT, None)
    assert (rec["eventName"], rec["awsRegion"], rec["sourceIPAddress"]) == (
        "Encrypt",
        "us-gov-west-1",
        "::1",
    )
    assert rec["userAgent"] == "Boto3/1.35 md/Botocore#1.35"
    assert rec["requestParameters"] == {"keyId": "alias/a", "encryptionContext": {"k": "v\nw"}}
    assert rec["errorMessage"] == "User: arn:... is not authorized"
    assert "additionalEventData" not in rec


def test_odd_elements_are_rendered_and_oversized_ones_omitted() -> None:
    rec = cloudtrail_record(
        hostile_call(event_name="ListKeys", request={"Tags": [b"raw", {1, 2}]}), ACCOUNT, None
    )
    assert rec["requestParameters"] == {"tags": ["{1, 2}"]}  # bytes dropped, a set as text
    assert "additionalEventData" not in rec
    big = cloudtrail_record(
        hostile_call(event_name="ListKeys", request={"Description": "x" * 200_000}), ACCOUNT, None
    )
    assert big["requestParameters"] is None
    assert big["additionalEventData"] == {"omittedElements": ["requestParameters"]}


@pytest.mark.parametrize("name", ["", "TrentService.Encrypt", "Encrypt;DROP", "A" * 65, "1abc"])
def test_names_that_are_not_action_names_become_unknown_operation(name: str) -> None:
    assert bounds.event_name(name) == bounds.UNKNOWN_OPERATION


# -- AuditWriter: a failing record fails only its own request ----------------------------------


def entries(name: str) -> list[Entry]:
    trail_ = RequestTrail(
        request_id=str(uuid.uuid4()),
        event_source="kms.amazonaws.com",
        event_name=name,
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="tests",
        now=time.time(),
        principal=Principal.root(ACCOUNT, "AKIAOPENKMSTESTROOT1"),
    )
    return trail_.entries(None)


class GatedStore:
    """Stands in for the store: the first transaction waits until the test opens the
    gate, so that the next submissions queue up and are committed as one batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.calls = 0

    @contextmanager
    def transaction(self, *, write: bool = False, changes_state: bool = True) -> Iterator[object]:
        assert not changes_state  # audit appends leave the read cache valid
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.gate.wait(10)
        yield object()


def test_a_refused_record_fails_only_its_own_request() -> None:
    store = GatedStore()
    batches: list[list[str]] = []

    def appender(tx: object, batch: Sequence[Entry]) -> None:
        names = [e.record["eventName"] for e in batch]
        batches.append(names)
        if "DisableKey" in names:  # stands in for a value the database refuses
            raise RuntimeError("value too long for type character varying(64)")

    writer = AuditWriter(store, appender)  # type: ignore[arg-type]
    first = writer.submit(entries("Encrypt"))
    assert store.entered.wait(10)
    waiting = [writer.submit(entries(name)) for name in ("Decrypt", "DisableKey", "Encrypt")]
    store.gate.set()
    first.result(10)
    assert waiting[0].result(10) is None and waiting[2].result(10) is None
    with pytest.raises(RuntimeError):
        waiting[1].result(10)
    # The three were tried as one batch, then one by one.
    assert batches[1] == ["Decrypt", "DisableKey", "Encrypt"]
    assert sorted(map(tuple, batches[2:])) == [("Decrypt",), ("DisableKey",), ("Encrypt",)]
    writer.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    if request.param == "sqlite":
        url = sqlite_url(str(tmp_path))
    else:
        url = request.getfixturevalue("postgres").create_database(f"bounds_{uuid.uuid4().hex[:10]}")
    s = Store(make_engine(url))
    try:
        yield s
    finally:
        s.close()


def test_an_over_wide_record_on_the_real_store_fails_alone(store: Store) -> None:
    """The database (PostgreSQL) or the width check (SQLite) refuses a record built
    without the bounds; the requests batched with it are stored."""
    good = [entries("Encrypt") for _ in range(5)]
    raw = record(99, name="X" * 100)  # as the old record builder wrote it
    bad = [Entry(raw, good[0][0].call, ACCOUNT)]
    writer = AuditWriter(store, append_audit_entries, inline=True)
    # Inline submission commits one request at a time; hand _commit a batch directly.
    batch: list[tuple[Sequence[Entry], Future[None]]] = [
        (e, Future()) for e in (*good[:2], bad, *good[2:])
    ]
    writer._commit(batch)
    outcomes = [done for _, done in batch]
    assert [f.exception() is None for f in outcomes] == [True, True, False, True, True, True]
    with store.transaction() as tx:
        stored = trail.read_chain(tx)
    assert len(stored) == 5 and all(e.event_name == "Encrypt" for e in stored)
