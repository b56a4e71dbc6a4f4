"""Tampering with the stored audit trail by someone who can write the database but holds
neither the root key nor the digest directory (issue 13, items 1-5), on SQLite and
PostgreSQL. Each attack passed ``openkms audit verify`` before the digest chain was
numbered and scheduled, the index columns derived, and the signing key pinned.

The trail is built through the storage layer with digests signed at chosen times, so
the schedule checks run against a chosen clock (no test waits for one).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))

from audit_support import pending, signer_in

from openkms.audit.digest import GAP_BOUND, IDLE_INTERVAL, SEAL_INTERVAL, SEAL_RECORDS
from openkms.audit.digest_files import read_digest_files, write_digest
from openkms.audit.verify import AuditIntegrityError, VerifyReport
from openkms.cli.audit import check_store
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.crypto.signing import SigningKeyMissingError
from openkms.domain.audit import Digest, link_hash
from openkms.service.audit_sealer import (
    Sealer,
    _due,
    prepare_signing_key,
    rotate_signing_key,
)
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store

KEYRING = SoftwareKeyring(new_root_key())
#: The trail's digests are signed from T0 on (an hour ago).
T0 = time.time() - 3600


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = sqlite_url(str(tmp_path))
    else:
        url = request.getfixturevalue("postgres").create_database(f"tamper_{uuid.uuid4().hex[:10]}")
    s = Store(make_engine(url))
    try:
        yield s
    finally:
        s.close()


def append(store: Store, first: int, last: int) -> None:
    with store.transaction(write=True) as tx:
        trail.append_records(tx, [pending(i) for i in range(first, last + 1)])


def seal(store: Store, at: float, kind: str = "seal", keyring: Any = KEYRING) -> Digest:
    with store.transaction(write=True) as tx:
        digest = digest_store.seal_digest(tx, signer_in(tx, keyring), at, kind=kind)
    assert digest is not None
    return digest


def sql(store: Store, statement: str, **params: object) -> list[tuple[Any, ...]]:
    with store.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def built(store: Store) -> Store:
    """Digest 1 (start) at T0; records 1..4 sealed by digest 2 at T0+5; digest 3 idle at
    T0+65; records 5..8 by digest 4 at T0+70; records 9..12 by digest 5 at T0+75."""
    seal(store, T0, "start")
    append(store, 1, 4)
    seal(store, T0 + 5)
    seal(store, T0 + 65)
    append(store, 5, 8)
    seal(store, T0 + 70)
    append(store, 9, 12)
    seal(store, T0 + 75)
    return store


def verify(store: Store, at: float = T0 + 80, **options: Any) -> VerifyReport:
    return check_store(store, now=at, **options)


def caught(store: Store, at: float = T0 + 80, **options: Any) -> AuditIntegrityError:
    with pytest.raises(AuditIntegrityError) as err:
        verify(store, at, **options)
    return err.value


def copy_digests(store: Store, directory: Path) -> None:
    """What ``serve --audit-digest-dir`` keeps: every digest, outside the database."""
    with store.transaction() as tx:
        keys = digest_store.signing_keys(tx)
        for digest in digest_store.read_digests(tx):
            write_digest(str(directory), digest, keys[digest.key_fingerprint or ""])


def cut_tail(store: Store, after_seq: int, after_digest: int) -> None:
    """Delete the records after ``after_seq`` and the digests after ``after_digest``, and
    move the chain head back: nothing left in the database shows the cut."""
    last = sql(store, "SELECT hash FROM audit_events WHERE seq = :s", s=after_seq)[0][0]
    sql(store, "DELETE FROM audit_events WHERE seq > :s", s=after_seq)
    sql(store, "DELETE FROM audit_resources WHERE seq > :s", s=after_seq)
    sql(store, "DELETE FROM audit_digests WHERE number > :n", n=after_digest)
    sql(store, "UPDATE audit_chain_head SET seq = :s, hash = :h", s=after_seq, h=last)


def rechain(store: Store) -> None:
    """Recompute every record's hash and the head (what a forger does after an edit)."""
    prev = "0" * 64
    for seq, body in sql(store, "SELECT seq, record FROM audit_events ORDER BY seq"):
        digest = link_hash(prev, seq, body.encode())
        sql(
            store,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=seq,
        )
        prev = digest
    sql(
        store,
        "UPDATE audit_chain_head SET seq = (SELECT max(seq) FROM audit_events), hash = :h",
        h=prev,
    )


def test_the_built_trail_verifies(store: Store) -> None:
    report = verify(built(store))
    assert (report.records, report.digests, report.sealed_to) == (12, 5, 12)
    assert "0 records, 5 seconds unsealed" in report.summary()


# -- 1. tail truncation -----------------------------------------------------------------
def test_tail_cut_while_running_shows_as_a_gap_before_the_next_digest(store: Store) -> None:
    built(store)
    cut_tail(store, after_seq=4, after_digest=2)
    # The server, unaware, signs its next digest on schedule: the chain now jumps from
    # T0+5 to T0+200, more than the schedule allows.
    seal(store, T0 + 5 + GAP_BOUND + 45)
    err = caught(store, at=T0 + 5 + GAP_BOUND + 50)
    assert "digest 3 (seal, records 5..4)" in str(err) and "were removed" in str(err)


def test_tail_cut_then_left_alone_shows_as_a_stale_newest_digest(store: Store) -> None:
    built(store)
    cut_tail(store, after_seq=4, after_digest=2)
    err = caught(store, at=T0 + 5 + GAP_BOUND + 1)
    assert "newest digest (2, seal" in str(err) and "were removed" in str(err)


def test_tail_cut_is_caught_at_once_by_the_digest_directory(store: Store, tmp_path: Path) -> None:
    built(store)
    copy_digests(store, tmp_path / "digests")
    assert verify(store, digests_from=str(tmp_path / "digests")).external == 5
    cut_tail(store, after_seq=8, after_digest=4)
    verify(store)  # within the schedule, the database alone cannot tell
    err = caught(store, digests_from=str(tmp_path / "digests"))
    assert "digests 5..5 are in the external copy but not in the database" in str(err)


def test_rewritten_digests_differ_from_the_directory(store: Store, tmp_path: Path) -> None:
    built(store)
    copy_digests(store, tmp_path / "digests")
    cut_tail(store, after_seq=8, after_digest=4)
    append(store, 13, 14)  # the trail goes on; digest 5 is signed again over other records
    seal(store, T0 + 76)
    err = caught(store, digests_from=str(tmp_path / "digests"))
    assert "digest 5 in the database differs from the external copy" in str(err)


def test_a_crash_leaves_no_tail_unsealed_past_the_next_start(store: Store) -> None:
    prepare_signing_key(store, KEYRING)
    Sealer(store, KEYRING).start()
    append(store, 1, 5)  # then kill -9: no stop digest
    sealer = Sealer(store, KEYRING)
    digest = sealer.start()  # the next start
    assert digest is not None and (digest.kind, digest.seq_from, digest.seq_to) == ("start", 1, 5)
    assert check_store(store, now=time.time()).unsealed == 0


def test_writers_sharing_a_database_sign_one_schedule(store: Store) -> None:
    prepare_signing_key(store, KEYRING)
    first, second = Sealer(store, KEYRING), Sealer(store, KEYRING)
    first.start()
    second.start()
    append(store, 1, 3)
    for sealer in (first, second, first, second):
        sealer._next_check = 0.0  # as if its check interval had passed
        sealer.seal_if_due()
    with store.transaction() as tx:
        kinds = [d.kind for d in digest_store.read_digests(tx)]
    assert kinds == ["start", "start"]  # records 0 s after the newest digest: none due


def test_when_a_digest_is_due() -> None:
    def newest(seq_to: int, age: float) -> Digest:
        return Digest(1, seq_to, 1000.0 - age, "0" * 64, None, "00", 0.0, number=1, version=2)

    due = _due(1000.0)
    assert due(None, 0)  # no digest yet
    assert not due(newest(5, SEAL_INTERVAL - 1), 6)  # a record, but a digest just now
    assert due(newest(5, SEAL_INTERVAL), 6)  # a record, and the interval has passed
    assert due(newest(5, 0), 5 + SEAL_RECORDS)  # many records
    assert not due(newest(5, IDLE_INTERVAL - 1), 5)  # idle
    assert due(newest(5, IDLE_INTERVAL), 5)  # idle for the idle interval


def test_a_clean_stop_ends_the_schedule(store: Store) -> None:
    built(store)
    seal(store, T0 + 76, "stop")
    verify(store, at=T0 + 10_000)  # no server since: the trail ends with its stop
    append(store, 13, 13)  # a record after the stop, and no digest since
    err = caught(store, at=T0 + 10_000)
    assert "1 records follow it unsealed" in str(err)


def test_a_restart_after_a_pause_is_reported_not_failed(store: Store) -> None:
    built(store)
    seal(store, T0 + 1000, "start")  # a start after 925 s without digests (a crash)
    report = verify(store, at=T0 + 1001)
    assert report.pauses[0].number == 6 and not report.pauses[0].clean
    assert "digest 6 (start) resumed 925 s after the one before" in report.summary()


def test_digest_files_are_written_once_and_never_replaced(store: Store, tmp_path: Path) -> None:
    built(store)
    directory = tmp_path / "digests"
    copy_digests(store, directory)
    copy_digests(store, directory)  # the same digests again: nothing changes
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    assert [p.name for p in files] == [f"{n:020d}.json" for n in range(1, 6)]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files)
    digests, keys = read_digest_files(str(directory))
    assert [d.number for d in digests] == [1, 2, 3, 4, 5] and len(keys) == 1


def test_the_sealer_copies_new_digests_to_the_directory(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "digests"
    prepare_signing_key(store, KEYRING)
    sealer = Sealer(store, KEYRING, digest_dir=str(directory))
    sealer.start()
    append(store, 1, 2)
    sealer.stop()
    digests, _ = read_digest_files(str(directory))
    assert [(d.number, d.kind, d.seq_to) for d in digests] == [(1, "start", 0), (2, "stop", 2)]
    verify(store, at=time.time(), digests_from=str(directory))


# -- 2. no digests ---------------------------------------------------------------------
def test_every_digest_deleted(store: Store) -> None:
    built(store)
    sql(store, "DELETE FROM audit_digests")
    err = caught(store)
    assert err.seq == 1 and "sealed by no digest" in str(err)


def test_the_first_digests_deleted(store: Store) -> None:
    built(store)
    sql(store, "DELETE FROM audit_digests WHERE number <= 2")
    assert "digests 1..2 were removed" in str(caught(store))


def test_the_whole_trail_deleted(store: Store) -> None:
    built(store)
    for table in ("audit_digests", "audit_resources", "audit_events", "audit_chain_head"):
        sql(store, f"DELETE FROM {table}")
    err = caught(store)
    assert "the trail is empty, but the database shows records were written" in str(err)


def test_an_empty_new_trail_verifies(store: Store) -> None:
    assert verify(store).records == 0


# -- 3. a replaced signing key ---------------------------------------------------------
def test_a_deleted_signing_key_is_not_made_again(store: Store) -> None:
    built(store)
    sql(store, "DELETE FROM openkms_meta WHERE name LIKE 'audit_signing%'")
    with pytest.raises(SigningKeyMissingError):
        prepare_signing_key(store, KEYRING)


def test_history_resigned_with_a_new_key_fails_the_expected_fingerprint(store: Store) -> None:
    built(store)
    (original,) = verify(store).keys
    # Everything audit-related goes, and the trail is forged and signed anew by a key
    # whoever holds the root key made (the next start would make one on an empty trail).
    sql(store, "DELETE FROM openkms_meta WHERE name LIKE 'audit_signing%'")
    sql(store, "DELETE FROM audit_signing_keys")
    sql(store, "DELETE FROM audit_digests")
    sql(store, "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Decrypt'), "
               "event_name = 'Decrypt' WHERE seq = 3")  # fmt: skip
    rechain(store)
    seal(store, T0 + 79, "start", keyring=SoftwareKeyring(new_root_key()))
    verify(store)  # on its own the forged trail is consistent ...
    err = caught(store, trusted=frozenset({original}))  # ... but not signed by the key
    assert "not a trusted fingerprint" in str(err)


def test_a_key_changed_without_endorsement_fails(store: Store) -> None:
    built(store)
    # The attacker cannot sign with the old key, so a new key signs from digest 6 on.
    sql(store, "DELETE FROM openkms_meta WHERE name LIKE 'audit_signing%'")
    seal(store, T0 + 78, keyring=SoftwareKeyring(new_root_key()))
    err = caught(store)
    assert "no rotation digest signed by that key endorses the new one" in str(err)


def test_rotation_is_endorsed_by_the_old_key(store: Store) -> None:
    built(store)
    (old,) = verify(store).keys
    rotation = rotate_signing_key(store, KEYRING)
    assert rotation.old_fingerprint == old and rotation.digest is not None
    assert rotation.digest.kind == "rotate"
    sealer = Sealer(store, KEYRING)
    sealer.start()  # a running writer takes the new key up
    report = verify(store, at=time.time(), trusted=frozenset({old}))
    assert report.keys == (old, rotation.new_fingerprint)
    with store.transaction() as tx:
        newest = digest_store.last_digest(tx)
    assert newest is not None and newest.key_fingerprint == rotation.new_fingerprint


def test_a_replaced_lost_key_verifies_only_when_trusted(store: Store) -> None:
    built(store)
    (old,) = verify(store).keys
    sql(store, "DELETE FROM openkms_meta WHERE name LIKE 'audit_signing%'")
    rotation = rotate_signing_key(store, KEYRING, replace_lost=True)
    assert rotation.digest is not None and rotation.digest.kind == "rekey"
    at = rotation.digest.end_time + 1
    assert "endorses the new one" in str(caught(store, at=at))
    trusted = frozenset({old, rotation.new_fingerprint})
    assert verify(store, at=at, trusted=trusted).keys == (old, rotation.new_fingerprint)


# -- 4. index columns -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE audit_events SET username = 'someone-else' WHERE seq = 4", "username"),
        ("UPDATE audit_events SET username = NULL WHERE seq = 4", "username"),
        ("UPDATE audit_events SET event_time = event_time + 0.5 WHERE seq = 4", "event_time"),
        ("UPDATE audit_events SET access_key_id = 'AKIAOTHER' WHERE seq = 4", "access_key_id"),
        ("UPDATE audit_events SET error_code = 'AccessDenied' WHERE seq = 4", "error_code"),
        (
            "UPDATE audit_resources SET resource_type = 'AWS::S3::Bucket' WHERE seq = 4",
            "resource_type",
        ),
        ("DELETE FROM audit_resources WHERE seq = 4", "resources"),
        (
            "INSERT INTO audit_resources VALUES (4, 'arn:aws:kms:us-east-1:111122223333:key/x', "
            "'AWS::KMS::Key')",
            "resources",
        ),
    ],
)
def test_every_index_column_is_checked_exactly(store: Store, statement: str, named: str) -> None:
    built(store)
    sql(store, statement)
    err = caught(store)
    assert err.seq == 4 and named in str(err)


def test_stored_event_time_is_the_records_whole_second(store: Store) -> None:
    with store.transaction(write=True) as tx:
        trail.append_records(
            tx, [dataclasses.replace(pending(1), event_time=pending(1).event_time + 0.25)]
        )
    ((stored,),) = sql(store, "SELECT event_time FROM audit_events WHERE seq = 1")
    assert stored == pending(1).event_time  # BASE_TIME + 1, whole


# -- 5. the unsealed window ------------------------------------------------------------
def test_edits_after_the_newest_digest_are_reported_as_the_unsealed_window(
    store: Store,
) -> None:
    built(store)
    append(store, 13, 15)
    sql(store, "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Decrypt'), "
               "event_name = 'Decrypt' WHERE seq = 14")  # fmt: skip
    rechain(store)
    # Within the schedule the edit cannot be told apart: the window is what verify
    # names, so an operator sees what is exposed (and it is sealed seconds later).
    report = verify(store, at=T0 + 79)
    assert "3 records, 4 seconds unsealed (from seq 13)" in report.summary()
    # Past the schedule, an unsealed window is an error, not a report.
    assert "3 records follow it unsealed" in str(caught(store, at=T0 + 75 + GAP_BOUND + 1))


def test_sealing_the_window_catches_a_later_edit(store: Store) -> None:
    built(store)
    append(store, 13, 15)
    seal(store, T0 + 80)
    sql(store, "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Decrypt'), "
               "event_name = 'Decrypt' WHERE seq = 14")  # fmt: skip
    rechain(store)
    err = caught(store, at=T0 + 81)
    assert err.seq == 15 and "signed digest 6" in str(err)


def test_schedule_constants_are_consistent() -> None:
    assert 0 < SEAL_INTERVAL < IDLE_INTERVAL < GAP_BOUND


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("UPDATE audit_digests SET version = 99 WHERE number = 2", "unknown digest version 99"),
        ("UPDATE audit_digests SET kind = 'bogus' WHERE number = 2", "unknown kind 'bogus'"),
        ("UPDATE audit_digests SET seq_from = seq_to + 1 WHERE number = 2", "does not follow"),
        ("UPDATE audit_digests SET seq_from = seq_from + 1 WHERE number = 3", "range is reversed"),
        (
            "UPDATE audit_digests SET previous_signature = 'AAAA' WHERE number = 3",
            "does not name the previous digest's signature",
        ),
        (
            "UPDATE audit_digests SET previous_signature = 'AAAA' WHERE number = 1",
            "the first digest names a previous digest",
        ),
        (
            "UPDATE audit_digests SET key_fingerprint = 'ab' WHERE number = 2",
            "is not stored, so it cannot be checked",
        ),
    ],
)
def test_each_field_of_a_digest_is_checked(store: Store, change: str, found: str) -> None:
    """A digest's own fields are checked before (and besides) its signature, so that
    verify says what was changed."""
    built(store)
    sql(store, change)
    assert found in str(caught(store))
