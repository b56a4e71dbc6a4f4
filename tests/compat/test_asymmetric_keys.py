"""Asymmetric and HMAC KMS keys through boto3: CreateKey for every KeySpec/KeyUsage pair,
DescribeKey's algorithm lists, GetPublicKey, key-state enforcement and key-usage errors.

Expected values come from the AWS KMS "Key spec reference" and the CreateKey, DescribeKey
and GetPublicKey API references. Keys that tests only read are made once per server by
:func:`key_for` (RSA_4096 generation is the slow part of this suite); tests that change a
key's state make their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from test_boto3_keys import error_of

from conftest import make_client

RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
NIST_EC_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
EC_SPECS = (*NIST_EC_SPECS, "ECC_SECG_P256K1")
ML_DSA_SPECS = ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
HMAC_SPECS = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")
BUILT_SPECS = (
    "SYMMETRIC_DEFAULT",
    *RSA_SPECS,
    *EC_SPECS,
    "ECC_NIST_EDWARDS25519",
    *ML_DSA_SPECS,
    *HMAC_SPECS,
)
USAGES = (
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
)
ALGORITHM_LISTS = (
    "EncryptionAlgorithms",
    "SigningAlgorithms",
    "MacAlgorithms",
    "KeyAgreementAlgorithms",
)

RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
RSA_SIGNING = [
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
]
EC_SIGNING = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "ECC_SECG_P256K1": "ECDSA_SHA_256",
}

#: Every (KeySpec, KeyUsage) pair AWS allows outside the China Regions, with exactly the
#: algorithm lists DescribeKey shows for it.
VALID_PAIRS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"): {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]},
    **{(s, "ENCRYPT_DECRYPT"): {"EncryptionAlgorithms": RSA_ENCRYPTION} for s in RSA_SPECS},
    **{(s, "SIGN_VERIFY"): {"SigningAlgorithms": RSA_SIGNING} for s in RSA_SPECS},
    **{(s, "SIGN_VERIFY"): {"SigningAlgorithms": [a]} for s, a in EC_SIGNING.items()},
    **{(s, "KEY_AGREEMENT"): {"KeyAgreementAlgorithms": ["ECDH"]} for s in NIST_EC_SPECS},
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"): {
        "SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    },
    **{(s, "SIGN_VERIFY"): {"SigningAlgorithms": ["ML_DSA_SHAKE_256"]} for s in ML_DSA_SPECS},
    **{(s, "GENERATE_VERIFY_MAC"): {"MacAlgorithms": [f"HMAC_SHA_{s[5:]}"]} for s in HMAC_SPECS},
}
ASYMMETRIC_PAIRS = [
    pair for pair in VALID_PAIRS if pair[0] != "SYMMETRIC_DEFAULT" and pair[0] not in HMAC_SPECS
]
#: Everything else is a ValidationException; among them (ECC_SECG_P256K1, KEY_AGREEMENT):
#: "For asymmetric KMS keys with ECC_SECG_P256K1 key pairs, specify SIGN_VERIFY" (CreateKey),
#: and DeriveSharedSecret needs a NIST-recommended curve.
INVALID_PAIRS = [
    (spec, usage) for spec in BUILT_SPECS for usage in USAGES if (spec, usage) not in VALID_PAIRS
]


def _pair_param(spec: str, usage: str) -> Any:
    return pytest.param(spec, usage, id=f"{spec}-{usage}")


_KEYS: dict[tuple[str, str, str], dict[str, Any]] = {}


def key_for(kms: Any, spec: str, usage: str) -> dict[str, Any]:
    """KeyMetadata of a shared (spec, usage) key on this client's server, made on first use.

    Shared keys stay Enabled: tests must not disable, delete or otherwise change them."""
    cache_key = (kms.meta.endpoint_url, spec, usage)
    if cache_key not in _KEYS:
        kwargs = {"KeySpec": spec, "KeyUsage": usage}
        _KEYS[cache_key] = kms.create_key(Description=f"shared {spec} {usage}", **kwargs)[
            "KeyMetadata"
        ]
    return _KEYS[cache_key]


def public_key_of(kms: Any, key_id: str) -> Any:
    """The pyca public key object for GetPublicKey's DER SubjectPublicKeyInfo."""
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def expect_error(call: Any, code: str, message: str | None = None, **kwargs: Any) -> str:
    """Run ``call(**kwargs)``; it must fail with ``code`` (and ``message``, if given)."""
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    got_code, got_message = error_of(exc)
    assert got_code == code, (got_code, got_message)
    if message is not None:
        assert got_message == message
    return got_message


# -- CreateKey / DescribeKey ----------------------------------------------------------------


@pytest.mark.parametrize(("spec", "usage"), [_pair_param(s, u) for s, u in VALID_PAIRS])
def test_create_and_describe_every_valid_pair(kms, spec, usage) -> None:
    meta = key_for(kms, spec, usage)
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    for m in (meta, described):
        assert m["KeySpec"] == m["CustomerMasterKeySpec"] == spec
        assert m["KeyUsage"] == usage
        assert m["KeyState"] == "Enabled" and m["Enabled"] is True
        assert m["Origin"] == "AWS_KMS" and m["KeyManager"] == "CUSTOMER"
        assert {name: m[name] for name in ALGORITHM_LISTS if name in m} == VALID_PAIRS[
            (spec, usage)
        ]
    assert described["Arn"] == meta["Arn"]


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_only_symmetric_encryption_keys_show_current_key_material_id(kms, spec, usage) -> None:
    assert "CurrentKeyMaterialId" in key_for(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    meta = key_for(kms, spec, usage)
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert "CurrentKeyMaterialId" not in meta
    assert "CurrentKeyMaterialId" not in described


def test_deprecated_customer_master_key_spec_creates_asymmetric_keys(kms) -> None:
    meta = kms.create_key(CustomerMasterKeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"
    ]
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "ECC_NIST_P256"
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    assert "EncryptionAlgorithms" not in meta


@pytest.mark.parametrize(("spec", "usage"), [_pair_param(s, u) for s, u in INVALID_PAIRS])
def test_create_key_refuses_every_invalid_pair(kms, spec, usage) -> None:
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    expect_error(kms.create_key, "ValidationException", KeySpec=spec, KeyUsage=usage)
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


@pytest.mark.parametrize("spec", [s for s in BUILT_SPECS if s != "SYMMETRIC_DEFAULT"])
def test_key_usage_is_required_except_for_symmetric_keys(kms, spec) -> None:
    expect_error(
        kms.create_key,
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        KeySpec=spec,
    )


def test_symmetric_key_usage_defaults_to_encrypt_decrypt(kms) -> None:
    meta = kms.create_key(KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("SM2", "ENCRYPT_DECRYPT"),
        ("SM2", "SIGN_VERIFY"),
        ("SM2", "KEY_AGREEMENT"),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
        ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE"),
    ],
)
def test_sm2_and_ml_kem_are_unsupported(server, kms, spec, usage) -> None:
    """SM2 (China Regions only in AWS) and ML-KEM keys are not built in OpenKMS. Outside
    China Regions SM2 is not in AWS's KeySpec enum at all: a validation error there."""
    if spec == "SM2":
        message = expect_error(kms.create_key, "ValidationException", KeySpec=spec, KeyUsage=usage)
        assert message.startswith("1 validation error detected: Value 'SM2' at 'keySpec'")
        kms = make_client(server.endpoint, region="cn-north-1")
    expect_error(kms.create_key, "UnsupportedOperationException", KeySpec=spec, KeyUsage=usage)


def test_unknown_key_spec_and_usage_are_validation_errors(kms) -> None:
    expect_error(kms.create_key, "ValidationException", KeySpec="RSA_1024", KeyUsage="SIGN_VERIFY")
    expect_error(kms.create_key, "ValidationException", KeySpec="RSA_2048", KeyUsage="SIGN")


# -- GetPublicKey ---------------------------------------------------------------------------


def _check_public_key_type(spec: str, public: Any) -> None:
    if spec in RSA_SPECS:
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == int(spec[4:])
        assert public.public_numbers().e == 65537
    elif spec in EC_SPECS:
        curves = {
            "ECC_NIST_P256": "secp256r1",
            "ECC_NIST_P384": "secp384r1",
            "ECC_NIST_P521": "secp521r1",
            "ECC_SECG_P256K1": "secp256k1",
        }
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == curves[spec]
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
    else:
        kinds = {
            "ML_DSA_44": mldsa.MLDSA44PublicKey,
            "ML_DSA_65": mldsa.MLDSA65PublicKey,
            "ML_DSA_87": mldsa.MLDSA87PublicKey,
        }
        assert isinstance(public, kinds[spec])


@pytest.mark.parametrize(("spec", "usage"), [_pair_param(s, u) for s, u in ASYMMETRIC_PAIRS])
def test_get_public_key(kms, spec, usage) -> None:
    meta = key_for(kms, spec, usage)
    out = kms.get_public_key(KeyId=meta["KeyId"])
    assert out["KeyId"] == meta["Arn"]
    assert out["KeySpec"] == out["CustomerMasterKeySpec"] == spec
    assert out["KeyUsage"] == usage
    assert {name: out[name] for name in ALGORITHM_LISTS if name in out} == VALID_PAIRS[
        (spec, usage)
    ]
    der = out["PublicKey"]
    public = serialization.load_der_public_key(der)
    _check_public_key_type(spec, public)
    # DER SubjectPublicKeyInfo, canonical: re-encoding gives the same bytes.
    assert (
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == der
    )
    # Stable, and the same through the ARN.
    assert kms.get_public_key(KeyId=meta["Arn"])["PublicKey"] == der


def test_get_public_key_through_alias(kms) -> None:
    meta = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    alias = f"alias/pub-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    out = kms.get_public_key(KeyId=alias)
    assert out["KeyId"] == meta["Arn"]
    assert out["PublicKey"] == kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"]


def test_distinct_keys_have_distinct_public_keys(kms) -> None:
    a = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    b = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (
        kms.get_public_key(KeyId=a["KeyId"])["PublicKey"]
        != kms.get_public_key(KeyId=b["KeyId"])["PublicKey"]
    )


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("HMAC_256", "GENERATE_VERIFY_MAC")],
)
def test_get_public_key_of_symmetric_and_hmac_keys_is_unsupported(kms, spec, usage) -> None:
    meta = key_for(kms, spec, usage)
    expect_error(kms.get_public_key, "UnsupportedOperationException", KeyId=meta["KeyId"])


def test_get_public_key_of_unknown_key_is_not_found(kms) -> None:
    expect_error(
        kms.get_public_key, "NotFoundException", KeyId="11111111-2222-3333-4444-555555555555"
    )


# -- key usage --------------------------------------------------------------------------------


def _usage_message(meta: dict[str, Any], operation: str) -> str:
    return f"{meta['Arn']} key usage is {meta['KeyUsage']} which is not valid for {operation}."


def _calls(kms: Any, key_id: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    """One well-formed request per operation for ``key_id``."""
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    peer_der = peer.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "Encrypt": (
            kms.encrypt,
            {"KeyId": key_id, "Plaintext": b"x", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
        ),
        "Decrypt": (
            kms.decrypt,
            {
                "KeyId": key_id,
                "CiphertextBlob": b"\x00" * 256,
                "EncryptionAlgorithm": "RSAES_OAEP_SHA_256",
            },
        ),
        "Sign": (
            kms.sign,
            {"KeyId": key_id, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"},
        ),
        "Verify": (
            kms.verify,
            {
                "KeyId": key_id,
                "Message": b"m",
                "Signature": b"\x30\x00",
                "SigningAlgorithm": "ECDSA_SHA_256",
            },
        ),
        "GenerateMac": (
            kms.generate_mac,
            {"KeyId": key_id, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
        ),
        "VerifyMac": (
            kms.verify_mac,
            {"KeyId": key_id, "Message": b"m", "Mac": b"\x00" * 32, "MacAlgorithm": "HMAC_SHA_256"},
        ),
        "DeriveSharedSecret": (
            kms.derive_shared_secret,
            {"KeyId": key_id, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer_der},
        ),
    }


#: (spec, usage of the key, operations that usage does not allow)
WRONG_USAGE = [
    ("RSA_2048", "SIGN_VERIFY", ["Encrypt", "Decrypt", "GenerateMac", "VerifyMac"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["Sign", "Verify", "GenerateMac", "DeriveSharedSecret"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["Encrypt", "Decrypt", "VerifyMac", "DeriveSharedSecret"]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", ["Encrypt", "Decrypt", "Sign", "Verify", "GenerateMac"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", ["Encrypt", "DeriveSharedSecret"]),
    ("ML_DSA_44", "SIGN_VERIFY", ["Encrypt", "GenerateMac"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["Encrypt", "Sign", "Verify", "DeriveSharedSecret"]),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Sign", "Verify", "GenerateMac", "VerifyMac"]),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["DeriveSharedSecret"]),
]


@pytest.mark.parametrize(
    ("spec", "usage", "operations"),
    [pytest.param(s, u, ops, id=f"{s}-{u}-{ops[0]}") for s, u, ops in WRONG_USAGE],
)
def test_wrong_key_usage_is_invalid_key_usage(kms, spec, usage, operations) -> None:
    meta = key_for(kms, spec, usage)
    calls = _calls(kms, meta["KeyId"])
    for operation in operations:
        call, kwargs = calls[operation]
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        assert error_of(exc) == ("InvalidKeyUsageException", _usage_message(meta, operation)), (
            operation
        )


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_data_keys_need_a_symmetric_encryption_key(kms, spec, usage) -> None:
    key_id = key_for(kms, spec, usage)["KeyId"]
    for call, kwargs in (
        (kms.generate_data_key, {"KeySpec": "AES_256"}),
        (kms.generate_data_key_without_plaintext, {"KeySpec": "AES_256"}),
        (kms.generate_data_key_pair, {"KeyPairSpec": "ECC_NIST_P256"}),
        (kms.generate_data_key_pair_without_plaintext, {"KeyPairSpec": "ECC_NIST_P256"}),
    ):
        expect_error(call, "InvalidKeyUsageException", KeyId=key_id, **kwargs)


#: (spec, usage, operation, algorithm parameter, algorithm the spec does not support)
WRONG_ALGORITHM = [
    ("RSA_2048", "SIGN_VERIFY", "Sign", "ECDSA_SHA_256"),
    ("RSA_2048", "SIGN_VERIFY", "Sign", "ED25519_SHA_512"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "Sign", "ECDSA_SHA_384"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "Sign", "RSASSA_PSS_SHA_256"),
    ("ECC_NIST_P384", "SIGN_VERIFY", "Sign", "ECDSA_SHA_256"),
    ("ECC_NIST_P521", "SIGN_VERIFY", "Verify", "ECDSA_SHA_384"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "Sign", "ECDSA_SHA_512"),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "Sign", "ECDSA_SHA_512"),
    ("ML_DSA_44", "SIGN_VERIFY", "Sign", "ED25519_SHA_512"),
    ("RSA_2048", "ENCRYPT_DECRYPT", "Encrypt", "SYMMETRIC_DEFAULT"),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Encrypt", "RSAES_OAEP_SHA_256"),
    ("HMAC_224", "GENERATE_VERIFY_MAC", "GenerateMac", "HMAC_SHA_256"),
    ("HMAC_512", "GENERATE_VERIFY_MAC", "VerifyMac", "HMAC_SHA_384"),
]


@pytest.mark.parametrize(
    ("spec", "usage", "operation", "algorithm"),
    [pytest.param(*case, id=f"{case[0]}-{case[2]}-{case[3]}") for case in WRONG_ALGORITHM],
)
def test_algorithm_the_key_spec_does_not_support(kms, spec, usage, operation, algorithm) -> None:
    meta = key_for(kms, spec, usage)
    key_id = meta["KeyId"]
    if operation == "Sign":
        call, kwargs = kms.sign, {"Message": b"m", "SigningAlgorithm": algorithm}
    elif operation == "Verify":
        call = kms.verify
        kwargs = {"Message": b"m", "Signature": b"s", "SigningAlgorithm": algorithm}
    elif operation == "Encrypt":
        call, kwargs = kms.encrypt, {"Plaintext": b"p", "EncryptionAlgorithm": algorithm}
    elif operation == "GenerateMac":
        call, kwargs = kms.generate_mac, {"Message": b"m", "MacAlgorithm": algorithm}
    else:
        call = kms.verify_mac
        kwargs = {"Message": b"m", "Mac": b"\x00" * 48, "MacAlgorithm": algorithm}
    expect_error(
        call,
        "InvalidKeyUsageException",
        f"Algorithm {algorithm} is incompatible with key spec {spec}.",
        KeyId=key_id,
        **kwargs,
    )


def test_encrypt_with_rsa_key_needs_an_rsa_algorithm(kms) -> None:
    """Without EncryptionAlgorithm, Encrypt means SYMMETRIC_DEFAULT, which RSA keys lack."""
    meta = key_for(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    expect_error(
        kms.encrypt,
        "InvalidKeyUsageException",
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
        KeyId=meta["KeyId"],
        Plaintext=b"p",
    )


def test_unknown_algorithm_names_are_validation_errors(kms) -> None:
    sign_key = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    mac_key = key_for(kms, "HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=sign_key,
        Message=b"m",
        SigningAlgorithm="ECDSA_SHA_1",
    )
    expect_error(
        kms.generate_mac,
        "ValidationException",
        KeyId=mac_key,
        Message=b"m",
        MacAlgorithm="HMAC_SHA_1",
    )
    expect_error(
        kms.sign,
        "ValidationException",
        KeyId=sign_key,
        Message=b"m",
        SigningAlgorithm="ECDSA_SHA_256",
        MessageType="HASH",
    )


# -- key state --------------------------------------------------------------------------------


def _state_calls(kms: Any, spec: str, usage: str) -> tuple[dict[str, Any], list[Any]]:
    """A fresh key and thunks for the operations its usage allows."""
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage, Description="state")["KeyMetadata"]
    key_id = meta["KeyId"]
    if usage == "SIGN_VERIFY":
        signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")[
            "Signature"
        ]
        thunks = [
            lambda: kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
            lambda: kms.verify(
                KeyId=key_id, Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
            ),
            lambda: kms.get_public_key(KeyId=key_id),
        ]
    elif usage == "KEY_AGREEMENT":
        peer = ec.generate_private_key(ec.SECP256R1()).public_key()
        der = peer.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        thunks = [
            lambda: kms.derive_shared_secret(
                KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=der
            ),
            lambda: kms.get_public_key(KeyId=key_id),
        ]
    elif usage == "GENERATE_VERIFY_MAC":
        mac = kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        thunks = [
            lambda: kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256"),
            lambda: kms.verify_mac(
                KeyId=key_id, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256"
            ),
        ]
    else:
        algorithm = "RSAES_OAEP_SHA_256"
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionAlgorithm=algorithm)[
            "CiphertextBlob"
        ]
        thunks = [
            lambda: kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionAlgorithm=algorithm),
            lambda: kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=algorithm),
            lambda: kms.get_public_key(KeyId=key_id),
        ]
    return meta, thunks


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
    ],
)
def test_key_state_is_enforced(kms, spec, usage) -> None:
    meta, thunks = _state_calls(kms, spec, usage)
    key_id, arn = meta["KeyId"], meta["Arn"]
    for thunk in thunks:
        thunk()

    kms.disable_key(KeyId=key_id)
    for thunk in thunks:
        with pytest.raises(ClientError) as exc:
            thunk()
        assert error_of(exc) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    for thunk in thunks:
        thunk()

    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    for thunk in thunks:
        with pytest.raises(ClientError) as exc:
            thunk()
        assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key_id)
    for thunk in thunks:
        thunk()


def test_disabled_symmetric_key_refuses_data_key_pairs(kms) -> None:
    meta = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=meta["KeyId"])
    for call in (kms.generate_data_key_pair, kms.generate_data_key_pair_without_plaintext):
        expect_error(
            call,
            "DisabledException",
            f"{meta['Arn']} is disabled.",
            KeyId=meta["KeyId"],
            KeyPairSpec="ECC_NIST_P256",
        )


def test_dry_run_sign_checks_without_signing(kms) -> None:
    meta = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    expect_error(
        kms.sign,
        "DryRunOperationException",
        KeyId=meta["KeyId"],
        Message=b"m",
        SigningAlgorithm="ECDSA_SHA_256",
        DryRun=True,
    )
