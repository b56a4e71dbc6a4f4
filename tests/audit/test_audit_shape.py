"""Migration 0013 (the audit tables' physical shape): a trail written before it keeps every
row and still verifies after it, on SQLite and PostgreSQL; on SQLite ``seq`` is the rowid
and ``audit_resources`` has none; GetKeyLastUsage reads a key's newest qualifying
record."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from audit_support import pending, record, signer_in, start_trail
from sqlalchemy import create_engine, inspect, text

from openkms.cli.audit import check_store
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.audit import PendingRecord, StoredEvent
from openkms.storage import migrate
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail, usage
from openkms.storage.engine import (
    Timeouts,
    _postgres_engine,
    _sqlite_engine,
    make_engine,
    sqlite_url,
)
from openkms.storage.repository import Store

KEYRING = SoftwareKeyring(new_root_key())


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path))
    else:
        yield request.getfixturevalue("postgres").create_database(f"shape_{uuid.uuid4().hex[:10]}")


def _plain(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgres") else url


def _store_without_migrating(url: str) -> Store:
    """A store on the database as it is (make_engine would bring it to the newest schema)."""
    if url.startswith("sqlite"):
        return Store(_sqlite_engine(url, 4, Timeouts()))
    return Store(_postgres_engine(_plain(url), 4, Timeouts(), [False]))


def _downgrade(url: str, revision: str) -> None:
    engine = create_engine(_plain(url))
    try:
        with engine.begin() as conn:
            command.downgrade(migrate._config(conn), revision)
    finally:
        engine.dispose()


def _append(store: Store, records: list[PendingRecord]) -> None:
    with store.transaction(write=True) as tx:
        trail.append_records(tx, records)


def _seal(store: Store) -> None:
    with store.transaction(write=True) as tx:
        digest_store.seal_digest(tx, signer_in(tx, KEYRING), time.time())


def _two_keys(i: int) -> PendingRecord:
    """A record naming two keys (resources sorted by name in the index)."""
    body = record(i)
    body["resources"] = [
        {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": f"arn:k/{i}-{n}"}
        for n in ("b", "a")
    ]
    return PendingRecord.from_record(body)


def _chain(store: Store) -> list[StoredEvent]:
    with store.transaction() as tx:
        return trail.read_chain(tx, limit=10_000)


def test_a_trail_written_before_0013_keeps_its_rows_and_verifies(url: str) -> None:
    store = Store(make_engine(url))
    start_trail(store, KEYRING)
    _append(store, [pending(i) for i in range(1, 6)])
    _seal(store)
    store.close()

    _downgrade(url, "0012")
    engine = create_engine(_plain(url))
    with engine.connect() as conn:
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("audit_events")}
    engine.dispose()
    assert "ix_audit_events_account_name" in indexes  # really the shape before
    old = _store_without_migrating(url)
    try:
        _append(old, [_two_keys(6), pending(7, name="Decrypt")])
        _append(old, [pending(i) for i in range(8, 12)])
        _seal(old)
        _append(old, [pending(12)])  # not sealed yet
        assert check_store(old).records == 12
        before = _chain(old)
    finally:
        old.close()

    store = Store(make_engine(url))  # upgrades to 0013
    try:
        after = _chain(store)
        assert after == before
        assert after[5].resources == (
            ("arn:k/6-a", "AWS::KMS::Key"),
            ("arn:k/6-b", "AWS::KMS::Key"),
        )
        report = check_store(store)
        assert (report.records, report.unsealed) == (12, 1)
        _append(store, [pending(13)])  # and the chain goes on from its head
        assert check_store(store).records == 13
        if url.startswith("sqlite"):
            with store.engine.connect() as conn:
                shapes: dict[str, str] = dict(
                    conn.execute(
                        text(
                            "SELECT name, sql FROM sqlite_master WHERE name IN "
                            "('audit_events', 'audit_resources')"
                        )
                    ).all()
                )
                rowids = conn.execute(text("SELECT count(*) FROM audit_events WHERE rowid = seq"))
                assert rowids.scalar() == 13
            assert "seq INTEGER NOT NULL" in shapes["audit_events"]
            assert shapes["audit_resources"].rstrip().endswith("WITHOUT ROWID")
    finally:
        store.close()


def test_key_last_usage_is_the_newest_successful_tracked_use(tmp_path) -> None:
    store = Store(make_engine(sqlite_url(str(tmp_path))))
    try:
        arn = pending(1).resources[0][0]  # every record below names the key of record 1
        names = ["Encrypt", "Decrypt", "CreateAlias", "Decrypt"]
        records = []
        for i, name in enumerate(names, start=1):
            body = record(1, name=name)
            body["eventID"] = str(uuid.uuid4())
            if i == 4:
                body["errorCode"] = "AccessDeniedException"
            records.append(PendingRecord.from_record(body))
        _append(store, records)
        with store.transaction() as tx:
            found = usage.last_use(tx, arn, "111122223333")
            assert usage.last_use(tx, arn, "444455556666") is None
            assert usage.last_use(tx, "arn:never-used", "111122223333") is None
        # Not the failed Decrypt, nor CreateAlias (not tracked): the Decrypt before them.
        assert found is not None
        assert (found["Operation"], found["CloudTrailEventId"]) == ("Decrypt", records[1].event_id)
    finally:
        store.close()
