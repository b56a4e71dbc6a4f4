"""Encrypting under a KMS key and opening what was encrypted, as the encryption and
data-key operations share it (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
GenerateDataKeyPair*): symmetric ciphertexts in our blob format, RSA ones as AWS makes
them, EncryptionContext only on symmetric keys, and the refusals they share.

https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#data-keys
"""

from __future__ import annotations

from typing import Any

from openkms.crypto import asymmetric, symmetric
from openkms.domain import ciphertext, keyspecs
from openkms.domain.keys import Key, KeySpec, KeyUsage, require_usable
from openkms.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInternalException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.kms.call import OperationCall

SYMMETRIC = "SYMMETRIC_DEFAULT"


def refuse_recipient(call: OperationCall) -> None:
    if call.params.get("Recipient") is not None:
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by this OpenKMS server."
        )


def _material(call: OperationCall, key: Key, version: int) -> Any:
    material = call.backing_key(key, version)
    if material is None:
        raise KMSInternalException("the key's current material is missing")
    return material


def seal(
    call: OperationCall, key: Key, algorithm: str, plaintext: bytes, context: dict[str, str] | None
) -> bytes:
    material = _material(call, key, key.current_version)
    if algorithm == SYMMETRIC:
        return symmetric.encrypt(material, key.key_id, key.current_version, plaintext, context)
    if context:
        raise ValidationException(
            "EncryptionContext is supported only on operations with symmetric encryption KMS keys."
        )
    limit = asymmetric.max_rsa_plaintext(key.spec.value, algorithm)
    if len(plaintext) > limit:
        raise ValidationException(
            f"Algorithm {algorithm} and key spec {key.spec.value} cannot encrypt data larger "
            f"than {limit} bytes."
        )
    return asymmetric.rsa_encrypt(material, algorithm, plaintext)


def open_blob(
    call: OperationCall, key: Key, algorithm: str, blob: bytes, context: dict[str, str] | None
) -> tuple[bytes, int]:
    """Decrypt; return the plaintext and the key-material version that was used."""
    if algorithm != SYMMETRIC:
        if context:
            raise ValidationException(
                "EncryptionContext is supported only on operations with symmetric encryption "
                "KMS keys."
            )
        material = _material(call, key, key.current_version)
        return asymmetric.rsa_decrypt(material, algorithm, blob), key.current_version
    parsed = ciphertext.parse(blob)
    if parsed.key_id != key.key_id:
        raise InvalidCiphertextException()
    backing = call.backing_key(key, parsed.key_version)
    if backing is None:
        raise InvalidCiphertextException()
    return symmetric.decrypt(backing, parsed, context), parsed.key_version


def require_symmetric(key: Key, operation_name: str) -> None:
    """Data keys are made only under symmetric encryption keys."""
    keyspecs.require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation_name)
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for {operation_name}."
        )


def seal_data_key(call: OperationCall, operation_name: str, secret: bytes) -> dict[str, Any]:
    """Encrypt a freshly made secret under the request's symmetric key, as the data-key
    operations do; return the common response members (blob, KeyId, KeyMaterialId)."""
    key = call.key
    require_usable(key)
    require_symmetric(key, operation_name)
    blob = seal(call, key, SYMMETRIC, secret, call.params.get("EncryptionContext"))
    result: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": key.arn}
    material_id = call.material_id(key, key.current_version)
    if material_id is not None:
        result["KeyMaterialId"] = material_id
    return result
