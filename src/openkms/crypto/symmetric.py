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
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.crypto.randomness import random_bytes
from openkms.domain import ciphertext as fmt
from openkms.errors import InvalidCiphertextException

BACKING_KEY_LEN = 32
_INFO = b"openkms/v1/symmetric-default"
_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def new_backing_key() -> bytes:
    return os.urandom(BACKING_KEY_LEN)


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) under a key of at most one block (64 bytes): the same
    bytes as ``hmac.digest``, which tests check, at two thirds of its cost (each of its
    calls looks the digest up in OpenSSL by name again)."""
    if len(key) > _BLOCK:
        raise ValueError("an HMAC key longer than a block is hashed first; not done here")
    block = key.ljust(_BLOCK, b"\0")
    inner = sha256(block.translate(_IPAD) + message).digest()
    return sha256(block.translate(_OPAD) + inner).digest()


def message_key(backing_key: bytes, nonce: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of 32 bytes: one extract and one expand block, as two
    HMACs (the same bytes as ``cryptography``'s HKDF, which tests check, at a sixth of
    its cost per message)."""
    prk = _hmac_sha256(nonce, backing_key)
    return _hmac_sha256(prk, _INFO + b"\x01")


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
