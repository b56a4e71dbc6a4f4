"""CloudTrail-shaped records of the XKS proxy's calls.

AWS KMS calls the proxy (its SigV4 credential is the proxy's own, not an IAM one), so
the record's ``userIdentity`` is CloudTrail's ``AWSService`` form, invoked by
``kms.amazonaws.com``, with the access key id the request was signed with. The
``requestMetadata`` KMS sends (``awsPrincipalArn``, ``kmsKeyArn``, ``kmsOperation``,
``kmsRequestId``, ``kmsViaService``, ...) is in ``requestParameters``, with the
``externalKeyId``: what the specification asks a proxy to log (§Logging), so that an
operator can match each record with the CloudTrail event of the KMS request that
caused it (``kmsRequestId`` is that event's ``requestID``). Never in a record: plaintext,
ciphertext, AAD, IV, tag or ciphertext metadata. Every request-shaped string is bounded
by :mod:`openkms.audit.bounds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openkms.audit import bounds
from openkms.audit.records import EVENT_VERSION
from openkms.domain.audit import format_event_time

#: The records' ``eventSource``: the SigV4 service name of the XKS proxy API.
EVENT_SOURCE = "kms-xks-proxy"
#: Who calls the proxy.
INVOKED_BY = "kms.amazonaws.com"


def xks_record(
    *,
    event_id: str,
    event_time: float,
    event_name: str,
    account: str,
    region: str,
    access_key_id: str,
    source_ip: str,
    user_agent: str,
    request_id: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    error_code: str | None,
    error_message: str | None,
) -> dict[str, Any]:
    """The record of one proxy call, for ``account`` (the proxy's own)."""
    requested, omitted = bounds.elements(dict(request) or None)
    answered, response_omitted = bounds.elements(dict(response) if response else None)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {
            "type": "AWSService",
            "invokedBy": INVOKED_BY,
            "accessKeyId": bounds.text(access_key_id, bounds.ACCESS_KEY_ID),
        },
        "eventTime": format_event_time(event_time),
        "eventSource": EVENT_SOURCE,
        "eventName": bounds.event_name(event_name),
        "awsRegion": bounds.region(region),
        "sourceIPAddress": bounds.text(source_ip, bounds.SOURCE_IP),
        "userAgent": bounds.text(user_agent, bounds.USER_AGENT),
        "requestParameters": requested,
        "responseElements": answered,
        "requestID": bounds.text(request_id, bounds.REQUEST_ID),
        "eventID": event_id,
        "readOnly": True,
        "resources": [],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": bounds.text(account, bounds.ACCOUNT_ID),
        "eventCategory": "Management",
    }
    dropped = [
        name
        for name, gone in (("requestParameters", omitted), ("responseElements", response_omitted))
        if gone
    ]
    if dropped:
        record["additionalEventData"] = {"omittedElements": dropped}
    if error_code is not None:
        record["errorCode"] = bounds.text(error_code, bounds.ERROR_CODE)
        record["errorMessage"] = bounds.text(error_message or "", bounds.ERROR_MESSAGE)
    return record
