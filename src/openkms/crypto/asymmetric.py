"""Asymmetric cryptography for the AWS KMS key specs, and key loading for every spec.

Key material is stored as unencrypted PKCS#8 DER (asymmetric specs) or raw key bytes
(``HMAC_*``, whose operations live in :mod:`openkms.crypto.mac`); the caller wraps it
under the keyring. :func:`load_private_key` parses it once into a
:class:`~openkms.crypto.loaded.LoadedKey`, which the caller caches; every operation then
works on the parsed key objects (the public key is derived once, at load) and never
re-parses.

Algorithms, as AWS defines them ("Asymmetric key specs",
https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html, and the
``Sign``/``Verify``/``Encrypt``/``DeriveSharedSecret`` API references):

* ``RSASSA_PSS_SHA_*``: PSS, MGF1 with the same hash, salt length = digest length.
* ``RSASSA_PKCS1_V1_5_SHA_*`` and ``ECDSA_SHA_*`` (DER signatures).
* ``MessageType`` ``RAW`` hashes the message with the algorithm's hash; ``DIGEST`` takes
  the message as that hash (its length must match) and does not hash again.
* ``ED25519_SHA_512``: pure Ed25519 over a ``RAW`` message. ``ED25519_PH_SHA_512``
  (Ed25519ph) is refused: pyca/cryptography has no Ed25519ph.
* ``ML_DSA_SHAKE_256``: pure ML-DSA with an empty context over a ``RAW`` message.
  ``EXTERNAL_MU`` is refused: pyca/cryptography 48 cannot sign or verify an external mu.
* ``RSAES_OAEP_SHA_1``/``_256``: OAEP, MGF1 with the same hash, no label.
* ``ECDH``: the raw shared secret (the X coordinate) with a DER SPKI peer key.

Errors, all from :mod:`openkms.errors` but one::

    ValidationException            a DIGEST of the wrong length; a message type the
                                   algorithm refuses; a malformed or other-curve peer key;
                                   RSA plaintext over the OAEP limit
    InvalidKeyUsageException       an algorithm the key spec does not support
    UnsupportedOperationException  Ed25519ph, EXTERNAL_MU, SM2 and ML-KEM specs, GetPublicKey
                                   of an HMAC key
    KMSInvalidSignatureException   verify(): the signature does not verify
    InvalidCiphertextException     rsa_decrypt(): any failure, one opaque error
    InvalidKeyMaterialError        (internal) stored material that is not a key of its spec
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from openkms.crypto import mac
from openkms.crypto.loaded import LoadedKey, MLDSAPrivateKey, PrivateKey, spki
from openkms.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)

RSA_PUBLIC_EXPONENT = 65537

_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_ED25519 = "ECC_NIST_EDWARDS25519"
_ML_DSA: dict[
    str, type[mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey]
] = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}
_UNSUPPORTED_SPECS = {"SM2", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}
#: The KeyPairSpec values GenerateDataKeyPair supports here (no SM2, no ML-KEM).
DATA_KEY_PAIR_SPECS = frozenset((*_RSA_BITS, *_CURVES, _ED25519))


class InvalidKeyMaterialError(Exception):
    """Stored key material does not parse as a key of its spec (storage corruption or a bug)."""


class _Family(Enum):
    RSA = "RSA"
    ECDSA = "ECDSA"
    ED25519 = "ED25519"
    ED25519_PH = "ED25519_PH"
    ML_DSA = "ML_DSA"


@dataclass(frozen=True, slots=True)
class _Signing:
    family: _Family
    specs: frozenset[str]
    hash: hashes.HashAlgorithm


def _pss(h: hashes.HashAlgorithm) -> AsymmetricPadding:
    return padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)


_RSA_SPECS = frozenset(_RSA_BITS)
_SHA = {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}
_SIGNING: dict[str, _Signing] = {
    **{f"RSASSA_PSS_SHA_{n}": _Signing(_Family.RSA, _RSA_SPECS, h) for n, h in _SHA.items()},
    **{f"RSASSA_PKCS1_V1_5_SHA_{n}": _Signing(_Family.RSA, _RSA_SPECS, h) for n, h in _SHA.items()},
    "ECDSA_SHA_256": _Signing(
        _Family.ECDSA, frozenset({"ECC_NIST_P256", "ECC_SECG_P256K1"}), _SHA[256]
    ),
    "ECDSA_SHA_384": _Signing(_Family.ECDSA, frozenset({"ECC_NIST_P384"}), _SHA[384]),
    "ECDSA_SHA_512": _Signing(_Family.ECDSA, frozenset({"ECC_NIST_P521"}), _SHA[512]),
    "ED25519_SHA_512": _Signing(_Family.ED25519, frozenset({_ED25519}), _SHA[512]),
    "ED25519_PH_SHA_512": _Signing(_Family.ED25519_PH, frozenset({_ED25519}), _SHA[512]),
    "ML_DSA_SHAKE_256": _Signing(
        _Family.ML_DSA, frozenset(_ML_DSA), hashes.SHAKE256(digest_size=64)
    ),
}
_RSA_PADDING: dict[str, AsymmetricPadding] = {
    **{f"RSASSA_PSS_SHA_{n}": _pss(h) for n, h in _SHA.items()},
    **{f"RSASSA_PKCS1_V1_5_SHA_{n}": padding.PKCS1v15() for n in _SHA},
}
_OAEP_HASH: dict[str, hashes.HashAlgorithm] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1(),
    "RSAES_OAEP_SHA_256": hashes.SHA256(),
}
_OAEP: dict[str, AsymmetricPadding] = {
    name: padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    for name, h in _OAEP_HASH.items()
}
_EXTERNAL_MU_LEN = 64


def _incompatible(algorithm: str, spec: str) -> InvalidKeyUsageException:
    return InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {spec}.")


# -- key generation and loading ----------------------------------------------------------


def _refuse_spec(spec: str) -> UnsupportedOperationException:
    if spec in _UNSUPPORTED_SPECS:
        return UnsupportedOperationException(
            f"Key spec {spec} is not supported by this OpenKMS server."
        )
    return UnsupportedOperationException(f"Key spec {spec} is not an asymmetric or HMAC key spec.")


def _generate(spec: str) -> PrivateKey:
    if spec in _RSA_BITS:
        return rsa.generate_private_key(RSA_PUBLIC_EXPONENT, _RSA_BITS[spec])
    if spec in _CURVES:
        return ec.generate_private_key(_CURVES[spec]())
    if spec == _ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if spec in _ML_DSA:
        return _ML_DSA[spec].generate()
    raise _refuse_spec(spec)


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_private_key(spec: str) -> bytes:
    """New key material: PKCS#8 DER (unencrypted) or, for ``HMAC_*``, random key bytes."""
    if spec in mac.HMAC_SPECS:
        return mac.new_key(spec)
    return _pkcs8(_generate(spec))


def generate_data_key_pair(spec: str) -> tuple[bytes, bytes]:
    """A GenerateDataKeyPair pair: (PKCS#8 DER private key, DER SPKI public key)."""
    if spec not in DATA_KEY_PAIR_SPECS:
        raise _refuse_spec(spec)
    key = _generate(spec)
    return _pkcs8(key), spki(key.public_key())


def _of_spec(spec: str, key: PrivateKeyTypes) -> PrivateKey | None:
    """``key`` if it is a key of ``spec`` (type, size and curve), else None."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key if _RSA_BITS.get(spec) == key.key_size else None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = _CURVES.get(spec)
        return key if curve is not None and isinstance(key.curve, curve) else None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key if spec == _ED25519 else None
    if isinstance(key, MLDSAPrivateKey):
        kind = _ML_DSA.get(spec)
        return key if kind is not None and isinstance(key, kind) else None
    return None


def load_private_key(spec: str, material: bytes, *, trusted: bool = False) -> LoadedKey:
    """Parse material once; raises InvalidKeyMaterialError if it is not a ``spec`` key.

    RSA keys are checked for consistency (primes, CRT values), which costs ~65 ms for
    RSA_2048 and ~460 ms for RSA_4096. ``trusted=True`` skips that check; pass it only
    for material this server generated or already checked (at import), read back
    through the keyring, whose AEAD rules out tampering.
    """
    if spec in mac.HMAC_SPECS:
        if not mac.valid_key_length(spec, len(material)):
            raise InvalidKeyMaterialError(f"{spec} key material has the wrong length")
        return LoadedKey(spec, None, bytes(material))
    if spec not in _RSA_BITS and spec not in _CURVES and spec != _ED25519 and spec not in _ML_DSA:
        raise _refuse_spec(spec)
    try:
        key = serialization.load_der_private_key(
            material, password=None, unsafe_skip_rsa_key_validation=trusted
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidKeyMaterialError(f"{spec} key material is not a PKCS#8 key") from None
    loaded = _of_spec(spec, key)
    if loaded is None:
        raise InvalidKeyMaterialError(f"the stored key is not a {spec} key")
    return LoadedKey(spec, loaded)


# -- signing -------------------------------------------------------------------------------


def _signing(key: LoadedKey, algorithm: str) -> _Signing:
    scheme = _SIGNING.get(algorithm)
    if scheme is None or key.spec not in scheme.specs:
        raise _incompatible(algorithm, key.spec)
    return scheme


def _prepare(
    scheme: _Signing, algorithm: str, message: bytes, message_type: str
) -> hashes.HashAlgorithm | Prehashed:
    """Check ``message_type`` against the algorithm; the hash argument pyca wants."""
    if message_type not in ("RAW", "DIGEST", "EXTERNAL_MU"):
        raise ValidationException(f"MessageType {message_type} is not valid.")
    family = scheme.family
    if message_type == "EXTERNAL_MU":
        if family is not _Family.ML_DSA:
            raise ValidationException(
                f"MessageType EXTERNAL_MU is valid only for ML-DSA, not for {algorithm}."
            )
        if len(message) != _EXTERNAL_MU_LEN:
            raise ValidationException("An EXTERNAL_MU message must be 64 bytes.")
        raise UnsupportedOperationException(
            "MessageType EXTERNAL_MU is not supported by this OpenKMS server: its cryptography "
            "library (pyca/cryptography 48) cannot sign or verify an external ML-DSA mu."
        )
    if family is _Family.ML_DSA and message_type == "DIGEST":
        raise ValidationException(
            f"MessageType DIGEST is not valid for {algorithm}; use RAW or EXTERNAL_MU."
        )
    if family is _Family.ED25519 and message_type != "RAW":
        raise ValidationException(f"{algorithm} requires MessageType RAW.")
    if family is _Family.ED25519_PH and message_type != "DIGEST":
        raise ValidationException(f"{algorithm} requires MessageType DIGEST.")
    if message_type == "DIGEST":
        if len(message) != scheme.hash.digest_size:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
        if family is _Family.ED25519_PH:
            raise UnsupportedOperationException(
                "ED25519_PH_SHA_512 (Ed25519ph) is not supported by this OpenKMS server: its "
                "cryptography library (pyca/cryptography) implements only pure Ed25519."
            )
        return Prehashed(scheme.hash)
    return scheme.hash


def sign(key: LoadedKey, algorithm: str, message: bytes, message_type: str) -> bytes:
    """Sign ``message`` (RAW) or a precomputed digest (DIGEST) as the Sign operation does."""
    scheme = _signing(key, algorithm)
    hash_arg = _prepare(scheme, algorithm, message, message_type)
    private = key.private
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(message, _RSA_PADDING[algorithm], hash_arg)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(hash_arg))
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(message)
    if private is None:  # an HMAC key; _signing() has refused it already
        raise _incompatible(algorithm, key.spec)
    return private.sign(message, b"")


def verify(
    key: LoadedKey, algorithm: str, message: bytes, message_type: str, signature: bytes
) -> None:
    """Raise KMSInvalidSignatureException unless ``signature`` verifies; return nothing."""
    scheme = _signing(key, algorithm)
    hash_arg = _prepare(scheme, algorithm, message, message_type)
    public = key.public
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, _RSA_PADDING[algorithm], hash_arg)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hash_arg))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        elif public is None:
            raise _incompatible(algorithm, key.spec)
        else:
            public.verify(signature, message, b"")
    except InvalidSignature:
        raise KMSInvalidSignatureException() from None


# -- RSA encryption ------------------------------------------------------------------------


def max_rsa_plaintext(spec: str, algorithm: str) -> int:
    """The OAEP plaintext limit ``k - 2*hLen - 2`` (RSA_2048 with SHA-256: 190 bytes)."""
    if spec not in _RSA_BITS or algorithm not in _OAEP_HASH:
        raise _incompatible(algorithm, spec)
    return _RSA_BITS[spec] // 8 - 2 * _OAEP_HASH[algorithm].digest_size - 2


def rsa_encrypt(key: LoadedKey, algorithm: str, plaintext: bytes) -> bytes:
    public = key.public
    if algorithm not in _OAEP or not isinstance(public, rsa.RSAPublicKey):
        raise _incompatible(algorithm, key.spec)
    limit = max_rsa_plaintext(key.spec, algorithm)
    if len(plaintext) > limit:
        raise ValidationException(
            f"Plaintext is too long: {algorithm} with a {key.spec} key encrypts at most "
            f"{limit} bytes."
        )
    return public.encrypt(plaintext, _OAEP[algorithm])


def rsa_decrypt(key: LoadedKey, algorithm: str, ciphertext: bytes) -> bytes:
    """OAEP-decrypt; any failure is one opaque InvalidCiphertextException."""
    private = key.private
    if algorithm not in _OAEP or not isinstance(private, rsa.RSAPrivateKey):
        raise _incompatible(algorithm, key.spec)
    try:
        return private.decrypt(ciphertext, _OAEP[algorithm])
    except ValueError:  # pyca's one error for a bad length, bad padding or a wrong key
        raise InvalidCiphertextException() from None


# -- key agreement -------------------------------------------------------------------------


def derive_shared_secret(key: LoadedKey, peer_public_key_der: bytes) -> bytes:
    """ECDH: the raw shared secret (the X coordinate) with a DER SPKI peer public key."""
    private = key.private
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise _incompatible("ECDH", key.spec)
    try:
        peer = serialization.load_der_public_key(peer_public_key_der)
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationException() from None  # AWS answers a PublicKey it cannot parse so
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise ValidationException("PublicKey is not an elliptic curve public key.")
    if peer.curve.name != private.curve.name:
        raise ValidationException(
            f"PublicKey is on curve {peer.curve.name}, but the KMS key ({key.spec}) is on "
            f"{private.curve.name}; both key pairs must be on the same curve."
        )
    return private.exchange(ec.ECDH(), peer)
