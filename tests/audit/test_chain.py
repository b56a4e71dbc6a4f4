"""The pure core: canonical JSON, link hashes, digest messages, the verifier."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import pytest
from audit_support import pending

from openkms.audit.chain import GENESIS, canonical_json, link_hash
from openkms.audit.digest import digest_message
from openkms.audit.verify import AuditIntegrityError, ChainVerifier
from openkms.crypto.signing import generate_signing_key, sign, verify
from openkms.domain.audit import (
    Digest,
    PendingRecord,
    RecordIndexError,
    SignatureError,
    StoredEvent,
    check_pending,
    digest_message_v2,
    key_fingerprint,
    link_hashes,
)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"é": [1, None]}}) == '{"a":{"é":[1,null]},"b":1}'.encode()


def test_link_hash_known_answer_and_unambiguous() -> None:
    expected = hashlib.sha256(
        b"openkms-audit-chain/1\x00"
        + bytes(32)
        + (1).to_bytes(8, "big")
        + (2).to_bytes(8, "big")
        + b"{}"
    ).hexdigest()
    assert link_hash(GENESIS, 1, b"{}") == expected
    assert link_hash(GENESIS, 1, b"{}") != link_hash(GENESIS, 2, b"{}")
    assert link_hash(GENESIS, 1, b"{}") != link_hash("1" * 64, 1, b"{}")
    with pytest.raises(ValueError):
        link_hash("00", 1, b"{}")
    with pytest.raises(ValueError):
        link_hash(GENESIS, 0, b"{}")


def test_link_hashes_are_link_hash_chained() -> None:
    texts = [b"{}", b'{"a":1}', "é".encode()]
    prev, chained = "ab" * 32, []
    for seq, text in enumerate(texts, 41):
        prev = link_hash(prev, seq, text)
        chained.append(prev)
    assert link_hashes("ab" * 32, 41, texts) == chained
    assert link_hashes(GENESIS, 1, []) == []
    with pytest.raises(ValueError):
        link_hashes("00", 1, texts)
    with pytest.raises(ValueError):
        link_hashes(GENESIS, 0, texts)
    with pytest.raises(ValueError):
        link_hashes(GENESIS, 2**63 - 2, texts)


def test_digest_message_binds_every_field() -> None:
    base = digest_message(1, 5, 10.5, "a" * 64, None)
    assert base.endswith(b"\nnull")
    variants = [
        digest_message(2, 5, 10.5, "a" * 64, None),
        digest_message(1, 6, 10.5, "a" * 64, None),
        digest_message(1, 5, 10.25, "a" * 64, None),
        digest_message(1, 5, 10.5, "b" * 64, None),
        digest_message(1, 5, 10.5, "a" * 64, "00"),
    ]
    assert len({base, *variants}) == 6


def test_pending_record_from_record_and_column_checks() -> None:
    p = pending(1)
    assert (p.event_name, p.account_id, p.username, p.access_key_id) == (
        "Encrypt",
        "111122223333",
        "root",
        "AKIAOPENKMSTESTROOT1",
    )
    assert p.resources[0][1] == "AWS::KMS::Key"
    check_pending(p)
    bad = PendingRecord(**{**p.__dict__, "event_name": "Decrypt"})
    with pytest.raises(RecordIndexError, match="event_name"):
        check_pending(bad)
    hidden = PendingRecord(**{**p.__dict__, "resources": ()})
    with pytest.raises(RecordIndexError, match="resource"):
        check_pending(hidden)


def test_signing_round_trip_and_rejection() -> None:
    private, public = generate_signing_key()
    signature = sign(private, b"message")
    verify(public, b"message", signature)
    with pytest.raises(SignatureError):
        verify(public, b"messagE", signature)
    with pytest.raises(SignatureError):
        verify(public, b"message", bytes(len(signature)))


def _chain(n: int) -> list[StoredEvent]:
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        p = pending(i)
        text = canonical_json(p.record)
        h = link_hash(prev, i, text)
        events.append(
            StoredEvent(
                seq=i,
                event_id=p.event_id,
                event_time=p.event_time,
                account_id=p.account_id,
                region=p.region,
                event_source=p.event_source,
                event_name=p.event_name,
                username=p.username,
                access_key_id=p.access_key_id,
                read_only=p.read_only,
                error_code=p.error_code,
                record=text.decode(),
                prev_hash=prev,
                hash=h,
                resources=p.resources,
            )
        )
        prev = h
    return events


def _run(
    events: list[StoredEvent],
    digests: Sequence[Digest] = (),
    key: bytes | None = None,
    head: tuple[int, str] | None = None,
) -> None:
    keys = {} if key is None else {key_fingerprint(key): key}
    v = ChainVerifier(list(digests), keys, verify)
    for e in events:
        v.add(e)
    v.finish(head)


def _sealed(
    private: bytes,
    public: bytes,
    seq_to: int,
    last_hash: str,
    *,
    number: int = 1,
    seq_from: int = 1,
    previous: Digest | None = None,
    kind: str = "seal",
    at: float = 9.0,
) -> Digest:
    fp = key_fingerprint(public)
    link = None if previous is None else previous.link()
    msg = digest_message_v2(number, kind, seq_from, seq_to, at, last_hash, link, fp, None)
    return Digest(
        seq_from, seq_to, at, last_hash, link, sign(private, msg).hex(), at,
        number=number, version=2, kind=kind, key_fingerprint=fp,
    )  # fmt: skip


def test_verifier_accepts_intact_and_names_first_bad_record() -> None:
    events = _chain(5)
    private, public = generate_signing_key()
    _run(events, [_sealed(private, public, 5, events[-1].hash)], public, (5, events[-1].hash))
    changed = list(events)
    doc = json.loads(events[2].record)
    doc["eventName"] = "Decrypt"
    changed[2] = StoredEvent(**{**events[2].__dict__, "record": canonical_json(doc).decode()})
    with pytest.raises(AuditIntegrityError) as err:
        _run(changed)
    assert (err.value.seq, err.value.event_id) == (3, events[2].event_id)
    with pytest.raises(AuditIntegrityError) as err:
        _run(events[:2] + events[3:])
    assert err.value.seq == 3 and "removed" in str(err.value)
    with pytest.raises(AuditIntegrityError) as err:
        _run(events[:4], head=(5, events[-1].hash))
    assert err.value.seq == 5


def test_verifier_checks_digest_signatures_and_last_hash() -> None:
    private, public = generate_signing_key()
    events = _chain(4)
    msg = digest_message(1, 4, 9.0, events[3].hash, None)
    legacy = Digest(
        1, 4, 9.0, events[3].hash, None, sign(private, msg).hex(), 9.0,
        number=1, key_fingerprint=key_fingerprint(public),
    )  # fmt: skip
    _run(events, [legacy], public)  # a version 1 digest, signed before migration 0006
    good = _sealed(private, public, 4, events[3].hash)
    _run(events, [good], public)
    forged = dataclasses.replace(good, last_hash="f" * 64)
    with pytest.raises(AuditIntegrityError, match="signature"):
        _run(events, [forged], public)
    with pytest.raises(AuditIntegrityError, match="removed"):
        _run(events[:3], [good], public)
