"""AWS-facing errors of the IAM and STS APIs (AWS query protocol).

    AWSError                                   (errors/base.py: name, status, message)
    └── IdentityError                          code = the query protocol's <Code>
        ├── NoSuchEntity            404        ├── MalformedPolicyDocument   400
        ├── EntityAlreadyExists     409        ├── InvalidInput              400
        ├── DeleteConflict          409        ├── ValidationError           400
        ├── LimitExceeded           409        ├── AccessDenied              403
        ├── UnsupportedOperation    400        └── PackedPolicyTooLarge      400

Codes and HTTP statuses are those of the error shapes in botocore's ``iam`` and
``sts`` models (a test compares them); ``AccessDenied`` and ``ValidationError`` are
the query protocol's common errors, which the models do not list. The wire layer
renders any :class:`~openkms.errors.AWSError` by ``type_name`` and ``status``, so
these classes only change the name rendered.
"""

from __future__ import annotations

from typing import ClassVar

from openkms.errors.base import AWSError


class IdentityError(AWSError):
    code: ClassVar[str] = "ServiceFailure"

    @property
    def type_name(self) -> str:
        return self.code


class NoSuchEntity(IdentityError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(IdentityError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(IdentityError):
    code = "DeleteConflict"
    status = 409


class LimitExceeded(IdentityError):
    code = "LimitExceeded"
    status = 409


class MalformedPolicyDocument(IdentityError):
    code = "MalformedPolicyDocument"
    status = 400


class InvalidInput(IdentityError):
    code = "InvalidInput"
    status = 400


class ValidationError(IdentityError):
    code = "ValidationError"
    status = 400


class AccessDenied(IdentityError):
    code = "AccessDenied"
    status = 403


class PackedPolicyTooLarge(IdentityError):
    code = "PackedPolicyTooLarge"
    status = 400


class UnsupportedOperation(IdentityError):
    """An IAM/STS action or parameter this server does not implement (never a silent no-op)."""

    code = "UnsupportedOperation"
    status = 400
