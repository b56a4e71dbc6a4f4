"""The stored trail on SQLite and PostgreSQL: appends, seals, and tampering done
directly in SQL, each detected and named by the verifier."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from audit_support import pending, record, signer_in
from sqlalchemy import text

from openkms.audit.verify import AuditIntegrityError, VerifyReport
from openkms.cli.audit import check_store
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.audit import (
    Digest,
    PendingRecord,
    RecordIndexError,
    canonical_json,
    link_hash,
)
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = sqlite_url(str(tmp_path))
    else:
        url = request.getfixturevalue("postgres").create_database(f"audit_{uuid.uuid4().hex[:10]}")
    s = Store(make_engine(url))
    try:
        yield s
    finally:
        s.close()


KEYRING = SoftwareKeyring(new_root_key())


def append(store: Store, records: list[PendingRecord]) -> list[int]:
    with store.transaction(write=True) as tx:
        return trail.append_records(tx, records)


def seal(store: Store, kind: str = "seal") -> Digest | None:
    with store.transaction(write=True) as tx:
        return digest_store.seal_digest(tx, signer_in(tx, KEYRING), time.time(), kind=kind)


def sql(store: Store, statement: str, **params: object) -> list[tuple[Any, ...]]:
    with store.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def event_id(store: Store, seq: int) -> str:
    return sql(store, "SELECT event_id FROM audit_events WHERE seq = :s", s=seq)[0][0]


def filled(store: Store) -> Store:
    """Records 1..5 sealed by one digest, 6..8 sealed by a second."""
    append(store, [pending(i) for i in range(1, 4)])
    append(store, [pending(i) for i in range(4, 6)])
    seal(store)
    append(store, [pending(i) for i in range(6, 9)])
    seal(store)
    return store


def failure(store: Store) -> AuditIntegrityError:
    with pytest.raises(AuditIntegrityError) as err:
        check_store(store)
    return err.value


def test_append_read_seal_and_verify(store: Store) -> None:
    assert append(store, [pending(1), pending(2)]) == [1, 2]
    assert append(store, []) == []
    assert seal(store) is not None
    idle = seal(store)  # nothing new: an idle digest over an empty range
    assert idle is not None and (idle.number, idle.seq_from, idle.seq_to) == (2, 3, 2)
    assert append(store, [pending(3)]) == [3]
    with store.transaction() as tx:
        events = trail.read_chain(tx)
        digests = digest_store.read_digests(tx)
        assert trail.read_head(tx) == (3, events[-1].hash)
        assert trail.read_chain(tx, after_seq=1, limit=1)[0].seq == 2
        assert trail.seq_range(tx, pending(2).event_time, None) == (2, 3)
        assert trail.seq_range(tx, None, pending(1).event_time) == (1, 1)
        assert trail.seq_range(tx, pending(9).event_time, None) is None
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].record == canonical_json(json.loads(events[0].record)).decode()
    assert events[1].prev_hash == events[0].hash
    assert events[0].resources[0][1] == "AWS::KMS::Key"
    assert [(d.seq_from, d.seq_to) for d in digests] == [(1, 2), (3, 2)]
    report = check_store(store)
    assert isinstance(report, VerifyReport)
    assert (report.records, report.sealed_to, report.unsealed) == (3, 2, 1)


def test_append_rolls_back_with_its_transaction(store: Store) -> None:
    append(store, [pending(1)])
    with pytest.raises(RuntimeError), store.transaction(write=True) as tx:
        trail.append_records(tx, [pending(2)])
        raise RuntimeError("the operation failed")
    append(store, [pending(3)])
    seal(store)
    assert check_store(store).records == 2


def test_inconsistent_columns_are_refused(store: Store) -> None:
    p = pending(1)
    with pytest.raises(RecordIndexError):
        append(store, [PendingRecord(**{**p.__dict__, "account_id": "999999999999"})])
    assert check_store(store).records == 0


def test_concurrent_appends_form_one_chain(store: Store) -> None:
    def worker(base: int) -> None:
        for i in range(10):
            append(store, [pending(base + i), pending(base + 100 + i)])

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seal(store)
    assert check_store(store).records == 80


def test_changed_record(store: Store) -> None:
    filled(store)
    sql(
        store,
        "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Decrypt') WHERE seq = 3",
    )
    err = failure(store)
    assert (err.seq, err.event_id) == (3, event_id(store, 3))
    assert "changed" in str(err)


def test_changed_index_column(store: Store) -> None:
    filled(store)
    sql(store, "UPDATE audit_events SET event_name = 'ListKeys' WHERE seq = 7")
    err = failure(store)
    assert err.seq == 7 and "event_name" in str(err)


def test_deleted_record(store: Store) -> None:
    filled(store)
    sql(store, "DELETE FROM audit_events WHERE seq = 4")
    err = failure(store)
    assert err.seq == 4 and "removed" in str(err)


def test_deleted_tail_and_rolled_back_head(store: Store) -> None:
    filled(store)
    last = sql(store, "SELECT hash FROM audit_events WHERE seq = 6")[0][0]
    sql(store, "DELETE FROM audit_events WHERE seq > 6")
    sql(store, "UPDATE audit_chain_head SET seq = 6, hash = :h", h=last)
    err = failure(store)
    assert err.seq == 7 and "removed" in str(err)


def test_inserted_record(store: Store) -> None:
    filled(store)
    victim = event_id(store, 3)
    prev = sql(store, "SELECT hash FROM audit_events WHERE seq = 2")[0][0]
    for table in ("audit_events", "audit_resources"):
        sql(store, f"UPDATE {table} SET seq = seq + 1000 WHERE seq >= 3")
        sql(store, f"UPDATE {table} SET seq = seq - 999 WHERE seq >= 1000")
    forged = pending(99)
    body = canonical_json(forged.record)
    # A careful forger links the new record correctly to its predecessor ...
    sql(
        store,
        "INSERT INTO audit_events (seq, event_id, event_time, account_id, region, "
        "event_source, event_name, username, access_key_id, read_only, record, prev_hash, "
        "hash) VALUES (3, :eid, :t, :a, 'us-east-1', 'kms.amazonaws.com', 'Encrypt', 'root', "
        "'AKIAOPENKMSTESTROOT1', :ro, :r, :p, :h)",
        eid=forged.event_id,
        t=float(int(forged.event_time)),
        a=forged.account_id,
        ro=True,
        r=body.decode(),
        p=prev,
        h=link_hash(prev, 3, body),
    )
    sql(
        store,
        "INSERT INTO audit_resources VALUES (3, :n, 'AWS::KMS::Key')",
        n=forged.resources[0][0],
    )
    # ... but the record after it no longer links.
    err = failure(store)
    assert (err.seq, err.event_id) == (4, victim)
    assert "inserted" in str(err)


def test_appended_behind_the_head(store: Store) -> None:
    filled(store)
    prev = sql(store, "SELECT hash FROM audit_events WHERE seq = 8")[0][0]
    forged = pending(99)
    body = canonical_json(forged.record)
    sql(
        store,
        "INSERT INTO audit_events (seq, event_id, event_time, account_id, region, "
        "event_source, event_name, read_only, record, prev_hash, hash) VALUES "
        "(9, :eid, :t, :a, 'us-east-1', 'kms.amazonaws.com', 'Encrypt', :ro, :r, :p, :h)",
        eid=forged.event_id,
        t=forged.event_time,
        a=forged.account_id,
        ro=True,
        r=body.decode(),
        p=prev,
        h=link_hash(prev, 9, body),
    )
    # The verifier reads up to the head it saw first: the forged row is not part of the
    # verified trail, and the next append cannot reuse its seq.
    assert check_store(store).records == 8
    with pytest.raises(Exception):  # noqa: B017  (the driver's IntegrityError)
        append(store, [pending(10)])


def test_reordered_records(store: Store) -> None:
    filled(store)
    a, b = (sql(store, "SELECT record FROM audit_events WHERE seq = :s", s=s)[0][0] for s in (5, 6))
    sql(store, "UPDATE audit_events SET record = :r WHERE seq = 5", r=b)
    sql(store, "UPDATE audit_events SET record = :r WHERE seq = 6", r=a)
    err = failure(store)
    assert (err.seq, err.event_id) == (5, event_id(store, 5))


def test_rewritten_chain_is_caught_by_the_digest(store: Store) -> None:
    """A forger who changes record 2 and recomputes every later hash and the head
    cannot forge the digest's signature."""
    filled(store)
    rows = sql(store, "SELECT seq, record, prev_hash FROM audit_events ORDER BY seq")
    prev = rows[0][2]
    for seq, body, _ in rows:
        if seq == 2:
            body = body.replace("Encrypt", "Decrypt")
            sql(store, "UPDATE audit_events SET event_name = 'Decrypt' WHERE seq = 2")
        h = link_hash(prev, seq, body.encode())
        sql(
            store,
            "UPDATE audit_events SET record = :r, prev_hash = :p, hash = :h WHERE seq = :s",
            r=body,
            p=prev,
            h=h,
            s=seq,
        )
        prev = h
    sql(store, "UPDATE audit_chain_head SET hash = :h", h=prev)
    err = failure(store)
    assert err.seq == 5 and "signed digest" in str(err)


def test_corrupted_digest_signature(store: Store) -> None:
    filled(store)
    sig = sql(store, "SELECT signature FROM audit_digests WHERE seq_to = 8")[0][0]
    flipped = ("0" if sig[10] != "0" else "1").join((sig[:10], sig[11:]))
    sql(store, "UPDATE audit_digests SET signature = :s WHERE seq_to = 8", s=flipped)
    err = failure(store)
    assert err.seq == 6 and "signature" in str(err)


def test_removed_digest(store: Store) -> None:
    filled(store)
    sql(store, "DELETE FROM audit_digests WHERE seq_to = 5")
    err = failure(store)
    assert err.seq == 6 and "digest" in str(err)


def test_record_helper_is_consistent() -> None:
    assert record(1)["eventID"] != record(1)["eventID"]
