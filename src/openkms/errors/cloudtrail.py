"""Errors of CloudTrail's ``LookupEvents`` (names from botocore's ``cloudtrail`` model).

Served by :mod:`openkms.server.cloudtrail_api`; the request rules that raise each one
are listed there. ``InternalFailure`` is the 500 that CloudTrail answers for its own
faults (the JSON protocol's name, not KMS's ``KMSInternalException``).
"""

from __future__ import annotations

from openkms.errors.base import KMSError


class InvalidLookupAttributesException(KMSError):
    pass


class InvalidTimeRangeException(KMSError):
    pass


class InvalidMaxResultsException(KMSError):
    pass


class InvalidNextTokenException(KMSError):
    pass


class InvalidEventCategoryException(KMSError):
    pass


class InternalFailure(KMSError):
    status = 500
    sender_fault = False
