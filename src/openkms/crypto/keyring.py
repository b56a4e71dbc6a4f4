"""The root of trust: a keyring that wraps and unwraps stored secrets.

Every piece of key material and every stored secret access key is kept only
wrapped under the keyring. The software keyring holds a 256-bit root key in
memory (read from a 0600 file, from ``OPENKMS_ROOT_KEY``, or derived from
``OPENKMS_ROOT_PASSPHRASE`` with scrypt); a PKCS#11 keyring can take its place
behind the same :class:`Keyring` Protocol.

Wrapped format: ``0x57 ('W') | version 1 | IV (12) | AES-256-GCM(ciphertext || tag)``,
with the caller's ``context`` (what the secret belongs to) as AAD, so a wrapped value
cannot be moved to another row.
"""

from __future__ import annotations

import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

ROOT_KEY_LEN = 32
_PREFIX = b"W\x01"
_IV_LEN = 12
#: scrypt cost for passphrase-derived root keys (RFC 7914 interactive-login parameters x4).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 1


class UnwrapError(Exception):
    """A wrapped value failed to authenticate: wrong root key, or tampered storage."""


class Keyring(Protocol):
    """Seals secrets for storage. Implementations never expose their root key."""

    def wrap(self, secret: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class SoftwareKeyring:
    """AES-256-GCM key wrapping under a root key held in process memory."""

    __slots__ = ("_aead",)

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != ROOT_KEY_LEN:
            raise ValueError("the root key must be 32 bytes")
        self._aead = AESGCM(root_key)

    def wrap(self, secret: bytes, context: bytes) -> bytes:
        iv = os.urandom(_IV_LEN)
        return _PREFIX + iv + self._aead.encrypt(iv, secret, _PREFIX + context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if len(wrapped) < 2 + _IV_LEN + 16 or wrapped[:2] != _PREFIX:
            raise UnwrapError("unknown wrapped-secret format")
        iv = wrapped[2 : 2 + _IV_LEN]
        try:
            return self._aead.decrypt(iv, wrapped[2 + _IV_LEN :], _PREFIX + context)
        except InvalidTag:
            raise UnwrapError("wrapped secret failed authentication") from None


def new_root_key() -> bytes:
    return os.urandom(ROOT_KEY_LEN)


def root_key_from_passphrase(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=ROOT_KEY_LEN, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode())
