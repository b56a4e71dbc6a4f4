"""Byte-level AWS fidelity (issue 14): error bodies without a message, identifiers in
answers, the order of RotateKeyOnDemand's checks, AWS's wording and wire details, each
pinned on the raw HTTP answer (status, body as sent) and, where a client sees it, through
boto3."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_key_import import external_key, import_material, materials

from conftest import ACCESS_KEY, SECRET_KEY

Answer = tuple[int, dict[str, Any]]


def raw_answer(server: Any, operation: str, params: dict[str, Any]) -> tuple[int, bytes]:
    """One SigV4-signed request; the status and the body exactly as sent."""
    body = json.dumps(params).encode()
    headers = {"X-Amz-Target": f"TrentService.{operation}"}
    headers["Content-Type"] = "application/x-amz-json-1.1"
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kms", "us-east-1").add_auth(req)
    raw = urllib.request.Request(
        server.endpoint + "/", data=body, headers=dict(req.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def call(server: Any, operation: str, **params: Any) -> Answer:
    """The status and the parsed body."""
    status, body = raw_answer(server, operation, params)
    return status, json.loads(body)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_key(server: Any, **params: Any) -> dict[str, Any]:
    status, body = call(server, "CreateKey", **params)
    assert status == 200, body
    return dict(body["KeyMetadata"])


# -- 1. errors AWS answers without a message -------------------------------------------------


def test_invalid_ciphertext_has_no_message_member(server) -> None:
    key = new_key(server)
    status, out = call(
        server, "Encrypt", KeyId=key["KeyId"], Plaintext=b64(b"x"), EncryptionContext={"a": "b"}
    )
    blob = out["CiphertextBlob"]
    for context in ({"a": "c"}, None, {"a": "b", "extra": "x"}):
        params: dict[str, Any] = {"CiphertextBlob": blob}
        if context is not None:
            params["EncryptionContext"] = context
        assert call(server, "Decrypt", **params) == (400, {"__type": "InvalidCiphertextException"})
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    corrupted = call(server, "Decrypt", CiphertextBlob=b64(bytes(raw)))
    assert corrupted == (400, {"__type": "InvalidCiphertextException"})
    foreign = call(server, "Decrypt", CiphertextBlob=b64(os.urandom(120)))
    assert foreign == (400, {"__type": "InvalidCiphertextException"})
    # data keys: GenerateDataKey, GenerateDataKeyPair, with a missing context
    _, data_key = call(
        server,
        "GenerateDataKey",
        KeyId=key["KeyId"],
        KeySpec="AES_256",
        EncryptionContext={"k": "v"},
    )
    _, pair = call(
        server,
        "GenerateDataKeyPairWithoutPlaintext",
        KeyId=key["KeyId"],
        KeyPairSpec="ECC_NIST_P256",
        EncryptionContext={"k": "v"},
    )
    for sealed in (data_key["CiphertextBlob"], pair["PrivateKeyCiphertextBlob"]):
        assert call(server, "Decrypt", CiphertextBlob=sealed) == (
            400,
            {"__type": "InvalidCiphertextException"},
        )


def test_signature_and_mac_failures_have_no_message(server) -> None:
    signing = new_key(server, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    _, signed = call(
        server, "Sign", KeyId=signing["KeyId"], Message=b64(b"m"), SigningAlgorithm="ECDSA_SHA_256"
    )
    status, body = call(
        server,
        "Verify",
        KeyId=signing["KeyId"],
        Message=b64(b"other"),
        Signature=signed["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert (status, body) == (400, {"__type": "KMSInvalidSignatureException"})
    hmac_key = new_key(server, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    status, body = call(
        server,
        "VerifyMac",
        KeyId=hmac_key["KeyId"],
        Message=b64(b"m"),
        Mac=b64(bytes(32)),
        MacAlgorithm="HMAC_SHA_256",
    )
    assert (status, body) == (400, {"__type": "KMSInvalidMacException"})


def test_rotate_on_demand_of_a_non_symmetric_key_has_no_message(server) -> None:
    for params in (
        {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
        {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
    ):
        key = new_key(server, **params)
        assert call(server, "RotateKeyOnDemand", KeyId=key["KeyId"]) == (
            400,
            {"__type": "UnsupportedOperationException"},
        )


def test_derive_shared_secret_with_unparsable_public_key_has_no_message(server) -> None:
    key = new_key(server, KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    for public_key in (b"not a key", b"\x30\x03\x02\x01\x00"):
        assert call(
            server,
            "DeriveSharedSecret",
            KeyId=key["KeyId"],
            KeyAgreementAlgorithm="ECDH",
            PublicKey=b64(public_key),
        ) == (400, {"__type": "ValidationException"})
    # One that parses keeps working.
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = peer.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    status, _ = call(
        server,
        "DeriveSharedSecret",
        KeyId=key["KeyId"],
        KeyAgreementAlgorithm="ECDH",
        PublicKey=b64(der),
    )
    assert status == 200


def test_errors_with_text_keep_it(server) -> None:
    status, body = call(server, "DescribeKey", KeyId="alias/no-such-alias-here")
    assert status == 400 and body["__type"] == "NotFoundException" and body["message"]


def test_boto3_sees_no_message(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "b"})
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"])
    error = exc.value.response["Error"]
    assert error["Code"] == "InvalidCiphertextException"
    assert error.get("Message", "") == ""


# -- 2. RotateKeyOnDemand -------------------------------------------------------------------


def test_rotate_on_demand_answers_the_key_arn(server) -> None:
    key = new_key(server)
    status, body = call(server, "RotateKeyOnDemand", KeyId=key["KeyId"])
    assert (status, body) == (200, {"KeyId": key["Arn"]})


def test_rotate_on_demand_checks_state_first(server) -> None:
    for params in ({}, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}):
        key = new_key(server, **params)
        assert call(server, "DisableKey", KeyId=key["KeyId"])[0] == 200
        assert call(server, "RotateKeyOnDemand", KeyId=key["Arn"]) == (
            400,
            {"__type": "DisabledException", "message": f"{key['Arn']} is disabled."},
        )
    pending = new_key(server, Origin="EXTERNAL")
    assert call(server, "RotateKeyOnDemand", KeyId=pending["KeyId"]) == (
        400,
        {"__type": "KMSInvalidStateException", "message": f"{pending['Arn']} is pending import."},
    )


def test_rotate_on_demand_of_imported_key_without_pending_material(kms, server) -> None:
    meta = external_key(kms)
    import_material(kms, meta["KeyId"], os.urandom(32))
    assert call(server, "RotateKeyOnDemand", KeyId=meta["KeyId"]) == (
        400,
        {
            "__type": "KMSInvalidStateException",
            "message": f"No available key material pending rotation for the key: {meta['Arn']}.",
        },
    )


# -- 3. ImportKeyMaterial while other material is pending rotation ---------------------------


def test_import_while_other_material_is_pending_rotation(kms) -> None:
    meta = external_key(kms)
    key_id = meta["KeyId"]
    import_material(kms, key_id, os.urandom(32))
    pending_id = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    third = os.urandom(32)
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL")
    error = exc.value.response["Error"]
    assert error["Code"] == "KMSInvalidStateException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    found = re.fullmatch(
        r"New key material \(id: ([0-9a-f]{64})\) cannot be imported into KMS key (\S+), "
        r"because another key material \(id: ([0-9a-f]{64})\) is pending rotation\.",
        error["Message"],
    )
    assert found is not None, error["Message"]
    assert found.group(2) == meta["Arn"] and found.group(3) == pending_id
    # The id named is the one that material gets once nothing is pending any more.
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending_id)
    third_id = import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert third_id == found.group(1)
    assert [m["KeyMaterialId"] for m in materials(kms, key_id)][-1] == third_id


# -- 4. validation wording --------------------------------------------------------------------


def test_mac_algorithm_enum_order_on_the_wire(server) -> None:
    key = new_key(server, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert call(
        server, "GenerateMac", KeyId=key["KeyId"], Message=b64(b"m"), MacAlgorithm="INVALID"
    ) == (
        400,
        {
            "__type": "ValidationException",
            "message": "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed "
            "to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, "
            "HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]",
        },
    )


def test_incompatible_key_usage_message(server) -> None:
    assert call(server, "CreateKey", KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT") == (
        400,
        {
            "__type": "ValidationException",
            "message": "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048",
        },
    )


def test_sm2_outside_china_regions(server) -> None:
    status, body = call(server, "CreateKey", KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert status == 400 and body["__type"] == "ValidationException"
    assert body["message"].startswith(
        "1 validation error detected: Value 'SM2' at 'keySpec' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RSA_2048, "
    )
    assert "SM2" not in body["message"].split("[", 1)[1]


# -- 5. wire details -----------------------------------------------------------------------------


def test_timestamps_are_epoch_seconds_to_the_millisecond_in_java_form(server) -> None:
    key = new_key(server)
    status, text = raw_answer(server, "DescribeKey", {"KeyId": key["KeyId"]})
    assert status == 200
    found = re.search(rb'"CreationDate":([0-9.E]+)[,}]', text)
    assert found is not None, text
    written = found.group(1).decode()
    assert re.fullmatch(r"[1-9]\.[0-9]{1,12}E9", written), written  # as AWS: 1.700000000123E9
    assert round(float(written), 3) == float(written) == key["CreationDate"]
    status, text = raw_answer(server, "ScheduleKeyDeletion", {"KeyId": key["KeyId"]})
    assert status == 200
    assert re.search(rb'"DeletionDate":[1-9]\.[0-9]{1,12}E9[,}]', text), text


def test_dry_run_is_http_412(server) -> None:
    key = new_key(server)
    assert call(server, "Encrypt", KeyId=key["KeyId"], Plaintext=b64(b"x"), DryRun=True) == (
        412,
        {
            "__type": "DryRunOperationException",
            "message": "The request would have succeeded, but the DryRun option is set.",
        },
    )


def test_empty_encryption_context_keys_and_values_are_accepted(kms) -> None:
    """AWS documents no rule against them ("Encryption context rules": simple literal
    strings, Unicode allowed), and the model's map has no length constraint."""
    key = kms.create_key()["KeyMetadata"]
    for context in ({"": "value"}, {"key": ""}, {"": ""}):
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)
        out = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=context)
        assert out["Plaintext"] == b"x"
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob["CiphertextBlob"])
        assert exc.value.response["Error"]["Code"] == "InvalidCiphertextException"
