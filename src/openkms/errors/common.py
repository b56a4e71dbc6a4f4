"""Protocol and SigV4 errors common to every API served here (KMS, CloudTrail, IAM, STS).

Names and statuses are the JSON 1.1 protocol's common errors
(https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html), as KMS and
CloudTrail answer them; the IAM/STS query protocol renders the same errors under its
own codes (``InvalidClientTokenId``, ``SignatureDoesNotMatch``, ...: the table
``QUERY_CODES`` in :mod:`openkms.wire.query`).
"""

from __future__ import annotations

from openkms.errors.base import KMSError


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


class UnsupportedOperationException(KMSError):
    """An operation or parameter this server does not implement (KMS and CloudTrail)."""
