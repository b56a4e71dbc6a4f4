"""The digest chain over a :class:`~openkms.storage.repository.Tx`: signing a digest,
reading digests back, and the public keys that signed them.

:func:`seal_digest` locks the chain head first (as an append does), so a seal never
races an append or another seal, on any node; it numbers the digest after the newest
one and names that one's signature (:func:`openkms.domain.audit.digest_link`), so the
digests form a chain of their own. Whether a digest is due is decided under that lock
(``due``), so that several writers sharing a database sign one on schedule between
them, not one each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openkms.domain.audit import Digest, DigestSigner, digest_message_v2, key_fingerprint
from openkms.storage import shared as shared_records
from openkms.storage.audit import statements
from openkms.storage.audit.trail import lock_head, read_head
from openkms.storage.repository import Tx
from openkms.storage.sql import columns

#: meta row holding the current audit public key (DER SPKI), readable without the root key.
PUBLIC_KEY_META = "audit_signing_public_key"
_DIGEST = columns(statements.audit_digest_last)
#: Decides, under the head's lock, whether a digest is due: (newest digest, head seq).
DueCheck = Callable[[Digest | None, int], bool]


class DigestChainError(RuntimeError):
    """The stored trail is behind its own digests (its head was moved back): no digest
    is signed over it."""


def _digest(row: Sequence[Any]) -> Digest:
    c = _DIGEST
    return Digest(
        seq_from=int(row[c["seq_from"]]),
        seq_to=int(row[c["seq_to"]]),
        end_time=float(row[c["end_time"]]),
        last_hash=row[c["last_hash"]],
        previous_signature=row[c["previous_signature"]],
        signature=row[c["signature"]],
        created_at=float(row[c["created_at"]]),
        number=int(row[c["number"]]),
        version=int(row[c["version"]]),
        kind=row[c["kind"]],
        key_fingerprint=row[c["key_fingerprint"]] or None,
        next_key_fingerprint=row[c["next_key_fingerprint"]],
    )


def last_digest(tx: Tx) -> Digest | None:
    row = tx.fetch_one(statements.audit_digest_last, {})
    return None if row is None else _digest(row)


def read_digests(tx: Tx, after: int = 0, limit: int | None = None) -> list[Digest]:
    """Digests numbered above ``after``, oldest first (every one when ``limit`` is None)."""
    found: list[Digest] = []
    while True:
        page = 1000 if limit is None else min(1000, limit - len(found))
        rows = tx.fetch_all(statements.audit_digests_after, {"after": after, "lim": page})
        found += (_digest(r) for r in rows)
        if len(rows) < page or (limit is not None and len(found) >= limit):
            return found
        after = found[-1].number


def read_public_key(tx: Tx) -> bytes | None:
    """The current audit signing public key (DER SPKI), or None."""
    return shared_records.get_meta(tx, PUBLIC_KEY_META)


def signing_keys(tx: Tx) -> dict[str, bytes]:
    """Every public key that signed a digest, by fingerprint."""
    return {str(fp): bytes(key) for fp, key in tx.fetch_all(statements.audit_signing_keys_all, {})}


def put_signing_key(tx: Tx, public_key: bytes, now: float) -> str:
    """Keep ``public_key`` among the signing keys (once); returns its fingerprint."""
    fingerprint = key_fingerprint(public_key)
    if tx.fetch_one(statements.audit_signing_key_get, {"fingerprint": fingerprint}) is None:
        tx.execute(
            statements.audit_signing_key_insert,
            {"fingerprint": fingerprint, "public_key": public_key, "created_at": now},
        )
    return fingerprint


def has_audited_state(tx: Tx) -> bool:
    """Whether the database shows that records were written: a chain head past zero, a
    digest, a signing key, or state whose creation is audited (a KMS key, an IAM user)."""
    return (
        read_head(tx)[0] > 0
        or last_digest(tx) is not None
        or read_public_key(tx) is not None
        or bool(signing_keys(tx))
        or tx.fetch_one(statements.audit_evidence_key, {}) is not None
        or tx.fetch_one(statements.audit_evidence_user, {}) is not None
    )


def seal_digest(
    tx: Tx,
    signer: DigestSigner,
    now: float,
    *,
    kind: str = "seal",
    due: DueCheck | None = None,
    next_key_fingerprint: str | None = None,
) -> Digest | None:
    """Sign a version 2 digest over the records appended since the newest digest (an
    empty range when there are none: an idle digest); None when ``due`` says it is not
    due. Raises :class:`DigestChainError` when the head is behind the newest digest."""
    head, last_hash = lock_head(tx)
    previous = last_digest(tx)
    if due is not None and not due(previous, head):
        return None
    seq_from = 1 if previous is None else previous.seq_to + 1
    if head < seq_from - 1:
        raise DigestChainError(
            f"the audit chain head (seq {head}) is behind the newest digest "
            f"(seq {seq_from - 1}): records were removed; not signing over them"
        )
    number = 1 if previous is None else previous.number + 1
    link = None if previous is None else previous.link()
    fingerprint = put_signing_key(tx, signer.public_key, now)
    message = digest_message_v2(
        number, kind, seq_from, head, now, last_hash, link, fingerprint, next_key_fingerprint
    )
    digest = Digest(
        seq_from=seq_from,
        seq_to=head,
        end_time=now,
        last_hash=last_hash,
        previous_signature=link,
        signature=signer.sign(message).hex(),
        created_at=now,
        number=number,
        version=2,
        kind=kind,
        key_fingerprint=fingerprint,
        next_key_fingerprint=next_key_fingerprint,
    )
    tx.execute(
        statements.audit_digest_insert,
        {
            "number": digest.number,
            "version": digest.version,
            "kind": digest.kind,
            "seq_from": digest.seq_from,
            "seq_to": digest.seq_to,
            "end_time": digest.end_time,
            "last_hash": digest.last_hash,
            "previous_signature": digest.previous_signature,
            "signature": digest.signature,
            "key_fingerprint": digest.key_fingerprint,
            "next_key_fingerprint": digest.next_key_fingerprint,
            "created_at": digest.created_at,
        },
    )
    return digest
