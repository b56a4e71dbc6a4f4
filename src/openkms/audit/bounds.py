"""Bounds on what a CloudTrail record may hold, applied before a record reaches the trail.

Much of a record comes from the request (headers, the credential scope, the body), so an
unauthenticated client chooses it. A record is hash-chained and indexed in columns of
fixed width (:mod:`openkms.storage.audit.tables`); a value longer than its column makes
PostgreSQL refuse the whole group-committed batch, and an unbounded value makes every
copy of the trail (exports, digests, LookupEvents answers) as large as the attacker
likes. So every string field is normalised here, and no request can make its record
larger or stranger than these bounds:

=====================  ======  =====================================================
field                  bound   why
=====================  ======  =====================================================
eventName              64      column ``event_name``; an API action name (letters and
                               digits). Anything else — an unknown ``X-Amz-Target`` —
                               is recorded as :data:`UNKNOWN_OPERATION`.
awsRegion              32      column ``region``; a region name (``[a-z0-9-]``), else
                               :data:`INVALID_REGION`.
recipientAccountId     12      column ``account_id``: 12 digits.
userIdentity.accessKeyId  128  column ``access_key_id``; IAM's AccessKeyId is 16..128.
userIdentity.userName  64      IAM's UserName limit (column ``username`` is 256).
userIdentity.arn,      2048    IAM's limit on an ARN; column ``resource_name`` is 2048.
resources[].ARN
userIdentity.principalId  1024 CloudTrail Lake's event schema (PutAuditEvents).
userAgent              1024    CloudTrail Lake's event schema ("Maximum length of
                               1024"): CloudTrail keeps a bounded user agent.
sourceIPAddress        64      an IPv6 address is at most 45 characters.
requestID              1024    CloudTrail Lake's ``UID`` limit.
errorCode              128     column ``error_code`` (the Lake schema allows 256).
errorMessage           1024    the Lake schema allows 256, but KMS's own AccessDenied
                               messages name two ARNs and exceed it; 1024 keeps them.
requestParameters,     100 kB  CloudTrail's limit on these elements; a larger one is
responseElements               omitted (``null``) and ``additionalEventData``
                               names it (``omittedElements``).
=====================  ======  =====================================================

Source of the CloudTrail Lake limits: "CloudTrail Lake integrations event schema"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-integration-event-schema.html).
Control characters other than tab and line breaks (NUL included, which PostgreSQL
cannot store in a text column) are removed from every bounded string.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

#: eventName of a call whose operation is not one the service has (CloudTrail never
#: sees such calls: AWS's front end answers UnknownOperationException first; the
#: record's ``errorCode`` says the same).
UNKNOWN_OPERATION = "UnknownOperation"
#: awsRegion of a record whose region is not a region name (never, once the SigV4
#: verifier checks the credential scope; kept for records built by other paths).
INVALID_REGION = "invalid-region"

EVENT_NAME = 64
REGION = 32
ACCOUNT_ID = 12
ACCESS_KEY_ID = 128
USER_NAME = 64
ARN = 2048
PRINCIPAL_ID = 1024
USER_AGENT = 1024
SOURCE_IP = 64
REQUEST_ID = 1024
ERROR_CODE = 128
ERROR_MESSAGE = 1024
ELEMENTS_BYTES = 100 * 1024

_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks stay


def text(value: str, limit: int) -> str:
    """``value`` without control characters, cut to ``limit`` characters."""
    if len(value) <= limit and value.isprintable():
        return value  # the common case: no control character can be in a printable string
    if len(value) > limit:
        value = value[: limit * 2]  # cut before scanning: the input may be huge
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return value[:limit]


def optional_text(value: str | None, limit: int) -> str | None:
    return None if value is None else text(value, limit)


def event_name(name: str) -> str:
    """An API action name as given, or :data:`UNKNOWN_OPERATION`."""
    return name if _EVENT_NAME.fullmatch(name) else UNKNOWN_OPERATION


def region(name: str) -> str:
    """A region-shaped name as given, or :data:`INVALID_REGION`."""
    return name if _REGION.fullmatch(name) else INVALID_REGION


def elements(value: Any) -> tuple[Any, bool]:
    """``(value, False)`` when its JSON is within :data:`ELEMENTS_BYTES`, else
    ``(None, True)`` (omitted; also for a value JSON cannot hold, so that building a
    record never raises on the request path)."""
    if value is None:
        return None, False
    try:
        size = len(orjson.dumps(value))
    except TypeError:  # orjson.JSONEncodeError
        return None, True
    return (None, True) if size > ELEMENTS_BYTES else (value, False)
