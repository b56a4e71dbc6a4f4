"""Signed digests that seal the chain, and the schedule they are signed on.

A digest covers records ``seq_from..seq_to`` (everything since the previous digest;
possibly nothing) and signs, SHA256withRSA (RSA-3072, PKCS#1 v1.5, as CloudTrail's
digest files), its number, kind, range, ``last_hash`` (the chain hash of record
``seq_to``, so the signature covers every record up to it), the previous digest (so
the digests form a chain of their own and a removed one is detected) and the signing
key's fingerprint (message layout in :mod:`openkms.domain.audit`). The signing key is
held wrapped under the root keyring (:mod:`openkms.crypto.signing`); the public keys are
stored in clear (``audit_signing_keys``) and copied into exports and digest files.

Schedule (:class:`openkms.service.audit_sealer.Sealer`, in each audit writer): a digest
at the writer's start (``start``: it covers whatever a crash left unsealed), within
:data:`SEAL_INTERVAL` seconds of a record or after :data:`SEAL_RECORDS` records, at
least every :data:`IDLE_INTERVAL` seconds when nothing happens, and at a clean stop
(``stop``). Verification holds the trail to it: two digests more than
:data:`GAP_BOUND` seconds apart (unless the later one marks a start, a manual seal or a
key change, reported instead) or a newest digest older than that (unless it is a clean
stop) fail.
"""

from __future__ import annotations

import base64
import hashlib

from openkms.domain.audit import Digest, DigestSigner, SignatureError, digest_message

__all__ = [
    "SIGNATURE_ALGORITHM",
    "Digest",
    "DigestSigner",
    "SignatureError",
    "digest_message",
    "fingerprint",
    "public_key_b64",
]

SIGNATURE_ALGORITHM = "SHA256withRSA"

#: A digest is due this many seconds after the newest one when records follow it (each
#: writer checks every SEAL_INTERVAL seconds: a record is sealed within about twice this).
SEAL_INTERVAL = 5.0
#: A digest follows at the latest this many records (counted by each writer).
SEAL_RECORDS = 1000
#: Seconds between digests when no record arrives (idle digests: a gap shows).
IDLE_INTERVAL = 60.0
#: What verification allows between two scheduled digests, and as the newest digest's
#: age, in seconds: the idle interval with room for a slow or busy writer.
GAP_BOUND = 150.0
#: Digests signed after a pause of the schedule (a writer's start, ``openkms audit
#: seal``, a key rotation or replacement): the gap before them is reported, not an error.
RESUMING_KINDS = frozenset({"start", "manual", "rotate", "rekey"})


def fingerprint(public_key: bytes) -> str:
    """Hex SHA-256 of the DER public key: what an auditor compares out of band."""
    return hashlib.sha256(public_key).hexdigest()


def public_key_b64(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode()
