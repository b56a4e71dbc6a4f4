"""SYMMETRIC_DEFAULT encryption: AES-256-GCM under a key derived per message.

For each message a random 128-bit nonce is drawn and the data key is derived as
``HKDF-SHA256(ikm=backing key, salt=nonce, info="openkms/v1/symmetric-default")``;
the data is then sealed with AES-256-GCM under a random 96-bit IV. A fresh key per
message keeps far below GCM's per-key invocation limits, as AWS KMS does ("AWS KMS
cryptographic details: Encrypt"). The blob layout and the AAD are defined in
:mod:`openkms.domain.ciphertext`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openkms.domain import ciphertext as fmt
from openkms.errors import InvalidCiphertextException

BACKING_KEY_LEN = 32
_INFO = b"openkms/v1/symmetric-default"


def new_backing_key() -> bytes:
    return os.urandom(BACKING_KEY_LEN)


def _derive(backing_key: bytes, nonce: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=_INFO)
    return AESGCM(hkdf.derive(backing_key))


def encrypt(
    backing_key: bytes,
    key_id: str,
    key_version: int,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    *,
    nonce: bytes | None = None,
    iv: bytes | None = None,
) -> bytes:
    """Seal ``plaintext``; ``nonce``/``iv`` are parameters only for known-answer tests."""
    nonce = os.urandom(fmt.NONCE_LEN) if nonce is None else nonce
    iv = os.urandom(fmt.IV_LEN) if iv is None else iv
    header = fmt.build_header(key_id, key_version, nonce, iv)
    sealed = _derive(backing_key, nonce).encrypt(
        iv, plaintext, header + fmt.encode_context(context)
    )
    return header + sealed


def decrypt(
    backing_key: bytes, parsed: fmt.ParsedCiphertext, context: Mapping[str, str] | None
) -> bytes:
    """Open a parsed blob; any failure is one opaque InvalidCiphertextException."""
    aad = parsed.header + fmt.encode_context(context)
    try:
        return _derive(backing_key, parsed.nonce).decrypt(parsed.iv, parsed.sealed, aad)
    except InvalidTag:
        raise InvalidCiphertextException() from None
