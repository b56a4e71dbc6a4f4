"""Imported key material: unwrapping what the openssl CLI wrapped, as AWS's docs do it, and
checking material against key specs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from openkms.crypto import importing
from openkms.crypto.keyring import SoftwareKeyring
from openkms.errors import IncorrectKeyMaterialException, InvalidCiphertextException

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


@pytest.fixture(scope="module")
def wrapping() -> tuple[bytes, bytes]:
    return importing.new_wrapping_key("RSA_2048")


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _openssl_oaep(tmp: Path, public_der: bytes, data: bytes, md: str) -> bytes:
    """RSA-OAEP with the openssl CLI exactly as AWS's import guide writes it."""
    (tmp / "pub.der").write_bytes(public_der)
    (tmp / "in.bin").write_bytes(data)
    subprocess.run(
        [
            "openssl", "pkeyutl", "-encrypt", "-in", str(tmp / "in.bin"),
            "-out", str(tmp / "out.bin"), "-inkey", str(tmp / "pub.der"), "-keyform", "DER",
            "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
            "-pkeyopt", f"rsa_mgf1_md:{md}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (tmp / "out.bin").read_bytes()


@needs_openssl
@pytest.mark.parametrize(
    ("algorithm", "md"), [("RSAES_OAEP_SHA_1", "sha1"), ("RSAES_OAEP_SHA_256", "sha256")]
)
def test_oaep_wrapped_by_openssl(tmp_path, wrapping, algorithm, md) -> None:
    private, public = wrapping
    material = os.urandom(32)
    wrapped = _openssl_oaep(tmp_path, public, material, md)
    assert importing.unwrap_material(private, algorithm, wrapped) == material


@needs_openssl
@pytest.mark.parametrize(
    ("algorithm", "md"),
    [("RSA_AES_KEY_WRAP_SHA_1", "sha1"), ("RSA_AES_KEY_WRAP_SHA_256", "sha256")],
)
def test_rsa_aes_key_wrap_made_by_openssl(tmp_path, wrapping, algorithm, md) -> None:
    """AWS's recipe: openssl rand 32; openssl enc -id-aes256-wrap-pad; pkeyutl OAEP; cat."""
    private, public = wrapping
    material = _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    aes_key = os.urandom(32)
    (tmp_path / "material.der").write_bytes(material)
    subprocess.run(
        [
            "openssl", "enc", "-id-aes256-wrap-pad", "-K", aes_key.hex(), "-iv", "A65959A6",
            "-in", str(tmp_path / "material.der"), "-out", str(tmp_path / "wrapped.bin"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    blob = _openssl_oaep(tmp_path, public, aes_key, md) + (tmp_path / "wrapped.bin").read_bytes()
    assert importing.unwrap_material(private, algorithm, blob) == material


def test_wrong_hash_or_wrong_key_is_one_opaque_error(wrapping) -> None:
    private, public = wrapping
    key = serialization.load_der_public_key(public)
    assert isinstance(key, rsa.RSAPublicKey)
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    wrapped = key.encrypt(os.urandom(32), sha1)
    with pytest.raises(InvalidCiphertextException):
        importing.unwrap_material(private, "RSAES_OAEP_SHA_256", wrapped)
    other, _ = importing.new_wrapping_key("RSA_2048")
    with pytest.raises(InvalidCiphertextException):
        importing.unwrap_material(other, "RSAES_OAEP_SHA_1", wrapped)
    aes_key = os.urandom(32)
    tampered = bytearray(key.encrypt(aes_key, sha1) + aes_key_wrap_with_padding(aes_key, b"m" * 32))
    tampered[-1] ^= 1
    with pytest.raises(InvalidCiphertextException):
        importing.unwrap_material(private, "RSA_AES_KEY_WRAP_SHA_1", bytes(tampered))
    with pytest.raises(InvalidCiphertextException):
        importing.unwrap_material(private, "RSA_AES_KEY_WRAP_SHA_1", wrapped)  # RSA part only


def test_symmetric_material_must_be_256_bits() -> None:
    assert importing.canonical_material("SYMMETRIC_DEFAULT", b"k" * 32) == b"k" * 32
    for size in (16, 31, 33, 64):
        with pytest.raises(IncorrectKeyMaterialException):
            importing.canonical_material("SYMMETRIC_DEFAULT", b"k" * size)


@pytest.mark.parametrize(
    ("spec", "smallest"), [("HMAC_224", 28), ("HMAC_256", 32), ("HMAC_384", 48), ("HMAC_512", 64)]
)
def test_hmac_material_runs_from_the_spec_length_to_1024_bits(spec, smallest) -> None:
    for good in (smallest, 128):
        assert importing.canonical_material(spec, b"h" * good) == b"h" * good
    for bad in (smallest - 1, 129):
        with pytest.raises(IncorrectKeyMaterialException):
            importing.canonical_material(spec, b"h" * bad)


def test_asymmetric_material_is_pkcs8_of_the_right_spec_and_canonicalised() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = _pkcs8(key)
    traditional = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    # Same key in two encodings: one stored form, hence one fingerprint (KeyMaterialId).
    assert importing.canonical_material("ECC_NIST_P256", traditional) == pkcs8
    assert importing.canonical_material("ECC_NIST_P256", pkcs8) == pkcs8
    with pytest.raises(IncorrectKeyMaterialException):
        importing.canonical_material("ECC_NIST_P384", pkcs8)
    with pytest.raises(IncorrectKeyMaterialException):
        importing.canonical_material("RSA_2048", pkcs8)
    with pytest.raises(IncorrectKeyMaterialException):
        importing.canonical_material("ECC_NIST_P256", b"not a key")
    edwards = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(IncorrectKeyMaterialException):
        importing.canonical_material("ECC_NIST_P256", edwards)


def test_fingerprints_are_keyed_and_bound_to_their_context() -> None:
    ring = SoftwareKeyring(b"r" * 32)
    first = ring.fingerprint(b"material", b"kms-imported-material:key-a")
    assert first == ring.fingerprint(b"material", b"kms-imported-material:key-a")
    assert first != ring.fingerprint(b"material", b"kms-imported-material:key-b")
    assert first != SoftwareKeyring(b"s" * 32).fingerprint(
        b"material", b"kms-imported-material:key-a"
    )
    assert len(first) == 32
    # Not a plain hash of the material: the root key is in it.
    h = hmac.HMAC(b"\x00" * 32, hashes.SHA256())
    h.update(b"material")
    assert first != h.finalize()
