"""HMAC KMS keys: GenerateMac and VerifyMac as RFC 2104 HMAC with SHA-2.

Key specs and generated key lengths follow "HMAC keys in AWS KMS"
(https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html): ``HMAC_224`` keys
are 224 bits, ``HMAC_256`` 256, ``HMAC_384`` 384 and ``HMAC_512`` 512. Each key spec
allows exactly one ``MacAlgorithm`` (``HMAC_256`` -> ``HMAC_SHA_256``, ...). Keys are
parsed by :func:`openkms.crypto.asymmetric.load_private_key` like every other spec.

Errors (from :mod:`openkms.errors`)::

    InvalidKeyUsageException   a MAC algorithm the key spec does not support
    KMSInvalidMacException     verify_mac(): the MAC does not match
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING

from openkms.errors import InvalidKeyUsageException, KMSInvalidMacException

if TYPE_CHECKING:
    from openkms.crypto.loaded import LoadedKey

#: HMAC key spec -> (generated key length in bytes, hashlib name, hash block size).
HMAC_SPECS: dict[str, tuple[int, str, int]] = {
    "HMAC_224": (28, "sha224", 64),
    "HMAC_256": (32, "sha256", 64),
    "HMAC_384": (48, "sha384", 128),
    "HMAC_512": (64, "sha512", 128),
}
_ALGORITHM_HASH = {f"HMAC_SHA_{n}": f"sha{n}" for n in (224, 256, 384, 512)}


def new_key(spec: str) -> bytes:
    """Random key material of the spec's length (HMAC_256: 32 bytes)."""
    return os.urandom(HMAC_SPECS[spec][0])


#: Imported HMAC keys may be up to 1024 bits for every spec ("Requirements for imported
#: key material"); RFC 2104 hashes keys longer than the block size first.
MAX_HMAC_KEY_LEN = 128


def valid_key_length(spec: str, length: int) -> bool:
    """Stored (or imported) keys run from the spec's length up to 1024 bits."""
    nominal = HMAC_SPECS[spec][0]
    return nominal <= length <= MAX_HMAC_KEY_LEN


def _hash_name(key: LoadedKey, algorithm: str) -> str:
    name = _ALGORITHM_HASH.get(algorithm)
    spec = HMAC_SPECS.get(key.spec)
    if name is None or spec is None or spec[1] != name:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {key.spec}."
        )
    return name


def generate_mac(key: LoadedKey, algorithm: str, message: bytes) -> bytes:
    return hmac.digest(key.hmac_key, message, _hash_name(key, algorithm))


def verify_mac(key: LoadedKey, algorithm: str, message: bytes, mac: bytes) -> None:
    """Raise KMSInvalidMacException unless ``mac`` matches; compared in constant time."""
    expected = hmac.digest(key.hmac_key, message, _hash_name(key, algorithm))
    if not hmac.compare_digest(expected, mac):
        raise KMSInvalidMacException()
