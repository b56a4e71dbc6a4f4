"""The audit trail's pure core: records as stored, the hash chain, the digest message.

These definitions live in ``domain`` because three layers share them: ``storage``
(appends and reads the chain), ``crypto`` (signs digests) and ``audit`` (verifies and
exports); each of them may import ``domain`` and none may import the others.
:mod:`openkms.audit.chain` and :mod:`openkms.audit.digest` re-export them.

Chain (one global chain, in append order)::

    hash[n] = SHA-256( "openkms-audit-chain/1" 0x00 | prev_hash (32 raw bytes)
                       | seq (8 bytes, big-endian) | len(record) (8 bytes) | record )

where ``prev_hash = hash[n-1]`` (``GENESIS`` for seq 1) and ``record`` is the canonical
JSON of the CloudTrail record (:func:`canonical_json`), byte for byte the stored text.
Fixed widths and a length prefix make the encoding unambiguous.

Digest (a seal over ``seq_from..seq_to``, signed SHA256withRSA)::

    "openkms-audit-digest/1\\n{seq_from}\\n{seq_to}\\n{repr(end_time)}\\n{last_hash}\\n"
    "{previous_signature or 'null'}"

Errors::

    AuditIntegrityError     the stored trail is inconsistent (raised by the verifier)
    SignatureError          a digest signature does not verify
    RecordIndexError        an index column disagrees with the record it indexes
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

GENESIS = "0" * 64
_CHAIN_TAG = b"openkms-audit-chain/1\x00"
_DIGEST_TAG = "openkms-audit-digest/1"


class SignatureError(Exception):
    """A signature does not verify under the given public key."""


class RecordIndexError(ValueError):
    """A record's index columns disagree with the CloudTrail record itself."""


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The one byte encoding of a record that is stored and hashed: compact JSON, keys
    sorted, UTF-8 (orjson: about 10x faster than the json module on the write path)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def link_hash(prev_hash: str, seq: int, canonical: bytes) -> str:
    """Hex SHA-256 linking record ``seq`` (its canonical bytes) to its predecessor."""
    if len(prev_hash) != 64:
        raise ValueError("prev_hash must be 64 hex digits")
    if not 0 < seq < 2**63:
        raise ValueError("seq out of range")
    h = hashlib.sha256(_CHAIN_TAG)
    h.update(bytes.fromhex(prev_hash))
    h.update(seq.to_bytes(8, "big"))
    h.update(len(canonical).to_bytes(8, "big"))
    h.update(canonical)
    return h.hexdigest()


def digest_message(
    seq_from: int, seq_to: int, end_time: float, last_hash: str, previous_signature: str | None
) -> bytes:
    """The string a digest's signature covers (newline-separated; no field holds one)."""
    prev = "null" if previous_signature is None else previous_signature
    return f"{_DIGEST_TAG}\n{seq_from}\n{seq_to}\n{end_time!r}\n{last_hash}\n{prev}".encode()


def parse_event_time(value: str) -> float:
    """CloudTrail's ``eventTime`` (``2025-05-20T20:45:00Z``) as a POSIX timestamp."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


#: The last whole second :func:`format_event_time` rendered, and its text (records come
#: in bursts within one second; the pair is replaced as a whole, so threads can share it).
_last_second: tuple[int, str] = (-1, "")
_LAST_SECOND_OF_9999 = 253402300799


def format_event_time(timestamp: float) -> str:
    """CloudTrail's ``eventTime`` of a POSIX timestamp (whole seconds, UTC)."""
    global _last_second
    # Cached by whole second, except in its last millisecond (where datetime's rounding
    # to microseconds can carry into the next second).
    if 0 <= timestamp <= _LAST_SECOND_OF_9999 and timestamp % 1.0 < 0.999:
        second = int(timestamp)
        cached = _last_second
        if cached[0] == second:
            return cached[1]
        text = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_second = (second, text)
        return text
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_time_text(timestamp: float) -> str | None:
    try:
        return format_event_time(timestamp)
    except (OverflowError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class PendingRecord:
    """One CloudTrail record to append, with the columns LookupEvents filters on.

    ``resources`` are ``(resource_name, resource_type)`` pairs, e.g.
    ``("arn:aws:kms:...:key/...", "AWS::KMS::Key")``. :meth:`from_record` derives every
    column from the record; :func:`check_columns` (run on append and on verify) rejects
    columns that contradict the record.
    """

    record: Mapping[str, Any] = field(hash=False)
    event_id: str
    event_time: float
    account_id: str
    region: str
    event_source: str
    event_name: str
    username: str | None
    access_key_id: str | None
    read_only: bool
    error_code: str | None
    resources: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        *,
        event_time: float | None = None,
        username: str | None = None,
    ) -> PendingRecord:
        """Index a CloudTrail record by its own fields (``username`` defaults to
        ``userIdentity.userName``, then ``root`` for a Root identity)."""
        identity = record.get("userIdentity") or {}
        if username is None:
            username = identity.get("userName")
            if username is None and identity.get("type") == "Root":
                username = "root"
        resources = tuple(
            (str(r["ARN"]), str(r.get("type", ""))) for r in record.get("resources") or ()
        )
        return cls(
            record=record,
            event_id=str(record["eventID"]),
            event_time=(
                parse_event_time(record["eventTime"]) if event_time is None else event_time
            ),
            account_id=str(record["recipientAccountId"]),
            region=str(record["awsRegion"]),
            event_source=str(record["eventSource"]),
            event_name=str(record["eventName"]),
            username=username,
            access_key_id=identity.get("accessKeyId"),
            read_only=bool(record.get("readOnly", False)),
            error_code=record.get("errorCode"),
            resources=resources,
        )


@dataclass(frozen=True)
class StoredEvent:
    """One row of the chain as stored: ``record`` is the canonical JSON text."""

    seq: int
    event_id: str
    event_time: float
    account_id: str
    region: str
    event_source: str
    event_name: str
    username: str | None
    access_key_id: str | None
    read_only: bool
    error_code: str | None
    record: str
    prev_hash: str
    hash: str
    resources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Digest:
    """A signed seal over records ``seq_from..seq_to`` (signatures in hex)."""

    seq_from: int
    seq_to: int
    end_time: float
    last_hash: str
    previous_signature: str | None
    signature: str
    created_at: float

    def message(self) -> bytes:
        return digest_message(
            self.seq_from, self.seq_to, self.end_time, self.last_hash, self.previous_signature
        )


class DigestSigner(Protocol):
    """Signs digest messages; the private key never leaves the implementation."""

    @property
    def public_key(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        ...

    def sign(self, message: bytes) -> bytes: ...


_ABSENT = object()


def check_columns(
    record: Mapping[str, Any],
    *,
    event_id: str,
    event_time: float,
    account_id: str,
    region: str,
    event_source: str,
    event_name: str,
    access_key_id: str | None,
    read_only: bool,
    error_code: str | None,
    resources: tuple[tuple[str, str], ...],
) -> None:
    """Raise :class:`RecordIndexError` naming the first column that contradicts the
    record (a field the record does not carry is not checked; ``username`` is derived,
    so it is not checked either)."""
    for column, name, value in (
        ("event_id", "eventID", event_id),
        ("account_id", "recipientAccountId", account_id),
        ("region", "awsRegion", region),
        ("event_source", "eventSource", event_source),
        ("event_name", "eventName", event_name),
        ("read_only", "readOnly", read_only),
    ):
        found = record.get(name, _ABSENT)
        if found is not _ABSENT and found != value:
            raise RecordIndexError(f"column {column} does not match the record's {name}")
    if record.get("errorCode") != error_code:
        raise RecordIndexError("column error_code does not match the record's errorCode")
    identity = record.get("userIdentity")
    if isinstance(identity, Mapping) and identity.get("accessKeyId") != access_key_id:
        raise RecordIndexError("column access_key_id does not match userIdentity.accessKeyId")
    stamp = record.get("eventTime")
    # The text of event_time itself is the common case (and within a second of it).
    if isinstance(stamp, str) and stamp != _event_time_text(event_time):
        try:
            when = parse_event_time(stamp)
        except ValueError:
            when = None
        if when is not None and not (math.isfinite(event_time) and abs(when - event_time) < 1):
            raise RecordIndexError("column event_time does not match the record's eventTime")
    if "resources" in record:
        named = {str(r.get("ARN")) for r in record["resources"] or ()}
        if not named <= {name for name, _ in resources}:
            raise RecordIndexError("a resource of the record is not indexed")


def check_pending(pending: PendingRecord) -> None:
    check_columns(
        pending.record,
        event_id=pending.event_id,
        event_time=pending.event_time,
        account_id=pending.account_id,
        region=pending.region,
        event_source=pending.event_source,
        event_name=pending.event_name,
        access_key_id=pending.access_key_id,
        read_only=pending.read_only,
        error_code=pending.error_code,
        resources=pending.resources,
    )


def check_stored(event: StoredEvent, record: Mapping[str, Any]) -> None:
    check_columns(
        record,
        event_id=event.event_id,
        event_time=event.event_time,
        account_id=event.account_id,
        region=event.region,
        event_source=event.event_source,
        event_name=event.event_name,
        access_key_id=event.access_key_id,
        read_only=event.read_only,
        error_code=event.error_code,
        resources=event.resources,
    )
