"""Asymmetric key specs: generation, loading, Sign/Verify, RSA OAEP, ECDH, data key pairs.

Every signature is also checked by a verifier that does not go through our module (pyca
public-key APIs built from the SPKI we export), and one per family by the ``openssl``
command line. Keys are generated once per module: RSA_4096 generation and the RSA
consistency check on load take most of this file's run time.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from openkms.crypto import asymmetric
from openkms.crypto.asymmetric import InvalidKeyMaterialError
from openkms.crypto.loaded import LoadedKey
from openkms.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)

RSA_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
ECC_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"]
ML_DSA_SPECS = ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"]
ASYMMETRIC_SPECS = [*RSA_SPECS, *ECC_SPECS, "ECC_NIST_EDWARDS25519", *ML_DSA_SPECS]

RSA_SIGNING = [
    f"{scheme}_SHA_{bits}"
    for scheme in ("RSASSA_PSS", "RSASSA_PKCS1_V1_5")
    for bits in (256, 384, 512)
]
SIGNING_ALGORITHMS: dict[str, list[str]] = {
    **{spec: RSA_SIGNING for spec in RSA_SPECS},
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512"],
    **{spec: ["ML_DSA_SHAKE_256"] for spec in ML_DSA_SPECS},
}
CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(),
    "ECC_NIST_P384": ec.SECP384R1(),
    "ECC_NIST_P521": ec.SECP521R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
}
#: AWS's documented RSAES_OAEP plaintext limits.
OAEP_LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
    ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}
MESSAGE = b"The quick brown fox jumps over the lazy dog\x00\xff" * 20


def _hash_name(algorithm: str) -> str:
    return "sha" + algorithm.rsplit("_", 1)[1]  # ..._SHA_256 -> sha256


def _pyca_hash(algorithm: str) -> hashes.HashAlgorithm:
    return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
        _hash_name(algorithm)
    ]


def _message_types(algorithm: str) -> list[str]:
    return ["RAW"] if algorithm in ("ED25519_SHA_512", "ML_DSA_SHAKE_256") else ["RAW", "DIGEST"]


def _input(algorithm: str, message_type: str, message: bytes = MESSAGE) -> bytes:
    return (
        hashlib.new(_hash_name(algorithm), message).digest()
        if message_type == "DIGEST"
        else message
    )


SIGN_CASES = [
    (spec, algorithm, message_type)
    for spec, algorithms in SIGNING_ALGORITHMS.items()
    for algorithm in algorithms
    for message_type in _message_types(algorithm)
]


@pytest.fixture(scope="module")
def materials() -> dict[str, bytes]:
    return {spec: asymmetric.generate_private_key(spec) for spec in ASYMMETRIC_SPECS}


@pytest.fixture(scope="module")
def keys(materials: dict[str, bytes]) -> dict[str, LoadedKey]:
    return {spec: asymmetric.load_private_key(spec, m) for spec, m in materials.items()}


@pytest.fixture(scope="module")
def data_key_pairs() -> dict[str, tuple[bytes, bytes]]:
    return {
        spec: asymmetric.generate_data_key_pair(spec)
        for spec in sorted(asymmetric.DATA_KEY_PAIR_SPECS)
    }


def _pyca_private(der: bytes) -> PrivateKeyTypes:
    """Load with pyca directly; RSA consistency is checked once, by the ``keys`` fixture."""
    return serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )


def _public(key: LoadedKey) -> PublicKeyTypes:
    return serialization.load_der_public_key(key.public_key_der())


def independent_verify(
    spki: bytes, algorithm: str, message: bytes, message_type: str, signature: bytes
) -> None:
    """Verify with pyca directly (raises InvalidSignature), not through openkms."""
    public = serialization.load_der_public_key(spki)
    if algorithm == "ML_DSA_SHAKE_256":
        assert isinstance(
            public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
        )
        public.verify(signature, message)
        return
    if algorithm == "ED25519_SHA_512":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
        return
    h = _pyca_hash(algorithm)
    chosen: hashes.HashAlgorithm | Prehashed = Prehashed(h) if message_type == "DIGEST" else h
    if algorithm.startswith("RSASSA_PSS"):
        assert isinstance(public, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
        public.verify(signature, message, pss, chosen)
    elif algorithm.startswith("RSASSA_PKCS1_V1_5"):
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), chosen)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(chosen))


# -- generation and loading ----------------------------------------------------------------


@pytest.mark.parametrize("spec", ASYMMETRIC_SPECS)
def test_generated_material_is_pkcs8_of_the_spec(
    spec: str, materials: dict[str, bytes], keys: dict[str, LoadedKey]
) -> None:
    private = _pyca_private(materials[spec])
    if spec in RSA_SPECS:
        assert isinstance(private, rsa.RSAPrivateKey)
        assert private.key_size == int(spec[4:])
        assert private.public_key().public_numbers().e == 65537
    elif spec in ECC_SPECS:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert private.curve.name == CURVES[spec].name
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(private, ed25519.Ed25519PrivateKey)
    else:
        kind = {
            "ML_DSA_44": mldsa.MLDSA44PrivateKey,
            "ML_DSA_65": mldsa.MLDSA65PrivateKey,
            "ML_DSA_87": mldsa.MLDSA87PrivateKey,
        }[spec]
        assert isinstance(private, kind)
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert keys[spec].public_key_der() == spki
    assert keys[spec].spec == spec
    assert not hasattr(keys[spec], "__dict__")  # __slots__


def test_fresh_material_every_time() -> None:
    assert asymmetric.generate_private_key("ECC_NIST_P256") != asymmetric.generate_private_key(
        "ECC_NIST_P256"
    )


@pytest.mark.parametrize(
    ("material_spec", "load_as"),
    [
        ("ECC_NIST_P256", "ECC_NIST_P384"),
        ("ECC_NIST_P256", "ECC_SECG_P256K1"),
        ("RSA_2048", "RSA_3072"),
        ("ML_DSA_44", "ML_DSA_65"),
        ("ECC_NIST_EDWARDS25519", "ECC_NIST_P256"),
        ("ECC_NIST_P256", "RSA_2048"),
    ],
)
def test_load_refuses_material_of_another_spec(
    material_spec: str, load_as: str, materials: dict[str, bytes]
) -> None:
    with pytest.raises(InvalidKeyMaterialError):
        asymmetric.load_private_key(load_as, materials[material_spec])


def test_load_refuses_garbage_and_unknown_specs(materials: dict[str, bytes]) -> None:
    with pytest.raises(InvalidKeyMaterialError):
        asymmetric.load_private_key("ECC_NIST_P256", b"\x30\x03\x02\x01\x00")
    with pytest.raises(InvalidKeyMaterialError):
        asymmetric.load_private_key("RSA_2048", materials["RSA_2048"][:-1])
    for spec in ("SM2", "ML_KEM_768", "SYMMETRIC_DEFAULT"):
        with pytest.raises(UnsupportedOperationException):
            asymmetric.generate_private_key(spec)
        with pytest.raises(UnsupportedOperationException):
            asymmetric.load_private_key(spec, materials["ECC_NIST_P256"])


def test_trusted_load_skips_nothing_but_the_rsa_check(materials: dict[str, bytes]) -> None:
    key = asymmetric.load_private_key("RSA_2048", materials["RSA_2048"], trusted=True)
    signature = asymmetric.sign(key, "RSASSA_PSS_SHA_256", MESSAGE, "RAW")
    independent_verify(key.public_key_der(), "RSASSA_PSS_SHA_256", MESSAGE, "RAW", signature)
    with pytest.raises(InvalidKeyMaterialError):  # the spec check still runs
        asymmetric.load_private_key("RSA_3072", materials["RSA_2048"], trusted=True)


def test_operations_never_reparse(
    keys: dict[str, LoadedKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("key material parsed again")

    monkeypatch.setattr(serialization, "load_der_private_key", refuse)
    for spec, algorithm, message_type in SIGN_CASES[::3]:
        data = _input(algorithm, message_type)
        signature = asymmetric.sign(keys[spec], algorithm, data, message_type)
        asymmetric.verify(keys[spec], algorithm, data, message_type, signature)
    blob = asymmetric.rsa_encrypt(keys["RSA_2048"], "RSAES_OAEP_SHA_256", b"x")
    assert asymmetric.rsa_decrypt(keys["RSA_2048"], "RSAES_OAEP_SHA_256", blob) == b"x"


# -- Sign / Verify -------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_sign_verify_round_trip_and_independent_verification(
    spec: str, algorithm: str, message_type: str, keys: dict[str, LoadedKey]
) -> None:
    key = keys[spec]
    data = _input(algorithm, message_type)
    signature = asymmetric.sign(key, algorithm, data, message_type)
    asymmetric.verify(key, algorithm, data, message_type, signature)
    independent_verify(key.public_key_der(), algorithm, data, message_type, signature)
    # A DIGEST signature is a signature over the original message: the digest is not re-hashed.
    independent_verify(key.public_key_der(), algorithm, MESSAGE, "RAW", signature)
    if (
        message_type == "DIGEST"
    ):  # and Verify accepts either message type for it (AWS: need not match)
        asymmetric.verify(key, algorithm, MESSAGE, "RAW", signature)
    elif algorithm in RSA_SIGNING or algorithm.startswith("ECDSA"):
        asymmetric.verify(key, algorithm, _input(algorithm, "DIGEST"), "DIGEST", signature)


@pytest.mark.parametrize(("spec", "algorithm", "message_type"), SIGN_CASES)
def test_tampered_signature_or_message_fails(
    spec: str, algorithm: str, message_type: str, keys: dict[str, LoadedKey]
) -> None:
    key = keys[spec]
    data = _input(algorithm, message_type)
    signature = asymmetric.sign(key, algorithm, data, message_type)
    tampered = bytearray(signature)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(KMSInvalidSignatureException) as exc:
        asymmetric.verify(key, algorithm, data, message_type, bytes(tampered))
    assert exc.value.message == ""
    other = _input(algorithm, message_type, MESSAGE + b"!")
    with pytest.raises(KMSInvalidSignatureException):
        asymmetric.verify(key, algorithm, other, message_type, signature)
    for junk in (b"", signature[:-1], signature + b"\x00", b"\x30\x06\x02\x01\x01\x02\x01\x01"):
        with pytest.raises(KMSInvalidSignatureException):
            asymmetric.verify(key, algorithm, data, message_type, junk)


def test_signature_from_another_key_fails(keys: dict[str, LoadedKey]) -> None:
    other = asymmetric.load_private_key(
        "ECC_NIST_P256", asymmetric.generate_private_key("ECC_NIST_P256")
    )
    signature = asymmetric.sign(other, "ECDSA_SHA_256", MESSAGE, "RAW")
    with pytest.raises(KMSInvalidSignatureException):
        asymmetric.verify(keys["ECC_NIST_P256"], "ECDSA_SHA_256", MESSAGE, "RAW", signature)


def test_pss_uses_digest_length_salt(keys: dict[str, LoadedKey]) -> None:
    key = keys["RSA_2048"]
    signature = asymmetric.sign(key, "RSASSA_PSS_SHA_384", MESSAGE, "RAW")
    public = _public(key)
    assert isinstance(public, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):  # a salt of any other length does not verify
        public.verify(
            signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA384()), 0), hashes.SHA384()
        )
    # MGF1 uses the same hash as the message: SHA-256 MGF1 does not verify.
    with pytest.raises(InvalidSignature):
        public.verify(
            signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 48), hashes.SHA384()
        )


DIGEST_ALGORITHMS = [("RSA_2048", algorithm) for algorithm in RSA_SIGNING] + [
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
]


@pytest.mark.parametrize(("spec", "algorithm"), DIGEST_ALGORITHMS)
def test_wrong_digest_length_is_a_validation_error(
    spec: str, algorithm: str, keys: dict[str, LoadedKey]
) -> None:
    good = _input(algorithm, "DIGEST")
    for bad in (good[:-1], good + b"\x00", b"", hashlib.sha1(MESSAGE).digest()):
        with pytest.raises(ValidationException) as exc:
            asymmetric.sign(keys[spec], algorithm, bad, "DIGEST")
        assert exc.value.message == f"Digest is invalid length for algorithm {algorithm}."
        with pytest.raises(ValidationException) as exc:
            asymmetric.verify(keys[spec], algorithm, bad, "DIGEST", b"sig")
        assert exc.value.message == f"Digest is invalid length for algorithm {algorithm}."


def test_ecdsa_sha_256_digest_message_exact_wording(keys: dict[str, LoadedKey]) -> None:
    with pytest.raises(ValidationException) as exc:
        asymmetric.sign(keys["ECC_NIST_P256"], "ECDSA_SHA_256", b"\x00" * 31, "DIGEST")
    assert str(exc.value) == "Digest is invalid length for algorithm ECDSA_SHA_256."


def test_ed25519_message_types(keys: dict[str, LoadedKey]) -> None:
    key = keys["ECC_NIST_EDWARDS25519"]
    digest = hashlib.sha512(MESSAGE).digest()
    with pytest.raises(ValidationException, match="ED25519_SHA_512 requires MessageType RAW"):
        asymmetric.sign(key, "ED25519_SHA_512", digest, "DIGEST")
    with pytest.raises(ValidationException, match="ED25519_PH_SHA_512 requires MessageType DIGEST"):
        asymmetric.sign(key, "ED25519_PH_SHA_512", MESSAGE, "RAW")
    with pytest.raises(
        ValidationException, match="Digest is invalid length for algorithm ED25519_PH_SHA_512"
    ):
        asymmetric.sign(key, "ED25519_PH_SHA_512", digest[:32], "DIGEST")
    with pytest.raises(UnsupportedOperationException, match="Ed25519ph"):
        asymmetric.sign(key, "ED25519_PH_SHA_512", digest, "DIGEST")
    with pytest.raises(UnsupportedOperationException, match="Ed25519ph"):
        asymmetric.verify(key, "ED25519_PH_SHA_512", digest, "DIGEST", b"\x00" * 64)


@pytest.mark.parametrize("spec", ML_DSA_SPECS)
def test_ml_dsa_message_types(spec: str, keys: dict[str, LoadedKey]) -> None:
    key = keys[spec]
    with pytest.raises(ValidationException, match="DIGEST is not valid for ML_DSA_SHAKE_256"):
        asymmetric.sign(key, "ML_DSA_SHAKE_256", b"\x00" * 64, "DIGEST")
    with pytest.raises(ValidationException, match="must be 64 bytes"):
        asymmetric.sign(key, "ML_DSA_SHAKE_256", b"\x00" * 32, "EXTERNAL_MU")
    with pytest.raises(UnsupportedOperationException, match="external ML-DSA mu"):
        asymmetric.sign(key, "ML_DSA_SHAKE_256", b"\x00" * 64, "EXTERNAL_MU")
    with pytest.raises(UnsupportedOperationException, match="external ML-DSA mu"):
        asymmetric.verify(key, "ML_DSA_SHAKE_256", b"\x00" * 64, "EXTERNAL_MU", b"sig")


def test_ml_dsa_signs_with_an_empty_context(keys: dict[str, LoadedKey]) -> None:
    key = keys["ML_DSA_65"]
    signature = asymmetric.sign(key, "ML_DSA_SHAKE_256", MESSAGE, "RAW")
    public = _public(key)
    assert isinstance(public, mldsa.MLDSA65PublicKey)
    public.verify(signature, MESSAGE, b"")
    with pytest.raises(InvalidSignature):
        public.verify(signature, MESSAGE, b"ctx")


def test_external_mu_and_unknown_message_types_elsewhere(keys: dict[str, LoadedKey]) -> None:
    with pytest.raises(ValidationException, match="EXTERNAL_MU is valid only for ML-DSA"):
        asymmetric.sign(keys["ECC_NIST_P256"], "ECDSA_SHA_256", b"\x00" * 64, "EXTERNAL_MU")
    with pytest.raises(ValidationException, match="MessageType HASHED is not valid"):
        asymmetric.sign(keys["ECC_NIST_P256"], "ECDSA_SHA_256", MESSAGE, "HASHED")


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_384"),
        ("ECC_NIST_P384", "ECDSA_SHA_256"),
        ("ECC_NIST_P521", "ECDSA_SHA_384"),
        ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "ECDSA_SHA_256"),
        ("RSA_2048", "ML_DSA_SHAKE_256"),
        ("ML_DSA_44", "ED25519_SHA_512"),
        ("ECC_NIST_EDWARDS25519", "ECDSA_SHA_512"),
        ("RSA_2048", "SM2DSA"),
        ("RSA_2048", "RSAES_OAEP_SHA_256"),
    ],
)
def test_incompatible_signing_algorithm(
    spec: str, algorithm: str, keys: dict[str, LoadedKey]
) -> None:
    with pytest.raises(InvalidKeyUsageException) as exc:
        asymmetric.sign(keys[spec], algorithm, MESSAGE, "RAW")
    assert exc.value.message == f"Algorithm {algorithm} is incompatible with key spec {spec}."
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.verify(keys[spec], algorithm, MESSAGE, "RAW", b"sig")


# -- openssl command line ------------------------------------------------------------------

OPENSSL = shutil.which("openssl")
#: (key spec, algorithm, message type, openssl verification arguments; {pub}/{sig}/{msg})
OPENSSL_CASES = [
    (
        "RSA_2048",
        "RSASSA_PSS_SHA_256",
        "RAW",
        "dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -sigopt rsa_mgf1_md:sha256 -verify {pub} -signature {sig} {msg}",
    ),
    (
        "RSA_3072",
        "RSASSA_PSS_SHA_512",
        "DIGEST",
        "dgst -sha512 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:64 -sigopt rsa_mgf1_md:sha512 -verify {pub} -signature {sig} {msg}",
    ),
    (
        "RSA_2048",
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RAW",
        "dgst -sha256 -verify {pub} -signature {sig} {msg}",
    ),
    (
        "RSA_4096",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "DIGEST",
        "dgst -sha384 -verify {pub} -signature {sig} {msg}",
    ),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "RAW", "dgst -sha256 -verify {pub} -signature {sig} {msg}"),
    (
        "ECC_SECG_P256K1",
        "ECDSA_SHA_256",
        "DIGEST",
        "dgst -sha256 -verify {pub} -signature {sig} {msg}",
    ),
    ("ECC_NIST_P521", "ECDSA_SHA_512", "RAW", "dgst -sha512 -verify {pub} -signature {sig} {msg}"),
    (
        "ECC_NIST_EDWARDS25519",
        "ED25519_SHA_512",
        "RAW",
        "pkeyutl -verify -pubin -inkey {pub} -rawin -in {msg} -sigfile {sig}",
    ),
]


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line tool is not installed")
@pytest.mark.parametrize(("spec", "algorithm", "message_type", "command"), OPENSSL_CASES)
def test_openssl_verifies_our_signatures(
    spec: str,
    algorithm: str,
    message_type: str,
    command: str,
    keys: dict[str, LoadedKey],
    tmp_path: Path,
) -> None:
    assert OPENSSL is not None
    key = keys[spec]
    signature = asymmetric.sign(key, algorithm, _input(algorithm, message_type), message_type)
    pem = _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "msg.bin").write_bytes(
        MESSAGE
    )  # DIGEST signatures verify over the original message

    def run(sig: bytes) -> subprocess.CompletedProcess[str]:
        (tmp_path / "sig.bin").write_bytes(sig)
        args = command.format(
            pub=tmp_path / "pub.pem", sig=tmp_path / "sig.bin", msg=tmp_path / "msg.bin"
        )
        return subprocess.run([OPENSSL, *args.split()], capture_output=True, text=True, timeout=30)

    good = run(signature)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verified" in good.stdout or "Success" in good.stdout
    tampered = bytearray(signature)
    tampered[len(tampered) // 2] ^= 0x01
    bad = run(bytes(tampered))
    assert bad.returncode != 0


# -- RSA OAEP ------------------------------------------------------------------------------

OAEP_CASES = sorted(OAEP_LIMITS)


def _oaep(algorithm: str) -> padding.OAEP:
    h: hashes.HashAlgorithm = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


@pytest.mark.parametrize(("spec", "algorithm"), OAEP_CASES)
def test_oaep_interoperates_with_pyca(
    spec: str, algorithm: str, keys: dict[str, LoadedKey], materials: dict[str, bytes]
) -> None:
    key = keys[spec]
    public = _public(key)
    assert isinstance(public, rsa.RSAPublicKey)
    for plaintext in (b"", b"\x00", b"secret data key 0123456789abcdef"):
        blob = public.encrypt(plaintext, _oaep(algorithm))  # made outside openkms
        assert asymmetric.rsa_decrypt(key, algorithm, blob) == plaintext
    ours = asymmetric.rsa_encrypt(key, algorithm, b"to pyca")
    assert len(ours) == public.key_size // 8
    private = _pyca_private(materials[spec])
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.decrypt(ours, _oaep(algorithm)) == b"to pyca"


@pytest.mark.parametrize(("spec", "algorithm"), OAEP_CASES)
def test_oaep_plaintext_limit(spec: str, algorithm: str, keys: dict[str, LoadedKey]) -> None:
    limit = OAEP_LIMITS[(spec, algorithm)]
    assert asymmetric.max_rsa_plaintext(spec, algorithm) == limit
    key = keys[spec]
    longest = bytes(range(256)) * 2
    blob = asymmetric.rsa_encrypt(key, algorithm, longest[:limit])
    assert asymmetric.rsa_decrypt(key, algorithm, blob) == longest[:limit]
    with pytest.raises(ValidationException, match=f"at most {limit} bytes"):
        asymmetric.rsa_encrypt(key, algorithm, longest[: limit + 1])
    public = _public(key)
    assert isinstance(public, rsa.RSAPublicKey)
    with pytest.raises(ValueError):  # the limit is OAEP's own, not an arbitrary one
        public.encrypt(longest[: limit + 1], _oaep(algorithm))


def test_oaep_failures_are_one_opaque_error(
    keys: dict[str, LoadedKey], data_key_pairs: dict[str, tuple[bytes, bytes]]
) -> None:
    key = keys["RSA_2048"]
    blob = asymmetric.rsa_encrypt(key, "RSAES_OAEP_SHA_256", b"plaintext")
    tampered = bytearray(blob)
    tampered[10] ^= 0x01
    other_public = serialization.load_der_public_key(data_key_pairs["RSA_2048"][1])
    assert isinstance(other_public, rsa.RSAPublicKey)
    for bad in (
        bytes(tampered),
        blob[:-1],
        blob + b"\x00",
        b"",
        b"\xff" * 256,  # not less than the modulus
        other_public.encrypt(b"plaintext", _oaep("RSAES_OAEP_SHA_256")),  # another key
    ):
        with pytest.raises(InvalidCiphertextException) as exc:
            asymmetric.rsa_decrypt(key, "RSAES_OAEP_SHA_256", bad)
        assert exc.value.message == ""
    with pytest.raises(InvalidCiphertextException):  # encrypted under the other OAEP hash
        asymmetric.rsa_decrypt(key, "RSAES_OAEP_SHA_1", blob)


def test_oaep_incompatible_keys_and_algorithms(keys: dict[str, LoadedKey]) -> None:
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.rsa_encrypt(keys["ECC_NIST_P256"], "RSAES_OAEP_SHA_256", b"x")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.rsa_decrypt(keys["ML_DSA_44"], "RSAES_OAEP_SHA_256", b"x")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.rsa_encrypt(keys["RSA_2048"], "SYMMETRIC_DEFAULT", b"x")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.rsa_decrypt(keys["RSA_2048"], "RSASSA_PSS_SHA_256", b"x")
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.max_rsa_plaintext("ECC_NIST_P256", "RSAES_OAEP_SHA_256")


# -- ECDH ----------------------------------------------------------------------------------


def _spki(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("spec", ECC_SPECS)
def test_ecdh_matches_a_local_exchange(spec: str, keys: dict[str, LoadedKey]) -> None:
    peer = ec.generate_private_key(CURVES[spec])
    secret = asymmetric.derive_shared_secret(keys[spec], _spki(peer.public_key()))
    ours = _public(keys[spec])
    assert isinstance(ours, ec.EllipticCurvePublicKey)
    assert secret == peer.exchange(ec.ECDH(), ours)
    assert len(secret) == (CURVES[spec].key_size + 7) // 8


def test_ecdh_between_two_kms_keys(keys: dict[str, LoadedKey]) -> None:
    other = asymmetric.load_private_key(
        "ECC_NIST_P384", asymmetric.generate_private_key("ECC_NIST_P384")
    )
    mine = keys["ECC_NIST_P384"]
    assert asymmetric.derive_shared_secret(
        mine, other.public_key_der()
    ) == asymmetric.derive_shared_secret(other, mine.public_key_der())


@pytest.mark.parametrize(
    ("spec", "peer_spec"),
    [
        ("ECC_NIST_P256", "ECC_NIST_P384"),
        ("ECC_NIST_P256", "ECC_SECG_P256K1"),
        ("ECC_NIST_P521", "ECC_NIST_P256"),
    ],
)
def test_ecdh_refuses_a_peer_on_another_curve(
    spec: str, peer_spec: str, keys: dict[str, LoadedKey]
) -> None:
    peer = ec.generate_private_key(CURVES[peer_spec]).public_key()
    with pytest.raises(ValidationException) as exc:
        asymmetric.derive_shared_secret(keys[spec], _spki(peer))
    assert "same curve" in exc.value.message
    assert CURVES[peer_spec].name in exc.value.message


def test_ecdh_refuses_malformed_and_non_ec_peer_keys(keys: dict[str, LoadedKey]) -> None:
    key = keys["ECC_NIST_P256"]
    good = _spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    off_curve = bytearray(good)
    off_curve[-1] ^= 0x01  # the point is no longer on the curve
    for bad in (b"", b"not a key", good[:-1], bytes(off_curve)):
        with pytest.raises(ValidationException) as exc:
            asymmetric.derive_shared_secret(key, bad)
        assert exc.value.message == ""  # AWS answers without a message
    for non_ec in (
        keys["RSA_2048"].public_key_der(),
        _spki(ed25519.Ed25519PrivateKey.generate().public_key()),
    ):
        with pytest.raises(ValidationException, match="not an elliptic curve public key"):
            asymmetric.derive_shared_secret(key, non_ec)
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.derive_shared_secret(keys["RSA_2048"], good)
    with pytest.raises(InvalidKeyUsageException):
        asymmetric.derive_shared_secret(keys["ECC_NIST_EDWARDS25519"], good)


# -- GenerateDataKeyPair -------------------------------------------------------------------


def test_data_key_pair_specs() -> None:
    assert asymmetric.DATA_KEY_PAIR_SPECS == {*RSA_SPECS, *ECC_SPECS, "ECC_NIST_EDWARDS25519"}
    for spec in ("SM2", "ML_KEM_512", "ML_DSA_44", "HMAC_256"):
        with pytest.raises(UnsupportedOperationException):
            asymmetric.generate_data_key_pair(spec)


@pytest.mark.parametrize("spec", sorted({*RSA_SPECS, *ECC_SPECS, "ECC_NIST_EDWARDS25519"}))
def test_data_key_pair_halves_match(
    spec: str, data_key_pairs: dict[str, tuple[bytes, bytes]]
) -> None:
    private_der, public_der = data_key_pairs[spec]
    private = _pyca_private(private_der)
    assert isinstance(
        private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    )
    assert _spki(private.public_key()) == public_der
    loaded = asymmetric.load_private_key(spec, private_der)  # a valid key of the spec
    assert loaded.public_key_der() == public_der
