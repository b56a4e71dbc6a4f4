"""Verify a stored or exported audit trail; the first inconsistency raises.

:class:`ChainVerifier` checks, in order:

1. the digests among themselves: contiguous ranges, each naming the previous one's
   signature, each signature valid under the audit public key;
2. each record in seq order: no gap (a removed record), its ``prev_hash`` is the hash
   of the record before it (an inserted or reordered record breaks the link), its hash
   recomputed from its bytes (a changed record), its index columns agree with the
   record (a record hidden from LookupEvents);
3. at each digest's ``seq_to``, the chain hash equals the signed ``last_hash``;
4. at the end, the chain head and the digests name no record that is not there.

:class:`AuditIntegrityError` carries the first bad record's ``seq`` and ``event_id``
(when it still exists). Signature checking is injected (``check_signature(public_key,
message, signature)`` raising :class:`~openkms.domain.audit.SignatureError`, e.g.
:func:`openkms.crypto.signing.verify`) because this layer does no cryptography.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openkms.audit.digest import fingerprint
from openkms.domain.audit import (
    GENESIS,
    Digest,
    RecordIndexError,
    SignatureError,
    StoredEvent,
    check_stored,
    link_hash,
)

SignatureCheck = Callable[[bytes, bytes, bytes], None]


class AuditIntegrityError(Exception):
    """The trail is not intact; ``seq``/``event_id`` name the first bad record."""

    def __init__(self, reason: str, seq: int | None = None, event_id: str | None = None) -> None:
        where = ""
        if seq is not None:
            where = f"record seq {seq}" + (f" (event {event_id})" if event_id else "") + ": "
        super().__init__(where + reason)
        self.reason = reason
        self.seq = seq
        self.event_id = event_id


@dataclass(frozen=True)
class VerifyReport:
    records: int
    first_seq: int | None
    last_seq: int | None
    digests: int
    sealed_to: int
    public_key_fingerprint: str | None

    @property
    def unsealed(self) -> int:
        if self.last_seq is None:
            return 0
        return max(0, self.last_seq - max(self.sealed_to, (self.first_seq or 1) - 1))

    def summary(self) -> str:
        if self.records == 0:
            span = "no records"
        else:
            span = f"{self.records} records (seq {self.first_seq}..{self.last_seq})"
        text = f"audit trail intact: {span}, {self.digests} digests"
        if self.digests:
            text += f", sealed to seq {self.sealed_to}"
        if self.unsealed:
            text += f", {self.unsealed} records not yet sealed"
        if self.public_key_fingerprint:
            text += f"; signing key SHA-256 {self.public_key_fingerprint}"
        return text


class ChainVerifier:
    """Feed records in seq order (:meth:`add` for stored rows, :meth:`add_record` for
    exported ones), then call :meth:`finish`.

    ``start_seq``/``start_hash`` start the walk mid-chain (an export); a start after
    seq 1 must be sealed by one of ``digests`` (``seq_to == start_seq - 1``), and the
    first digest may then start after seq 1 too."""

    def __init__(
        self,
        digests: Sequence[Digest],
        public_key: bytes | None,
        check_signature: SignatureCheck,
        *,
        start_seq: int = 1,
        start_hash: str = GENESIS,
    ) -> None:
        self._digests = list(digests)
        self._public_key = public_key
        self._ends: dict[int, Digest] = {}
        self._check_digests(check_signature, partial=start_seq > 1)
        if start_seq > 1:
            sealed = self._ends.get(start_seq - 1)
            if sealed is None or sealed.last_hash != start_hash:
                raise AuditIntegrityError(
                    "the chain hash before the first record is not sealed by a digest",
                    start_seq,
                )
        self._first = start_seq
        self._expected = start_seq
        self._running = start_hash
        self._count = 0

    def _check_digests(self, check_signature: SignatureCheck, *, partial: bool) -> None:
        previous: Digest | None = None
        for digest in self._digests:

            def bad(reason: str, d: Digest = digest) -> AuditIntegrityError:
                return AuditIntegrityError(
                    f"digest of records {d.seq_from}..{d.seq_to}: {reason}", d.seq_from
                )

            if previous is None:
                if digest.seq_from != 1 and not partial:
                    raise bad("the digests before it were removed")
                if digest.seq_from == 1 and digest.previous_signature is not None:
                    raise bad("the first digest names a previous digest")
            else:
                if digest.seq_from != previous.seq_to + 1:
                    raise bad(f"does not follow the digest ending at seq {previous.seq_to}")
                if digest.previous_signature != previous.signature:
                    raise bad("does not name the previous digest's signature")
            if digest.seq_to < digest.seq_from:
                raise bad("empty range")
            if self._public_key is None:
                raise bad("no audit public key to check its signature")
            try:
                check_signature(self._public_key, digest.message(), bytes.fromhex(digest.signature))
            except (SignatureError, ValueError):
                raise bad("signature does not verify (the digest was altered)") from None
            self._ends[digest.seq_to] = digest
            previous = digest

    def _step(self, seq: int, event_id: str | None) -> None:
        if seq < self._expected:
            raise AuditIntegrityError(
                f"out of order or duplicated (expected seq {self._expected})", seq, event_id
            )
        if seq > self._expected:
            raise AuditIntegrityError(
                f"missing: the record was removed (the chain continues at seq {seq}, "
                f"event {event_id})",
                self._expected,
            )

    def _sealed(self, seq: int, event_id: str | None) -> None:
        digest = self._ends.get(seq)
        if digest is not None and digest.last_hash != self._running:
            raise AuditIntegrityError(
                f"the chain hash differs from the signed digest of records "
                f"{digest.seq_from}..{digest.seq_to}: a record up to here was changed, "
                "removed, inserted or reordered",
                seq,
                event_id,
            )
        self._expected = seq + 1
        self._count += 1

    def add(self, event: StoredEvent) -> None:
        """Check one stored row (with its stored prev_hash and hash)."""
        seq, eid = event.seq, event.event_id
        self._step(seq, eid)
        if event.prev_hash != self._running:
            raise AuditIntegrityError(
                f"does not link to record seq {seq - 1}: a record was inserted, removed, "
                "changed or reordered before it",
                seq,
                eid,
            )
        text = event.record.encode()
        if link_hash(event.prev_hash, seq, text) != event.hash:
            raise AuditIntegrityError("the record was changed (its hash does not match)", seq, eid)
        try:
            record = json.loads(text)
            check_stored(event, record)
        except (ValueError, RecordIndexError) as exc:
            raise AuditIntegrityError(f"an index column was changed: {exc}", seq, eid) from None
        self._running = event.hash
        self._sealed(seq, eid)

    def add_record(
        self, seq: int, canonical: bytes, event_id: str | None, listed_hash: str | None
    ) -> None:
        """Check one exported record: its hash is recomputed from the chain so far and
        compared with the hash its digest file lists (if any)."""
        self._step(seq, event_id)
        digest = link_hash(self._running, seq, canonical)
        if listed_hash is not None and listed_hash != digest:
            raise AuditIntegrityError(
                "the record was changed, or one before it was inserted, removed or reordered",
                seq,
                event_id,
            )
        self._running = digest
        self._sealed(seq, event_id)

    @property
    def running_hash(self) -> str:
        return self._running

    def finish(self, head: tuple[int, str] | None = None) -> VerifyReport:
        """Check the end of the walk against the chain head (stored trails) and the
        digests; returns the summary."""
        last = self._expected - 1
        if head is not None:
            head_seq, head_hash = head
            if head_seq > last:
                raise AuditIntegrityError(
                    f"missing: records seq {last + 1}..{head_seq} were removed "
                    "(the chain head is past the last record)",
                    last + 1,
                )
            if head_seq < last or head_hash != self._running:
                raise AuditIntegrityError(
                    "the chain head does not match the last record (records were appended "
                    "or changed behind the head)",
                    last,
                )
        beyond = [d for d in self._digests if d.seq_to > last]
        if beyond:
            raise AuditIntegrityError(
                f"missing: records up to seq {beyond[0].seq_to} are sealed by a digest but "
                "were removed",
                last + 1,
            )
        sealed_to = self._digests[-1].seq_to if self._digests else 0
        return VerifyReport(
            records=self._count,
            first_seq=self._first if self._count else None,
            last_seq=last if self._count else None,
            digests=len(self._digests),
            sealed_to=sealed_to,
            public_key_fingerprint=(
                fingerprint(self._public_key) if self._public_key is not None else None
            ),
        )
