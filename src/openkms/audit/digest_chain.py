"""Check the digests among themselves: numbering, links, signatures, signing keys and
the schedule they were signed on (:mod:`openkms.audit.digest`).

Signing keys: the first digest's key is the anchor; it must be among ``trusted`` when
fingerprints are given (``openkms audit verify --expect-fingerprint``). A later digest
may be signed by another key only when the digest before it is a ``rotate`` digest
that names that key (signed by the old one), or when its fingerprint is itself trusted
(a key that replaced a lost one, ``rekey``). Anything else is a replaced key: forged
history signed by a key made for it.

The first inconsistency raises :class:`~openkms.audit.verify.AuditIntegrityError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from openkms.audit.digest import GAP_BOUND, IDLE_INTERVAL, RESUMING_KINDS
from openkms.domain.audit import DIGEST_KINDS, Digest, SignatureError, key_fingerprint

SignatureCheck = Callable[[bytes, bytes, bytes], None]


class DigestChainError(Exception):
    """A digest is out of place, unsigned or signed by a key it may not be; ``seq`` is
    the first record it seals."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seq = seq


@dataclass(frozen=True)
class Pause:
    """The schedule paused before digest ``number`` (a start after a stop, a manual seal,
    a key change) for ``seconds``; ``clean``: the digest before it was a clean stop."""

    number: int
    kind: str
    seconds: float
    clean: bool


@dataclass
class ChainFacts:
    """What the digest chain showed: the fingerprints of its keys in order of use, the
    pauses of its schedule."""

    keys: list[str] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)


def _where(d: Digest) -> str:
    if d.version == 1:
        return f"digest {d.number} (records {d.seq_from}..{d.seq_to})"
    return f"digest {d.number} ({d.kind}, records {d.seq_from}..{d.seq_to})"


class DigestChainChecker:
    """Checks digests one at a time, in number order (a trail's digests are read page by
    page: a long trail holds millions). ``partial``: they may start after digest 1 (an
    export of a time window)."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        check_signature: SignatureCheck,
        *,
        trusted: frozenset[str] | None = None,
        partial: bool = False,
    ) -> None:
        self._keys = keys
        self._check_signature = check_signature
        self._trusted = trusted
        self._partial = partial
        self._previous: Digest | None = None
        self._current: str | None = None
        self.facts = ChainFacts()
        self.count = 0

    @property
    def newest(self) -> Digest | None:
        return self._previous

    def add(self, digest: Digest) -> None:
        """Check the next digest; :class:`DigestChainError` if it is out of place,
        unsigned, or signed by a key it may not be."""

        def bad(reason: str, d: Digest = digest) -> DigestChainError:
            return DigestChainError(f"{_where(d)}: {reason}", d.seq_from)

        previous = self._previous
        _check_place(digest, previous, self._partial, bad)
        fingerprint = digest.key_fingerprint
        public_key = None if fingerprint is None else self._keys.get(fingerprint)
        if fingerprint is None or public_key is None:
            raise bad(f"its signing key {fingerprint} is not stored, so it cannot be checked")
        if key_fingerprint(public_key) != fingerprint:
            raise bad(f"the public key stored as {fingerprint} has another fingerprint")
        self._current = _check_key(digest, previous, self._current, self._trusted, bad)
        keys = self.facts.keys
        if not keys or keys[-1] != fingerprint:
            keys.append(fingerprint)
        try:
            self._check_signature(public_key, digest.message(), bytes.fromhex(digest.signature))
        except (SignatureError, ValueError):
            raise bad("signature does not verify (the digest was altered)") from None
        pause = _check_schedule(digest, previous, bad)
        if pause is not None:
            self.facts.pauses.append(pause)
        self._previous = digest
        self.count += 1


def check_digest_chain(
    digests: Iterable[Digest],
    keys: Mapping[str, bytes],
    check_signature: SignatureCheck,
    *,
    trusted: frozenset[str] | None = None,
    partial: bool = False,
) -> ChainFacts:
    """Check ``digests`` (by number) all at once."""
    checker = DigestChainChecker(keys, check_signature, trusted=trusted, partial=partial)
    for digest in digests:
        checker.add(digest)
    return checker.facts


def _check_place(
    digest: Digest,
    previous: Digest | None,
    partial: bool,
    bad: Callable[[str], DigestChainError],
) -> None:
    if digest.version not in (1, 2):
        raise bad(f"unknown digest version {digest.version}")
    if digest.version == 2 and digest.kind not in DIGEST_KINDS:
        raise bad(f"unknown kind {digest.kind!r}")
    empty_allowed = digest.version == 2
    if digest.seq_to < digest.seq_from - (1 if empty_allowed else 0):
        raise bad("its range is reversed")
    if previous is None:
        if partial:
            return
        if digest.number != 1:
            raise bad(f"digests 1..{digest.number - 1} were removed")
        if digest.seq_from != 1:
            raise bad("the digests before it were removed")
        if digest.previous_signature is not None:
            raise bad("the first digest names a previous digest")
        return
    if digest.number != previous.number + 1:
        raise bad(
            f"digests {previous.number + 1}..{digest.number - 1} are missing: they were "
            "removed (with the records they sealed, or not)"
        )
    if digest.seq_from != previous.seq_to + 1:
        raise bad(f"does not follow the digest ending at seq {previous.seq_to}")
    expected = previous.signature if digest.version == 1 else previous.link()
    if digest.previous_signature != expected:
        raise bad("does not name the previous digest's signature")


def _check_key(
    digest: Digest,
    previous: Digest | None,
    current: str | None,
    trusted: frozenset[str] | None,
    bad: Callable[[str], DigestChainError],
) -> str:
    """The key now in force, once ``digest``'s key is allowed."""
    fingerprint = digest.key_fingerprint
    assert fingerprint is not None
    endorsed = None
    if previous is not None and previous.kind == "rotate" and previous.version == 2:
        endorsed = previous.next_key_fingerprint
    if current is None:
        if trusted is not None and fingerprint not in trusted:
            raise bad(f"signed by key {fingerprint}, which is not a trusted fingerprint")
        return fingerprint
    if endorsed is not None and fingerprint != endorsed:
        if trusted is None or fingerprint not in trusted:
            raise bad(
                f"signed by key {fingerprint}, not by the key {endorsed} the rotation "
                f"digest {previous.number if previous else '?'} endorses"
            )
    if fingerprint != current and fingerprint != endorsed:
        if trusted is None or fingerprint not in trusted:
            raise bad(
                f"signed by key {fingerprint}, but the digests before it by {current}, and "
                "no rotation digest signed by that key endorses the new one (the signing "
                "key was replaced; trust it explicitly with --expect-fingerprint if you "
                "replaced a lost key yourself)"
            )
    return fingerprint


def _check_schedule(
    digest: Digest, previous: Digest | None, bad: Callable[[str], DigestChainError]
) -> Pause | None:
    if previous is None or digest.version == 1 or previous.version == 1:
        return None
    gap = digest.end_time - previous.end_time
    if digest.kind in RESUMING_KINDS:
        if gap > GAP_BOUND:
            return Pause(digest.number, digest.kind, gap, previous.kind == "stop")
        return None
    if gap > GAP_BOUND:
        raise bad(
            f"signed {gap:.0f} s after digest {previous.number}, but a running server signs "
            f"one at least every {IDLE_INTERVAL:.0f} s (verify allows {GAP_BOUND:.0f} s): "
            "digests between them were removed (with the records they sealed), or the "
            "server could not sign for that long (see its log)"
        )
    return None
