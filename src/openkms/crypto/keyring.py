"""The root of trust: a keyring that wraps and unwraps stored secrets.

Every piece of key material and every stored secret access key is kept only
wrapped under the keyring. The software keyring holds a 256-bit root key in
memory (read from a 0600 file, from ``OPENKMS_ROOT_KEY``, or derived from
``OPENKMS_ROOT_PASSPHRASE`` with scrypt); a PKCS#11 HSM (:mod:`openkms.crypto.hsm`)
can take its place behind the same :class:`Keyring` Protocol, as a
:class:`SealedKeyring` over the HSM's :class:`Sealer`.

Wrapped format: ``0x57 ('W') | version 1 | IV (12) | AES-256-GCM(ciphertext || tag)``,
with the caller's ``context`` (what the secret belongs to) as AAD, so a wrapped value
cannot be moved to another row. An HSM's values start with ``0x48 ('H')`` instead
(:func:`sealed_by` tells them apart, e.g. for ``openkms admin rewrap``).

Fingerprints are HMAC-SHA256 under a fingerprint key: by default derived from the software
root key (HKDF); a database whose root moved (rewrap) or began in an HSM keeps its
fingerprint key sealed in its settings instead, so that fingerprints (imported key
material ids, which callers see) stay the same whatever the root is.

Errors: :class:`UnwrapError` (the value does not open: wrong root, tampering) and
:class:`KeyringUnavailableError` (the root cannot be reached now, e.g. an HSM fault;
the request fails and a later call may succeed).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

ROOT_KEY_LEN = 32
_PREFIX = b"W\x01"
_IV_LEN = 12
#: scrypt cost for passphrase-derived root keys (RFC 7914 interactive-login parameters x4).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 1


#: What sealed a value, by its first byte (see :func:`sealed_by`).
SOFTWARE, PKCS11 = "software", "pkcs11"
_SEALERS = {b"W"[0]: SOFTWARE, b"H"[0]: PKCS11}


class UnwrapError(Exception):
    """A wrapped value failed to authenticate: wrong root key, or tampered storage."""


class KeyringUnavailableError(Exception):
    """The root of trust cannot be used now (an HSM fault: token removed, session or
    login lost). Not a verdict on the value: the same call may succeed later."""


def sealed_by(wrapped: bytes) -> str | None:
    """Which kind of root sealed ``wrapped`` (:data:`SOFTWARE` or :data:`PKCS11`), by its
    format marker; None for an unknown format."""
    return _SEALERS.get(wrapped[0]) if wrapped else None


class Sealer(Protocol):
    """Wraps and unwraps under a root key it never exposes."""

    def wrap(self, secret: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class Keyring(Protocol):
    """Seals secrets for storage. Implementations never expose their root key."""

    def wrap(self, secret: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...

    def fingerprint(self, secret: bytes, context: bytes) -> bytes:
        """A keyed 32-byte fingerprint of ``secret`` (same inputs, same output), so that a
        secret can be recognised again without keeping it, and without the database alone
        being enough to test guesses."""
        ...


def derived_fingerprint_key(root_key: bytes) -> bytes:
    """The fingerprint key of a software root key that has no stored one (HKDF)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"openkms/v1/fingerprint"
    ).derive(root_key)


def new_fingerprint_key() -> bytes:
    return os.urandom(32)


def _fingerprint(key: bytes, secret: bytes, context: bytes) -> bytes:
    mac = hmac.new(key, len(context).to_bytes(4, "big"), hashlib.sha256)
    mac.update(context)
    mac.update(secret)
    return mac.digest()


class SoftwareKeyring:
    """AES-256-GCM key wrapping under a root key held in process memory; fingerprints are
    HMAC-SHA256 under ``fingerprint_key`` (default: a key derived from the root, HKDF)."""

    __slots__ = ("_aead", "_fingerprint_key")

    def __init__(self, root_key: bytes, fingerprint_key: bytes | None = None) -> None:
        if len(root_key) != ROOT_KEY_LEN:
            raise ValueError("the root key must be 32 bytes")
        self._aead = AESGCM(root_key)
        self._fingerprint_key = fingerprint_key or derived_fingerprint_key(root_key)

    def fingerprint(self, secret: bytes, context: bytes) -> bytes:
        return _fingerprint(self._fingerprint_key, secret, context)

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


class SealedKeyring:
    """A :class:`Keyring` from a :class:`Sealer` (an HSM) and a fingerprint key (kept
    sealed by it in the database, unsealed once at start; fingerprints are computed here,
    HMAC-SHA256, as the software keyring's are)."""

    __slots__ = ("_fingerprint_key", "sealer")

    def __init__(self, sealer: Sealer, fingerprint_key: bytes) -> None:
        if len(fingerprint_key) != 32:
            raise ValueError("the fingerprint key must be 32 bytes")
        self.sealer = sealer
        self._fingerprint_key = fingerprint_key

    def wrap(self, secret: bytes, context: bytes) -> bytes:
        return self.sealer.wrap(secret, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return self.sealer.unwrap(wrapped, context)

    def fingerprint(self, secret: bytes, context: bytes) -> bytes:
        return _fingerprint(self._fingerprint_key, secret, context)


def new_root_key() -> bytes:
    return os.urandom(ROOT_KEY_LEN)


def root_key_from_passphrase(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=ROOT_KEY_LEN, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode())
