"""The XKS proxy API's errors (External Key Store Proxy API specification v1.0.x, "Error
codes"), rendered ``{"errorName": ..., "errorMessage": ...}`` with the specification's
HTTP status, not as AWS JSON 1.1 errors: AWS KMS is the caller and reads ``errorName``.

    XKSError                              base: errorName (the spec's name), status
    ├── XKSValidationException            400 ValidationException
    ├── XKSInvalidStateException          400 InvalidStateException
    ├── XKSInvalidCiphertextException     400 InvalidCiphertextException
    ├── XKSInvalidKeyUsageException       400 InvalidKeyUsageException
    ├── XKSAuthenticationFailedException  401 AuthenticationFailedException
    ├── XKSAccessDeniedException          403 AccessDeniedException
    ├── XKSKeyNotFoundException           404 KeyNotFoundException
    ├── XKSInvalidUriPathException        404 InvalidUriPathException
    ├── XKSThrottlingException            429 ThrottlingException
    ├── XKSInternalException              500 InternalException
    ├── XKSUnsupportedOperationException  501 UnsupportedOperationException
    └── XKSDependencyTimeoutException     503 DependencyTimeoutException

The class names carry an ``XKS`` prefix so they never shadow the KMS errors of the same
AWS name (``ValidationException``, ``AccessDeniedException``, ...); ``type_name`` is the
specification's name. The specification bounds ``errorMessage`` to printable ASCII under
512 characters: :attr:`XKSError.wire_message` enforces that whatever the text.
"""

from __future__ import annotations

from openkms.errors.base import AWSError

#: The longest errorMessage the specification allows (it says "less than 512").
MAX_MESSAGE = 511


class XKSError(AWSError):
    """An error of the XKS proxy API; ``error_name`` is what ``errorName`` says."""

    error_name = "InternalException"
    status = 500

    @property
    def type_name(self) -> str:
        return self.error_name

    @property
    def wire_message(self) -> str:
        """The message as the specification allows it: printable ASCII, < 512 chars."""
        text = "".join(c if " " <= c <= "~" else "?" for c in self.message)
        return text[:MAX_MESSAGE]


class XKSValidationException(XKSError):
    error_name, status = "ValidationException", 400


class XKSInvalidStateException(XKSError):
    error_name, status = "InvalidStateException", 400


class XKSInvalidCiphertextException(XKSError):
    error_name, status = "InvalidCiphertextException", 400


class XKSInvalidKeyUsageException(XKSError):
    error_name, status = "InvalidKeyUsageException", 400


class XKSAuthenticationFailedException(XKSError):
    error_name, status = "AuthenticationFailedException", 401


class XKSAccessDeniedException(XKSError):
    error_name, status = "AccessDeniedException", 403


class XKSKeyNotFoundException(XKSError):
    error_name, status = "KeyNotFoundException", 404


class XKSInvalidUriPathException(XKSError):
    error_name, status = "InvalidUriPathException", 404


class XKSThrottlingException(XKSError):
    error_name, status = "ThrottlingException", 429


class XKSInternalException(XKSError):
    error_name, status = "InternalException", 500


class XKSUnsupportedOperationException(XKSError):
    error_name, status = "UnsupportedOperationException", 501


class XKSDependencyTimeoutException(XKSError):
    error_name, status = "DependencyTimeoutException", 503
