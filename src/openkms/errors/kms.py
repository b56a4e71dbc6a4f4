"""Errors of the KMS API (names, statuses and faults from botocore's ``kms`` model).

Each class keeps its AWS name, because the wire layer renders its ``type_name``
(the class name) as ``__type``. The protocol and SigV4 errors KMS shares with the
other JSON APIs are in :mod:`openkms.errors.common`.
"""

from __future__ import annotations

from openkms.errors.base import KMSError


class KMSInternalException(KMSError):
    status = 500
    sender_fault = False


class NotFoundException(KMSError):
    pass


class InvalidArnException(KMSError):
    pass


class DisabledException(KMSError):
    pass


class KMSInvalidStateException(KMSError):
    pass


class InvalidCiphertextException(KMSError):
    pass


class IncorrectKeyException(KMSError):
    pass


class InvalidKeyUsageException(KMSError):
    pass


class AlreadyExistsException(KMSError):
    pass


class InvalidAliasNameException(KMSError):
    pass


class InvalidMarkerException(KMSError):
    pass


class LimitExceededException(KMSError):
    pass


class MalformedPolicyDocumentException(KMSError):
    pass


class TagException(KMSError):
    pass


class DryRunOperationException(KMSError):
    pass


class InvalidGrantTokenException(KMSError):
    pass


class InvalidGrantIdException(KMSError):
    pass


class DependencyTimeoutException(KMSError):
    status = 500
    sender_fault = False


class KeyUnavailableException(KMSError):
    status = 500
    sender_fault = False


class KMSInvalidSignatureException(KMSError):
    pass


class KMSInvalidMacException(KMSError):
    pass


class ConflictException(KMSError):
    """The resource is being changed by another operation (an on-demand rotation)."""


class IncorrectKeyMaterialException(KMSError):
    """Imported key material that is not the key's, or not valid for its key spec."""


class ExpiredImportTokenException(KMSError):
    pass


class InvalidImportTokenException(KMSError):
    pass
