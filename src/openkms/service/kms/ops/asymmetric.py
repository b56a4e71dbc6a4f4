"""Asymmetric and HMAC operations: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
DeriveSharedSecret, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext."""

from __future__ import annotations

from typing import NamedTuple

from openkms.crypto import asymmetric, mac
from openkms.crypto.loaded import LoadedKey
from openkms.domain import keyspecs
from openkms.domain.keys import Key, KeyUsage, require_usable
from openkms.errors import KMSInternalException, UnsupportedOperationException
from openkms.service.kms.call import OperationCall
from openkms.service.kms.managed import on_first_use
from openkms.service.kms.registry import operation
from openkms.service.kms.sealing import (
    SealedDataKey,
    refuse_recipient,
    require_symmetric,
    seal_data_key,
)
from openkms.wire.shapes import (
    DeriveSharedSecretRequest,
    DeriveSharedSecretResponse,
    GenerateDataKeyPairRequest,
    GenerateDataKeyPairResponse,
    GenerateDataKeyPairWithoutPlaintextRequest,
    GenerateDataKeyPairWithoutPlaintextResponse,
    GenerateMacRequest,
    GenerateMacResponse,
    GetPublicKeyRequest,
    GetPublicKeyResponse,
    SignRequest,
    SignResponse,
    VerifyMacRequest,
    VerifyMacResponse,
    VerifyRequest,
    VerifyResponse,
)


def _loaded(call: OperationCall[object], key: Key) -> LoadedKey:
    loaded = call.backing_key(key, key.current_version)
    if not isinstance(loaded, LoadedKey):
        raise KMSInternalException("the key's material is missing")
    return loaded


def _signing_key(call: OperationCall[object], algorithm: str, operation_name: str) -> Key:
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.SIGN_VERIFY, operation_name)
    keyspecs.require_algorithm(key, algorithm, keyspecs.capabilities(key.spec, key.usage).signing)
    return key


@operation("Sign", dry_run=True, allow_alias=True)
def sign(call: OperationCall[SignRequest]) -> SignResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"""
    p = call.params
    algorithm = p["SigningAlgorithm"]
    key = _signing_key(call, algorithm, "Sign")
    message_type = p.get("MessageType", "RAW")
    message = call.blob(p["Message"], "Message")
    signature = asymmetric.sign(_loaded(call, key), algorithm, message, message_type)
    return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}


@operation("Verify", dry_run=True, allow_alias=True)
def verify(call: OperationCall[VerifyRequest]) -> VerifyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html

    A signature that does not verify is KMSInvalidSignatureException, never a False."""
    p = call.params
    algorithm = p["SigningAlgorithm"]
    key = _signing_key(call, algorithm, "Verify")
    message_type = p.get("MessageType", "RAW")
    message = call.blob(p["Message"], "Message")
    signature = call.blob(p["Signature"], "Signature")
    asymmetric.verify(_loaded(call, key), algorithm, message, message_type, signature)
    return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}


@operation("GetPublicKey", allow_alias=True)
def get_public_key(call: OperationCall[GetPublicKeyRequest]) -> GetPublicKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    key = call.key
    require_usable(key)
    if not keyspecs.is_asymmetric(key.spec):
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for GetPublicKey."
        )
    result: GetPublicKeyResponse = {
        "KeyId": key.arn,
        "PublicKey": _loaded(call, key).public_key_der(),
        "CustomerMasterKeySpec": key.spec.value,
        "KeySpec": key.spec.value,
        "KeyUsage": key.usage.value,
    }
    # The algorithm lists as KeyMetadata has them (asymmetric keys have no MAC algorithms).
    caps = keyspecs.capabilities(key.spec, key.usage)
    if caps.encryption:
        result["EncryptionAlgorithms"] = list(caps.encryption)
    if caps.signing:
        result["SigningAlgorithms"] = list(caps.signing)
    if caps.key_agreement:
        result["KeyAgreementAlgorithms"] = list(caps.key_agreement)
    return result


def _mac_key(call: OperationCall[object], algorithm: str, operation_name: str) -> Key:
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.GENERATE_VERIFY_MAC, operation_name)
    keyspecs.require_algorithm(key, algorithm, keyspecs.capabilities(key.spec, key.usage).mac)
    return key


@operation("GenerateMac", dry_run=True, allow_alias=True)
def generate_mac(call: OperationCall[GenerateMacRequest]) -> GenerateMacResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html"""
    p = call.params
    algorithm = p["MacAlgorithm"]
    key = _mac_key(call, algorithm, "GenerateMac")
    tag = mac.generate_mac(_loaded(call, key), algorithm, call.blob(p["Message"], "Message"))
    return {"Mac": tag, "MacAlgorithm": algorithm, "KeyId": key.arn}


@operation("VerifyMac", dry_run=True, allow_alias=True)
def verify_mac(call: OperationCall[VerifyMacRequest]) -> VerifyMacResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html"""
    p = call.params
    algorithm = p["MacAlgorithm"]
    key = _mac_key(call, algorithm, "VerifyMac")
    message, tag = call.blob(p["Message"], "Message"), call.blob(p["Mac"], "Mac")
    mac.verify_mac(_loaded(call, key), algorithm, message, tag)
    return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": algorithm}


@operation("DeriveSharedSecret", dry_run=True, allow_alias=True)
def derive_shared_secret(
    call: OperationCall[DeriveSharedSecretRequest],
) -> DeriveSharedSecretResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html"""
    p = call.params
    refuse_recipient(p.get("Recipient"))
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.KEY_AGREEMENT, "DeriveSharedSecret")
    algorithm = p["KeyAgreementAlgorithm"]
    keyspecs.require_algorithm(
        key, algorithm, keyspecs.capabilities(key.spec, key.usage).key_agreement
    )
    public_key = call.blob(p["PublicKey"], "PublicKey")
    secret = asymmetric.derive_shared_secret(_loaded(call, key), public_key)
    return {
        "KeyId": key.arn,
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": algorithm,
        "KeyOrigin": key.origin.value,
    }


_UNSUPPORTED_PAIRS = {"SM2", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}


class _DataKeyPair(NamedTuple):
    sealed: SealedDataKey  # the private key, encrypted under the request's key
    private_der: bytes
    public_der: bytes
    spec: str


def _data_key_pair(
    call: OperationCall[GenerateDataKeyPairWithoutPlaintextRequest], operation_name: str
) -> _DataKeyPair:
    """What both data key pair operations make: a key pair, its private key sealed."""
    p = call.params
    pair_spec = p["KeyPairSpec"]
    if pair_spec in _UNSUPPORTED_PAIRS:
        raise UnsupportedOperationException(
            f"KeyPairSpec {pair_spec} is not supported by this OpenKMS server."
        )
    require_usable(call.key)
    require_symmetric(call.key, operation_name)
    if call.key.custom_key_store_id is not None:  # AWS: not supported in custom key stores
        raise UnsupportedOperationException(
            f"{call.key.arn} is in a custom key store: {operation_name} is not supported "
            "for KMS keys in custom key stores."
        )
    private_der, public_der = asymmetric.generate_data_key_pair(pair_spec)
    sealed = seal_data_key(call, operation_name, private_der, p.get("EncryptionContext"))
    return _DataKeyPair(sealed, private_der, public_der, pair_spec)


@operation(
    "GenerateDataKeyPair",
    dry_run=True,
    allow_alias=True,
    slow=True,
    materialize=on_first_use("KeyId"),
)
def generate_data_key_pair(
    call: OperationCall[GenerateDataKeyPairRequest],
) -> GenerateDataKeyPairResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html"""
    refuse_recipient(call.params.get("Recipient"))
    pair = _data_key_pair(call, "GenerateDataKeyPair")
    result: GenerateDataKeyPairResponse = {"KeyId": pair.sealed.key_arn}
    if pair.sealed.material_id is not None:
        result["KeyMaterialId"] = pair.sealed.material_id
    result["PrivateKeyCiphertextBlob"] = pair.sealed.blob
    result["PublicKey"] = pair.public_der
    result["KeyPairSpec"] = pair.spec
    result["PrivateKeyPlaintext"] = pair.private_der
    return result


@operation(
    "GenerateDataKeyPairWithoutPlaintext",
    dry_run=True,
    allow_alias=True,
    slow=True,
    materialize=on_first_use("KeyId"),
)
def generate_data_key_pair_without_plaintext(
    call: OperationCall[GenerateDataKeyPairWithoutPlaintextRequest],
) -> GenerateDataKeyPairWithoutPlaintextResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html"""
    pair = _data_key_pair(call, "GenerateDataKeyPairWithoutPlaintext")
    result: GenerateDataKeyPairWithoutPlaintextResponse = {"KeyId": pair.sealed.key_arn}
    if pair.sealed.material_id is not None:
        result["KeyMaterialId"] = pair.sealed.material_id
    result["PrivateKeyCiphertextBlob"] = pair.sealed.blob
    result["PublicKey"] = pair.public_der
    result["KeyPairSpec"] = pair.spec
    return result


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    sign,
    verify,
    get_public_key,
    generate_mac,
    verify_mac,
    derive_shared_secret,
    generate_data_key_pair,
    generate_data_key_pair_without_plaintext,
)
