"""Asymmetric and HMAC operations: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
DeriveSharedSecret, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext."""

from __future__ import annotations

from typing import Any

from openkms.crypto import asymmetric, mac
from openkms.crypto.loaded import LoadedKey
from openkms.domain import keyspecs
from openkms.domain.keys import Key, KeyUsage, require_usable
from openkms.errors import KMSInternalException, UnsupportedOperationException
from openkms.service.kms.call import OperationCall
from openkms.service.kms.metadata import algorithm_lists
from openkms.service.kms.registry import operation
from openkms.service.kms.sealing import refuse_recipient, require_symmetric, seal_data_key


def _loaded(call: OperationCall, key: Key) -> LoadedKey:
    loaded = call.backing_key(key, key.current_version)
    if not isinstance(loaded, LoadedKey):
        raise KMSInternalException("the key's material is missing")
    return loaded


def _signing_key(call: OperationCall, operation_name: str) -> tuple[Key, str]:
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.SIGN_VERIFY, operation_name)
    algorithm = call.params["SigningAlgorithm"]
    keyspecs.require_algorithm(key, algorithm, keyspecs.capabilities(key.spec, key.usage).signing)
    return key, algorithm


@operation("Sign", dry_run=True, allow_alias=True)
def sign(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"""
    key, algorithm = _signing_key(call, "Sign")
    message_type = call.params.get("MessageType", "RAW")
    signature = asymmetric.sign(_loaded(call, key), algorithm, call.blob("Message"), message_type)
    return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}


@operation("Verify", dry_run=True, allow_alias=True)
def verify(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html

    A signature that does not verify is KMSInvalidSignatureException, never a False."""
    key, algorithm = _signing_key(call, "Verify")
    message_type = call.params.get("MessageType", "RAW")
    asymmetric.verify(
        _loaded(call, key), algorithm, call.blob("Message"), message_type, call.blob("Signature")
    )
    return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}


@operation("GetPublicKey", allow_alias=True)
def get_public_key(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    key = call.key
    require_usable(key)
    if not keyspecs.is_asymmetric(key.spec):
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for GetPublicKey."
        )
    return {
        "KeyId": key.arn,
        "PublicKey": _loaded(call, key).public_key_der(),
        "CustomerMasterKeySpec": key.spec.value,
        "KeySpec": key.spec.value,
        "KeyUsage": key.usage.value,
        **algorithm_lists(key),
    }


def _mac_key(call: OperationCall, operation_name: str) -> tuple[Key, str]:
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.GENERATE_VERIFY_MAC, operation_name)
    algorithm = call.params["MacAlgorithm"]
    keyspecs.require_algorithm(key, algorithm, keyspecs.capabilities(key.spec, key.usage).mac)
    return key, algorithm


@operation("GenerateMac", dry_run=True, allow_alias=True)
def generate_mac(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html"""
    key, algorithm = _mac_key(call, "GenerateMac")
    tag = mac.generate_mac(_loaded(call, key), algorithm, call.blob("Message"))
    return {"Mac": tag, "MacAlgorithm": algorithm, "KeyId": key.arn}


@operation("VerifyMac", dry_run=True, allow_alias=True)
def verify_mac(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html"""
    key, algorithm = _mac_key(call, "VerifyMac")
    mac.verify_mac(_loaded(call, key), algorithm, call.blob("Message"), call.blob("Mac"))
    return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": algorithm}


@operation("DeriveSharedSecret", dry_run=True, allow_alias=True)
def derive_shared_secret(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html"""
    refuse_recipient(call)
    key = call.key
    require_usable(key)
    keyspecs.require_usage(key, KeyUsage.KEY_AGREEMENT, "DeriveSharedSecret")
    algorithm = call.params["KeyAgreementAlgorithm"]
    keyspecs.require_algorithm(
        key, algorithm, keyspecs.capabilities(key.spec, key.usage).key_agreement
    )
    secret = asymmetric.derive_shared_secret(_loaded(call, key), call.blob("PublicKey"))
    return {
        "KeyId": key.arn,
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": algorithm,
        "KeyOrigin": key.origin.value,
    }


_UNSUPPORTED_PAIRS = {"SM2", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}


def _data_key_pair(
    call: OperationCall, operation_name: str, with_plaintext: bool
) -> dict[str, Any]:
    pair_spec = call.params["KeyPairSpec"]
    if pair_spec in _UNSUPPORTED_PAIRS:
        raise UnsupportedOperationException(
            f"KeyPairSpec {pair_spec} is not supported by this OpenKMS server."
        )
    require_usable(call.key)
    require_symmetric(call.key, operation_name)
    private_der, public_der = asymmetric.generate_data_key_pair(pair_spec)
    result = seal_data_key(call, operation_name, private_der)
    result["PrivateKeyCiphertextBlob"] = result.pop("CiphertextBlob")
    result["PublicKey"] = public_der
    result["KeyPairSpec"] = pair_spec
    if with_plaintext:
        result["PrivateKeyPlaintext"] = private_der
    return result


@operation("GenerateDataKeyPair", dry_run=True, allow_alias=True, slow=True)
def generate_data_key_pair(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html"""
    refuse_recipient(call)
    return _data_key_pair(call, "GenerateDataKeyPair", with_plaintext=True)


@operation("GenerateDataKeyPairWithoutPlaintext", dry_run=True, allow_alias=True, slow=True)
def generate_data_key_pair_without_plaintext(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html"""
    return _data_key_pair(call, "GenerateDataKeyPairWithoutPlaintext", with_plaintext=False)


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
