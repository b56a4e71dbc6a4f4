"""AES-256-GCM under an external key, as the XKS proxy's Encrypt and Decrypt do it.

Plain AES-GCM with a random 96-bit IV and a 128-bit tag, the AAD framed by
:func:`openkms.domain.xks.framed_aad`: what the specification asks of the external key
manager (§Encrypt, §Decrypt). A random IV keeps one key below GCM's collision bound for
2**32 encryptions (NIST SP 800-38D §8.3); AWS KMS itself sends one proxy Encrypt per
KMS Encrypt or data key, and its default external key store quota is 1,800 per second.
Every failure to open a ciphertext is one InvalidCiphertextException: a wrong AAD, IV,
tag, ciphertext or metadata are not told apart.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.crypto.randomness import random_bytes
from openkms.domain.xks import IV_LEN, KEY_LEN, TAG_LEN
from openkms.errors.xks import XKSInvalidCiphertextException


def new_key_material() -> bytes:
    return os.urandom(KEY_LEN)


class ExternalKeyCipher:
    """One external key's AES-GCM, made once per key (material cache)."""

    __slots__ = ("_aead",)

    def __init__(self, material: bytes) -> None:
        self._aead = AESGCM(material)

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
        """``(iv, ciphertext, tag)``; the ciphertext is as long as the plaintext."""
        iv = random_bytes(IV_LEN)
        sealed = self._aead.encrypt(iv, plaintext, aad)
        return iv, sealed[:-TAG_LEN], sealed[-TAG_LEN:]

    def decrypt(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(iv, ciphertext + tag, aad)
        except InvalidTag:
            raise XKSInvalidCiphertextException(
                "The ciphertext, initialization vector, additional authenticated data or "
                "authentication tag is corrupted, missing, or otherwise invalid."
            ) from None
