"""CloudTrail ``LookupEvents`` on the KMS endpoint (AWS JSON 1.1), over the audit trail.

A request comes here when its ``X-Amz-Target`` starts with ``com.amazonaws.cloudtrail.``
(see :meth:`openkms.server.app.OpenKMSApp.handle`). Only ``LookupEvents`` is served;
any other CloudTrail operation is answered ``UnsupportedOperationException`` naming it.

Path: verify SigV4 (credential scope service ``cloudtrail``, own verifier) → resolve
the principal (:mod:`openkms.server.authenticate`, shared with KMS, IAM and STS) →
authorize ``cloudtrail:LookupEvents`` on ``*`` (account root always; others need an
identity-policy allow) → validate the request as botocore's
``cloudtrail`` model and the LookupEvents reference describe it → read the caller's
own account's records, newest first.

Request rules (LookupEvents API reference):

* ``LookupAttributes``: at most one; ``AttributeKey`` one of ``EventId``, ``EventName``,
  ``ReadOnly``, ``Username``, ``ResourceType``, ``ResourceName``, ``EventSource``,
  ``AccessKeyId``; ``AttributeValue`` 1..2000 characters; ``ReadOnly`` takes ``true`` or
  ``false`` → otherwise ``InvalidLookupAttributesException``.
* ``StartTime``/``EndTime`` (epoch seconds, inclusive, at the whole-second precision of
  a record's ``eventTime``, which is also the ``EventTime`` returned); start after end
  → ``InvalidTimeRangeException``.
* ``MaxResults`` 1..50, default 50 → otherwise ``InvalidMaxResultsException``.
* ``NextToken``: opaque, sealed with the keyring (AES-GCM) and bound to the account
  and the request's other parameters; anything else → ``InvalidNextTokenException``.
* ``EventCategory``: only ``insight`` exists and openkms records no Insights events, so
  it returns no events.

Errors are JSON ``{"__type", "message"}``; unexpected faults are logged with the
request id and answered ``InternalFailure`` without details. LookupEvents calls are not
themselves recorded in the trail.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson

from openkms.auth.sigv4 import SigV4Verifier
from openkms.crypto import contexts
from openkms.crypto.keyring import UnwrapError
from openkms.domain.audit import StoredEvent
from openkms.domain.principals import Principal
from openkms.errors import (
    AccessDenied,
    AccessDeniedException,
    AWSError,
    InternalFailure,
    InvalidEventCategoryException,
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
    SerializationException,
    UnsupportedOperationException,
)
from openkms.server.authenticate import Authenticator, call_context
from openkms.server.bootstrap import Runtime
from openkms.service.identity.authorize import authorize_iam, request_context
from openkms.storage.audit.lookup import LOOKUP_KEYS, Cursor, lookup_events
from openkms.wire import codec

log = logging.getLogger("openkms.server")

Scope = MutableMapping[str, Any]
TARGET_PREFIX = "com.amazonaws.cloudtrail."
LOOKUP_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
MAX_RESULTS = 50
MAX_VALUE_LENGTH = 2000


def is_cloudtrail(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-target", "").startswith(TARGET_PREFIX)


class CloudTrailAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.verifier = SigV4Verifier(
            runtime.credentials.secret,
            service="cloudtrail",
            required_signed_headers=("host", "x-amz-target"),
            regions=runtime.settings.regions,
        )
        self.authenticator = Authenticator(runtime.settings, runtime.credentials)

    def handle(
        self, scope: Scope, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> tuple[int, bytes]:
        try:
            principal, region = self._authenticate(scope, headers, body)
            ctx = call_context(scope, headers, request_id, principal, region)
            target = headers.get("x-amz-target", "")
            if target != LOOKUP_TARGET:
                operation = target.rsplit(".", 1)[-1]
                raise UnsupportedOperationException(
                    f"The operation {operation} is not supported by openkms; "
                    "only LookupEvents is served."
                )
            params = codec.decode_request(body)
            with self.runtime.store.transaction() as tx:
                try:
                    authorize_iam(
                        tx, principal, "cloudtrail:LookupEvents", "*", request_context(ctx)
                    )
                except AccessDenied as err:
                    raise AccessDeniedException(err.message) from None
                result = self._lookup(tx, principal.account, params)
            return 200, codec.encode_response(result)
        except AWSError as err:
            return err.status, codec.encode_error(err)
        except Exception:
            log.exception("internal error handling cloudtrail request %s", request_id)
            internal = InternalFailure(f"An internal error occurred. Request ID: {request_id}")
            return internal.status, codec.encode_error(internal)

    def _authenticate(
        self, scope: Scope, headers: Mapping[str, str], body: bytes
    ) -> tuple[Principal, str]:
        return self.authenticator.authenticate(self.verifier, scope, headers, body)

    def _lookup(self, tx: Any, account: str, params: dict[str, Any]) -> dict[str, Any]:
        key, value = _attribute(params.get("LookupAttributes"))
        start = _time(params.get("StartTime"), "StartTime")
        end = _time(params.get("EndTime"), "EndTime")
        if start is not None and end is not None and start > end:
            raise InvalidTimeRangeException("Start time must be before end time.")
        limit = _max_results(params.get("MaxResults"))
        category = params.get("EventCategory")
        if category is not None and category != "insight":
            raise InvalidEventCategoryException(f"Invalid event category {category!r}.")
        binding = _binding(account, key, value, start, end, category)
        after = self._open_token(params.get("NextToken"), binding)
        if category == "insight":
            return {"Events": []}  # openkms records management events only
        # Records carry whole seconds (eventTime "...T10:23:49Z"): an event is in the
        # range when its second is, so both bounds are inclusive at that granularity.
        events, cursor = lookup_events(
            tx,
            account,
            key=key,
            value=value,
            start=None if start is None else float(math.ceil(start)),
            end=None if end is None else math.nextafter(math.floor(end) + 1.0, -math.inf),
            after=after,
            limit=limit,
        )
        result: dict[str, Any] = {"Events": [_event(e) for e in events]}
        if cursor is not None:
            result["NextToken"] = self._seal_token(cursor, binding)
        return result

    def _seal_token(self, cursor: Cursor, binding: bytes) -> str:
        payload = orjson.dumps([cursor.event_time, cursor.seq])
        sealed = self.runtime.credentials.keyring.wrap(payload, contexts.lookup_token(binding))
        return base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")

    def _open_token(self, token: object, binding: bytes) -> Cursor | None:
        if token is None:
            return None
        invalid = InvalidNextTokenException("Invalid NextToken.")
        if not isinstance(token, str) or not token:
            raise invalid
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = self.runtime.credentials.keyring.unwrap(
                sealed, contexts.lookup_token(binding)
            )
            event_time, seq = orjson.loads(payload)
            return Cursor(float(event_time), int(seq))
        except (binascii.Error, ValueError, TypeError, UnwrapError, orjson.JSONDecodeError):
            raise invalid from None


def _binding(
    account: str,
    key: str | None,
    value: object,
    start: float | None,
    end: float | None,
    category: object,
) -> bytes:
    """What a NextToken is valid for: the same account and the same other parameters."""
    return json.dumps([account, key, value, start, end, category]).encode()


def _attribute(raw: object) -> tuple[str | None, str | bool | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, list):
        raise SerializationException("Expected a list for LookupAttributes.")
    if not raw:
        return None, None
    if len(raw) > 1:
        raise InvalidLookupAttributesException("You cannot specify more than one lookup attribute.")
    item = raw[0]
    if not isinstance(item, dict):
        raise SerializationException("Expected a structure for LookupAttribute.")
    key, value = item.get("AttributeKey"), item.get("AttributeValue")
    if not isinstance(key, str) or key not in LOOKUP_KEYS:
        raise InvalidLookupAttributesException(
            f"Invalid lookup attribute key {key!r}; valid keys are: "
            + ", ".join(sorted(LOOKUP_KEYS))
            + "."
        )
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_VALUE_LENGTH:
        raise InvalidLookupAttributesException(
            f"The value of lookup attribute {key} must be 1 to {MAX_VALUE_LENGTH} characters."
        )
    if key == "ReadOnly":
        if value.lower() not in ("true", "false"):
            raise InvalidLookupAttributesException(
                "The value of lookup attribute ReadOnly must be true or false."
            )
        return key, value.lower() == "true"
    return key, value


def _time(raw: object, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise SerializationException(f"Expected a timestamp (epoch seconds) for {name}.")
    return float(raw)


def _max_results(raw: object) -> int:
    if raw is None:
        return MAX_RESULTS
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_RESULTS:
        raise InvalidMaxResultsException(f"MaxResults must be an integer from 1 to {MAX_RESULTS}.")
    return raw


def _event(e: StoredEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "EventId": e.event_id,
        "EventName": e.event_name,
        "ReadOnly": "true" if e.read_only else "false",
        "EventTime": math.floor(e.event_time),  # the record's eventTime, whole seconds
        "EventSource": e.event_source,
        "Resources": [{"ResourceType": kind, "ResourceName": name} for name, kind in e.resources],
        "CloudTrailEvent": e.record,
    }
    if e.access_key_id:
        out["AccessKeyId"] = e.access_key_id
    if e.username:
        out["Username"] = e.username
    return out
