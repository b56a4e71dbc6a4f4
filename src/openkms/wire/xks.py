"""The XKS proxy API's JSON: request bodies in, response and error bodies out.

Shapes from the specification (§GetKeyMetadata, §Encrypt, §Decrypt, §GetHealthStatus):
every binary member is standard Base64 (RFC 4648 §4); ``requestMetadata`` is required and
must hold, as strings, the members each API lists as required (an empty or missing
``requestMetadata`` is ValidationException, which AWS's test client checks for every
API). Members the specification does not name are ignored, in ``requestMetadata`` too:
KMS may add fields (Appendix B). Sizes beyond what this proxy takes (well above the
specification's minimums: 4,300 bytes of plaintext or ciphertext, 8,192 of AAD) are
UnsupportedOperationException, as the specification says.

Errors are ``{"errorName": ..., "errorMessage": ...}`` (:mod:`openkms.errors.xks`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from openkms.errors.xks import (
    XKSError,
    XKSUnsupportedOperationException,
    XKSValidationException,
)

CONTENT_TYPE = b"application/json"
#: The largest plaintext or ciphertext taken (the specification's minimum is 4,300).
MAX_DATA = 8192
#: The largest AAD taken (minimum 8,192; the framing's length field holds 65,535).
MAX_AAD = 16384
MAX_CIPHERTEXT_METADATA = 20
ALGORITHM = "AES_GCM"
CDIV_ALGORITHM = "SHA_256"
#: requestMetadata members each API requires (GetKeyMetadata's kmsKeyArn is optional).
_REQUIRED = {
    "metadata": ("awsPrincipalArn", "kmsOperation", "kmsRequestId"),
    "encrypt": ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    "decrypt": ("awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"),
    "health": ("kmsOperation", "kmsRequestId"),
}
_OPTIONAL = ("awsPrincipalArn", "kmsKeyArn", "kmsViaService", "awsSourceVpc", "awsSourceVpce")


@dataclass(frozen=True, slots=True)
class EncryptInput:
    plaintext: bytes
    aad: bytes | None
    cdiv: bool


@dataclass(frozen=True, slots=True)
class DecryptInput:
    ciphertext: bytes
    ciphertext_metadata: bytes | None
    aad: bytes | None
    iv: bytes
    tag: bytes


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise XKSValidationException("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise XKSValidationException("The request body must be a JSON object.")
    return value


def request_metadata(api: str, body: Mapping[str, Any]) -> dict[str, str]:
    """The request's ``requestMetadata`` members this proxy knows, checked: the required
    ones present and non-empty strings (``kmsRequestId`` any string: it is opaque and
    must not be validated), the optional ones strings when present."""
    metadata = body.get("requestMetadata")
    if not isinstance(metadata, dict) or not metadata:
        raise XKSValidationException("requestMetadata is missing or empty.")
    found: dict[str, str] = {}
    for name in _REQUIRED[api]:
        value = metadata.get(name)
        if not isinstance(value, str) or not (value or name == "kmsRequestId"):
            raise XKSValidationException(f"requestMetadata.{name} is missing or not a string.")
        found[name] = value
    for name in _OPTIONAL:
        if name in found or metadata.get(name) is None:
            continue
        value = metadata[name]
        if not isinstance(value, str):
            raise XKSValidationException(f"requestMetadata.{name} is not a string.")
        found[name] = value
    return found


def _binary(body: Mapping[str, Any], name: str, *, required: bool, limit: int) -> bytes | None:
    value = body.get(name)
    if value is None:
        if required:
            raise XKSValidationException(f"{name} is missing.")
        return None
    if not isinstance(value, str):
        raise XKSValidationException(f"{name} must be a Base64 string.")
    if len(value) > (limit + 2) // 3 * 4:
        raise XKSUnsupportedOperationException(
            f"{name} is larger than the {limit} bytes this proxy supports."
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise XKSValidationException(f"{name} is not valid Base64.") from None


def _algorithm(body: Mapping[str, Any]) -> None:
    algorithm = body.get("encryptionAlgorithm")
    if algorithm is None:
        raise XKSValidationException("encryptionAlgorithm is missing.")
    if algorithm != ALGORITHM:
        raise XKSValidationException(f"encryptionAlgorithm must be {ALGORITHM}.")


def encrypt_input(body: Mapping[str, Any]) -> EncryptInput:
    _algorithm(body)
    plaintext = _binary(body, "plaintext", required=True, limit=MAX_DATA)
    aad = _binary(body, "additionalAuthenticatedData", required=False, limit=MAX_AAD)
    cdiv = body.get("ciphertextDataIntegrityValueAlgorithm")
    if cdiv is not None and cdiv != CDIV_ALGORITHM:
        raise XKSValidationException(
            f"ciphertextDataIntegrityValueAlgorithm must be {CDIV_ALGORITHM}."
        )
    assert plaintext is not None
    return EncryptInput(plaintext, aad, cdiv is not None)


def decrypt_input(body: Mapping[str, Any]) -> DecryptInput:
    _algorithm(body)
    ciphertext = _binary(body, "ciphertext", required=True, limit=MAX_DATA)
    iv = _binary(body, "initializationVector", required=True, limit=16)
    tag = _binary(body, "authenticationTag", required=True, limit=16)
    aad = _binary(body, "additionalAuthenticatedData", required=False, limit=MAX_AAD)
    ctm = _binary(body, "ciphertextMetadata", required=False, limit=MAX_CIPHERTEXT_METADATA)
    assert ciphertext is not None and iv is not None and tag is not None
    if len(iv) not in (12, 16):
        raise XKSValidationException("initializationVector must be 12 or 16 bytes.")
    if len(tag) != 16:
        raise XKSValidationException("authenticationTag must be 16 bytes.")
    if ctm is not None and len(ctm) > MAX_CIPHERTEXT_METADATA:
        raise XKSValidationException("ciphertextMetadata must be at most 20 bytes.")
    return DecryptInput(ciphertext, ctm, aad, iv, tag)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def encrypt_output(
    ciphertext: bytes, ctm: bytes, iv: bytes, tag: bytes, cdiv: bytes | None
) -> bytes:
    out = {
        "ciphertext": _b64(ciphertext),
        "ciphertextMetadata": _b64(ctm),
        "initializationVector": _b64(iv),
        "authenticationTag": _b64(tag),
    }
    if cdiv is not None:
        out["ciphertextDataIntegrityValue"] = _b64(cdiv)
    return orjson.dumps(out)


def decrypt_output(plaintext: bytes) -> bytes:
    return orjson.dumps({"plaintext": _b64(plaintext)})


def encode(value: Mapping[str, Any]) -> bytes:
    return orjson.dumps(value)


def encode_error(error: XKSError) -> bytes:
    out = {"errorName": error.error_name}
    if error.message:
        out["errorMessage"] = error.wire_message
    return orjson.dumps(out)
