"""Encrypt, Decrypt, ReEncrypt, data keys and random bytes through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_boto3_keys import error_of


@pytest.fixture()
def key(kms) -> dict[str, Any]:
    return kms.create_key(Description="crypto")["KeyMetadata"]


def test_round_trip_with_and_without_key_id(kms, key) -> None:
    ctx = {"tenant": "a", "purpose": "test"}
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello", EncryptionContext=ctx)
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"hello" not in blob
    plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert plain["Plaintext"] == b"hello" and plain["KeyId"] == key["Arn"]
    assert plain["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    named = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=key["Arn"])
    assert named["Plaintext"] == b"hello"


def test_encrypt_through_alias(kms, key) -> None:
    alias = f"alias/enc-{key['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=alias, Plaintext=b"via alias")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=alias)["Plaintext"] == b"via alias"


def test_context_must_match_exactly(kms, key) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"ab": "c"})[
        "CiphertextBlob"
    ]
    for wrong in ({"a": "bc"}, {}, {"ab": "c", "d": "e"}, {"AB": "c"}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error_of(exc)[0] == "InvalidCiphertextException"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"ab": "c"})["Plaintext"] == b"x"


def test_tampered_blob_is_invalid_ciphertext(kms, key) -> None:
    blob = bytearray(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"])
    for i in range(len(blob)):
        changed = bytearray(blob)
        changed[i] ^= 0x01
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=bytes(changed))
        assert error_of(exc)[0] == "InvalidCiphertextException", i
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=bytes(blob[:-1]))
    assert error_of(exc)[0] == "InvalidCiphertextException"


def test_wrong_key_id_is_incorrect_key(kms, key) -> None:
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert error_of(exc) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )


def test_disable_breaks_decrypt_immediately(kms, key) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(exc) == ("DisabledException", f"{key['Arn']} is disabled.")
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_pending_deletion_blocks_crypto(kms, key) -> None:
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    for call in (
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")


def test_generate_data_key(kms, key) -> None:
    ctx = {"file": "a.txt"}
    out = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=ctx)
    assert len(out["Plaintext"]) == 32 and out["KeyId"] == key["Arn"]
    again = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx)
    assert again["Plaintext"] == out["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64
    bare = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=32)
    assert "Plaintext" not in bare
    assert len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 32


def test_generate_data_key_needs_exactly_one_size(kms, key) -> None:
    for kwargs in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as exc:
            kms.generate_data_key(KeyId=key["KeyId"], **kwargs)
        assert error_of(exc) == (
            "ValidationException",
            "Please specify either number of bytes or key spec.",
        )
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1025)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value less than or equal to 1024",
    )


def test_plaintext_limit(kms, key) -> None:
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4096)["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097)
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096",
    )


def test_re_encrypt(kms, key) -> None:
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me", EncryptionContext={"a": "1"})[
        "CiphertextBlob"
    ]
    out = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "1"},
        DestinationKeyId=dest["KeyId"],
        DestinationEncryptionContext={"b": "2"},
    )
    assert out["SourceKeyId"] == key["Arn"] and out["KeyId"] == dest["Arn"]
    assert out["SourceEncryptionAlgorithm"] == out["DestinationEncryptionAlgorithm"]
    plain = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"b": "2"})
    assert plain["Plaintext"] == b"move me" and plain["KeyId"] == dest["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(
            CiphertextBlob=blob, SourceEncryptionContext={"a": "2"}, DestinationKeyId=dest["KeyId"]
        )
    assert error_of(exc)[0] == "InvalidCiphertextException"


def test_dry_run(kms, key) -> None:
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_of(exc) == (
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    )
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_of(exc)[0] == "DisabledException"


def test_generate_random(kms) -> None:
    a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert len(a) == 32 and a != b
    with pytest.raises(ClientError) as exc:
        kms.generate_random()
    assert error_of(exc) == ("ValidationException", "NumberOfBytes is required.")


def test_unsupported_and_unknown_operations(kms, server) -> None:
    with pytest.raises(ClientError) as exc:
        kms.decapsulate(
            KeyId="alias/none",
            SharedSecretCiphertextBlob=b"x" * 16,
            EncapsulationAlgorithm="ML_KEM",
        )
    code, message = error_of(exc)
    assert code == "UnsupportedOperationException" and "Decapsulate" in message
    from test_protocol import signed_request

    status, _, body = signed_request(server.endpoint, "TrentService.NoSuchThing", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
