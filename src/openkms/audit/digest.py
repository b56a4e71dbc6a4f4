"""Signed digests that seal the chain.

A digest covers records ``seq_from..seq_to`` (everything since the previous digest)
and signs, SHA256withRSA (RSA-3072, PKCS#1 v1.5, as CloudTrail's digest files)::

    "openkms-audit-digest/1\\n{seq_from}\\n{seq_to}\\n{repr(end_time)}\\n{last_hash}\\n"
    "{previous_signature or 'null'}"

``last_hash`` is the chain hash of record ``seq_to``, so the signature covers every
record up to it; ``previous_signature`` links the digests into a chain of their own,
so a removed digest is detected too. The signing key is held wrapped under the root
keyring (:func:`openkms.crypto.signing.load_audit_signer`); the public key is stored
in clear and copied into exports.
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


def fingerprint(public_key: bytes) -> str:
    """Hex SHA-256 of the DER public key: what an auditor compares out of band."""
    return hashlib.sha256(public_key).hexdigest()


def public_key_b64(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode()
