"""AWS-facing errors: the one error tree every layer raises toward the caller.

    KMSError                      (__type, HTTP status, message)
    ├── ValidationException       400
    ├── SerializationException    400
    ├── NotFoundException         400
    ├── ... one class per AWS error name
    └── KMSInternalException      500

Each class keeps its AWS name, because the wire layer renders ``type(e).__name__``
as ``__type``. Internal errors that never reach the caller end in ``Error`` and
live in the layer that raises them.
"""

from __future__ import annotations


class KMSError(Exception):
    """An error the caller sees as ``{"__type": <class name>, "message": ...}``."""

    status: int = 400
    sender_fault: bool = True

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    @property
    def type_name(self) -> str:
        return type(self).__name__


# Protocol / authentication errors (AWS JSON 1.1 common errors).
class ValidationException(KMSError):
    """Input failed a model constraint; message in AWS's '1 validation error detected' form."""


class SerializationException(KMSError):
    """The body is not JSON or a member has the wrong JSON type."""


class UnknownOperationException(KMSError):
    """The X-Amz-Target names no operation of this service."""


class MissingAuthenticationTokenException(KMSError):
    status = 403


class IncompleteSignatureException(KMSError):
    pass


class InvalidSignatureException(KMSError):
    pass


class UnrecognizedClientException(KMSError):
    pass


class ExpiredTokenException(KMSError):
    pass


class AccessDeniedException(KMSError):
    pass


class ThrottlingException(KMSError):
    pass


class RequestHeaderSectionTooLarge(KMSError):
    """The request's headers exceed the size AWS front ends accept (S3's name and text)."""


class KMSInternalException(KMSError):
    status = 500
    sender_fault = False


class UnsupportedOperationException(KMSError):
    pass


# KMS service errors (names from botocore's KMS model).
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
