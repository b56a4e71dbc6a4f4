"""Errors common to every JSON 1.1 API served here (KMS, CloudTrail): protocol and SigV4.

Names and statuses are AWS's common errors
(https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html); the IAM and
STS query APIs have their own spellings in :mod:`openkms.errors.iam`.
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
