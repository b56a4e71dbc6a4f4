"""External keys served by OpenKMS's XKS proxy, and the proxy's crypto framing.

The rules come from AWS's "External Key Store (XKS) Proxy API Specification" v1.0.x
(https://github.com/aws/aws-kms-xksproxy-api-spec, ``xks_proxy_api_spec.md``):

* an external key is a 256-bit AES key named by an ``externalKeyId`` of at most 128
  characters from ``[A-Za-z0-9._-]`` (§API operations); its status is ENABLED or
  DISABLED, and its usage the operations it may do (GetKeyMetadata's ``keyUsage``);
* the AAD handed to AES-GCM binds the caller's AAD and the ciphertext metadata with
  explicit lengths, ``u16be(len(aad)) || aad || u8(len(ctm)) || ctm`` (§Encrypt,
  ciphertextMetadata), so the metadata cannot be moved into the AAD or back;
* the ciphertext metadata (at most 20 bytes) is ours to define: :func:`ciphertext_metadata`
  writes a format version and the key's material version, checked by
  :func:`parse_ciphertext_metadata` before any key material is touched;
* the Ciphertext Data Integrity Value is ``SHA-256(aad || ctm || iv || ciphertext ||
  tag)`` with absent fields empty and no lengths (Appendix C);
* secondary authorization (§Authorization) is optional: here, per key, an allow-list of
  ``awsPrincipalArn`` values and one of ``kmsOperation`` values, each unrestricted when
  empty. GetHealthStatus is never subject to it.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from openkms.errors.xks import XKSAccessDeniedException, XKSInvalidCiphertextException

#: externalKeyId (§API operations).
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: Only AES-256 keys (version 1 of the specification).
KEY_SPEC = "AES_256"
KEY_LEN = 32
IV_LEN = 12
TAG_LEN = 16
#: IV lengths a Decrypt may carry (12 or 16 bytes, §Decrypt).
IV_LENGTHS = (12, 16)
MAX_CIPHERTEXT_METADATA = 20
#: Our ciphertext metadata: this format marker, then the key's material version.
_CTM_FORMAT = 1
_CTM = struct.Struct(">BI")


class XksKeyStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class XksKeyUsage(StrEnum):
    ENCRYPT = "ENCRYPT"
    DECRYPT = "DECRYPT"


#: Shorthands the admin command takes for a key's usage.
USAGE_CHOICES: dict[str, frozenset[XksKeyUsage]] = {
    "encrypt-decrypt": frozenset({XksKeyUsage.ENCRYPT, XksKeyUsage.DECRYPT}),
    "encrypt-only": frozenset({XksKeyUsage.ENCRYPT}),
    "decrypt-only": frozenset({XksKeyUsage.DECRYPT}),
    "none": frozenset(),
}


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    """``requestMetadata`` of a request (§API operations), as KMS sends it: claims for
    the audit trail and secondary authorization, never checked against anything else
    (``kmsRequestId`` is opaque)."""

    kms_operation: str
    kms_request_id: str
    aws_principal_arn: str | None = None
    kms_key_arn: str | None = None
    kms_via_service: str | None = None
    aws_source_vpc: str | None = None
    aws_source_vpce: str | None = None

    def as_record(self) -> dict[str, str]:
        """The fields as the specification names them (those present)."""
        fields = {
            "awsPrincipalArn": self.aws_principal_arn,
            "awsSourceVpc": self.aws_source_vpc,
            "awsSourceVpce": self.aws_source_vpce,
            "kmsKeyArn": self.kms_key_arn,
            "kmsOperation": self.kms_operation,
            "kmsRequestId": self.kms_request_id,
            "kmsViaService": self.kms_via_service,
        }
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class XksKey:
    """An external key as stored (its material sealed under the root of trust)."""

    key_id: str
    status: XksKeyStatus
    usage: frozenset[XksKeyUsage]
    version: int
    wrapped_material: bytes
    created_at: float
    #: Secondary authorization; empty: anyone KMS calls for, any operation.
    allowed_principals: tuple[str, ...] = ()
    allowed_operations: tuple[str, ...] = ()
    description: str = ""

    def authorize(self, metadata: RequestMetadata) -> None:
        """Secondary authorization: raise AccessDeniedException unless the request's
        ``awsPrincipalArn`` and ``kmsOperation`` are on the key's allow-lists (when it
        has them). A ``kmsOperation`` the proxy does not know is judged like any other:
        only an allow-list refuses it (§API operations: unknown operations must not be
        rejected as invalid)."""
        principals, operations = self.allowed_principals, self.allowed_operations
        if principals and metadata.aws_principal_arn not in principals:
            raise XKSAccessDeniedException(
                f"awsPrincipalArn {metadata.aws_principal_arn!r} is not allowed to use "
                f"external key {self.key_id}"
            )
        if operations and metadata.kms_operation not in operations:
            raise XKSAccessDeniedException(
                f"kmsOperation {metadata.kms_operation!r} is not allowed on external key "
                f"{self.key_id}"
            )


def is_key_id(value: str) -> bool:
    return KEY_ID_PATTERN.fullmatch(value) is not None


def framed_aad(aad: bytes | None, ciphertext_metadata: bytes) -> bytes:
    """The AAD given to AES-GCM: ``u16be(len(aad)) || aad || u8(len(ctm)) || ctm``."""
    aad = aad or b""
    return (
        struct.pack(">H", len(aad)) + aad + bytes([len(ciphertext_metadata)]) + ciphertext_metadata
    )


def ciphertext_metadata(version: int) -> bytes:
    """What Encrypt returns as ``ciphertextMetadata`` for a key's material ``version``."""
    return _CTM.pack(_CTM_FORMAT, version)


def parse_ciphertext_metadata(value: bytes | None) -> int:
    """The material version a Decrypt's ``ciphertextMetadata`` names; anything this
    proxy did not write is InvalidCiphertextException, before any key is used."""
    if value is None or len(value) != _CTM.size:
        raise XKSInvalidCiphertextException(
            "The ciphertextMetadata is missing or was not written by this proxy."
        )
    marker, version = _CTM.unpack(value)
    if marker != _CTM_FORMAT or version < 1:
        raise XKSInvalidCiphertextException(
            "The ciphertextMetadata is missing or was not written by this proxy."
        )
    return int(version)


def integrity_value(
    aad: bytes | None, ciphertext_metadata: bytes | None, iv: bytes, ciphertext: bytes, tag: bytes
) -> bytes:
    """The Ciphertext Data Integrity Value (Appendix C): SHA-256 of the fields, absent
    ones empty, no lengths."""
    digest = hashlib.sha256(aad or b"")
    for part in (ciphertext_metadata or b"", iv, ciphertext, tag):
        digest.update(part)
    return digest.digest()


#: A proxy credential's access key id and secret (Appendix A): 20-30 characters from
#: ``[A-Z2-7]``, and 43-64 characters from ``[A-Za-z0-9+/=]``.
ACCESS_KEY_ID_PATTERN = re.compile(r"[A-Z2-7]{20,30}")
SECRET_PATTERN = re.compile(r"[A-Za-z0-9+/=]{43,64}")
#: ``XksProxyUriPath`` (§API operations): at most 128 characters of ``[A-Za-z0-9/_-]``,
#: ending in this.
API_PATH = "/kms/xks/v1"
MAX_URI_PATH = 128
_URI_PREFIX = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")


def is_access_key_id(value: str) -> bool:
    return ACCESS_KEY_ID_PATTERN.fullmatch(value) is not None


def is_secret(value: str) -> bool:
    return SECRET_PATTERN.fullmatch(value) is not None


def uri_path(prefix: str) -> str | None:
    """The ``XksProxyUriPath`` of a path prefix (``""`` or ``a/b``, slashes at either end
    ignored), or None when the prefix cannot make a valid one."""
    prefix = prefix.strip("/")
    if prefix and _URI_PREFIX.fullmatch(prefix) is None:
        return None
    path = ("/" + prefix if prefix else "") + API_PATH
    return path if len(path) <= MAX_URI_PATH else None
