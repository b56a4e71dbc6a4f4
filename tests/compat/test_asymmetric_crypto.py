"""Asymmetric and HMAC cryptography through boto3, checked by independent implementations.

Every signature KMS makes is verified locally with pyca/cryptography using the public key
from GetPublicKey (and KMS Verify must agree); RSA-OAEP ciphertexts made locally from the
public key must decrypt in KMS; DeriveSharedSecret must equal a local ECDH with a locally
generated peer; data key pairs must be well-formed PKCS#8 whose public half is the one
returned. Expected behaviour follows the AWS KMS Sign, Verify, Encrypt, Decrypt,
DeriveSharedSecret, GenerateDataKeyPair, GenerateMac and VerifyMac API references.

HMAC keys cannot be compared with Python's ``hmac`` byte for byte: AWS (and OpenKMS) never
reveal an HMAC key and OpenKMS has no ImportKeyMaterial yet, so the MAC tests check
everything that does not need the key: length, determinism and VerifyMac's verdicts.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from test_asymmetric_keys import (
    EC_SIGNING,
    HMAC_SPECS,
    ML_DSA_SPECS,
    NIST_EC_SPECS,
    RSA_SIGNING,
    RSA_SPECS,
    expect_error,
    key_for,
    public_key_of,
)
from test_boto3_keys import error_of

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_1": hashes.SHA1,
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}


def _hash(algorithm: str) -> hashes.HashAlgorithm:
    """The hash an algorithm name ends with: RSASSA_PSS_SHA_384 -> SHA384()."""
    return _HASHES["SHA_" + algorithm.rsplit("_", 1)[1]]()


def _spki(public: Any) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def local_verify(public: Any, algorithm: str, message: bytes, signature: bytes) -> None:
    """Verify a KMS signature over the RAW ``message`` as AWS defines ``algorithm``;
    raises InvalidSignature."""
    if algorithm.startswith("RSASSA_PSS_"):
        h = _hash(algorithm)
        # AWS: MGF1 with the same hash, salt length = digest length (checked exactly).
        pss = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
        public.verify(signature, message, pss, h)
    elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        public.verify(signature, message, padding.PKCS1v15(), _hash(algorithm))
    elif algorithm.startswith("ECDSA_"):
        public.verify(signature, message, ec.ECDSA(_hash(algorithm)))
    elif algorithm == "ED25519_SHA_512":
        public.verify(signature, message)
    else:  # ML_DSA_SHAKE_256: pure ML-DSA, empty context
        public.verify(signature, message)


SIGN_CASES = [
    *[(spec, algorithm) for spec in RSA_SPECS for algorithm in RSA_SIGNING],
    *EC_SIGNING.items(),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    *[(spec, "ML_DSA_SHAKE_256") for spec in ML_DSA_SPECS],
]
DIGEST_CASES = [case for case in SIGN_CASES if case[1].startswith(("RSASSA_", "ECDSA_"))]
SIGNATURE_LENGTHS = {
    "RSA_2048": 256,
    "RSA_3072": 384,
    "RSA_4096": 512,
    "ECC_NIST_EDWARDS25519": 64,
    "ML_DSA_44": 2420,
    "ML_DSA_65": 3309,
    "ML_DSA_87": 4627,
}
CURVE_ORDERS = {
    "ECC_NIST_P256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ECC_SECG_P256K1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


def _ids(cases: list[tuple[str, str]]) -> list[str]:
    return [f"{spec}-{algorithm}" for spec, algorithm in cases]


def _kms_rejects_signature(kms: Any, key_id: str, algorithm: str, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=key_id, SigningAlgorithm=algorithm, **kwargs)
    assert error_of(exc)[0] == "KMSInvalidSignatureException"


# -- Sign / Verify ----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), SIGN_CASES, ids=_ids(SIGN_CASES))
def test_sign_raw_verifies_locally_and_in_kms(kms, spec, algorithm) -> None:
    meta = key_for(kms, spec, "SIGN_VERIFY")
    key_id = meta["KeyId"]
    public = public_key_of(kms, key_id)
    message = b"openkms asymmetric signing " + os.urandom(16)

    out = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)
    assert out["KeyId"] == meta["Arn"] and out["SigningAlgorithm"] == algorithm
    signature = out["Signature"]
    if spec in SIGNATURE_LENGTHS:
        assert len(signature) == SIGNATURE_LENGTHS[spec]
    else:  # ECDSA: DER SEQUENCE { r, s } with 0 < r, s < n
        r, s = decode_dss_signature(signature)
        assert 0 < r and 0 < s
        if spec in CURVE_ORDERS:
            assert r < CURVE_ORDERS[spec] and s < CURVE_ORDERS[spec]

    local_verify(public, algorithm, message, signature)
    with pytest.raises(InvalidSignature):
        local_verify(public, algorithm, message + b"!", signature)

    verified = kms.verify(
        KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm=algorithm
    )
    assert verified["SignatureValid"] is True
    assert verified["KeyId"] == meta["Arn"] and verified["SigningAlgorithm"] == algorithm

    _kms_rejects_signature(kms, key_id, algorithm, Message=message + b"!", Signature=signature)
    bad = bytearray(signature)
    bad[len(bad) // 2] ^= 0x01
    _kms_rejects_signature(kms, key_id, algorithm, Message=message, Signature=bytes(bad))


@pytest.mark.parametrize(("spec", "algorithm"), DIGEST_CASES, ids=_ids(DIGEST_CASES))
def test_sign_digest_is_not_hashed_again(kms, spec, algorithm) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    public = public_key_of(kms, key_id)
    message = os.urandom(100)
    h = _hash(algorithm)
    digest = hashlib.new(h.name, message).digest()

    signature = kms.sign(
        KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
    )["Signature"]
    # The signature is over `message` itself, so the digest was used as is.
    local_verify(public, algorithm, message, signature)
    if algorithm.startswith("ECDSA_"):
        public.verify(signature, digest, ec.ECDSA(Prehashed(h)))

    for kind, data in (("DIGEST", digest), ("RAW", message)):
        assert kms.verify(
            KeyId=key_id,
            Message=data,
            MessageType=kind,
            Signature=signature,
            SigningAlgorithm=algorithm,
        )["SignatureValid"]
    other = hashlib.new(h.name, message + b"!").digest()
    _kms_rejects_signature(
        kms, key_id, algorithm, Message=other, MessageType="DIGEST", Signature=signature
    )
    if algorithm.startswith("RSASSA_PKCS1_V1_5_"):  # deterministic: RAW and DIGEST agree
        raw = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
        assert raw == signature


def test_rsa_pss_salt_length_is_the_digest_length(kms) -> None:
    key_id = key_for(kms, "RSA_2048", "SIGN_VERIFY")["KeyId"]
    public = public_key_of(kms, key_id)
    for bits, h in ((256, hashes.SHA256()), (384, hashes.SHA384()), (512, hashes.SHA512())):
        algorithm = f"RSASSA_PSS_SHA_{bits}"
        signature = kms.sign(KeyId=key_id, Message=b"salt", SigningAlgorithm=algorithm)["Signature"]
        public.verify(signature, b"salt", padding.PSS(padding.MGF1(h), h.digest_size), h)
        for wrong in (0, h.digest_size - 1, h.digest_size + 1):
            with pytest.raises(InvalidSignature):
                public.verify(signature, b"salt", padding.PSS(padding.MGF1(h), wrong), h)
        # Randomized salt: signing twice gives two signatures.
        again = kms.sign(KeyId=key_id, Message=b"salt", SigningAlgorithm=algorithm)["Signature"]
        assert again != signature


def test_signature_of_another_key_is_invalid(kms) -> None:
    shared = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signature = kms.sign(KeyId=other["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    _kms_rejects_signature(kms, shared, "ECDSA_SHA_256", Message=b"m", Signature=signature)


@pytest.mark.parametrize(
    ("spec", "algorithm", "signature"),
    [
        ("RSA_2048", "RSASSA_PSS_SHA_256", b"\x00"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", b"\xff" * 512),
        ("ECC_NIST_P256", "ECDSA_SHA_256", b"not DER"),
        ("ECC_NIST_P384", "ECDSA_SHA_384", b"\x30\x06\x02\x01\x01\x02\x01\x01"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", b"\x00" * 64),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", b"\x00" * 10),
        ("ML_DSA_44", "ML_DSA_SHAKE_256", b"\x00" * 2420),
        ("ML_DSA_44", "ML_DSA_SHAKE_256", b"\x00" * 3),
    ],
)
def test_malformed_signatures_are_invalid_not_errors(kms, spec, algorithm, signature) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    _kms_rejects_signature(kms, key_id, algorithm, Message=b"m", Signature=signature)


def test_sign_through_alias(kms) -> None:
    meta = key_for(kms, "ECC_NIST_P384", "SIGN_VERIFY")
    alias = f"alias/sign-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    out = kms.sign(KeyId=alias, Message=b"aliased", SigningAlgorithm="ECDSA_SHA_384")
    assert out["KeyId"] == meta["Arn"]
    local_verify(public_key_of(kms, alias), "ECDSA_SHA_384", b"aliased", out["Signature"])
    assert kms.verify(
        KeyId=alias,
        Message=b"aliased",
        Signature=out["Signature"],
        SigningAlgorithm="ECDSA_SHA_384",
    )["SignatureValid"]


@pytest.mark.parametrize(
    ("spec", "algorithm", "length"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256", 31),
        ("ECC_NIST_P256", "ECDSA_SHA_256", 33),
        ("ECC_NIST_P256", "ECDSA_SHA_256", 48),
        ("ECC_NIST_P384", "ECDSA_SHA_384", 32),
        ("ECC_NIST_P521", "ECDSA_SHA_512", 66),
        ("RSA_2048", "RSASSA_PSS_SHA_384", 32),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", 20),
    ],
)
def test_digest_of_the_wrong_length(kms, spec, algorithm, length) -> None:
    key_id = key_for(kms, spec, "SIGN_VERIFY")["KeyId"]
    message = f"Digest is invalid length for algorithm {algorithm}."
    digest = b"\x01" * length
    expect_error(
        kms.sign,
        "ValidationException",
        message,
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        SigningAlgorithm=algorithm,
    )
    expect_error(
        kms.verify,
        "ValidationException",
        message,
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        Signature=b"\x30\x00",
        SigningAlgorithm=algorithm,
    )


def test_ed25519_message_types(kms) -> None:
    key_id = key_for(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    digest = hashlib.sha512(b"m").digest()
    # ED25519_SHA_512 requires RAW; ED25519_PH_SHA_512 requires DIGEST.
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        SigningAlgorithm="ED25519_SHA_512",
    )
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=key_id,
        Message=b"m",
        MessageType="RAW",
        SigningAlgorithm="ED25519_PH_SHA_512",
    )
    # Ed25519ph itself: pyca/cryptography has no Ed25519ph, so OpenKMS refuses it.
    expect_error(
        kms.sign,
        "UnsupportedOperationException",
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        SigningAlgorithm="ED25519_PH_SHA_512",
    )
    expect_error(
        kms.verify,
        "UnsupportedOperationException",
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        Signature=b"\x00" * 64,
        SigningAlgorithm="ED25519_PH_SHA_512",
    )
    expect_error(
        kms.sign,
        "ValidationException",
        "Digest is invalid length for algorithm ED25519_PH_SHA_512.",
        KeyId=key_id,
        Message=digest[:32],
        MessageType="DIGEST",
        SigningAlgorithm="ED25519_PH_SHA_512",
    )


def test_ed25519_signatures_are_deterministic(kms) -> None:
    key_id = key_for(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    sign = lambda: kms.sign(  # noqa: E731
        KeyId=key_id, Message=b"same", SigningAlgorithm="ED25519_SHA_512"
    )["Signature"]
    assert sign() == sign()


def test_ml_dsa_message_types(kms) -> None:
    key_id = key_for(kms, "ML_DSA_65", "SIGN_VERIFY")["KeyId"]
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=key_id,
        Message=b"\x00" * 64,
        MessageType="DIGEST",
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )
    # EXTERNAL_MU (a 64-byte mu): pyca/cryptography cannot sign or verify one.
    extras: tuple[dict[str, Any], ...] = ({}, {"Signature": b"\x00" * 3309})
    for call, extra in zip((kms.sign, kms.verify), extras, strict=True):
        expect_error(
            call,
            "UnsupportedOperationException",
            KeyId=key_id,
            Message=b"\x00" * 64,
            MessageType="EXTERNAL_MU",
            SigningAlgorithm="ML_DSA_SHAKE_256",
            **extra,
        )


def test_external_mu_is_only_for_ml_dsa(kms) -> None:
    key_id = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=key_id,
        Message=b"\x00" * 64,
        MessageType="EXTERNAL_MU",
        SigningAlgorithm="ECDSA_SHA_256",
    )


def test_message_length_limits(kms) -> None:
    key_id = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    public = public_key_of(kms, key_id)
    longest = os.urandom(4096)
    signature = kms.sign(KeyId=key_id, Message=longest, SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    local_verify(public, "ECDSA_SHA_256", longest, signature)
    for message in (longest + b"x", b""):
        expect_error(
            kms.sign,
            "ValidationException",
            KeyId=key_id,
            Message=message,
            SigningAlgorithm="ECDSA_SHA_256",
        )


# -- RSA-OAEP Encrypt / Decrypt ---------------------------------------------------------------

OAEP_CASES = [
    (spec, algorithm)
    for spec in RSA_SPECS
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
]


def _oaep(algorithm: str) -> padding.OAEP:
    h = _hash(algorithm)
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def _oaep_limit(spec: str, algorithm: str) -> int:
    return int(spec[4:]) // 8 - 2 * _hash(algorithm).digest_size - 2


def test_oaep_limits_are_the_aws_table() -> None:
    """The AWS developer guide's table of RSA plaintext limits."""
    assert {case: _oaep_limit(*case) for case in OAEP_CASES} == {
        ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
        ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
        ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
        ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
        ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
        ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
    }


@pytest.mark.parametrize(("spec", "algorithm"), OAEP_CASES, ids=_ids(OAEP_CASES))
def test_rsa_oaep_both_directions_and_limits(kms, spec, algorithm) -> None:
    meta = key_for(kms, spec, "ENCRYPT_DECRYPT")
    key_id = meta["KeyId"]
    public = public_key_of(kms, key_id)
    limit = _oaep_limit(spec, algorithm)

    for plaintext in (b"x", os.urandom(limit)):
        # KMS encrypts: plain RSA-OAEP, one modulus long, randomized.
        out = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
        assert out["KeyId"] == meta["Arn"] and out["EncryptionAlgorithm"] == algorithm
        blob = out["CiphertextBlob"]
        assert len(blob) == public.key_size // 8
        again = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
        assert again["CiphertextBlob"] != blob
        # The raw RSA value is below the modulus (a valid RSA ciphertext).
        assert int.from_bytes(blob, "big") < public.public_numbers().n

        # Locally encrypted with the public key from GetPublicKey: KMS decrypts it.
        local = public.encrypt(plaintext, _oaep(algorithm))
        for ciphertext in (blob, again["CiphertextBlob"], local):
            plain = kms.decrypt(
                KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm=algorithm
            )
            assert plain["Plaintext"] == plaintext
            assert plain["KeyId"] == meta["Arn"] and plain["EncryptionAlgorithm"] == algorithm

    expect_error(
        kms.encrypt,
        "ValidationException",
        f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.",
        KeyId=key_id,
        Plaintext=os.urandom(limit + 1),
        EncryptionAlgorithm=algorithm,
    )


def test_rsa_operations_return_no_key_material_ids(kms) -> None:
    symmetric = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")["KeyId"]
    rsa_key = key_for(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    algorithm = "RSAES_OAEP_SHA_256"
    blob = kms.encrypt(KeyId=rsa_key, Plaintext=b"x", EncryptionAlgorithm=algorithm)[
        "CiphertextBlob"
    ]
    plain = kms.decrypt(KeyId=rsa_key, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)
    assert "KeyMaterialId" not in plain
    from_rsa = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceKeyId=rsa_key,
        SourceEncryptionAlgorithm=algorithm,
        DestinationKeyId=symmetric,
    )
    assert "SourceKeyMaterialId" not in from_rsa and "DestinationKeyMaterialId" in from_rsa
    to_rsa = kms.re_encrypt(
        CiphertextBlob=from_rsa["CiphertextBlob"],
        DestinationKeyId=rsa_key,
        DestinationEncryptionAlgorithm=algorithm,
    )
    assert "SourceKeyMaterialId" in to_rsa and "DestinationKeyMaterialId" not in to_rsa


def test_rsa_decrypt_failures_are_invalid_ciphertext(kms) -> None:
    key_id = key_for(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    public = public_key_of(kms, key_id)
    sha256 = "RSAES_OAEP_SHA_256"
    blob = public.encrypt(b"secret", _oaep(sha256))
    tampered = bytearray(blob)
    tampered[-1] ^= 0x01
    other = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    for kwargs in (
        {"KeyId": key_id, "CiphertextBlob": blob, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"},
        {"KeyId": key_id, "CiphertextBlob": bytes(tampered), "EncryptionAlgorithm": sha256},
        {"KeyId": key_id, "CiphertextBlob": blob[:-1], "EncryptionAlgorithm": sha256},
        {"KeyId": other["KeyId"], "CiphertextBlob": blob, "EncryptionAlgorithm": sha256},
        # An OAEP label (AWS uses none) makes a different ciphertext.
        {
            "KeyId": key_id,
            "CiphertextBlob": public.encrypt(
                b"secret",
                padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), label=b"label"),
            ),
            "EncryptionAlgorithm": sha256,
        },
        # MGF1 must use the same hash as OAEP (SHA-256), not the SHA-1 default of many tools.
        {
            "KeyId": key_id,
            "CiphertextBlob": public.encrypt(
                b"secret", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA256(), None)
            ),
            "EncryptionAlgorithm": sha256,
        },
    ):
        expect_error(kms.decrypt, "InvalidCiphertextException", **kwargs)


def test_re_encrypt_between_symmetric_and_rsa_keys(kms) -> None:
    symmetric = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    rsa_key = key_for(kms, "RSA_3072", "ENCRYPT_DECRYPT")
    algorithm = "RSAES_OAEP_SHA_256"

    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"move me")["CiphertextBlob"]
    to_rsa = kms.re_encrypt(
        CiphertextBlob=blob,
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm=algorithm,
    )
    assert to_rsa["KeyId"] == rsa_key["Arn"] and to_rsa["SourceKeyId"] == symmetric["Arn"]
    assert to_rsa["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert to_rsa["DestinationEncryptionAlgorithm"] == algorithm
    assert len(to_rsa["CiphertextBlob"]) == 384
    assert (
        kms.decrypt(
            KeyId=rsa_key["KeyId"],
            CiphertextBlob=to_rsa["CiphertextBlob"],
            EncryptionAlgorithm=algorithm,
        )["Plaintext"]
        == b"move me"
    )

    # The OAEP limit holds for ReEncrypt too (RSA_3072 with SHA-256: 318 bytes).
    too_long = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"\x00" * 319)["CiphertextBlob"]
    expect_error(
        kms.re_encrypt,
        "ValidationException",
        f"Algorithm {algorithm} and key spec RSA_3072 cannot encrypt data larger than 318 bytes.",
        CiphertextBlob=too_long,
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm=algorithm,
    )

    local = public_key_of(kms, rsa_key["KeyId"]).encrypt(b"made locally", _oaep(algorithm))
    back = kms.re_encrypt(
        CiphertextBlob=local,
        SourceKeyId=rsa_key["KeyId"],
        SourceEncryptionAlgorithm=algorithm,
        DestinationKeyId=symmetric["KeyId"],
    )
    assert back["SourceKeyId"] == rsa_key["Arn"] and back["KeyId"] == symmetric["Arn"]
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"made locally"


# -- DeriveSharedSecret -----------------------------------------------------------------------

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
}
SECRET_LENGTHS = {"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}


@pytest.mark.parametrize("spec", NIST_EC_SPECS)
def test_derive_shared_secret_equals_local_ecdh(kms, spec) -> None:
    meta = key_for(kms, spec, "KEY_AGREEMENT")
    key_id = meta["KeyId"]
    kms_public = public_key_of(kms, key_id)
    secrets = []
    for _ in range(2):
        peer = ec.generate_private_key(CURVES[spec]())
        expected = peer.exchange(ec.ECDH(), kms_public)
        out = kms.derive_shared_secret(
            KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=_spki(peer.public_key())
        )
        assert out["SharedSecret"] == expected
        assert len(expected) == SECRET_LENGTHS[spec]
        assert out["KeyId"] == meta["Arn"]
        assert out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS"
        again = kms.derive_shared_secret(
            KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=_spki(peer.public_key())
        )
        assert again["SharedSecret"] == expected
        secrets.append(expected)
    assert secrets[0] != secrets[1]


def _bad_peer_keys() -> dict[str, bytes]:
    valid = _spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    off_curve = bytearray(valid)
    off_curve[-1] ^= 0x01  # y no longer matches x: the point is not on P-256
    rsa_public = rsa.generate_private_key(65537, 2048).public_key()
    return {
        "garbage": b"this is not a public key",
        "truncated": valid[:-10],
        "off-curve point": bytes(off_curve),
        "P-384 key": _spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
        "P-521 key": _spki(ec.generate_private_key(ec.SECP521R1()).public_key()),
        "secp256k1 key": _spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
        "Ed25519 key": _spki(ed25519.Ed25519PrivateKey.generate().public_key()),
        "RSA key": _spki(rsa_public),
        "PEM instead of DER": ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "raw point, no SPKI": ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
    }


def test_derive_shared_secret_refuses_bad_peer_keys(kms) -> None:
    key_id = key_for(kms, "ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    for name, der in _bad_peer_keys().items():
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=der)
        assert error_of(exc)[0] == "ValidationException", name


def test_derive_shared_secret_between_two_kms_keys(kms) -> None:
    """Alice and Bob both keep their private keys in KMS: both sides derive one secret."""
    alice = key_for(kms, "ECC_NIST_P384", "KEY_AGREEMENT")["KeyId"]
    bob = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    alice_pub = kms.get_public_key(KeyId=alice)["PublicKey"]
    bob_pub = kms.get_public_key(KeyId=bob["KeyId"])["PublicKey"]
    a = kms.derive_shared_secret(KeyId=alice, KeyAgreementAlgorithm="ECDH", PublicKey=bob_pub)
    b = kms.derive_shared_secret(
        KeyId=bob["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=alice_pub
    )
    assert a["SharedSecret"] == b["SharedSecret"]


# -- GenerateDataKeyPair ----------------------------------------------------------------------

KEY_PAIR_SPECS = [
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
]
PAIR_CURVES = {
    "ECC_NIST_P256": "secp256r1",
    "ECC_NIST_P384": "secp384r1",
    "ECC_NIST_P521": "secp521r1",
    "ECC_SECG_P256K1": "secp256k1",
}


def _der_item(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at ``at``."""
    tag, first = data[at], data[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[at + 2 : at + 2 + count], "big")
    return tag, at + 2 + count, at + 2 + count + length


def assert_pkcs8(der: bytes) -> None:
    """PrivateKeyInfo: SEQUENCE { INTEGER version(0|1), AlgorithmIdentifier SEQUENCE,
    OCTET STRING privateKey, ... } that fills the whole buffer (not PKCS#1 or SEC1)."""
    tag, start, end = _der_item(der, 0)
    assert tag == 0x30 and end == len(der)
    tag, vstart, vend = _der_item(der, start)
    assert tag == 0x02 and der[vstart:vend] in (b"\x00", b"\x01")
    tag, astart, aend = _der_item(der, vend)
    assert tag == 0x30
    assert der[astart] == 0x06  # the algorithm OID
    tag, _, _ = _der_item(der, aend)
    assert tag == 0x04


def _check_pair(spec: str, private_der: bytes, public_der: bytes) -> None:
    assert_pkcs8(private_der)
    private = serialization.load_der_private_key(private_der, password=None)
    if spec.startswith("RSA_"):
        assert isinstance(private, rsa.RSAPrivateKey)
        assert private.key_size == int(spec[4:])
        assert private.public_key().public_numbers().e == 65537
        signature = private.sign(b"pair", padding.PKCS1v15(), hashes.SHA256())
        public = serialization.load_der_public_key(public_der)
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, b"pair", padding.PKCS1v15(), hashes.SHA256())
    elif spec in PAIR_CURVES:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert private.curve.name == PAIR_CURVES[spec]
        signature = private.sign(b"pair", ec.ECDSA(hashes.SHA256()))
        public = serialization.load_der_public_key(public_der)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, b"pair", ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        public = serialization.load_der_public_key(public_der)
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(private.sign(b"pair"), b"pair")
    assert _spki(private.public_key()) == public_der


@pytest.mark.parametrize("spec", KEY_PAIR_SPECS)
def test_generate_data_key_pair(kms, spec) -> None:
    meta = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    context = {"purpose": "data key pair", "spec": spec}
    out = kms.generate_data_key_pair(
        KeyId=meta["KeyId"], KeyPairSpec=spec, EncryptionContext=context
    )
    assert out["KeyId"] == meta["Arn"] and out["KeyPairSpec"] == spec
    private_der, public_der = out["PrivateKeyPlaintext"], out["PublicKey"]
    _check_pair(spec, private_der, public_der)

    blob = out["PrivateKeyCiphertextBlob"]
    assert private_der not in blob
    plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert plain["Plaintext"] == private_der and plain["KeyId"] == meta["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(exc)[0] == "InvalidCiphertextException"

    if spec != "RSA_4096":  # fresh key pairs every call (RSA_4096 is slow to generate)
        second = kms.generate_data_key_pair(KeyId=meta["KeyId"], KeyPairSpec=spec)
        assert second["PublicKey"] != public_der
        assert second["PrivateKeyPlaintext"] != private_der


@pytest.mark.parametrize("spec", KEY_PAIR_SPECS)
def test_generate_data_key_pair_without_plaintext(kms, spec) -> None:
    meta = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    out = kms.generate_data_key_pair_without_plaintext(KeyId=meta["KeyId"], KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in out
    assert out["KeyId"] == meta["Arn"] and out["KeyPairSpec"] == spec
    private_der = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"]
    _check_pair(spec, private_der, out["PublicKey"])


def test_data_key_pair_through_alias(kms) -> None:
    meta = kms.create_key(Description="pair alias")["KeyMetadata"]
    alias = f"alias/pair-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    out = kms.generate_data_key_pair(KeyId=alias, KeyPairSpec="ECC_NIST_P256")
    assert out["KeyId"] == meta["Arn"]
    assert (
        kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"]
        == out["PrivateKeyPlaintext"]
    )


def test_unknown_key_pair_spec_is_a_validation_error(kms) -> None:
    key_id = key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")["KeyId"]
    expect_error(
        kms.generate_data_key_pair, "ValidationException", KeyId=key_id, KeyPairSpec="RSA_1024"
    )


# -- GenerateMac / VerifyMac --------------------------------------------------------------------

MAC_LENGTHS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}


def _mac_algorithm(spec: str) -> str:
    return f"HMAC_SHA_{spec[5:]}"


@pytest.mark.parametrize("spec", HMAC_SPECS)
def test_generate_and_verify_mac(kms, spec) -> None:
    meta = key_for(kms, spec, "GENERATE_VERIFY_MAC")
    key_id, algorithm = meta["KeyId"], _mac_algorithm(spec)
    message = b"openkms hmac " + os.urandom(8)

    out = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)
    assert out["KeyId"] == meta["Arn"] and out["MacAlgorithm"] == algorithm
    mac = out["Mac"]
    # HMAC with SHA-2 is as long as the hash (Python's hmac agrees on the size).
    assert len(mac) == MAC_LENGTHS[spec] == hashlib.new(f"sha{spec[5:]}").digest_size
    assert mac != hashlib.new(f"sha{spec[5:]}", message).digest()  # keyed, not a bare hash
    # Deterministic, and message-dependent.
    assert kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)["Mac"] == mac
    assert (
        kms.generate_mac(KeyId=key_id, Message=message + b"!", MacAlgorithm=algorithm)["Mac"] != mac
    )

    verified = kms.verify_mac(KeyId=key_id, Message=message, Mac=mac, MacAlgorithm=algorithm)
    assert verified["MacValid"] is True
    assert verified["KeyId"] == meta["Arn"] and verified["MacAlgorithm"] == algorithm

    flipped = bytearray(mac)
    flipped[0] ^= 0x80
    for bad_message, bad_mac in (
        (message + b"!", mac),
        (message, bytes(flipped)),
        (message, mac[:-1]),
        (message, mac + b"\x00"),
    ):
        with pytest.raises(ClientError) as exc:
            kms.verify_mac(KeyId=key_id, Message=bad_message, Mac=bad_mac, MacAlgorithm=algorithm)
        assert error_of(exc)[0] == "KMSInvalidMacException"


def test_mac_of_another_hmac_key_is_invalid(kms) -> None:
    shared = key_for(kms, "HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mine = kms.generate_mac(KeyId=shared, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    theirs = kms.generate_mac(KeyId=other["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")[
        "Mac"
    ]
    assert mine != theirs
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=shared, Message=b"m", Mac=theirs, MacAlgorithm="HMAC_SHA_256")
    assert error_of(exc)[0] == "KMSInvalidMacException"


@pytest.mark.parametrize("spec", HMAC_SPECS)
def test_mac_algorithm_must_match_the_key_spec(kms, spec) -> None:
    key_id = key_for(kms, spec, "GENERATE_VERIFY_MAC")["KeyId"]
    for other in HMAC_SPECS:
        if other == spec:
            continue
        algorithm = _mac_algorithm(other)
        message = f"Algorithm {algorithm} is incompatible with key spec {spec}."
        expect_error(
            kms.generate_mac,
            "InvalidKeyUsageException",
            message,
            KeyId=key_id,
            Message=b"m",
            MacAlgorithm=algorithm,
        )
        expect_error(
            kms.verify_mac,
            "InvalidKeyUsageException",
            message,
            KeyId=key_id,
            Message=b"m",
            Mac=b"\x00" * MAC_LENGTHS[other],
            MacAlgorithm=algorithm,
        )
