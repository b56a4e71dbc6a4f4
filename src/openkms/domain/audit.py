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

Digest (a seal over ``seq_from..seq_to``, signed SHA256withRSA). Version 2, written
since the digest chain was numbered (migration 0006)::

    "openkms-audit-digest/2\\n{number}\\n{kind}\\n{seq_from}\\n{seq_to}\\n{repr(end_time)}\\n"
    "{last_hash}\\n{previous}\\n{key_fingerprint}\\n{next_key_fingerprint or 'null'}"

where ``previous`` is :func:`digest_link` of the previous digest (the SHA-256 of its
signature; ``null`` for digest 1), ``key_fingerprint`` names the signing key and a
``rotate`` digest's ``next_key_fingerprint`` endorses its successor. An idle digest seals
an empty range (``seq_to = seq_from - 1``). Version 1 (older digests, kept verifiable)::

    "openkms-audit-digest/1\\n{seq_from}\\n{seq_to}\\n{repr(end_time)}\\n{last_hash}\\n"
    "{previous_signature or 'null'}"

Index columns: every column LookupEvents or GetKeyLastUsage filters or sorts on is a
function of the hashed record (:func:`index_columns`), stored as derived and checked
exactly on verify (:func:`check_stored`); ``event_time`` is the record's whole-second
``eventTime``.

Errors::

    AuditIntegrityError     the stored trail is inconsistent (raised by the verifier)
    SignatureError          a digest signature does not verify
    RecordIndexError        an index column disagrees with the record it indexes
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import orjson

GENESIS = "0" * 64
_CHAIN_TAG = b"openkms-audit-chain/1\x00"
_DIGEST_TAG = "openkms-audit-digest/1"
_DIGEST_TAG_V2 = "openkms-audit-digest/2"
#: What a digest says about the writer that signed it (signed with it, version 2).
DIGEST_KINDS = frozenset({"start", "seal", "stop", "manual", "rotate", "rekey"})


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
    return link_hashes(prev_hash, seq, [canonical])[0]


def link_hashes(prev_hash: str, first_seq: int, canonicals: Sequence[bytes]) -> list[str]:
    """:func:`link_hash` of consecutive records ``first_seq, first_seq + 1, ...``, each
    linked to the one before it (the first to ``prev_hash``), without the hex round trip
    between them (the audit writer links a group at a time). The one place the chain's
    formula is written: SHA-256(tag, previous hash, seq, length, canonical bytes)."""
    if len(prev_hash) != 64:
        raise ValueError("prev_hash must be 64 hex digits")
    if not 0 < first_seq or first_seq + len(canonicals) - 1 >= 2**63:
        raise ValueError("seq out of range")
    prev = bytes.fromhex(prev_hash)
    hashes = []
    for seq, canonical in enumerate(canonicals, first_seq):
        h = hashlib.sha256(_CHAIN_TAG)
        h.update(prev)
        h.update(seq.to_bytes(8, "big"))
        h.update(len(canonical).to_bytes(8, "big"))
        h.update(canonical)
        prev = h.digest()
        hashes.append(prev.hex())
    return hashes


def digest_message(
    seq_from: int, seq_to: int, end_time: float, last_hash: str, previous_signature: str | None
) -> bytes:
    """The string a digest's signature covers (newline-separated; no field holds one)."""
    prev = "null" if previous_signature is None else previous_signature
    return f"{_DIGEST_TAG}\n{seq_from}\n{seq_to}\n{end_time!r}\n{last_hash}\n{prev}".encode()


def digest_message_v2(
    number: int,
    kind: str,
    seq_from: int,
    seq_to: int,
    end_time: float,
    last_hash: str,
    previous: str | None,
    key_fingerprint: str,
    next_key_fingerprint: str | None,
) -> bytes:
    """The string a version 2 digest's signature covers (no field holds a newline)."""
    if kind not in DIGEST_KINDS:
        raise ValueError(f"unknown digest kind {kind!r}")
    fields = (
        _DIGEST_TAG_V2,
        str(number),
        kind,
        str(seq_from),
        str(seq_to),
        repr(end_time),
        last_hash,
        "null" if previous is None else previous,
        key_fingerprint,
        "null" if next_key_fingerprint is None else next_key_fingerprint,
    )
    return "\n".join(fields).encode()


def digest_link(signature_hex: str) -> str:
    """What a version 2 digest names its predecessor by: SHA-256 of its signature."""
    return hashlib.sha256(bytes.fromhex(signature_hex)).hexdigest()


def key_fingerprint(public_key: bytes) -> str:
    """Hex SHA-256 of a DER SubjectPublicKeyInfo: what an auditor compares out of band."""
    return hashlib.sha256(public_key).hexdigest()


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
    """A signed seal over records ``seq_from..seq_to`` (signatures in hex).

    ``number`` orders the digest chain (1, 2, ...); ``previous_signature`` is, in
    version 1, the previous digest's signature and, in version 2, its
    :func:`digest_link`. ``kind`` (version 2) says why it was signed: ``start`` (a
    writer's first, covering whatever a crash left), ``seal`` (the schedule), ``stop``
    (a clean stop), ``manual`` (``openkms audit seal``), ``rotate`` (endorses
    ``next_key_fingerprint``), ``rekey`` (the first under a key that replaced a lost one).
    """

    seq_from: int
    seq_to: int
    end_time: float
    last_hash: str
    previous_signature: str | None
    signature: str
    created_at: float
    number: int = 0
    version: int = 1
    kind: str = "seal"
    key_fingerprint: str | None = None
    next_key_fingerprint: str | None = None

    def message(self) -> bytes:
        if self.version == 1:
            return digest_message(
                self.seq_from, self.seq_to, self.end_time, self.last_hash, self.previous_signature
            )
        if self.key_fingerprint is None:
            raise ValueError("a version 2 digest names its signing key")
        return digest_message_v2(
            self.number,
            self.kind,
            self.seq_from,
            self.seq_to,
            self.end_time,
            self.last_hash,
            self.previous_signature,
            self.key_fingerprint,
            self.next_key_fingerprint,
        )

    def link(self) -> str:
        """What the digest after it names as its previous one (version 2)."""
        return digest_link(self.signature)


class DigestSigner(Protocol):
    """Signs digest messages; the private key never leaves the implementation."""

    @property
    def public_key(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        ...

    def sign(self, message: bytes) -> bytes: ...


class IndexColumns(NamedTuple):
    """The columns a record is indexed by, every one a function of the record itself
    (:func:`index_columns`): what LookupEvents filters and sorts on and GetKeyLastUsage
    reads. ``resources`` are ``(resource_name, resource_type)`` pairs sorted by name."""

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
    resources: tuple[tuple[str, str], ...]


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise RecordIndexError(f"the record's {name} is not a string")
    return value


def _optional_text(mapping: Mapping[str, Any], name: str, what: str) -> str | None:
    value = mapping.get(name)
    if value is not None and not isinstance(value, str):
        raise RecordIndexError(f"the record's {what} is not a string")
    return value


#: The last ``eventTime`` parsed and its value (records come in bursts within a second;
#: the pair is replaced as a whole, so threads can share it).
_last_parsed: tuple[str, float] = ("", 0.0)


def _parsed_event_time(stamp: str) -> float:
    global _last_parsed
    cached = _last_parsed
    if cached[0] == stamp:
        return cached[1]
    try:
        value = parse_event_time(stamp)
    except ValueError:
        raise RecordIndexError(f"the record's eventTime {stamp[:40]!r} is not a time") from None
    _last_parsed = (stamp, value)
    return value


def index_columns(record: Mapping[str, Any]) -> IndexColumns:
    """Derive the index columns from a CloudTrail record; raise
    :class:`RecordIndexError` when the record lacks what they need.

    ``username`` is ``userIdentity.userName``, else ``root`` for a Root identity;
    ``event_time`` is ``eventTime`` as a POSIX time (whole seconds, as CloudTrail
    records it); a resource's type is its ``type`` (empty when absent)."""
    stamp = _text(record, "eventTime")
    event_time = _parsed_event_time(stamp)
    identity = record.get("userIdentity")
    if not isinstance(identity, Mapping):
        identity = {}
    username = _optional_text(identity, "userName", "userIdentity.userName")
    if username is None and identity.get("type") == "Root":
        username = "root"
    read_only = record.get("readOnly", False)
    if not isinstance(read_only, bool):
        raise RecordIndexError("the record's readOnly is not a boolean")
    named: dict[str, str] = {}
    for resource in record.get("resources") or ():
        if not isinstance(resource, Mapping):
            raise RecordIndexError("a resource of the record is not an object")
        arn = _optional_text(resource, "ARN", "resource ARN")
        if arn is None:
            raise RecordIndexError("a resource of the record has no ARN")
        named[arn] = _optional_text(resource, "type", "resource type") or ""
    return IndexColumns(
        event_id=_text(record, "eventID"),
        event_time=event_time,
        account_id=_text(record, "recipientAccountId"),
        region=_text(record, "awsRegion"),
        event_source=_text(record, "eventSource"),
        event_name=_text(record, "eventName"),
        username=username,
        access_key_id=_optional_text(identity, "accessKeyId", "userIdentity.accessKeyId"),
        read_only=read_only,
        error_code=_optional_text(record, "errorCode", "errorCode"),
        resources=tuple(sorted(named.items())),
    )


#: Column -> the record's field it is derived from (named in errors).
_SOURCES = {
    "event_id": "eventID",
    "event_time": "eventTime",
    "account_id": "recipientAccountId",
    "region": "awsRegion",
    "event_source": "eventSource",
    "event_name": "eventName",
    "username": "userIdentity.userName",
    "access_key_id": "userIdentity.accessKeyId",
    "read_only": "readOnly",
    "error_code": "errorCode",
}


_columns_of = operator.attrgetter(*_SOURCES)


def _compare(derived: IndexColumns, given: tuple[Any, ...], resources: Any) -> None:
    if given != _columns_of(derived):
        for value, (column, source) in zip(given, _SOURCES.items(), strict=True):
            if value != getattr(derived, column):
                raise RecordIndexError(f"column {column} does not match the record's {source}")
    if tuple(sorted(resources)) != derived.resources:
        raise RecordIndexError(
            "the indexed resources (resource_name, resource_type) do not match the "
            "record's resources"
        )


def check_pending(pending: PendingRecord) -> IndexColumns:
    """The record's index columns, once checked against the columns ``pending`` claims
    (its ``event_time`` may carry the fraction of a second the record does not)."""
    derived = index_columns(pending.record)
    given = _columns_of(pending)
    if _event_time_text(pending.event_time) == pending.record.get("eventTime"):
        given = (given[0], derived.event_time, *given[2:])
    _compare(derived, given, dict(pending.resources).items())
    return derived


def check_stored(event: StoredEvent, record: Mapping[str, Any]) -> None:
    """Raise :class:`RecordIndexError` naming the first stored column that is not exactly
    what the record derives."""
    _compare(index_columns(record), _columns_of(event), event.resources)
