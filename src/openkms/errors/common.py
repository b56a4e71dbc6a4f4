"""Protocol and SigV4 errors common to every API served here (KMS, CloudTrail, IAM, STS).

Names and statuses are the JSON 1.1 protocol's common errors
(https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html), as KMS and
CloudTrail answer them; the IAM/STS query protocol renders the same errors under its
own codes (``InvalidClientTokenId``, ``SignatureDoesNotMatch``, ...: the table
``QUERY_CODES`` in :mod:`openkms.wire.query`).
"""

from __future__ import annotations

from openkms.errors.base import AWSError


class ValidationException(AWSError):
    """Input failed a model constraint; message in AWS's '1 validation error detected' form."""


class SerializationException(AWSError):
    """The body is not JSON or a member has the wrong JSON type."""


class UnknownOperationException(AWSError):
    """The X-Amz-Target names no operation of this service."""


class MissingAuthenticationTokenException(AWSError):
    status = 403


class IncompleteSignatureException(AWSError):
    pass


class InvalidSignatureException(AWSError):
    pass


class UnrecognizedClientException(AWSError):
    pass


class ExpiredTokenException(AWSError):
    pass


class AccessDeniedException(AWSError):
    pass


class ThrottlingException(AWSError):
    pass


class RequestHeaderSectionTooLarge(AWSError):
    """The request's headers exceed the size AWS front ends accept (S3's name and text)."""


class UnsupportedOperationException(AWSError):
    """An operation or parameter this server does not implement (KMS and CloudTrail)."""
