"""The digest directory: a copy of every signed digest outside the database
(``openkms serve --audit-digest-dir DIR``; ``openkms audit verify --digests-from DIR``).

Whoever can write the database can delete its newest records together with the newest
digests and move the chain head back; nothing left in the database shows it. A copy of
the digests on another volume (another machine, a bucket with object lock) does: the
records a copied digest seals must still be there, and the database's digests must
continue the copied chain.

Layout: one JSON file per digest, named by its number::

    DIR/<number // 10000, 10 digits>/<number, 20 digits>.json

    {"format": "openkms-audit-digest-file/1", "number": 17, "version": 2,
     "kind": "seal", "seqFrom": 120, "seqTo": 133, "endTime": 1764400000.5,
     "lastHash": "<hex>", "previousDigest": "<hex or null>", "signature": "<hex>",
     "signatureAlgorithm": "SHA256withRSA", "keyFingerprint": "<hex>",
     "nextKeyFingerprint": null, "publicKey": "<base64 DER>", "createdAt": 1764400000.5}

The fields are the digest's own (:mod:`openkms.domain.audit`; ``previousDigest`` is its
``previous_signature``) plus the public key that signed it, so the directory verifies
on its own. A file is written whole or not at all: to a temporary file in the same
directory, flushed to disk, then linked to its name (a link never replaces a file: a
digest once written is not overwritten, even by a database that was rolled back), and
the directory is flushed too. Files are private to the server's user (0600, 0700).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from typing import Any

from openkms.audit.digest import SIGNATURE_ALGORITHM
from openkms.audit.verify import AuditIntegrityError
from openkms.domain.audit import Digest, key_fingerprint

FORMAT = "openkms-audit-digest-file/1"
_PER_FOLDER = 10_000


class DigestFileConflict(Exception):
    """A different digest with the same number is in the directory already: the
    database's trail was rolled back or truncated (or another trail writes there)."""


def digest_path(directory: str, number: int) -> str:
    return os.path.join(directory, f"{number // _PER_FOLDER:010d}", f"{number:020d}.json")


def document(digest: Digest, public_key: bytes) -> dict[str, Any]:
    """The file's content for ``digest`` signed by ``public_key`` (DER SPKI)."""
    return {
        "format": FORMAT,
        "number": digest.number,
        "version": digest.version,
        "kind": digest.kind,
        "seqFrom": digest.seq_from,
        "seqTo": digest.seq_to,
        "endTime": digest.end_time,
        "lastHash": digest.last_hash,
        "previousDigest": digest.previous_signature,
        "signature": digest.signature,
        "signatureAlgorithm": SIGNATURE_ALGORITHM,
        "keyFingerprint": digest.key_fingerprint or key_fingerprint(public_key),
        "nextKeyFingerprint": digest.next_key_fingerprint,
        "publicKey": base64.b64encode(public_key).decode(),
        "createdAt": digest.created_at,
    }


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_digest(directory: str, digest: Digest, public_key: bytes) -> bool:
    """Write ``digest``'s file; False when the very same file is there already. Raises
    :class:`DigestFileConflict` when a different one is, and ``OSError`` when the
    directory cannot be written."""
    path = digest_path(directory, digest.number)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        _fsync_dir(directory)
    content = document(digest, public_key)
    body = (json.dumps(content, indent=2, sort_keys=True) + "\n").encode()
    temporary = os.path.join(folder, f".{digest.number}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            if _read(path) != content:
                raise DigestFileConflict(
                    f"{path} holds a different digest number {digest.number}: the "
                    "database's audit trail was rolled back or truncated, or another "
                    "trail writes to this directory"
                ) from None
            return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    _fsync_dir(folder)
    return True


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            found = json.load(fh)
    except (OSError, ValueError) as exc:
        raise AuditIntegrityError(f"digest file {path} is unreadable: {exc}") from None
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise AuditIntegrityError(f"{path} is not an OpenKMS digest file")
    return found


def _files(directory: str) -> list[str]:
    paths = []
    for folder in sorted(os.listdir(directory)):
        inner = os.path.join(directory, folder)
        if folder.isdigit() and os.path.isdir(inner):
            paths += [
                os.path.join(inner, name)
                for name in sorted(os.listdir(inner))
                if name.endswith(".json") and name[:-5].isdigit()
            ]
    return paths


def newest_number(directory: str) -> int:
    """The highest digest number in the directory (0: none)."""
    if not os.path.isdir(directory):
        return 0
    paths = _files(directory)
    return int(os.path.basename(paths[-1])[:-5]) if paths else 0


def _digest_of(path: str, doc: dict[str, Any]) -> tuple[Digest, bytes]:
    try:
        public_key = base64.b64decode(doc["publicKey"], validate=True)
        digest = Digest(
            seq_from=int(doc["seqFrom"]),
            seq_to=int(doc["seqTo"]),
            end_time=float(doc["endTime"]),
            last_hash=str(doc["lastHash"]),
            previous_signature=doc["previousDigest"],
            signature=str(doc["signature"]),
            created_at=float(doc["createdAt"]),
            number=int(doc["number"]),
            version=int(doc["version"]),
            kind=str(doc["kind"]),
            key_fingerprint=doc["keyFingerprint"],
            next_key_fingerprint=doc["nextKeyFingerprint"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditIntegrityError(f"digest file {path} is malformed: {exc!r}") from None
    if os.path.basename(path) != f"{digest.number:020d}.json":
        raise AuditIntegrityError(f"digest file {path} holds digest number {digest.number}")
    return digest, public_key


def read_digest_files(directory: str) -> tuple[list[Digest], dict[str, bytes]]:
    """Every digest in the directory, by number, and the public keys that signed them
    (by fingerprint); :class:`AuditIntegrityError` for a file that is not one."""
    if not os.path.isdir(directory):
        raise AuditIntegrityError(f"digest directory {directory} does not exist")
    digests: list[Digest] = []
    keys: dict[str, bytes] = {}
    for path in _files(directory):
        digest, public_key = _digest_of(path, _read(path))
        digests.append(digest)
        keys[key_fingerprint(public_key)] = public_key
    digests.sort(key=lambda d: d.number)
    return digests, keys
