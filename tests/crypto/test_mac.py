"""HMAC keys: GenerateMac / VerifyMac against Python's ``hmac`` module."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from openkms.crypto import asymmetric, mac
from openkms.crypto.asymmetric import InvalidKeyMaterialError
from openkms.errors import (
    InvalidKeyUsageException,
    KMSInvalidMacException,
    UnsupportedOperationException,
)

#: key spec -> (AWS key length in bytes, the one MacAlgorithm it allows, hashlib name)
HMAC_SPECS = {
    "HMAC_224": (28, "HMAC_SHA_224", "sha224"),
    "HMAC_256": (32, "HMAC_SHA_256", "sha256"),
    "HMAC_384": (48, "HMAC_SHA_384", "sha384"),
    "HMAC_512": (64, "HMAC_SHA_512", "sha512"),
}
MESSAGES = [b"", b"m", b"Hello, HMAC \x00\xff" * 300]


@pytest.mark.parametrize("spec", sorted(HMAC_SPECS))
def test_generate_mac_is_standard_hmac(spec: str) -> None:
    length, algorithm, hash_name = HMAC_SPECS[spec]
    material = asymmetric.generate_private_key(spec)
    assert len(material) == length
    assert material != asymmetric.generate_private_key(spec)
    key = asymmetric.load_private_key(spec, material)
    assert key.spec == spec
    for message in MESSAGES:
        tag = mac.generate_mac(key, algorithm, message)
        assert tag == hmac.new(material, message, getattr(hashlib, hash_name)).digest()
        assert len(tag) == hashlib.new(hash_name).digest_size
        mac.verify_mac(key, algorithm, message, tag)


@pytest.mark.parametrize("spec", sorted(HMAC_SPECS))
def test_verify_mac_refuses_tampered_macs_and_messages(spec: str) -> None:
    _, algorithm, _ = HMAC_SPECS[spec]
    key = asymmetric.load_private_key(spec, asymmetric.generate_private_key(spec))
    tag = mac.generate_mac(key, algorithm, b"message")
    tampered = bytearray(tag)
    tampered[0] ^= 0x01
    for bad in (bytes(tampered), tag[:-1], tag + b"\x00", b""):
        with pytest.raises(KMSInvalidMacException) as exc:
            mac.verify_mac(key, algorithm, b"message", bad)
        assert exc.value.message == ""
    with pytest.raises(KMSInvalidMacException):
        mac.verify_mac(key, algorithm, b"messagE", tag)
    other = asymmetric.load_private_key(spec, asymmetric.generate_private_key(spec))
    with pytest.raises(KMSInvalidMacException):
        mac.verify_mac(other, algorithm, b"message", tag)


def test_each_spec_allows_only_its_own_algorithm() -> None:
    key = asymmetric.load_private_key("HMAC_256", asymmetric.generate_private_key("HMAC_256"))
    for algorithm in (
        "HMAC_SHA_224",
        "HMAC_SHA_384",
        "HMAC_SHA_512",
        "HMAC_SHA_1",
        "ECDSA_SHA_256",
    ):
        with pytest.raises(InvalidKeyUsageException) as exc:
            mac.generate_mac(key, algorithm, b"m")
        assert exc.value.message == f"Algorithm {algorithm} is incompatible with key spec HMAC_256."
        with pytest.raises(InvalidKeyUsageException):
            mac.verify_mac(key, algorithm, b"m", b"\x00" * 32)


def test_hmac_keys_refuse_asymmetric_operations_and_vice_versa() -> None:
    key = asymmetric.load_private_key("HMAC_384", asymmetric.generate_private_key("HMAC_384"))
    with pytest.raises(UnsupportedOperationException):
        key.public_key_der()
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.sign(key, "ECDSA_SHA_384", b"m", "RAW")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.rsa_encrypt(key, "RSAES_OAEP_SHA_256", b"m")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.derive_shared_secret(key, b"")
    ec_key = asymmetric.load_private_key(
        "ECC_NIST_P256", asymmetric.generate_private_key("ECC_NIST_P256")
    )
    with pytest.raises(InvalidKeyUsageException):
        mac.generate_mac(ec_key, "HMAC_SHA_256", b"m")


@pytest.mark.parametrize(
    ("spec", "shortest", "longest"),
    # Up to 1024 bits for every spec, as AWS accepts for imported HMAC key material.
    [("HMAC_224", 28, 128), ("HMAC_256", 32, 128), ("HMAC_384", 48, 128), ("HMAC_512", 64, 128)],
)
def test_key_length_range_on_load(spec: str, shortest: int, longest: int) -> None:
    for length in (shortest, longest):
        asymmetric.load_private_key(spec, b"k" * length)
    for length in (0, shortest - 1, longest + 1):
        with pytest.raises(InvalidKeyMaterialError):
            asymmetric.load_private_key(spec, b"k" * length)
