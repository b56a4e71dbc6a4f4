"""Imported key material (BYOK): wrapping key pairs, unwrapping, and checking what arrives.

AWS's import flow ("Importing key material", developer guide, pages
``importing-keys-get-public-key-and-token`` and ``importing-keys-encrypt-key-material``):
the caller gets an RSA public *wrapping key* and encrypts its key material with it:

* ``RSAES_OAEP_SHA_1`` / ``RSAES_OAEP_SHA_256``: the material, RSA-OAEP encrypted
  directly (MGF1 with the same hash, no label).
* ``RSA_AES_KEY_WRAP_SHA_1`` / ``RSA_AES_KEY_WRAP_SHA_256``: a fresh 256-bit AES key,
  RSA-OAEP encrypted (same hashes), followed by the material wrapped under that AES key
  with AES Key Wrap with Padding (RFC 5649; ``openssl enc -id-aes256-wrap-pad``). This is
  PKCS#11's CKM_RSA_AES_KEY_WRAP, and the only way to bring an RSA private key.

Material, as AWS requires it ("Requirements for imported key material"): 256-bit
symmetric keys; HMAC keys of the spec's allowed lengths; asymmetric private keys as
PKCS#8 DER. Errors (from :mod:`openkms.errors`)::

    InvalidCiphertextException     the wrapped material does not unwrap (one opaque error)
    IncorrectKeyMaterialException  it unwraps, but is not key material of the key's spec
"""

from __future__ import annotations

import threading

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from openkms.crypto import asymmetric, mac
from openkms.errors import IncorrectKeyMaterialException, InvalidCiphertextException

WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_OAEP_HASH: dict[str, type[hashes.SHA1] | type[hashes.SHA256]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1,
    "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256,
}
#: Wrapping algorithms this server accepts (RSAES_PKCS1_V1_5 is refused, as AWS has
#: since 2023; SM2PKE exists only in AWS's China Regions).
WRAPPING_ALGORITHMS = frozenset(_OAEP_HASH)
EPHEMERAL_AES_KEY_LEN = 32
SYMMETRIC_MATERIAL_LEN = 32


def new_wrapping_key(spec: str) -> tuple[bytes, bytes]:
    """A fresh RSA wrapping key pair: (PKCS#8 DER private key, DER SPKI public key)."""
    if spec not in WRAPPING_KEY_BITS:
        raise ValueError(f"not a wrapping key spec: {spec}")
    return asymmetric.generate_data_key_pair(spec)


class WrappingKeyStock:
    """Keeps one fresh wrapping key pair per spec ready, made on a background thread.

    Finding RSA-4096 primes takes 0.1–1 s; made inside a request it would hold up every
    other request of the process. A request takes the ready pair (or, if a burst used it
    up, makes one itself) and a new one is started at once. Each pair is handed out once.
    """

    def __init__(self) -> None:
        self._ready: dict[str, tuple[bytes, bytes]] = {}
        self._filling: set[str] = set()
        self._lock = threading.Lock()

    def take(self, spec: str) -> tuple[bytes, bytes]:
        with self._lock:
            pair = self._ready.pop(spec, None)
        self._refill(spec)
        return pair if pair is not None else new_wrapping_key(spec)

    def _refill(self, spec: str) -> None:
        with self._lock:
            if spec in self._filling or spec in self._ready:
                return
            self._filling.add(spec)

        def fill() -> None:
            try:
                pair = new_wrapping_key(spec)
                with self._lock:
                    self._ready[spec] = pair
            finally:
                with self._lock:
                    self._filling.discard(spec)

        threading.Thread(target=fill, name=f"openkms-wrapping-{spec}", daemon=True).start()


def _oaep(algorithm: str) -> padding.OAEP:
    h = _OAEP_HASH[algorithm]
    return padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)


def unwrap_material(private_key_der: bytes, algorithm: str, wrapped: bytes) -> bytes:
    """The key material inside ``wrapped``; any failure is InvalidCiphertextException."""
    key = serialization.load_der_private_key(
        private_key_der, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey) or algorithm not in _OAEP_HASH:
        raise InvalidCiphertextException()
    size = key.key_size // 8
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return key.decrypt(wrapped, _oaep(algorithm))
        if len(wrapped) <= size:
            raise InvalidCiphertextException()
        aes_key = key.decrypt(wrapped[:size], _oaep(algorithm))
        if len(aes_key) != EPHEMERAL_AES_KEY_LEN:
            raise InvalidCiphertextException()
        return aes_key_unwrap_with_padding(aes_key, wrapped[size:])
    except (ValueError, InvalidUnwrap):
        raise InvalidCiphertextException() from None


def canonical_material(spec: str, material: bytes) -> bytes:
    """Check that ``material`` is key material of ``spec`` and return it in the one form
    it is stored and fingerprinted in (PKCS#8 DER re-encoded for asymmetric keys, so the
    same key sent twice in different encodings is recognised as the same material)."""
    if spec == "SYMMETRIC_DEFAULT":
        if len(material) != SYMMETRIC_MATERIAL_LEN:
            raise IncorrectKeyMaterialException(
                "Key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 bytes)."
            )
        return bytes(material)
    if spec in mac.HMAC_SPECS:
        if not mac.valid_key_length(spec, len(material)):
            raise IncorrectKeyMaterialException(
                f"The key material length is not valid for a {spec} key."
            )
        return bytes(material)
    try:
        key = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise IncorrectKeyMaterialException(
            f"Key material for a {spec} key must be a private key in PKCS#8 DER form."
        ) from None
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        asymmetric.load_private_key(spec, der, trusted=True)
    except asymmetric.InvalidKeyMaterialError:
        raise IncorrectKeyMaterialException(
            f"The imported key material is not a {spec} private key."
        ) from None
    return der
