"""SYMMETRIC_DEFAULT encryption: AES-256-GCM under a key derived per message.

For each message a random 128-bit nonce is drawn and the data key is derived as
``HKDF-SHA256(ikm=backing key, salt=nonce, info="openkms/v1/symmetric-default")``;
the data is then sealed with AES-256-GCM under a random 96-bit IV. A fresh key per
message keeps far below GCM's per-key invocation limits, as AWS KMS does ("AWS KMS
cryptographic details: Encrypt"). The blob layout and the AAD are defined in
:mod:`openkms.domain.ciphertext`.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.crypto.randomness import random_bytes
from openkms.domain import ciphertext as fmt
from openkms.errors import InvalidCiphertextException

BACKING_KEY_LEN = 32
_INFO = b"openkms/v1/symmetric-default"


def new_backing_key() -> bytes:
    return os.urandom(BACKING_KEY_LEN)


def message_key(backing_key: bytes, nonce: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of 32 bytes: one extract and one expand block, as two
    one-shot HMACs (the same bytes as ``cryptography``'s HKDF, which tests check, at a
    quarter of its cost per message)."""
    prk = hmac.digest(nonce, backing_key, "sha256")
    return hmac.digest(prk, _INFO + b"\x01", "sha256")


def _derive(backing_key: bytes, nonce: bytes) -> AESGCM:
    return AESGCM(message_key(backing_key, nonce))


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
    nonce = random_bytes(fmt.NONCE_LEN) if nonce is None else nonce
    iv = random_bytes(fmt.IV_LEN) if iv is None else iv
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
