"""Export the trail as CloudTrail-style files, and verify an export offline.

Layout under the output directory::

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
        <account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<unique>.json.gz   {"Records": [...]}
    OpenKMS-Digest/<seq_from>-<seq_to>.json                              one per segment

A *segment* is the record range of one stored digest (the last one may be unsealed:
``"signature": null``; an idle digest's range, and so its segment, is empty). Its log
files hold its records grouped by account, region and hour, in seq order. Its digest
file (named ``<seqFrom>-<seqTo>-<digest number>.json``) carries the digest's signed
fields, the public keys that signed it and the previous digest (``publicKeys``, by
fingerprint), the previous digest's fields (so the chain hash the segment starts from
is itself signed), and for each log file the SHA-256 of the uncompressed file and the
``[seq, hash]`` of each record in it. :func:`verify_export` needs only these files and
the public keys inside them; pin their fingerprints (``--expect-fingerprint``) or
compare them with the server's out of band.

File names are never built from stored strings as they are: ``<account>`` and
``<region>`` come from records that requests shaped (older databases may hold a region
of 300 characters, or ``..``), so a value that is not a 12-digit account id or a short
region-shaped name is written as ``invalid-<first 16 hex digits of its SHA-256>`` —
still one directory per distinct value, never a path outside the export or a name too
long for the file system. The records themselves are exported unchanged.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openkms.audit.digest import SIGNATURE_ALGORITHM, fingerprint, public_key_b64
from openkms.audit.verify import AuditIntegrityError, ChainVerifier, SignatureCheck, VerifyReport
from openkms.domain.audit import GENESIS, Digest, StoredEvent, canonical_json, format_event_time

DIGEST_DIR = "OpenKMS-Digest"
FORMAT = "openkms-audit-export/1"
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


def path_part(value: str, pattern: re.Pattern[str]) -> str:
    """``value`` when it matches ``pattern`` in full (the patterns admit no ``/``, ``.``
    or other separators), else a fixed-length name derived from it."""
    if pattern.fullmatch(value):
        return value
    return "invalid-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Segment:
    """Records ``seq_from..seq_to`` sealed by ``digest`` (None: not sealed yet)."""

    seq_from: int
    seq_to: int
    start_hash: str
    digest: Digest | None
    previous: Digest | None
    events: list[StoredEvent] = field(default_factory=list)


def plan_segments(
    first: int, last: int, digests: Sequence[Digest], start_hash: str
) -> list[Segment]:
    """Cut ``first..last`` (already widened to digest boundaries) into segments."""
    segments: list[Segment] = []
    previous: Digest | None = None
    for digest in digests:
        if digest.seq_to < first:
            previous = digest
            continue
        if digest.seq_from > last:
            break
        segments.append(Segment(digest.seq_from, digest.seq_to, "", digest, previous))
        previous = digest
    tail_from = segments[-1].seq_to + 1 if segments else first
    if tail_from <= last:
        segments.append(Segment(tail_from, last, "", None, previous))
    if segments:
        segments[0].start_hash = start_hash
    return segments


def widen(first: int, last: int, digests: Sequence[Digest]) -> tuple[int, int]:
    """Widen ``first..last`` to whole digests (and a start in the unsealed tail to the
    tail's start), so that the chain hash every export starts from is signed."""
    sealed_to = digests[-1].seq_to if digests else 0
    if first > sealed_to:
        first = sealed_to + 1
    for digest in digests:
        if digest.seq_from <= first <= digest.seq_to:
            first = digest.seq_from
        if digest.seq_from <= last <= digest.seq_to:
            last = digest.seq_to
    return first, last


def _digest_fields(digest: Digest | None) -> dict[str, Any] | None:
    if digest is None:
        return None
    return {
        "number": digest.number,
        "version": digest.version,
        "kind": digest.kind,
        "seqFrom": digest.seq_from,
        "seqTo": digest.seq_to,
        "endTime": digest.end_time,
        "lastHash": digest.last_hash,
        "previousDigestSignature": digest.previous_signature,
        "signature": digest.signature,
        "keyFingerprint": digest.key_fingerprint,
        "nextKeyFingerprint": digest.next_key_fingerprint,
    }


def _digest_from(fields: dict[str, Any]) -> Digest:
    return Digest(
        seq_from=int(fields["seqFrom"]),
        seq_to=int(fields["seqTo"]),
        end_time=float(fields["endTime"]),
        last_hash=str(fields["lastHash"]),
        previous_signature=fields["previousDigestSignature"],
        signature=str(fields["signature"]),
        created_at=float(fields["endTime"]),
        number=int(fields["number"]),
        version=int(fields["version"]),
        kind=str(fields["kind"]),
        key_fingerprint=fields["keyFingerprint"],
        next_key_fingerprint=fields["nextKeyFingerprint"],
    )


def write_segment(
    out_dir: str, segment: Segment, keys: Mapping[str, bytes], public_key: bytes | None
) -> str:
    """Write one segment's log files and digest file; returns the digest file's path.
    ``keys``: the signing keys by fingerprint; ``public_key``: the current one (named by
    an unsealed segment)."""
    groups: dict[tuple[str, str, str], list[StoredEvent]] = defaultdict(list)
    for event in segment.events:
        hour = datetime.fromtimestamp(event.event_time, UTC).strftime("%Y%m%dT%H00Z")
        groups[(event.account_id, event.region, hour)].append(event)
    log_files = []
    for (stored_account, stored_region, hour), events in sorted(groups.items()):
        account = path_part(stored_account, _ACCOUNT)
        region = path_part(stored_region, _REGION)
        day = f"{hour[0:4]}/{hour[4:6]}/{hour[6:8]}"
        rel = (
            f"AWSLogs/{account}/CloudTrail/{region}/{day}/"
            f"{account}_CloudTrail_{region}_{hour}_{segment.seq_from}{secrets.token_hex(4)}.json.gz"
        )
        body = ('{"Records":[' + ",".join(e.record for e in events) + "]}").encode()
        path = os.path.join(out_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.open(path, "wb") as fh:
            fh.write(body)
        log_files.append(
            {
                "path": rel,
                "hashValue": hashlib.sha256(body).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "oldestEventTime": format_event_time(min(e.event_time for e in events)),
                "newestEventTime": format_event_time(max(e.event_time for e in events)),
                "records": [[e.seq, e.hash] for e in events],
            }
        )
    digest = segment.digest
    if digest is not None and digest.key_fingerprint is not None:
        public_key = keys.get(digest.key_fingerprint, public_key)
    named = {
        fp: public_key_b64(keys[fp])
        for fp in (d.key_fingerprint for d in (digest, segment.previous) if d is not None)
        if fp is not None and fp in keys
    }
    if digest is not None:
        last_hash = digest.last_hash
    else:
        last_hash = segment.events[-1].hash if segment.events else segment.start_hash
    document = {
        "digestFormat": FORMAT,
        "seqFrom": segment.seq_from,
        "seqTo": segment.seq_to,
        "number": None if digest is None else digest.number,
        "version": None if digest is None else digest.version,
        "kind": None if digest is None else digest.kind,
        "keyFingerprint": None if digest is None else digest.key_fingerprint,
        "nextKeyFingerprint": None if digest is None else digest.next_key_fingerprint,
        "startPrevHash": segment.start_hash,
        "lastHash": last_hash,
        "endTime": None if digest is None else digest.end_time,
        "digestEndTime": None if digest is None else format_event_time(digest.end_time),
        "previousDigestSignature": None if digest is None else digest.previous_signature,
        "signature": None if digest is None else digest.signature,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "publicKey": None if public_key is None else public_key_b64(public_key),
        "publicKeyFingerprint": None if public_key is None else fingerprint(public_key),
        "publicKeys": named,
        "previousDigest": _digest_fields(segment.previous),
        "logFiles": log_files,
    }
    os.makedirs(os.path.join(out_dir, DIGEST_DIR), exist_ok=True)
    number = 0 if digest is None else digest.number
    name = f"{segment.seq_from:020d}-{segment.seq_to:020d}-{number:020d}.json"
    path = os.path.join(out_dir, DIGEST_DIR, name)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
        fh.write("\n")
    return path


def _read_log(out_dir: str, rel: str) -> bytes:
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts or not rel.startswith("AWSLogs/"):
        raise AuditIntegrityError(f"log file path {rel!r} is outside the export")
    try:
        with gzip.open(os.path.join(out_dir, *parts), "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise AuditIntegrityError(f"log file {rel} is missing or unreadable: {exc}") from None


def _load_digests(out_dir: str) -> list[dict[str, Any]]:
    folder = os.path.join(out_dir, DIGEST_DIR)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        raise AuditIntegrityError(f"{out_dir} holds no {DIGEST_DIR} directory") from None
    documents = []
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise AuditIntegrityError(f"digest file {name} is unreadable: {exc}") from None
        if not isinstance(doc, dict) or doc.get("digestFormat") != FORMAT:
            raise AuditIntegrityError(f"digest file {name} is not an OpenKMS export digest")
        documents.append(doc)
    # Unsealed (the tail) last; idle digests (empty ranges) in number order.
    return sorted(
        documents,
        key=lambda d: (int(d["seqFrom"]), d.get("number") or 2**63),
    )


def _public_keys(documents: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for doc in documents:
        for fp, text in (doc.get("publicKeys") or {}).items():
            try:
                keys[str(fp)] = base64.b64decode(text, validate=True)
            except (ValueError, TypeError):
                raise AuditIntegrityError(f"the public key {fp} is not base64") from None
    return keys


def verify_export(
    out_dir: str, check_signature: SignatureCheck, *, trusted: frozenset[str] | None = None
) -> VerifyReport:
    """Verify an export offline; raises :class:`AuditIntegrityError` naming the first
    bad record (or file). ``trusted``: the signing keys' fingerprints to accept."""
    documents = _load_digests(out_dir)
    if not documents:
        return ChainVerifier([], {}, check_signature, trusted=trusted).finish()
    keys = _public_keys(documents)
    for later in documents[:-1]:
        if later.get("signature") is None:
            raise AuditIntegrityError(
                f"unsealed segment {later['seqFrom']}..{later['seqTo']} is not the last",
                int(later["seqFrom"]),
            )
    first = documents[0]
    seals: list[Digest] = []
    if first.get("previousDigest") is not None:
        seals.append(_digest_from(first["previousDigest"]))
    for doc in documents:
        if doc.get("signature") is not None:
            seals.append(_digest_from(doc))
    start_seq = int(first["seqFrom"])
    start_hash = str(first.get("startPrevHash") or GENESIS)
    verifier = ChainVerifier(
        seals, keys, check_signature, trusted=trusted, start_seq=start_seq, start_hash=start_hash
    )
    bad_files: list[str] = []
    for doc in documents:
        records: dict[int, tuple[bytes, str | None, str]] = {}
        for entry in doc["logFiles"]:
            body = _read_log(out_dir, entry["path"])
            if hashlib.sha256(body).hexdigest() != entry["hashValue"]:
                bad_files.append(entry["path"])
            try:
                parsed = json.loads(body)["Records"]
            except (ValueError, KeyError, TypeError):
                raise AuditIntegrityError(f"log file {entry['path']} is not JSON") from None
            if len(parsed) != len(entry["records"]):
                raise AuditIntegrityError(
                    f"log file {entry['path']} does not hold the records its digest lists"
                )
            for record, (seq, listed) in zip(parsed, entry["records"], strict=True):
                if int(seq) in records:
                    raise AuditIntegrityError("listed twice", int(seq), record.get("eventID"))
                records[int(seq)] = (canonical_json(record), record.get("eventID"), listed)
        for seq in sorted(records):
            canonical, event_id, listed = records[seq]
            verifier.add_record(seq, canonical, event_id, listed)
        if verifier.running_hash != doc["lastHash"] and doc.get("signature") is None:
            raise AuditIntegrityError(
                f"segment {doc['seqFrom']}..{doc['seqTo']} does not end at its last hash",
                int(doc["seqTo"]),
            )
    report = verifier.finish()
    if bad_files:
        raise AuditIntegrityError(f"log file {bad_files[0]} was changed (its hash differs)")
    expected_last = int(documents[-1]["seqTo"])
    if report.last_seq != expected_last:
        raise AuditIntegrityError(
            f"missing: records up to seq {expected_last} are listed but absent",
            (report.last_seq or start_seq - 1) + 1,
        )
    return report


def iter_segment_events(
    segments: Sequence[Segment], events: Iterable[StoredEvent]
) -> Iterable[Segment]:
    """Distribute ``events`` (seq order) into ``segments``, yielding each when full."""
    index = 0
    for event in events:
        while index < len(segments) and event.seq > segments[index].seq_to:
            yield segments[index]
            index += 1
        if index == len(segments):
            break
        if event.seq >= segments[index].seq_from:
            segments[index].events.append(event)
    while index < len(segments):
        yield segments[index]
        index += 1
