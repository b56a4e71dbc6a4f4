"""Encrypting under a KMS key and opening what was encrypted, as the encryption and
data-key operations share it (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
GenerateDataKeyPair*): symmetric ciphertexts in our blob format, RSA ones as AWS makes
them, EncryptionContext only on symmetric keys, and the refusals they share.

https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#data-keys
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from openkms.crypto import asymmetric, symmetric
from openkms.crypto.loaded import LoadedKey
from openkms.domain import ciphertext, keyspecs
from openkms.domain.keys import Key, KeySpec, KeyUsage
from openkms.domain.xks import RequestMetadata
from openkms.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInternalException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.conditions import via_service
from openkms.service.kms.call import OperationCall
from openkms.service.kms.key_stores import KeyRequest, require_usable_in_store
from openkms.wire.shapes import RecipientInfo

SYMMETRIC = "SYMMETRIC_DEFAULT"


def refuse_recipient(recipient: RecipientInfo | None) -> None:
    """Refuse the request's ``Recipient`` member, if it has one."""
    if recipient is not None:
        raise UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not supported by this OpenKMS server."
        )


def _material(call: OperationCall[object], key: Key, version: int) -> bytes | LoadedKey:
    material = call.backing_key(key, version)
    if material is None:
        raise KMSInternalException("the key's current material is missing")
    return material


def _symmetric(material: bytes | LoadedKey) -> bytes:
    if not isinstance(material, bytes):
        raise KMSInternalException("a symmetric key's material is not a secret key")
    return material


def _asymmetric(material: bytes | LoadedKey) -> LoadedKey:
    if not isinstance(material, LoadedKey):
        raise KMSInternalException("an asymmetric key's material is not a loaded key")
    return material


def store_request(call: OperationCall[object], key: Key) -> KeyRequest:
    """What a key's custom key store may need of the request: an XKS proxy's
    ``requestMetadata`` (the caller, the key, the operation, the request id that is the
    CloudTrail record's, the service the call came through) and the key's own material,
    unwrapped only when a version of it is used."""
    ctx = call.ctx
    via = via_service(ctx)
    metadata = RequestMetadata(
        kms_operation=call.operation,
        kms_request_id=ctx.request_id,
        aws_principal_arn=ctx.principal.arn,
        kms_key_arn=key.arn,
        kms_via_service=None if via is None else via.split(".", 1)[0],
    )
    return KeyRequest(metadata, lambda version: _symmetric(_material(call, key, version)))


def seal(
    call: OperationCall[object],
    key: Key,
    algorithm: str,
    plaintext: bytes,
    context: Mapping[str, str] | None,
) -> bytes:
    if key.custom_key_store_id is not None:  # sealed inside the key's store (its HSM)
        return call.key_stores.seal(call.tx, key, plaintext, context, store_request(call, key))
    material = _material(call, key, key.current_version)
    if algorithm == SYMMETRIC:
        return symmetric.encrypt(
            _symmetric(material), key.public_id, key.current_version, plaintext, context
        )
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
    return asymmetric.rsa_encrypt(_asymmetric(material), algorithm, plaintext)


def open_blob(
    call: OperationCall[object],
    key: Key,
    algorithm: str,
    blob: bytes,
    context: Mapping[str, str] | None,
) -> tuple[bytes, int]:
    """Decrypt; return the plaintext and the key-material version that was used."""
    if algorithm != SYMMETRIC:
        if context:
            raise ValidationException(
                "EncryptionContext is supported only on operations with symmetric encryption "
                "KMS keys."
            )
        material = _asymmetric(_material(call, key, key.current_version))
        return asymmetric.rsa_decrypt(material, algorithm, blob), key.current_version
    parsed = ciphertext.parse(blob)
    # A related multi-Region key opens what any of them sealed: the blob names the key id
    # they share, and each holds the same material under the same version numbers.
    if parsed.key_id != key.public_id:
        raise InvalidCiphertextException()
    if key.custom_key_store_id is not None:
        opened = call.key_stores.open(call.tx, key, parsed, context, store_request(call, key))
        return opened, parsed.key_version
    backing = call.backing_key(key, parsed.key_version)
    if backing is None:
        raise InvalidCiphertextException()
    return symmetric.decrypt(_symmetric(backing), parsed, context), parsed.key_version


def require_symmetric(key: Key, operation_name: str) -> None:
    """Data keys are made only under symmetric encryption keys."""
    keyspecs.require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation_name)
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for {operation_name}."
        )


class SealedDataKey(NamedTuple):
    """What the data-key operations answer in common (under their own member names)."""

    blob: bytes
    key_arn: str
    #: The KeyMaterialId of the material that sealed it (None: not reported).
    material_id: str | None


def seal_data_key(
    call: OperationCall[object],
    operation_name: str,
    secret: bytes,
    context: Mapping[str, str] | None,
) -> SealedDataKey:
    """Encrypt a freshly made secret under the request's symmetric key (with the request's
    ``EncryptionContext``), as the data-key operations do."""
    key = call.key
    require_usable_in_store(call.tx, key)
    require_symmetric(key, operation_name)
    blob = seal(call, key, SYMMETRIC, secret, context)
    return SealedDataKey(blob, key.arn, call.material_id(key, key.current_version))
