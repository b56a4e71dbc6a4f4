"""Imported key material (BYOK) through boto3 against a real server, on SQLite and PostgreSQL.

The material is made and wrapped locally with pyca/cryptography exactly as the AWS KMS
Developer Guide describes (RSAES_OAEP_SHA_* = RSA-OAEP with MGF1 of the same hash and no
label; RSA_AES_KEY_WRAP_SHA_* = RSA-OAEP of a fresh AES-256 key followed by the RFC 5649
AES key wrap with padding of the material). What the server does with it is then checked
independently: signatures verified with the local private key's public half, MACs compared
with Python's ``hmac``, ECDH secrets compared with a local exchange. Symmetric ciphertexts
are an internal format, so symmetric imports are proven by round trips, by the material
being recognised on re-import (and different material being refused), and by two keys
holding the same material being unable to read each other's ciphertexts.

Expected behaviour follows the AWS KMS API reference (CreateKey, GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial, RotateKeyOnDemand, ListKeyRotations) and the
Developer Guide's "Importing key material" chapters; see /tmp/research/lifecycle-facts.md.

Most tests use ``own_server`` (its own database: the expiry test moves maintenance through
time, which touches every key there); the one that needs an on-demand rotation to stay in
progress uses ``quiet_server``.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from servers import maintenance_run
from test_boto3_keys import error_of

from conftest import ACCOUNT, make_client

SYMMETRIC_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
WRAPPING_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
NEVER = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


# -- helpers --------------------------------------------------------------------------------


@pytest.fixture()
def kms(own_server: Any) -> Any:
    """A KMS client on this module's own server (overrides the suite-wide ``kms``)."""
    return make_client(own_server.endpoint)


def expect_error(call: Any, code: str, **kwargs: Any) -> str:
    """Run ``call(**kwargs)``; it must fail with ``code``. Returns the message."""
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    got_code, message = error_of(exc)
    assert got_code == code, (got_code, message)
    return message


def _oaep(algorithm: str) -> padding.OAEP:
    digest = hashes.SHA1() if algorithm.endswith("_SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """EncryptedKeyMaterial for ``material`` under the DER wrapping public key."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    if algorithm.startswith("RSAES_OAEP_"):
        return public.encrypt(material, _oaep(algorithm))
    if algorithm.startswith("RSA_AES_KEY_WRAP_"):
        aes_key = os.urandom(32)
        return public.encrypt(aes_key, _oaep(algorithm)) + keywrap.aes_key_wrap_with_padding(
            aes_key, material
        )
    raise ValueError(algorithm)


def parameters(
    kms: Any, key_id: str, algorithm: str = "RSAES_OAEP_SHA_256", spec: str = "RSA_2048"
) -> dict[str, Any]:
    return dict(
        kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec
        )
    )


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    algorithm: str = "RSAES_OAEP_SHA_256",
    spec: str = "RSA_2048",
    **kwargs: Any,
) -> dict[str, Any]:
    """Fetch a fresh token, wrap ``material`` and import it (by default: never expires)."""
    params = parameters(kms, key_id, algorithm, spec)
    if "ValidTo" not in kwargs and "ExpirationModel" not in kwargs:
        kwargs.update(NEVER)
    return dict(
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
            **kwargs,
        )
    )


def external_key(
    kms: Any, spec: str = "SYMMETRIC_DEFAULT", usage: str | None = None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"Origin": "EXTERNAL", "KeySpec": spec}
    if usage:
        kwargs["KeyUsage"] = usage
    return dict(kms.create_key(Description=f"imported {spec}", **kwargs)["KeyMetadata"])


def pkcs8(private: Any) -> bytes:
    return private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def spki(public: Any) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def describe(kms: Any, key_id: str) -> dict[str, Any]:
    return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])


def materials(kms: Any, key_id: str, include: str = "ALL_KEY_MATERIAL") -> list[dict[str, Any]]:
    return list(kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial=include)["Rotations"])


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["KeyMaterialId"]: row for row in rows}


def ciphertexts(kms: Any, key_id: str, count: int = 3) -> list[tuple[bytes, bytes, dict[str, str]]]:
    """``count`` (plaintext, ciphertext, encryption context) triples under ``key_id``."""
    made = []
    for i in range(count):
        plaintext = os.urandom(16 + i)
        context = {"purpose": f"ciphertext-{i}"}
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)[
            "CiphertextBlob"
        ]
        made.append((plaintext, blob, context))
    return made


def assert_all_decrypt(
    kms: Any, made: list[tuple[bytes, bytes, dict[str, str]]], material_id: str
) -> None:
    for plaintext, blob, context in made:
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert out["Plaintext"] == plaintext
        assert out["KeyMaterialId"] == material_id


def data_key_material(kms: Any, key_id: str) -> str:
    """The KeyMaterialId new ciphertexts are made with (GenerateDataKey reports it)."""
    return str(kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"])


def rotate_and_wait(kms: Any, key_id: str, new_material_id: str, timeout: float = 30) -> None:
    """RotateKeyOnDemand on ``own_server``; wait until ``new_material_id`` is CURRENT."""
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == describe(kms, key_id)["Arn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = by_id(materials(kms, key_id))
        if rows.get(new_material_id, {}).get("KeyMaterialState") == "CURRENT":
            return
        time.sleep(0.1)
    raise AssertionError(f"on-demand rotation of {key_id} did not finish: {materials(kms, key_id)}")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- CreateKey with Origin=EXTERNAL --------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "usage", "operation"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "encrypt"),
        ("HMAC_256", "GENERATE_VERIFY_MAC", "generate_mac"),
        ("RSA_2048", "SIGN_VERIFY", "sign"),
        ("ECC_NIST_P256", "SIGN_VERIFY", "get_public_key"),
    ],
)
def test_external_key_is_pending_import(kms, spec: str, usage: str, operation: str) -> None:
    meta = external_key(kms, spec, usage)
    assert meta["Origin"] == "EXTERNAL"
    assert meta["KeyState"] == "PendingImport"
    assert meta["Enabled"] is False
    assert meta["KeySpec"] == spec
    assert meta["KeyUsage"] == usage
    assert "CurrentKeyMaterialId" not in meta
    assert "ExpirationModel" not in meta and "ValidTo" not in meta
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"
    args_by_operation: dict[str, dict[str, Any]] = {
        "encrypt": {"Plaintext": b"secret"},
        "generate_mac": {"Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
        "sign": {"Message": b"m", "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
        "get_public_key": {},
    }
    args = args_by_operation[operation]
    message = expect_error(
        getattr(kms, operation), "KMSInvalidStateException", KeyId=meta["KeyId"], **args
    )
    assert message == f"{meta['Arn']} is pending import."


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("ML_DSA_44", "SIGN_VERIFY"),
        ("ML_KEM_768", "KEY_AGREEMENT"),
    ],
)
def test_external_origin_refused_for_unimportable_specs(kms, spec: str, usage: str) -> None:
    before = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    expect_error(
        kms.create_key,
        "UnsupportedOperationException",
        Origin="EXTERNAL",
        KeySpec=spec,
        KeyUsage=usage,
    )
    assert {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]} == before


# -- GetParametersForImport ----------------------------------------------------------------


def test_get_parameters_for_import_shape(kms) -> None:
    meta = external_key(kms)
    first = parameters(kms, meta["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    assert first["KeyId"] == meta["Arn"]
    assert isinstance(first["ImportToken"], bytes) and len(first["ImportToken"]) > 0
    public = serialization.load_der_public_key(first["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert spki(public) == first["PublicKey"]  # plain DER SubjectPublicKeyInfo
    valid_to = first["ParametersValidTo"]
    expected = datetime.now(UTC) + timedelta(hours=24)
    assert abs((valid_to - expected).total_seconds()) < 300, valid_to
    # Every call gives a new wrapping key and token; the key stays PendingImport.
    second = parameters(kms, meta["Arn"], "RSAES_OAEP_SHA_1", "RSA_3072")
    assert second["KeyId"] == meta["Arn"]
    second_public = serialization.load_der_public_key(second["PublicKey"])
    assert isinstance(second_public, rsa.RSAPublicKey)
    assert second_public.key_size == 3072
    assert second["ImportToken"] != first["ImportToken"]
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_get_parameters_for_aws_kms_key_is_unsupported(kms) -> None:
    meta = kms.create_key(Description="not importable")["KeyMetadata"]
    message = expect_error(
        kms.get_parameters_for_import,
        "UnsupportedOperationException",
        KeyId=meta["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    assert message.startswith(f"{meta['Arn']} origin is AWS_KMS which is not valid for ")
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"
    expect_error(
        kms.delete_imported_key_material, "UnsupportedOperationException", KeyId=meta["KeyId"]
    )


def test_get_parameters_for_aws_kms_key_message(kms) -> None:
    meta = kms.create_key(Description="not importable")["KeyMetadata"]
    message = expect_error(
        kms.get_parameters_for_import,
        "UnsupportedOperationException",
        KeyId=meta["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    assert message == f"{meta['Arn']} origin is AWS_KMS which is not valid for this operation."


@pytest.mark.parametrize(
    ("algorithm", "spec"),
    [("RSAES_PKCS1_V1_5", "RSA_2048"), ("SM2PKE", "SM2"), ("RSAES_OAEP_SHA_256", "SM2")],
)
def test_deprecated_and_china_only_wrapping_is_unsupported(kms, algorithm: str, spec: str) -> None:
    meta = external_key(kms)
    expect_error(
        kms.get_parameters_for_import,
        "UnsupportedOperationException",
        KeyId=meta["KeyId"],
        WrappingAlgorithm=algorithm,
        WrappingKeySpec=spec,
    )


@pytest.mark.parametrize(
    ("spec", "usage", "algorithm"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "RSA_AES_KEY_WRAP_SHA_256"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "RSA_AES_KEY_WRAP_SHA_1"),
        ("HMAC_256", "GENERATE_VERIFY_MAC", "RSA_AES_KEY_WRAP_SHA_256"),
        ("RSA_2048", "SIGN_VERIFY", "RSAES_OAEP_SHA_256"),
        ("RSA_3072", "ENCRYPT_DECRYPT", "RSAES_OAEP_SHA_1"),
    ],
)
def test_wrapping_algorithm_not_allowed_for_key_spec(
    kms, spec: str, usage: str, algorithm: str
) -> None:
    meta = external_key(kms, spec, usage)
    expect_error(
        kms.get_parameters_for_import,
        "ValidationException",
        KeyId=meta["KeyId"],
        WrappingAlgorithm=algorithm,
        WrappingKeySpec="RSA_2048",
    )


def test_get_parameters_for_key_pending_deletion(kms) -> None:
    meta = external_key(kms)
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    expect_error(
        kms.get_parameters_for_import,
        "KMSInvalidStateException",
        KeyId=meta["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )


# -- importing: every wrapping combination, and proof that the material is the one sent ----


@pytest.mark.parametrize("wrapping_spec", WRAPPING_KEY_SPECS)
@pytest.mark.parametrize("algorithm", SYMMETRIC_ALGORITHMS)
def test_symmetric_import_every_wrapping_combination(
    kms, algorithm: str, wrapping_spec: str
) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    params = parameters(kms, meta["KeyId"], algorithm, wrapping_spec)
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == int(wrapping_spec.split("_")[1])
    out = kms.import_key_material(
        KeyId=meta["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        **NEVER,
    )
    assert out["KeyId"] == meta["Arn"]
    material_id = out["KeyMaterialId"]
    assert len(material_id) == 64 and int(material_id, 16) >= 0
    after = describe(kms, meta["KeyId"])
    assert (after["KeyState"], after["Enabled"]) == ("Enabled", True)
    assert after["CurrentKeyMaterialId"] == material_id
    assert after["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in after
    made = ciphertexts(kms, meta["KeyId"], 1)
    assert_all_decrypt(kms, made, material_id)
    # The server kept this exact material: different material is refused, the same accepted
    # (under another wrapping combination) with the same KeyMaterialId.
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=os.urandom(32),
    )
    again = import_material(kms, meta["KeyId"], material, "RSAES_OAEP_SHA_256", "RSA_2048")
    assert again["KeyMaterialId"] == material_id


def test_same_material_in_two_keys_stays_separate(kms) -> None:
    material = os.urandom(32)
    first, second = external_key(kms), external_key(kms)
    first_id = import_material(kms, first["KeyId"], material)["KeyMaterialId"]
    second_id = import_material(kms, second["KeyId"], material, "RSAES_OAEP_SHA_1")["KeyMaterialId"]
    assert first_id != second_id
    plaintext = b"only for the first key"
    blob = kms.encrypt(KeyId=first["KeyId"], Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    expect_error(kms.decrypt, "IncorrectKeyException", CiphertextBlob=blob, KeyId=second["KeyId"])
    # Re-address the ciphertext to the second key (its header names the key as a raw UUID).
    assert blob[2:18] == uuid.UUID(first["KeyId"]).bytes
    forged = blob[:2] + uuid.UUID(second["KeyId"]).bytes + blob[18:]
    expect_error(kms.decrypt, "InvalidCiphertextException", CiphertextBlob=forged)
    expect_error(
        kms.decrypt, "InvalidCiphertextException", CiphertextBlob=forged, KeyId=second["KeyId"]
    )


ASYMMETRIC_CASES = [
    # (key spec, usage, wrapping algorithm, wrapping key spec)
    ("RSA_2048", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ("RSA_2048", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072"),
    ("RSA_2048", "ENCRYPT_DECRYPT", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "RSA_2048"),
    ("ECC_NIST_P384", "SIGN_VERIFY", "RSAES_OAEP_SHA_1", "RSA_3072"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "RSA_2048"),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "RSAES_OAEP_SHA_1", "RSA_2048"),
]

_CURVES = {
    "ECC_NIST_P256": (ec.SECP256R1, "ECDSA_SHA_256", hashes.SHA256),
    "ECC_NIST_P384": (ec.SECP384R1, "ECDSA_SHA_384", hashes.SHA384),
    "ECC_SECG_P256K1": (ec.SECP256K1, "ECDSA_SHA_256", hashes.SHA256),
}


@pytest.mark.parametrize(("spec", "usage", "algorithm", "wrapping_spec"), ASYMMETRIC_CASES)
def test_asymmetric_import_uses_the_imported_private_key(
    kms, spec: str, usage: str, algorithm: str, wrapping_spec: str
) -> None:
    if spec.startswith("RSA_"):
        private: Any = rsa.generate_private_key(65537, int(spec.split("_")[1]))
    else:
        private = ec.generate_private_key(_CURVES[spec][0]())
    meta = external_key(kms, spec, usage)
    out = import_material(kms, meta["KeyId"], pkcs8(private), algorithm, wrapping_spec, **NEVER)
    assert out["KeyId"] == meta["Arn"]
    after = describe(kms, meta["KeyId"])
    assert (after["KeyState"], after["Enabled"]) == ("Enabled", True)
    assert kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"] == spki(private.public_key())
    message = os.urandom(40)
    if usage == "SIGN_VERIFY" and spec.startswith("RSA_"):
        sig = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm="RSASSA_PSS_SHA_256")
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        private.public_key().verify(sig["Signature"], message, pss, hashes.SHA256())
        sig = kms.sign(
            KeyId=meta["KeyId"], Message=message, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
        )
        private.public_key().verify(sig["Signature"], message, padding.PKCS1v15(), hashes.SHA256())
        # ...and KMS verifies a signature made locally with the private key.
        local = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
        assert kms.verify(
            KeyId=meta["KeyId"],
            Message=message,
            Signature=local,
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )["SignatureValid"]
    elif usage == "SIGN_VERIFY":
        _, signing, digest = _CURVES[spec]
        sig = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm=signing)
        private.public_key().verify(sig["Signature"], message, ec.ECDSA(digest()))
        local = private.sign(message, ec.ECDSA(digest()))
        assert kms.verify(
            KeyId=meta["KeyId"], Message=message, Signature=local, SigningAlgorithm=signing
        )["SignatureValid"]
    elif usage == "ENCRYPT_DECRYPT":
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        blob = private.public_key().encrypt(message, oaep)
        out = kms.decrypt(
            KeyId=meta["KeyId"], CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
        )
        assert out["Plaintext"] == message
        blob = kms.encrypt(
            KeyId=meta["KeyId"], Plaintext=message, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
        )["CiphertextBlob"]
        assert private.decrypt(blob, oaep) == message
    else:  # KEY_AGREEMENT
        peer = ec.generate_private_key(_CURVES[spec][0]())
        secret = kms.derive_shared_secret(
            KeyId=meta["KeyId"],
            KeyAgreementAlgorithm="ECDH",
            PublicKey=spki(peer.public_key()),
        )["SharedSecret"]
        assert secret == peer.exchange(ec.ECDH(), private.public_key())
    # The same private key is accepted again; another one is not.
    import_material(kms, meta["KeyId"], pkcs8(private), algorithm, "RSA_2048")
    if spec.startswith("RSA_"):
        other: Any = rsa.generate_private_key(65537, int(spec.split("_")[1]))
    else:
        other = ec.generate_private_key(_CURVES[spec][0]())
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=pkcs8(other),
        algorithm=algorithm,
    )
    assert kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"] == spki(private.public_key())


@pytest.mark.parametrize(
    ("spec", "mac_algorithm", "digest", "size", "algorithm"),
    [
        ("HMAC_256", "HMAC_SHA_256", "sha256", 32, "RSAES_OAEP_SHA_256"),
        ("HMAC_256", "HMAC_SHA_256", "sha256", 128, "RSAES_OAEP_SHA_1"),
        ("HMAC_384", "HMAC_SHA_384", "sha384", 100, "RSAES_OAEP_SHA_256"),
        ("HMAC_224", "HMAC_SHA_224", "sha224", 28, "RSAES_OAEP_SHA_1"),
    ],
)
def test_hmac_import_macs_with_the_imported_key(
    kms, spec: str, mac_algorithm: str, digest: str, size: int, algorithm: str
) -> None:
    material = os.urandom(size)
    meta = external_key(kms, spec, "GENERATE_VERIFY_MAC")
    import_material(kms, meta["KeyId"], material, algorithm)
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"
    for message in (b"m", b"hello", os.urandom(300)):
        mac = kms.generate_mac(KeyId=meta["KeyId"], Message=message, MacAlgorithm=mac_algorithm)
        assert mac["Mac"] == hmac.new(material, message, digest).digest()
        local = hmac.new(material, message + b"!", digest).digest()
        assert kms.verify_mac(
            KeyId=meta["KeyId"], Message=message + b"!", Mac=local, MacAlgorithm=mac_algorithm
        )["MacValid"]


@pytest.mark.parametrize("size", [31, 129])
def test_hmac_material_of_wrong_size_is_refused(kms, size: int) -> None:
    meta = external_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=os.urandom(size),
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_asymmetric_material_of_another_spec_is_refused(kms) -> None:
    meta = external_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    wrong_curve = pkcs8(ec.generate_private_key(ec.SECP384R1()))
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=wrong_curve,
    )
    rsa_key = external_key(kms, "RSA_2048", "SIGN_VERIFY")
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=rsa_key["KeyId"],
        material=pkcs8(rsa.generate_private_key(65537, 3072)),
        algorithm="RSA_AES_KEY_WRAP_SHA_256",
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"
    assert describe(kms, rsa_key["KeyId"])["KeyState"] == "PendingImport"


# -- ExpirationModel and ValidTo -----------------------------------------------------------


def _valid_to_cases() -> list[Any]:
    return [
        pytest.param({}, id="default-model-without-ValidTo"),
        pytest.param({"ExpirationModel": "KEY_MATERIAL_EXPIRES"}, id="expires-without-ValidTo"),
        pytest.param({"ValidTo": -timedelta(hours=1)}, id="ValidTo-in-the-past"),
        pytest.param({"ValidTo": timedelta(days=366)}, id="ValidTo-over-365-days"),
        pytest.param(
            {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": timedelta(days=30)},
            id="ValidTo-with-does-not-expire",
        ),
    ]


@pytest.mark.parametrize("options", _valid_to_cases())
def test_expiration_rules(kms, options: dict[str, Any]) -> None:
    meta = external_key(kms)
    params = parameters(kms, meta["KeyId"])
    kwargs = dict(options)
    if "ValidTo" in kwargs:
        kwargs["ValidTo"] = datetime.now(UTC) + kwargs["ValidTo"]
    expect_error(
        kms.import_key_material,
        "ValidationException",
        KeyId=meta["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
        **kwargs,
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_missing_valid_to_message(kms) -> None:
    meta = external_key(kms)
    params = parameters(kms, meta["KeyId"])
    message = expect_error(
        kms.import_key_material,
        "ValidationException",
        KeyId=meta["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
        ExpirationModel="KEY_MATERIAL_EXPIRES",
    )
    assert message == "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"


def test_describe_key_shows_expiration_and_reimport_changes_it(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    valid_to = (datetime.now(UTC) + timedelta(days=364)).replace(microsecond=0)
    first = import_material(kms, meta["KeyId"], material, ValidTo=valid_to)
    shown = describe(kms, meta["KeyId"])
    assert shown["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((shown["ValidTo"] - valid_to).total_seconds()) < 1
    row = by_id(materials(kms, meta["KeyId"]))[first["KeyMaterialId"]]
    assert row["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((row["ValidTo"] - valid_to).total_seconds()) < 1
    assert (row["ImportState"], row["KeyMaterialState"]) == ("IMPORTED", "CURRENT")
    # Reimport with a nearer date, then without expiry: DescribeKey follows.
    nearer = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    import_material(kms, meta["KeyId"], material, "RSAES_OAEP_SHA_1", ValidTo=nearer)
    assert abs((describe(kms, meta["KeyId"])["ValidTo"] - nearer).total_seconds()) < 1
    again = import_material(kms, meta["KeyId"], material)
    assert again["KeyMaterialId"] == first["KeyMaterialId"]
    shown = describe(kms, meta["KeyId"])
    assert shown["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in shown
    row = by_id(materials(kms, meta["KeyId"]))[first["KeyMaterialId"]]
    assert row["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in row


def test_key_material_description_is_kept_on_reimport_without_one(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, meta["KeyId"], material, KeyMaterialDescription="v1")[
        "KeyMaterialId"
    ]
    assert materials(kms, meta["KeyId"])[0]["KeyMaterialDescription"] == "v1"
    import_material(kms, meta["KeyId"], material)
    assert materials(kms, meta["KeyId"])[0]["KeyMaterialDescription"] == "v1"
    import_material(kms, meta["KeyId"], material, KeyMaterialDescription="v2")
    rows = materials(kms, meta["KeyId"])
    assert [(r["KeyMaterialId"], r["KeyMaterialDescription"]) for r in rows] == [
        (material_id, "v2")
    ]


def test_import_calls_are_in_the_trail_without_secrets(own_server, kms) -> None:
    meta = external_key(kms)
    params = parameters(kms, meta["KeyId"])
    wrapped = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32))
    out = kms.import_key_material(
        KeyId=meta["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        KeyMaterialDescription="audited",
        **NEVER,
    )
    kms.delete_imported_key_material(KeyId=meta["KeyId"], KeyMaterialId=out["KeyMaterialId"])
    trail = make_client(own_server.endpoint, service="cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": meta["Arn"]}]
    )["Events"]
    records = {e["EventName"]: e["CloudTrailEvent"] for e in events}
    assert {"GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial"} <= set(
        records
    )
    for raw in records.values():
        for secret in (params["ImportToken"], wrapped):
            assert base64.b64encode(secret).decode() not in raw
            assert secret.hex() not in raw
    imported = json.loads(records["ImportKeyMaterial"])
    assert imported["requestParameters"]["keyId"] == meta["KeyId"]
    assert imported["requestParameters"]["expirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert imported["requestParameters"]["keyMaterialDescription"] == "audited"
    assert imported["responseElements"] == {
        "keyId": meta["Arn"],
        "keyMaterialId": out["KeyMaterialId"],
    }
    deleted = json.loads(records["DeleteImportedKeyMaterial"])
    assert deleted["requestParameters"] == {
        "keyId": meta["KeyId"],
        "keyMaterialId": out["KeyMaterialId"],
    }
    assert deleted["responseElements"] == {
        "keyId": meta["Arn"],
        "keyMaterialId": out["KeyMaterialId"],
    }
    assert deleted["eventType"] == "AwsApiCall"


# -- import tokens and wrapped material ----------------------------------------------------


def test_import_token_is_single_use(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    params = parameters(kms, meta["KeyId"])
    wrapped = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material)
    request = {
        "KeyId": meta["KeyId"],
        "ImportToken": params["ImportToken"],
        "EncryptedKeyMaterial": wrapped,
        **NEVER,
    }
    kms.import_key_material(**request)
    expect_error(kms.import_key_material, "InvalidImportTokenException", **request)
    # Even after the key's material is deleted, the used token stays used.
    kms.delete_imported_key_material(KeyId=meta["KeyId"])
    expect_error(kms.import_key_material, "InvalidImportTokenException", **request)
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_import_token_of_another_key_is_refused(kms) -> None:
    mine, other = external_key(kms), external_key(kms)
    params = parameters(kms, other["KeyId"])
    wrapped = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32))
    expect_error(
        kms.import_key_material,
        "InvalidImportTokenException",
        KeyId=mine["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        **NEVER,
    )
    assert describe(kms, mine["KeyId"])["KeyState"] == "PendingImport"
    # The refused attempt did not spend the token on its own key.
    kms.import_key_material(
        KeyId=other["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        **NEVER,
    )
    assert describe(kms, other["KeyId"])["KeyState"] == "Enabled"


@pytest.mark.parametrize("kind", ["random", "truncated", "flipped"])
def test_garbage_import_token_is_refused(kms, kind: str) -> None:
    meta = external_key(kms)
    params = parameters(kms, meta["KeyId"])
    real = params["ImportToken"]
    token = {
        "random": os.urandom(len(real)),
        "truncated": real[: len(real) // 2],
        "flipped": real[:-1] + bytes([real[-1] ^ 0x01]),
    }[kind]
    expect_error(
        kms.import_key_material,
        "InvalidImportTokenException",
        KeyId=meta["KeyId"],
        ImportToken=token,
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
        **NEVER,
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_material_wrapped_under_another_public_key_is_refused(kms) -> None:
    meta = external_key(kms)
    used = parameters(kms, meta["KeyId"])
    other = parameters(kms, meta["KeyId"])
    assert used["PublicKey"] != other["PublicKey"]
    material = os.urandom(32)
    expect_error(
        kms.import_key_material,
        "InvalidCiphertextException",
        KeyId=meta["KeyId"],
        ImportToken=used["ImportToken"],
        EncryptedKeyMaterial=wrap(other["PublicKey"], "RSAES_OAEP_SHA_256", material),
        **NEVER,
    )
    # Wrapped with the right key but the other OAEP hash: also undecryptable.
    third = parameters(kms, meta["KeyId"])
    expect_error(
        kms.import_key_material,
        "InvalidCiphertextException",
        KeyId=meta["KeyId"],
        ImportToken=third["ImportToken"],
        EncryptedKeyMaterial=wrap(third["PublicKey"], "RSAES_OAEP_SHA_1", material),
        **NEVER,
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_symmetric_material_of_wrong_size_is_refused(kms, size: int) -> None:
    meta = external_key(kms)
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=os.urandom(size),
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"


def test_reimport_of_different_material_and_wrong_material_id(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, meta["KeyId"], material)["KeyMaterialId"]
    made = ciphertexts(kms, meta["KeyId"], 1)
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=os.urandom(32),
        ImportType="EXISTING_KEY_MATERIAL",
    )
    wrong_id = "0" * 64 if material_id != "0" * 64 else "1" * 64
    expect_error(
        import_material,
        "IncorrectKeyMaterialException",
        kms=kms,
        key_id=meta["KeyId"],
        material=material,
        KeyMaterialId=wrong_id,
    )
    again = import_material(kms, meta["KeyId"], material, KeyMaterialId=material_id)
    assert again["KeyMaterialId"] == material_id
    assert [m["KeyMaterialId"] for m in materials(kms, meta["KeyId"])] == [material_id]
    assert_all_decrypt(kms, made, material_id)


@pytest.mark.parametrize(
    "extra",
    [
        {"ImportType": "NEW_KEY_MATERIAL"},
        {"ImportType": "EXISTING_KEY_MATERIAL"},
        {"KeyMaterialDescription": "not for asymmetric keys"},
        {"KeyMaterialId": "ab" * 32},
    ],
    ids=["ImportType-new", "ImportType-existing", "KeyMaterialDescription", "KeyMaterialId"],
)
def test_symmetric_only_parameters_on_asymmetric_key(kms, extra: dict[str, str]) -> None:
    meta = external_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    private = ec.generate_private_key(ec.SECP256R1())
    expect_error(
        import_material,
        "ValidationException",
        kms=kms,
        key_id=meta["KeyId"],
        material=pkcs8(private),
        **extra,
    )
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingImport"
    import_material(kms, meta["KeyId"], pkcs8(private))
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"


# -- DeleteImportedKeyMaterial -------------------------------------------------------------


def test_delete_imported_material_and_reimport_restores_ciphertexts(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, meta["KeyId"], material)["KeyMaterialId"]
    made = ciphertexts(kms, meta["KeyId"], 4)
    data_key = kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")
    deleted = kms.delete_imported_key_material(KeyId=meta["KeyId"])
    assert deleted["KeyId"] == meta["Arn"]
    assert deleted["KeyMaterialId"] == material_id
    shown = describe(kms, meta["KeyId"])
    assert (shown["KeyState"], shown["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in shown
    row = by_id(materials(kms, meta["KeyId"]))[material_id]
    assert row["ImportState"] == "PENDING_IMPORT"
    for _, blob, context in made:
        message = expect_error(
            kms.decrypt, "KMSInvalidStateException", CiphertextBlob=blob, EncryptionContext=context
        )
        assert message == f"{meta['Arn']} is pending import."
    expect_error(kms.encrypt, "KMSInvalidStateException", KeyId=meta["KeyId"], Plaintext=b"x")
    # Re-import the same material with a new token and another wrapping combination.
    again = import_material(kms, meta["KeyId"], material, "RSAES_OAEP_SHA_1", "RSA_3072")
    assert again["KeyMaterialId"] == material_id
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"
    assert by_id(materials(kms, meta["KeyId"]))[material_id]["ImportState"] == "IMPORTED"
    assert_all_decrypt(kms, made, material_id)
    out = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    assert out["Plaintext"] == data_key["Plaintext"]


def test_delete_imported_material_while_pending_deletion(kms) -> None:
    meta = external_key(kms)
    material_id = import_material(kms, meta["KeyId"], os.urandom(32))["KeyMaterialId"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    out = kms.delete_imported_key_material(KeyId=meta["KeyId"], KeyMaterialId=material_id)
    assert (out["KeyId"], out["KeyMaterialId"]) == (meta["Arn"], material_id)
    assert describe(kms, meta["KeyId"])["KeyState"] == "PendingDeletion"
    assert by_id(materials(kms, meta["KeyId"]))[material_id]["ImportState"] == "PENDING_IMPORT"


def test_cancel_deletion_of_key_without_material_is_pending_import(kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, meta["KeyId"], material)["KeyMaterialId"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=meta["KeyId"], KeyMaterialId=material_id)
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    # A key whose material is gone is PendingImport, never Disabled/Enabled without material.
    shown = describe(kms, meta["KeyId"])
    assert (shown["KeyState"], shown["Enabled"]) == ("PendingImport", False)
    expect_error(kms.enable_key, "KMSInvalidStateException", KeyId=meta["KeyId"])
    message = expect_error(
        kms.encrypt, "KMSInvalidStateException", KeyId=meta["KeyId"], Plaintext=b"x"
    )
    assert message == f"{meta['Arn']} is pending import."
    import_material(kms, meta["KeyId"], material)
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"


# -- expiry through time -------------------------------------------------------------------


def test_expired_material_is_deleted_by_maintenance(own_server, kms) -> None:
    meta = external_key(kms)
    material = os.urandom(32)
    now = datetime.now(UTC)
    material_id = import_material(kms, meta["KeyId"], material, ValidTo=now + timedelta(days=2))[
        "KeyMaterialId"
    ]
    made = ciphertexts(kms, meta["KeyId"], 3)
    # Before ValidTo: nothing happens to it.
    early = json.loads(maintenance_run(own_server, at=_iso(now + timedelta(days=1))).stdout)
    assert meta["KeyId"] not in [e["KeyId"] for e in early["ExpiredKeyMaterial"]]
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"
    assert_all_decrypt(kms, made, material_id)
    # After ValidTo: the material is gone, the key waits for it.
    report = json.loads(maintenance_run(own_server, at=_iso(now + timedelta(days=3))).stdout)
    assert {"KeyId": meta["KeyId"], "KeyMaterialId": material_id} in report["ExpiredKeyMaterial"]
    shown = describe(kms, meta["KeyId"])
    assert (shown["KeyState"], shown["Enabled"]) == ("PendingImport", False)
    assert by_id(materials(kms, meta["KeyId"]))[material_id]["ImportState"] == "PENDING_IMPORT"
    _, blob, context = made[0]
    expect_error(
        kms.decrypt, "KMSInvalidStateException", CiphertextBlob=blob, EncryptionContext=context
    )
    # A second run finds nothing more to do for it.
    later = json.loads(maintenance_run(own_server, at=_iso(now + timedelta(days=3))).stdout)
    assert meta["KeyId"] not in [e["KeyId"] for e in later["ExpiredKeyMaterial"]]
    # The trail has the service event.
    trail = make_client(own_server.endpoint, service="cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "DeleteExpiredKeyMaterial"}
        ]
    )["Events"]
    mine = [
        json.loads(e["CloudTrailEvent"])
        for e in events
        if any(r.get("ResourceName") == meta["Arn"] for r in e.get("Resources", []))
    ]
    assert len(mine) == 1, events
    record = mine[0]
    assert record["eventName"] == "DeleteExpiredKeyMaterial"
    assert record["eventType"] == "AwsServiceEvent"
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["userIdentity"] == {"accountId": ACCOUNT, "invokedBy": "AWS Internal"}
    assert record["sourceIPAddress"] == "AWS Internal"
    assert record["serviceEventDetails"]["keyMaterialId"] == material_id
    assert record["serviceEventDetails"]["keyId"] == meta["KeyId"]
    assert {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": meta["Arn"]} in record[
        "resources"
    ]
    # Re-importing the same material restores every old ciphertext.
    again = import_material(kms, meta["KeyId"], material)
    assert again["KeyMaterialId"] == material_id
    assert describe(kms, meta["KeyId"])["KeyState"] == "Enabled"
    assert_all_decrypt(kms, made, material_id)


# -- new key material and on-demand rotation -----------------------------------------------


def test_new_key_material_and_on_demand_rotation(kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    first, second = os.urandom(32), os.urandom(32)
    first_id = import_material(kms, key_id, first, KeyMaterialDescription="first")["KeyMaterialId"]
    old = ciphertexts(kms, key_id, 2)
    second_out = import_material(
        kms, key_id, second, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="second"
    )
    second_id = second_out["KeyMaterialId"]
    assert second_out["KeyId"] == meta["Arn"]
    assert second_id != first_id
    rows = materials(kms, key_id)
    assert [r["KeyMaterialId"] for r in rows] == [first_id, second_id]
    assert rows[0]["KeyMaterialState"] == "CURRENT"
    assert rows[1]["KeyMaterialState"] == "PENDING_ROTATION"
    assert [r["ImportState"] for r in rows] == ["IMPORTED", "IMPORTED"]
    assert [r.get("KeyMaterialDescription") for r in rows] == ["first", "second"]
    assert "RotationDate" not in rows[1] and "RotationType" not in rows[1]
    assert materials(kms, key_id, "ROTATIONS_ONLY") == []
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == first_id
    assert data_key_material(kms, key_id) == first_id
    # Only one material may wait for rotation.
    expect_error(
        import_material,
        "KMSInvalidStateException",
        kms=kms,
        key_id=key_id,
        material=os.urandom(32),
        ImportType="NEW_KEY_MATERIAL",
    )
    before = datetime.now(UTC) - timedelta(seconds=5)
    rotate_and_wait(kms, key_id, second_id)
    rotated = by_id(materials(kms, key_id))
    assert rotated[second_id]["KeyMaterialState"] == "CURRENT"
    assert rotated[first_id]["KeyMaterialState"] == "NON_CURRENT"
    assert rotated[first_id]["ImportState"] == "IMPORTED"
    assert rotated[second_id]["ImportState"] == "IMPORTED"
    assert rotated[second_id]["RotationType"] == "ON_DEMAND"
    assert rotated[second_id]["RotationDate"] >= before
    only = materials(kms, key_id, "ROTATIONS_ONLY")
    assert [r["KeyMaterialId"] for r in only] == [second_id]
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == second_id
    assert_all_decrypt(kms, old, first_id)
    fresh = ciphertexts(kms, key_id, 2)
    assert_all_decrypt(kms, fresh, second_id)
    assert data_key_material(kms, key_id) == second_id
    # Nothing pending any more.
    expect_error(kms.rotate_key_on_demand, "KMSInvalidStateException", KeyId=key_id)
    # Material already associated with the key is not "new".
    for known in (first, second):
        expect_error(
            import_material,
            "IncorrectKeyMaterialException",
            kms=kms,
            key_id=key_id,
            material=known,
            ImportType="NEW_KEY_MATERIAL",
        )
    assert len(materials(kms, key_id)) == 2


def test_rotate_on_demand_without_pending_material(kms) -> None:
    meta = external_key(kms)
    expect_error(kms.rotate_key_on_demand, "KMSInvalidStateException", KeyId=meta["KeyId"])
    import_material(kms, meta["KeyId"], os.urandom(32))
    expect_error(kms.rotate_key_on_demand, "KMSInvalidStateException", KeyId=meta["KeyId"])
    assert len(materials(kms, meta["KeyId"])) == 1


def test_new_key_material_needs_a_first_import_and_no_material_id(kms) -> None:
    meta = external_key(kms)
    first = os.urandom(32)
    # ImportType omitted on the first import means NEW: it becomes the current material.
    first_id = import_material(kms, meta["KeyId"], first)["KeyMaterialId"]
    assert describe(kms, meta["KeyId"])["CurrentKeyMaterialId"] == first_id
    # A key material id cannot accompany NEW_KEY_MATERIAL.
    expect_error(
        import_material,
        "ValidationException",
        kms=kms,
        key_id=meta["KeyId"],
        material=os.urandom(32),
        ImportType="NEW_KEY_MATERIAL",
        KeyMaterialId=first_id,
    )
    assert [r["KeyMaterialId"] for r in materials(kms, meta["KeyId"])] == [first_id]


def test_pending_rotation_material_can_be_deleted_and_replaced(kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    first_id = import_material(kms, key_id, os.urandom(32))["KeyMaterialId"]
    pending_id = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending_id)
    assert out["KeyMaterialId"] == pending_id
    shown = describe(kms, key_id)
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", first_id)
    assert [r["KeyMaterialId"] for r in materials(kms, key_id)] == [first_id]
    # The slot is free again: other new material can be imported and rotated in.
    third = os.urandom(32)
    third_id = import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert third_id not in (first_id, pending_id)
    rotate_and_wait(kms, key_id, third_id)
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == third_id


def test_every_associated_material_must_be_imported(kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    first, second = os.urandom(32), os.urandom(32)
    first_id = import_material(kms, key_id, first)["KeyMaterialId"]
    old = ciphertexts(kms, key_id, 2)
    second_id = import_material(kms, key_id, second, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    rotate_and_wait(kms, key_id, second_id)
    new = ciphertexts(kms, key_id, 2)
    # Losing the old (NON_CURRENT) material makes the whole key wait for it.
    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first_id)
    assert out["KeyMaterialId"] == first_id
    assert describe(kms, key_id)["KeyState"] == "PendingImport"
    rows = by_id(materials(kms, key_id))
    assert rows[first_id]["ImportState"] == "PENDING_IMPORT"
    assert rows[second_id]["ImportState"] == "IMPORTED"
    expect_error(
        kms.decrypt,
        "KMSInvalidStateException",
        CiphertextBlob=new[0][1],
        EncryptionContext=new[0][2],
    )
    # Re-importing it (naming it) brings everything back.
    again = import_material(
        kms, key_id, first, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=first_id
    )
    assert again["KeyMaterialId"] == first_id
    shown = describe(kms, key_id)
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", second_id)
    assert_all_decrypt(kms, old, first_id)
    assert_all_decrypt(kms, new, second_id)


def test_pending_rotation_material_expiry_leaves_the_key_alone(own_server, kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    now = datetime.now(UTC)
    first_id = import_material(kms, key_id, os.urandom(32))["KeyMaterialId"]
    made = ciphertexts(kms, key_id, 1)
    pending_id = import_material(
        kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", ValidTo=now + timedelta(days=2)
    )["KeyMaterialId"]
    # Material not yet permanently associated does not count for the key's ValidTo.
    shown = describe(kms, key_id)
    assert shown["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in shown
    assert by_id(materials(kms, key_id))[pending_id]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    report = json.loads(maintenance_run(own_server, at=_iso(now + timedelta(days=3))).stdout)
    assert {"KeyId": key_id, "KeyMaterialId": pending_id} in report["ExpiredKeyMaterial"]
    shown = describe(kms, key_id)
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", first_id)
    assert [r["KeyMaterialId"] for r in materials(kms, key_id)] == [first_id]
    assert_all_decrypt(kms, made, first_id)
    expect_error(kms.rotate_key_on_demand, "KMSInvalidStateException", KeyId=key_id)


def test_expiry_of_non_current_material_makes_the_key_pending_import(own_server, kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    now = datetime.now(UTC)
    first = os.urandom(32)
    first_id = import_material(kms, key_id, first, ValidTo=now + timedelta(days=2))["KeyMaterialId"]
    old = ciphertexts(kms, key_id, 2)
    second_id = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    rotate_and_wait(kms, key_id, second_id)
    new = ciphertexts(kms, key_id, 2)
    report = json.loads(maintenance_run(own_server, at=_iso(now + timedelta(days=3))).stdout)
    assert {"KeyId": key_id, "KeyMaterialId": first_id} in report["ExpiredKeyMaterial"]
    assert describe(kms, key_id)["KeyState"] == "PendingImport"
    rows = by_id(materials(kms, key_id))
    assert (rows[first_id]["ImportState"], rows[first_id]["KeyMaterialState"]) == (
        "PENDING_IMPORT",
        "NON_CURRENT",
    )
    assert rows[second_id]["ImportState"] == "IMPORTED"
    _, blob, context = new[0]
    expect_error(
        kms.decrypt, "KMSInvalidStateException", CiphertextBlob=blob, EncryptionContext=context
    )
    import_material(kms, key_id, first, KeyMaterialId=first_id)
    shown = describe(kms, key_id)
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", second_id)
    assert_all_decrypt(kms, old, first_id)
    assert_all_decrypt(kms, new, second_id)


def test_describe_key_valid_to_covers_non_current_material(kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    valid_to = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    import_material(kms, key_id, os.urandom(32), ValidTo=valid_to)
    second_id = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    rotate_and_wait(kms, key_id, second_id)
    shown = describe(kms, key_id)
    assert shown["CurrentKeyMaterialId"] == second_id
    assert shown.get("ExpirationModel") == "KEY_MATERIAL_EXPIRES"
    assert abs((shown["ValidTo"] - valid_to).total_seconds()) < 1


def test_on_demand_rotation_of_imported_material_in_progress(quiet_server) -> None:
    kms = make_client(quiet_server.endpoint)
    meta = external_key(kms)
    key_id = meta["KeyId"]
    first_id = import_material(kms, key_id, os.urandom(32))["KeyMaterialId"]
    old = ciphertexts(kms, key_id, 1)
    second_id = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == meta["Arn"]
    # Still in progress: nothing has changed yet, and a second request conflicts.
    rows = by_id(materials(kms, key_id))
    assert rows[second_id]["KeyMaterialState"] == "PENDING_ROTATION"
    assert rows[first_id]["KeyMaterialState"] == "CURRENT"
    assert data_key_material(kms, key_id) == first_id
    expect_error(kms.rotate_key_on_demand, "ConflictException", KeyId=key_id)
    report = json.loads(maintenance_run(quiet_server).stdout)
    assert {"KeyId": key_id, "KeyMaterialId": second_id, "RotationType": "ON_DEMAND"} in report[
        "Rotated"
    ]
    rows = by_id(materials(kms, key_id))
    assert rows[second_id]["KeyMaterialState"] == "CURRENT"
    assert rows[first_id]["KeyMaterialState"] == "NON_CURRENT"
    assert data_key_material(kms, key_id) == second_id
    assert_all_decrypt(kms, old, first_id)
    trail = make_client(quiet_server.endpoint, service="cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": meta["Arn"]}]
    )["Events"]
    rotations = [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == "RotateKey"]
    assert len(rotations) == 1
    assert rotations[0]["eventType"] == "AwsServiceEvent"
    assert rotations[0]["serviceEventDetails"] == {
        "rotationType": "ON_DEMAND",
        "keyOrigin": "EXTERNAL",
        "previousKeyMaterialId": first_id,
        "currentKeyMaterialId": second_id,
        "keyId": key_id,
    }
