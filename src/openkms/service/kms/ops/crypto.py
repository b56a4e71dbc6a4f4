"""Encryption operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateRandom.

SYMMETRIC_DEFAULT ciphertexts carry a header naming their key and key version
(:mod:`openkms.domain.ciphertext`); RSAES_OAEP ciphertexts are plain RSA-OAEP, as AWS
makes them, so that anyone holding the public key can produce one, and decrypting
them needs the KeyId.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openkms.crypto.randomness import random_bytes
from openkms.domain import keyspecs
from openkms.domain.keys import Key, KeyUsage, require_usable
from openkms.errors import (
    IncorrectKeyException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.kms.call import OperationCall
from openkms.service.kms.registry import KeyArg, ciphertext_or, operation, param
from openkms.service.kms.resolve import resolve_key
from openkms.service.kms.sealing import (
    SYMMETRIC,
    open_blob,
    refuse_recipient,
    seal,
    seal_data_key,
)

_DATA_KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."


def encryption_algorithm(key: Key, algorithm: str | None, operation_name: str) -> str:
    """Check that ``key`` can run ``operation_name`` with ``algorithm``; return the algorithm."""
    keyspecs.require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation_name)
    algorithm = algorithm or SYMMETRIC
    keyspecs.require_algorithm(
        key, algorithm, keyspecs.capabilities(key.spec, key.usage).encryption
    )
    return algorithm


def _check_named_key(call: OperationCall, name: str, algorithm: str, blob_key: Key) -> None:
    """When the caller names the key a symmetric ciphertext should use, it must be that key."""
    named = call.params.get(name)
    if algorithm != SYMMETRIC or named is None:
        return
    if resolve_key(call.tx, call.ctx, named).key_id != blob_key.key_id:
        raise IncorrectKeyException(INCORRECT_KEY)


@operation("Encrypt", dry_run=True, allow_alias=True)
def encrypt(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    key = call.key
    require_usable(key)
    algorithm = encryption_algorithm(key, call.params.get("EncryptionAlgorithm"), "Encrypt")
    blob = seal(call, key, algorithm, call.blob("Plaintext"), call.params.get("EncryptionContext"))
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


@operation(
    "Decrypt",
    keys=(KeyArg("kms:Decrypt", ciphertext_or("KeyId", "EncryptionAlgorithm"), allow_alias=True),),
    dry_run=True,
)
def decrypt(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"""
    refuse_recipient(call)
    key = call.key
    requested = call.params.get("EncryptionAlgorithm") or SYMMETRIC
    _check_named_key(call, "KeyId", requested, key)
    require_usable(key)
    algorithm = encryption_algorithm(key, requested, "Decrypt")
    plaintext, version = open_blob(
        call, key, algorithm, call.blob("CiphertextBlob"), call.params.get("EncryptionContext")
    )
    result = {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
    material_id = call.material_id(key, version)
    if material_id is not None:
        result["KeyMaterialId"] = material_id
    return result


def _same_key(keys: Sequence[Key]) -> dict[str, object]:
    """ReEncrypt's ``kms:ReEncryptOnSameKey``: whether the source and destination key are
    the same key.
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-reencrypt-on-same-key
    """
    source, destination = keys
    return {"kms:ReEncryptOnSameKey": source.key_id == destination.key_id}


@operation(
    "ReEncrypt",
    keys=(
        KeyArg(
            "kms:ReEncryptFrom",
            ciphertext_or("SourceKeyId", "SourceEncryptionAlgorithm"),
            allow_alias=True,
        ),
        KeyArg("kms:ReEncryptTo", param("DestinationKeyId"), allow_alias=True),
    ),
    dry_run=True,
    condition_keys=_same_key,
)
def re_encrypt(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    source, destination = call.keys
    assert source is not None and destination is not None
    p = call.params
    requested = p.get("SourceEncryptionAlgorithm") or SYMMETRIC
    _check_named_key(call, "SourceKeyId", requested, source)
    require_usable(source)
    require_usable(destination)
    source_algorithm = encryption_algorithm(source, requested, "ReEncrypt")
    dest_algorithm = encryption_algorithm(
        destination, p.get("DestinationEncryptionAlgorithm"), "ReEncrypt"
    )
    plaintext, version = open_blob(
        call,
        source,
        source_algorithm,
        call.blob("CiphertextBlob"),
        p.get("SourceEncryptionContext"),
    )
    blob = seal(call, destination, dest_algorithm, plaintext, p.get("DestinationEncryptionContext"))
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


def _data_key_length(call: OperationCall) -> int:
    spec = call.params.get("KeySpec")
    count = call.params.get("NumberOfBytes")
    if (spec is None) == (count is None):
        raise ValidationException("Please specify either number of bytes or key spec.")
    return _DATA_KEY_SPEC_BYTES[spec] if spec is not None else int(count or 0)


def _generate_data_key(
    call: OperationCall, operation_name: str, with_plaintext: bool
) -> dict[str, Any]:
    data_key = random_bytes(_data_key_length(call))
    result = seal_data_key(call, operation_name, data_key)
    if with_plaintext:
        result["Plaintext"] = data_key
    return result


@operation("GenerateDataKey", dry_run=True, allow_alias=True)
def generate_data_key(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html"""
    refuse_recipient(call)
    return _generate_data_key(call, "GenerateDataKey", with_plaintext=True)


@operation("GenerateDataKeyWithoutPlaintext", dry_run=True, allow_alias=True)
def generate_data_key_without_plaintext(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html"""
    return _generate_data_key(call, "GenerateDataKeyWithoutPlaintext", with_plaintext=False)


@operation("GenerateRandom", keys=())
def generate_random(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html"""
    refuse_recipient(call)
    if call.params.get("CustomKeyStoreId") is not None:
        raise UnsupportedOperationException(
            "CustomKeyStoreId (custom key stores) is not supported by this OpenKMS server yet."
        )
    count = call.params.get("NumberOfBytes")
    if count is None:
        raise ValidationException("NumberOfBytes is required.")
    return {"Plaintext": random_bytes(count)}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    encrypt,
    decrypt,
    re_encrypt,
    generate_data_key,
    generate_data_key_without_plaintext,
    generate_random,
)
