"""Errors of CloudTrail's ``LookupEvents`` (names from botocore's ``cloudtrail`` model).

Served by :mod:`openkms.server.cloudtrail_api`; the request rules that raise each one
are listed there. ``InternalFailure`` is the 500 that CloudTrail answers for its own
faults (the JSON protocol's name, not KMS's ``KMSInternalException``).
"""

from __future__ import annotations

from openkms.errors.base import AWSError


class InvalidLookupAttributesException(AWSError):
    pass


class InvalidTimeRangeException(AWSError):
    pass


class InvalidMaxResultsException(AWSError):
    pass


class InvalidNextTokenException(AWSError):
    pass


class InvalidEventCategoryException(AWSError):
    pass


class InternalFailure(AWSError):
    status = 500
    sender_fault = False
