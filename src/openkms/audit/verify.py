"""Verify a stored or exported audit trail; the first inconsistency raises.

:class:`ChainVerifier` checks, in order:

1. the digests among themselves (:mod:`openkms.audit.digest_chain`): numbered without a
   gap, each naming the previous one, each signature valid under its key, the keys
   anchored in a trusted fingerprint (when given) and changed only by an endorsed
   rotation, and signed on schedule;
2. each record in seq order: no gap (a removed record), its ``prev_hash`` is the hash
   of the record before it (an inserted or reordered record breaks the link), its hash
   recomputed from its bytes (a changed record), every index column exactly what the
   record derives (a record hidden from, or moved in, LookupEvents);
3. at each digest's ``seq_to``, the chain hash equals the signed ``last_hash``;
4. at the end (:meth:`ChainVerifier.finish`): the chain head and the digests name no
   record that is not there; a trail with records has digests (every server start signs
   one before it serves); an empty trail is empty for real; and, for a stored trail
   checked against the clock, the newest digest is recent or a clean stop. What follows
   the newest digest is the *unsealed window*, reported as ``N records, T seconds
   unsealed``: its records can be changed without a trace until the next digest.

:class:`AuditIntegrityError` carries the first bad record's ``seq`` and ``event_id``
(when it still exists). Signature checking is injected (``check_signature(public_key,
message, signature)`` raising :class:`~openkms.domain.audit.SignatureError`, e.g.
:func:`openkms.crypto.signing.verify`) because this layer does no cryptography.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from openkms.audit.digest import GAP_BOUND, IDLE_INTERVAL
from openkms.audit.digest_chain import (
    DigestChainChecker,
    DigestChainError,
    Pause,
    SignatureCheck,
)
from openkms.domain.audit import (
    GENESIS,
    Digest,
    RecordIndexError,
    StoredEvent,
    check_stored,
    format_event_time,
    link_hash,
)

__all__ = [
    "AuditIntegrityError",
    "ChainVerifier",
    "ExternalCopy",
    "SignatureCheck",
    "VerifyReport",
]


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


def _when(timestamp: float) -> str:
    try:
        return format_event_time(timestamp)
    except (OverflowError, ValueError, OSError):
        return repr(timestamp)


@dataclass(frozen=True)
class VerifyReport:
    records: int
    first_seq: int | None
    last_seq: int | None
    digests: int
    sealed_to: int
    public_key_fingerprint: str | None
    #: fingerprints of every key that signed a digest, in order of use
    keys: tuple[str, ...] = ()
    newest: Digest | None = None
    #: seconds since the newest digest (None: not checked against the clock)
    unsealed_seconds: float | None = None
    pauses: tuple[Pause, ...] = ()
    #: digests confirmed by an external copy (``--digests-from``)
    external: int | None = None

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
        newest = self.newest
        if newest is not None and newest.version == 2:
            text += f" (newest: digest {newest.number}, {newest.kind}, {_when(newest.end_time)})"
        if self.unsealed_seconds is not None:
            text += f"; {self.unsealed} records, {self.unsealed_seconds:.0f} seconds unsealed"
            if self.unsealed:
                text += f" (from seq {self.sealed_to + 1})"
        elif self.unsealed:
            text += f", {self.unsealed} records not yet sealed"
        if self.external is not None:
            text += f"; {self.external} digests match the external copy"
        for pause in self.pauses:
            how = "after a clean stop" if pause.clean else "without a clean stop before it"
            text += (
                f"; digest {pause.number} ({pause.kind}) resumed {pause.seconds:.0f} s "
                f"after the one before, {how}"
            )
        if len(self.keys) > 1:
            text += "; signing keys SHA-256 " + " -> ".join(self.keys)
        elif self.public_key_fingerprint:
            text += f"; signing key SHA-256 {self.public_key_fingerprint}"
        return text


class ChainVerifier:
    """Feed records in seq order (:meth:`add` for stored rows, :meth:`add_record` for
    exported ones), then call :meth:`finish`.

    ``keys`` are the public keys that signed the digests, by fingerprint; ``trusted``
    the fingerprints the caller trusts (None: the first digest's key, reported).
    ``start_seq``/``start_hash`` start the walk mid-chain (an export); a start after
    seq 1 must be sealed by one of ``digests`` (``seq_to == start_seq - 1``), and the
    first digest may then start after seq 1 too."""

    def __init__(
        self,
        digests: Iterable[Digest],
        keys: Mapping[str, bytes],
        check_signature: SignatureCheck,
        *,
        trusted: frozenset[str] | None = None,
        start_seq: int = 1,
        start_hash: str = GENESIS,
    ) -> None:
        # Digests are taken in number order as the walk reaches their seq_to, so that a
        # trail with millions of them is never held in memory.
        self._source = iter(digests)
        self._checker = DigestChainChecker(
            keys, check_signature, trusted=trusted, partial=start_seq > 1
        )
        self._next: Digest | None = None
        self._fetch()
        self._first = start_seq
        self._expected = start_seq
        self._running = start_hash
        self._count = 0
        before = self._take_through(start_seq - 1)
        if start_seq > 1 and not before:
            raise AuditIntegrityError(
                "the chain hash before the first record is not sealed by a digest", start_seq
            )

    def _fetch(self) -> None:
        self._next = next(self._source, None)

    def _check(self, digest: Digest) -> None:
        try:
            self._checker.add(digest)
        except DigestChainError as exc:
            raise AuditIntegrityError(exc.reason, exc.seq) from None

    def _take_through(self, seq: int, event_id: str | None = None) -> bool:
        """Check every digest ending at or before ``seq`` (the running hash is record
        ``seq``'s); whether one ended exactly there."""
        ended = False
        while self._next is not None and self._next.seq_to <= seq:
            digest = self._next
            self._check(digest)
            if digest.seq_to == seq and digest.last_hash != self._running:
                raise AuditIntegrityError(
                    f"the chain hash differs from the signed digest {digest.number} of "
                    f"records {digest.seq_from}..{digest.seq_to}: a record up to here was "
                    "changed, removed, inserted or reordered",
                    max(seq, self._first),
                    event_id,
                )
            ended = ended or digest.seq_to == seq
            self._fetch()
        return ended

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
        self._take_through(seq, event_id)
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

    def finish(
        self,
        head: tuple[int, str] | None = None,
        *,
        now: float | None = None,
        audited_state: bool = False,
        external: int | None = None,
    ) -> VerifyReport:
        """Check the end of the walk against the chain head (stored trails) and the
        digests; with ``now``, the newest digest against the schedule (a stored trail);
        ``audited_state``: the database shows that records were written. Returns the
        summary."""
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
        beyond = self._next
        while self._next is not None:  # digests past the last record: checked first
            self._check(self._next)
            self._fetch()
        if beyond is not None:
            raise AuditIntegrityError(
                f"missing: records up to seq {beyond.seq_to} are sealed by digest "
                f"{beyond.number} but were removed",
                last + 1,
            )
        newest = self._checker.newest
        keys = tuple(self._checker.facts.keys)
        unsealed_seconds = None
        if head is not None:
            self._check_sealed_at_all(newest, last, audited_state)
        if now is not None and newest is not None and newest.version == 2:
            unsealed_seconds = max(0.0, now - newest.end_time)
            clean = newest.kind == "stop" and newest.seq_to == last
            if not clean and unsealed_seconds > GAP_BOUND:
                after = last - newest.seq_to
                raise AuditIntegrityError(
                    f"the newest digest ({newest.number}, {newest.kind}, "
                    f"{_when(newest.end_time)}) was signed {unsealed_seconds:.0f} s ago and "
                    f"{after} records follow it unsealed, but a running server signs one at "
                    f"least every {IDLE_INTERVAL:.0f} s and at a clean stop: newer digests "
                    "(and the records they sealed) were removed, or no server has run since "
                    "one stopped without sealing (start it: it seals at start; then verify "
                    "again)",
                    newest.seq_to + 1,
                )
        return VerifyReport(
            records=self._count,
            first_seq=self._first if self._count else None,
            last_seq=last if self._count else None,
            digests=self._checker.count,
            sealed_to=newest.seq_to if newest is not None else 0,
            public_key_fingerprint=keys[-1] if keys else None,
            keys=keys,
            newest=newest,
            unsealed_seconds=unsealed_seconds,
            pauses=tuple(self._checker.facts.pauses),
            external=external,
        )

    def _check_sealed_at_all(self, newest: Digest | None, last: int, audited_state: bool) -> None:
        if newest is not None:
            return
        if last > 0:
            raise AuditIntegrityError(
                f"records seq {self._first}..{last} are sealed by no digest, but every "
                "server start signs one before it serves: the digests were removed",
                self._first,
            )
        if audited_state:
            raise AuditIntegrityError(
                "the trail is empty, but the database shows records were written (a chain "
                "head, a signing key, KMS keys or IAM users, whose creation is audited): "
                "the records and digests were removed"
            )


class ExternalCopy:
    """The stored digests, checked on their way to the verifier against a copy kept
    outside the database (:mod:`openkms.audit.digest_files`): every copied digest the
    database holds must be the very same, and the database must hold every copied one,
    so a truncated or rolled-back trail is caught. The copy may lag behind the database
    (a digest is copied just after it commits) and may start later (a directory added
    later). ``newest_now`` reads the database's newest digest number again at the end:
    a digest signed after the walk's snapshot may be in the copy already.
    ``confirmed``: how many digests the copy confirms."""

    def __init__(
        self,
        stored: Iterable[Digest],
        external: Sequence[Digest],
        newest_now: Callable[[], int],
    ) -> None:
        self._stored = stored
        self._external = {d.number: d for d in external}
        self._newest_now = newest_now
        self.confirmed = 0

    def __iter__(self) -> Iterator[Digest]:
        first = newest = None
        for mine in self._stored:
            copy = self._external.get(mine.number)
            if copy is not None:
                if mine != _as_stored(copy, mine):
                    raise AuditIntegrityError(
                        f"digest {copy.number} in the database differs from the external "
                        "copy: the database's digests were rewritten",
                        copy.seq_from,
                    )
                self.confirmed += 1
            first = mine.number if first is None else first
            newest = mine.number
            yield mine
        held = range(first or 1, (newest or 0) + 1)
        missing = [d for n, d in sorted(self._external.items()) if n not in held]
        if missing and missing[-1].number > (newest or 0):
            later = self._newest_now()
            missing = [d for d in missing if d.number > later or d.number < (first or 1)]
        if missing:
            raise AuditIntegrityError(
                f"digests {missing[0].number}..{missing[-1].number} are in the external copy "
                f"but not in the database (its newest is {newest or 0}): they were removed "
                f"from it, and the records they sealed (up to seq {missing[-1].seq_to}) with "
                "them or not",
                missing[0].seq_from,
            )


def _as_stored(copy: Digest, mine: Digest) -> Digest:
    """``copy`` compared field by field with the stored one (``created_at`` aside, which
    no signature covers and the copy takes from the digest as written)."""
    return Digest(
        seq_from=copy.seq_from,
        seq_to=copy.seq_to,
        end_time=copy.end_time,
        last_hash=copy.last_hash,
        previous_signature=copy.previous_signature,
        signature=copy.signature,
        created_at=mine.created_at,
        number=copy.number,
        version=copy.version,
        kind=copy.kind,
        key_fingerprint=copy.key_fingerprint,
        next_key_fingerprint=copy.next_key_fingerprint,
    )
