"""Encryption operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateRandom.

SYMMETRIC_DEFAULT ciphertexts carry a header naming their key and key version
(:mod:`openkms.domain.ciphertext`); RSAES_OAEP ciphertexts are plain RSA-OAEP, as AWS
makes them, so that anyone holding the public key can produce one, and decrypting
them needs the KeyId.
"""

from __future__ import annotations

from collections.abc import Sequence

from openkms.crypto.randomness import random_bytes
from openkms.domain import keyspecs
from openkms.domain.custom_key_stores import CustomKeyStoreType, require_connected
from openkms.domain.keys import Key, KeyUsage
from openkms.errors import (
    IncorrectKeyException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.kms.call import OperationCall
from openkms.service.kms.key_stores import find_store, require_usable_in_store
from openkms.service.kms.managed import on_first_use
from openkms.service.kms.registry import KeyArg, ciphertext_or, operation, param
from openkms.service.kms.resolve import resolve_key
from openkms.service.kms.sealing import (
    SYMMETRIC,
    open_blob,
    refuse_recipient,
    seal,
    seal_data_key,
)
from openkms.wire.shapes import (
    DecryptRequest,
    DecryptResponse,
    EncryptRequest,
    EncryptResponse,
    GenerateDataKeyRequest,
    GenerateDataKeyResponse,
    GenerateDataKeyWithoutPlaintextRequest,
    GenerateDataKeyWithoutPlaintextResponse,
    GenerateRandomRequest,
    GenerateRandomResponse,
    ReEncryptRequest,
    ReEncryptResponse,
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


def _check_named_key(
    call: OperationCall[object], named: str | None, algorithm: str, blob_key: Key
) -> None:
    """When the caller names the key a symmetric ciphertext should use (``named``), it
    must be that key."""
    if algorithm != SYMMETRIC or named is None:
        return
    if resolve_key(call.tx, call.ctx, named).key_id != blob_key.key_id:
        raise IncorrectKeyException(INCORRECT_KEY)


@operation("Encrypt", dry_run=True, allow_alias=True, materialize=on_first_use("KeyId"))
def encrypt(call: OperationCall[EncryptRequest]) -> EncryptResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    key = call.key
    p = call.params
    require_usable_in_store(call.tx, key)
    algorithm = encryption_algorithm(key, p.get("EncryptionAlgorithm"), "Encrypt")
    plaintext = call.blob(p["Plaintext"], "Plaintext")
    blob = seal(call, key, algorithm, plaintext, p.get("EncryptionContext"))
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


@operation(
    "Decrypt",
    keys=(KeyArg("kms:Decrypt", ciphertext_or("KeyId", "EncryptionAlgorithm"), allow_alias=True),),
    dry_run=True,
)
def decrypt(call: OperationCall[DecryptRequest]) -> DecryptResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"""
    p = call.params
    refuse_recipient(p.get("Recipient"))
    key = call.key
    requested = p.get("EncryptionAlgorithm") or SYMMETRIC
    _check_named_key(call, p.get("KeyId"), requested, key)
    require_usable_in_store(call.tx, key)
    algorithm = encryption_algorithm(key, requested, "Decrypt")
    blob = _ciphertext(call, p.get("CiphertextBlob"))
    plaintext, version = open_blob(call, key, algorithm, blob, p.get("EncryptionContext"))
    result: DecryptResponse = {
        "KeyId": key.arn,
        "Plaintext": plaintext,
        "EncryptionAlgorithm": algorithm,
    }
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
    materialize=on_first_use("DestinationKeyId"),
)
def re_encrypt(call: OperationCall[ReEncryptRequest]) -> ReEncryptResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    source, destination = call.keys
    assert source is not None and destination is not None
    p = call.params
    requested = p.get("SourceEncryptionAlgorithm") or SYMMETRIC
    _check_named_key(call, p.get("SourceKeyId"), requested, source)
    require_usable_in_store(call.tx, source)
    require_usable_in_store(call.tx, destination)
    source_algorithm = encryption_algorithm(source, requested, "ReEncrypt")
    dest_algorithm = encryption_algorithm(
        destination, p.get("DestinationEncryptionAlgorithm"), "ReEncrypt"
    )
    plaintext, version = open_blob(
        call,
        source,
        source_algorithm,
        _ciphertext(call, p.get("CiphertextBlob")),
        p.get("SourceEncryptionContext"),
    )
    blob = seal(call, destination, dest_algorithm, plaintext, p.get("DestinationEncryptionContext"))
    result: ReEncryptResponse = {
        "CiphertextBlob": blob,
        "SourceKeyId": source.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": source_algorithm,
        "DestinationEncryptionAlgorithm": dest_algorithm,
    }
    source_material_id = call.material_id(source, version)
    if source_material_id is not None:
        result["SourceKeyMaterialId"] = source_material_id
    destination_material_id = call.material_id(destination, destination.current_version)
    if destination_material_id is not None:
        result["DestinationKeyMaterialId"] = destination_material_id
    return result


def _ciphertext(call: OperationCall[object], value: str | None) -> bytes:
    """The request's ``CiphertextBlob``, decoded. The model makes it optional (the key of a
    symmetric ciphertext is found from it before the handler runs, so there it is present),
    but no ciphertext is nothing to decrypt."""
    if value is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
            "constraint: Member must not be null"
        )
    return call.blob(value, "CiphertextBlob")


def _data_key_length(spec: str | None, count: int | None) -> int:
    """The length a data key request asks for, by ``KeySpec`` or ``NumberOfBytes``."""
    if spec is not None and count is None:
        return _DATA_KEY_SPEC_BYTES[spec]
    if spec is None and count is not None:
        return count
    raise ValidationException("Please specify either number of bytes or key spec.")


@operation("GenerateDataKey", dry_run=True, allow_alias=True, materialize=on_first_use("KeyId"))
def generate_data_key(call: OperationCall[GenerateDataKeyRequest]) -> GenerateDataKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html"""
    p = call.params
    refuse_recipient(p.get("Recipient"))
    data_key = random_bytes(_data_key_length(p.get("KeySpec"), p.get("NumberOfBytes")))
    sealed = seal_data_key(call, "GenerateDataKey", data_key, p.get("EncryptionContext"))
    result: GenerateDataKeyResponse = {"CiphertextBlob": sealed.blob, "KeyId": sealed.key_arn}
    if sealed.material_id is not None:
        result["KeyMaterialId"] = sealed.material_id
    result["Plaintext"] = data_key
    return result


@operation(
    "GenerateDataKeyWithoutPlaintext",
    dry_run=True,
    allow_alias=True,
    materialize=on_first_use("KeyId"),
)
def generate_data_key_without_plaintext(
    call: OperationCall[GenerateDataKeyWithoutPlaintextRequest],
) -> GenerateDataKeyWithoutPlaintextResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html"""
    p = call.params
    data_key = random_bytes(_data_key_length(p.get("KeySpec"), p.get("NumberOfBytes")))
    sealed = seal_data_key(
        call, "GenerateDataKeyWithoutPlaintext", data_key, p.get("EncryptionContext")
    )
    result: GenerateDataKeyWithoutPlaintextResponse = {
        "CiphertextBlob": sealed.blob,
        "KeyId": sealed.key_arn,
    }
    if sealed.material_id is not None:
        result["KeyMaterialId"] = sealed.material_id
    return result


@operation("GenerateRandom", keys=())
def generate_random(call: OperationCall[GenerateRandomRequest]) -> GenerateRandomResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html"""
    refuse_recipient(call.params.get("Recipient"))
    count = call.params.get("NumberOfBytes")
    if count is None:
        raise ValidationException("NumberOfBytes is required.")
    store_id = call.params.get("CustomKeyStoreId")
    if store_id is not None:  # drawn from the store's HSM (AWS_CLOUDHSM key stores only)
        store = find_store(call.tx, call.ctx, store_id)
        if store.store_type is not CustomKeyStoreType.AWS_CLOUDHSM:
            raise UnsupportedOperationException(
                "GenerateRandom is not supported in an external key store."
            )
        require_connected(store, "GenerateRandom")
        return {"Plaintext": call.key_stores.random(call.tx, store, count)}
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
