"""The parsed form of a KMS key's material, shared by every crypto module.

:func:`openkms.crypto.asymmetric.load_private_key` parses stored material once into a
:class:`LoadedKey`, which the caller caches; the asymmetric operations
(:mod:`openkms.crypto.asymmetric`) and the HMAC operations (:mod:`openkms.crypto.mac`)
both take it. It lives in its own module so that neither of those two imports the
other for its type (they used to import each other).

Errors (from :mod:`openkms.errors`)::

    UnsupportedOperationException  public_key_der() of an HMAC key
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa

from openkms.errors import UnsupportedOperationException

MLDSAPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
#: The private key objects a KMS key spec parses into.
PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MLDSAPrivateKey
)
#: Their public halves.
PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)


def spki(key: PublicKey) -> bytes:
    """A public key as DER SubjectPublicKeyInfo."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class LoadedKey:
    """A parsed key: the private key object (or the HMAC key bytes) and its spec.

    ``private`` and ``public`` are None for HMAC keys; ``hmac_key`` is empty for
    asymmetric keys. The repr names the spec only, never material.
    """

    __slots__ = ("hmac_key", "private", "public", "spec")

    spec: str
    hmac_key: bytes
    private: PrivateKey | None
    public: PublicKey | None

    def __init__(self, spec: str, private: PrivateKey | None, hmac_key: bytes = b"") -> None:
        self.spec = spec
        self.hmac_key = hmac_key
        self.private = private
        self.public = None if private is None else private.public_key()

    def __repr__(self) -> str:
        return f"LoadedKey(spec={self.spec!r})"

    def public_key_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo, as GetPublicKey returns it."""
        if self.public is None:
            raise UnsupportedOperationException(
                f"{self.spec} keys are symmetric and have no public key."
            )
        return spki(self.public)
