"""Symmetric cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateRandom."""

from __future__ import annotations

import os
from typing import Any

from openkms.crypto import symmetric
from openkms.domain import ciphertext
from openkms.domain.keys import ENCRYPTION_ALGORITHMS, Key, require_usable
from openkms.errors import (
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInternalException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.call import Call
from openkms.service.registry import KeyArg, from_ciphertext, operation, param
from openkms.service.resolve import resolve_key

_DATA_KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."


def _check_algorithm(key: Key, algorithm: str | None, operation_name: str) -> str:
    allowed = ENCRYPTION_ALGORITHMS.get(key.spec, ())
    algorithm = algorithm or "SYMMETRIC_DEFAULT"
    if algorithm not in allowed:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {key.spec.value}."
        )
    return algorithm


def _refuse_recipient(call: Call) -> None:
    if call.params.get("Recipient") is not None:
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by this OpenKMS server."
        )


def _seal(call: Call, key: Key, plaintext: bytes, context: dict[str, str] | None) -> bytes:
    backing = call.backing_key(key, key.current_version)
    if backing is None:
        raise KMSInternalException("the key's current material is missing")
    return symmetric.encrypt(backing, key.key_id, key.current_version, plaintext, context)


def _open(call: Call, key: Key, blob: bytes, context: dict[str, str] | None) -> tuple[bytes, int]:
    parsed = ciphertext.parse(blob)
    if parsed.key_id != key.key_id:
        raise InvalidCiphertextException()
    backing = call.backing_key(key, parsed.key_version)
    if backing is None:
        raise InvalidCiphertextException()
    return symmetric.decrypt(backing, parsed, context), parsed.key_version


def _check_named_key(call: Call, name: str, blob_key: Key) -> None:
    """When the caller names the key a ciphertext should use, it must be that key."""
    named = call.params.get(name)
    if named is not None and resolve_key(call.tx, call.ctx, named).key_id != blob_key.key_id:
        raise IncorrectKeyException(INCORRECT_KEY)


@operation("Encrypt", dry_run=True, allow_alias=True)
def encrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    key = call.key
    require_usable(key)
    algorithm = _check_algorithm(key, call.params.get("EncryptionAlgorithm"), "Encrypt")
    blob = _seal(call, key, call.blob("Plaintext"), call.params.get("EncryptionContext"))
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


@operation("Decrypt", keys=(KeyArg("kms:Decrypt", from_ciphertext),), dry_run=True)
def decrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"""
    _refuse_recipient(call)
    key = call.key
    _check_named_key(call, "KeyId", key)
    require_usable(key)
    algorithm = _check_algorithm(key, call.params.get("EncryptionAlgorithm"), "Decrypt")
    plaintext, version = _open(
        call, key, call.blob("CiphertextBlob"), call.params.get("EncryptionContext")
    )
    result = {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
    material_id = call.material_id(key, version)
    if material_id is not None:
        result["KeyMaterialId"] = material_id
    return result


@operation(
    "ReEncrypt",
    keys=(
        KeyArg("kms:ReEncryptFrom", from_ciphertext),
        KeyArg("kms:ReEncryptTo", param("DestinationKeyId"), allow_alias=True),
    ),
    dry_run=True,
)
def re_encrypt(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    source, destination = call.keys
    assert source is not None and destination is not None
    _check_named_key(call, "SourceKeyId", source)
    require_usable(source)
    require_usable(destination)
    p = call.params
    source_algorithm = _check_algorithm(source, p.get("SourceEncryptionAlgorithm"), "ReEncrypt")
    dest_algorithm = _check_algorithm(
        destination, p.get("DestinationEncryptionAlgorithm"), "ReEncrypt"
    )
    plaintext, version = _open(
        call, source, call.blob("CiphertextBlob"), p.get("SourceEncryptionContext")
    )
    blob = _seal(call, destination, plaintext, p.get("DestinationEncryptionContext"))
    result: dict[str, Any] = {
        "CiphertextBlob": blob,
        "SourceKeyId": source.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": source_algorithm,
        "DestinationEncryptionAlgorithm": dest_algorithm,
    }
    for name, key, key_version in (
        ("SourceKeyMaterialId", source, version),
        ("DestinationKeyMaterialId", destination, destination.current_version),
    ):
        material_id = call.material_id(key, key_version)
        if material_id is not None:
            result[name] = material_id
    return result


def _data_key_length(call: Call) -> int:
    spec = call.params.get("KeySpec")
    count = call.params.get("NumberOfBytes")
    if (spec is None) == (count is None):
        raise ValidationException("Please specify either number of bytes or key spec.")
    return _DATA_KEY_SPEC_BYTES[spec] if spec is not None else int(count or 0)


def _generate_data_key(call: Call, with_plaintext: bool) -> dict[str, Any]:
    key = call.key
    require_usable(key)
    _check_algorithm(key, None, "GenerateDataKey")
    data_key = os.urandom(_data_key_length(call))
    blob = _seal(call, key, data_key, call.params.get("EncryptionContext"))
    result: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": key.arn}
    if with_plaintext:
        result["Plaintext"] = data_key
    material_id = call.material_id(key, key.current_version)
    if material_id is not None:
        result["KeyMaterialId"] = material_id
    return result


@operation("GenerateDataKey", dry_run=True, allow_alias=True)
def generate_data_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html"""
    _refuse_recipient(call)
    return _generate_data_key(call, with_plaintext=True)


@operation("GenerateDataKeyWithoutPlaintext", dry_run=True, allow_alias=True)
def generate_data_key_without_plaintext(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html"""
    return _generate_data_key(call, with_plaintext=False)


@operation("GenerateRandom", keys=())
def generate_random(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html"""
    _refuse_recipient(call)
    if call.params.get("CustomKeyStoreId") is not None:
        raise UnsupportedOperationException(
            "CustomKeyStoreId (custom key stores) is not supported by this OpenKMS server yet."
        )
    count = call.params.get("NumberOfBytes")
    if count is None:
        raise ValidationException("NumberOfBytes is required.")
    return {"Plaintext": os.urandom(count)}
