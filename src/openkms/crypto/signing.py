"""SHA256withRSA (RSA-3072, PKCS#1 v1.5) for the audit trail's digests.

The signing key is kept only wrapped under the root keyring (``openkms_meta`` row
``audit_signing_key``, context
:data:`openkms.crypto.contexts.AUDIT_SIGNING_KEY`); its public key is stored in
clear (row ``audit_signing_public_key``, DER SubjectPublicKeyInfo) so that anyone can
verify a digest without the root key. :func:`verify` raises
:class:`~openkms.domain.audit.SignatureError`; it never returns a bool.

The key is made once, when a server first starts on an empty trail
(:func:`create_audit_signer`), and replaced only by ``openkms audit rotate-signing-key``;
:func:`load_audit_signer` never makes one: a key that has gone missing raises
:class:`SigningKeyMissingError` (a new key made silently would sign forged history).
"""

from __future__ import annotations

from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from openkms.crypto import contexts
from openkms.domain.audit import SignatureError

__all__ = [
    "PRIVATE_KEY_META",
    "PUBLIC_KEY_META",
    "AuditSigner",
    "SignatureError",
    "SigningKeyMissingError",
    "create_audit_signer",
    "generate_signing_key",
    "load_audit_signer",
    "sign",
    "verify",
]

PRIVATE_KEY_META = "audit_signing_key"
PUBLIC_KEY_META = "audit_signing_public_key"
KEY_BITS = 3072


class SigningKeyMissingError(Exception):
    """The database holds no audit signing key (or only half of one)."""


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new RSA-3072 key pair: (PKCS#8 DER private key, DER SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def sign(pkcs8_der: bytes, data: bytes) -> bytes:
    key = serialization.load_der_private_key(pkcs8_der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the audit signing key is not an RSA key")
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify(spki_der: bytes, data: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is a valid SHA256withRSA
    signature of ``data`` under ``spki_der``."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except ValueError:
        raise SignatureError("the public key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the public key is not an RSA key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


class _Meta(Protocol):
    """What the signer needs of the settings (``openkms.storage.shared.Settings(tx)``)."""

    def get_meta(self, name: str) -> bytes | None: ...

    def set_meta(self, name: str, value: bytes) -> None: ...


class _Wrapper(Protocol):
    def wrap(self, secret: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class AuditSigner:
    """Signs digest messages with the unwrapped audit key (a DigestSigner).

    The private key is loaded once, here: loading an RSA-3072 key from DER validates it,
    about 100 ms, against under 1 ms for a signature. Loaded per signature, a writer
    sealing every 1,000 records spent a third of its time there, holding up the group
    commits queued behind each digest."""

    __slots__ = ("_key", "_public")

    def __init__(self, private_pkcs8: bytes, public_spki: bytes) -> None:
        key = serialization.load_der_private_key(private_pkcs8, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the audit signing key is not an RSA key")
        self._key = key
        self._public = public_spki

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def derived_public_key(self) -> bytes:
        """The public half of the private key held (to check it matches ``public_key``)."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def load_audit_signer(meta: _Meta, keyring: _Wrapper) -> AuditSigner:
    """The stored audit signing key; :class:`SigningKeyMissingError` when it is not
    there. An :class:`~openkms.crypto.keyring.UnwrapError` means the stored key was not
    sealed by this root key."""
    wrapped = meta.get_meta(PRIVATE_KEY_META)
    public = meta.get_meta(PUBLIC_KEY_META)
    if wrapped is None or public is None:
        raise SigningKeyMissingError("the database holds no audit signing key")
    signer = AuditSigner(keyring.unwrap(wrapped, contexts.AUDIT_SIGNING_KEY), public)
    if signer.derived_public_key != public:
        raise SignatureError("the stored audit public key does not match the signing key")
    return signer


def create_audit_signer(meta: _Meta, keyring: _Wrapper) -> AuditSigner:
    """Make a new audit signing key and store it (wrapped), replacing any stored one:
    call it inside the write transaction that records why (the first start, a rotation)."""
    private, public = generate_signing_key()
    meta.set_meta(PRIVATE_KEY_META, keyring.wrap(private, contexts.AUDIT_SIGNING_KEY))
    meta.set_meta(PUBLIC_KEY_META, public)
    return AuditSigner(private, public)
