"""CloudTrail records for KMS, IAM and STS calls, as AWS writes them for KMS.

Shape and field meanings: "CloudTrail record contents" (eventVersion 1.11) and the KMS
examples in "Logging AWS KMS API calls with AWS CloudTrail"
(https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html).
Never in a record: plaintext, ciphertext, data keys, key material, signatures, MACs,
secret access keys or session tokens — request and response members that carry them are
dropped here, by name, before anything is stored. Every string field is bounded and
normalised by :mod:`openkms.audit.bounds` before it is stored, since the request chooses
much of it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openkms.audit import bounds
from openkms.domain.audit import PendingRecord, format_event_time
from openkms.domain.principals import Principal, PrincipalKind

EVENT_VERSION = "1.11"
_KEY_TYPE = "AWS::KMS::Key"

#: Members that carry secrets or bulk data: never logged, in requests or responses.
SECRET_MEMBERS = frozenset(
    {
        "Plaintext",
        "CiphertextBlob",
        "Message",
        "Signature",
        "Mac",
        "PrivateKeyPlaintext",
        "PrivateKeyCiphertextBlob",
        "SharedSecret",
        "GrantToken",
        "GrantTokens",
        "ImportToken",
        "EncryptedKeyMaterial",
        "Recipient",
        "CiphertextForRecipient",
        "SecretAccessKey",
        "SessionToken",
        "Credentials",
        "AccessKey",
        "Password",
        "KeyStorePassword",
        "XksProxyAuthenticationCredential",
        "PublicKey",
    }
)

#: Operations AWS logs with ``responseElements: null`` (the data plane).
CRYPTO_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "Sign",
        "Verify",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
        "GetPublicKey",
        "Encapsulate",
        "Decapsulate",
    }
)

_WRITE_PREFIXES = (
    "Create",
    "Update",
    "Put",
    "Delete",
    "Enable",
    "Disable",
    "Schedule",
    "Cancel",
    "Tag",
    "Untag",
    "Retire",
    "Revoke",
    "Rotate",
    "Import",
    "Connect",
    "Disconnect",
    "Replicate",
    "AssumeRole",
)


def is_read_only(event_name: str) -> bool:
    """CloudTrail's readOnly: cryptographic and Describe/Get/List calls are read-only."""
    if event_name in CRYPTO_OPERATIONS:
        return True
    return not event_name.startswith(_WRITE_PREFIXES)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


#: How deep request and response values are rendered; anything deeper is replaced by
#: :data:`TOO_DEEP`. JSON bodies may nest 1,024 levels (orjson's parse limit) and the
#: record is stored as canonical JSON, whose encoder stops at 255 levels: without this
#: bound a caller could make its own record unstorable (and, batched, other callers').
MAX_DEPTH = 32
TOO_DEEP = "OMITTED_NESTED_TOO_DEEPLY"
#: Epoch seconds a record renders as an ISO 8601 time: after 2001-09-09 (where KMS's
#: response timestamps are) and before year 10000 (what ``datetime`` can represent).
_EPOCH_RANGE = (1e9, 253402300799.0)
_INT_RANGE = (-(2**63), 2**64 - 1)  # what the canonical JSON encoder can write
_BINARY = (bytes, bytearray, memoryview)  # a tuple: isinstance is faster than with a union


def _scrub(value: Any, depth: int = 0) -> Any:
    """CloudTrail's lower-camel member names, secrets removed, bytes never included.

    Total over anything a request can carry (any JSON value after any decoding, query
    members, odd types from handlers): it never raises, and what it returns can always
    be encoded as canonical JSON. Non-string keys are rendered as strings, numbers the
    encoder cannot write as strings, and values nested beyond :data:`MAX_DEPTH` as
    :data:`TOO_DEEP`, so a malformed request still leaves its record (a denied attempt
    cannot be hidden from the trail by making its record fail).
    """
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    kind = type(value)
    if kind is str:  # the common leaf, before the slower isinstance checks below
        return value
    if kind is dict or isinstance(value, Mapping):
        return {
            _camel(k if isinstance(k, str) else str(k)): _scrub(v, depth + 1)
            for k, v in value.items()
            if k not in SECRET_MEMBERS and not isinstance(v, _BINARY)
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value if not isinstance(v, _BINARY)]
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if _EPOCH_RANGE[0] < value <= _EPOCH_RANGE[1]:  # epoch timestamps in KMS responses
            return _time(value)
        return value
    return str(value)


def _time(epoch: float) -> str:
    """ISO 8601 UTC time (whole seconds) of epoch seconds; values ``datetime`` cannot
    represent (beyond year 9999, infinities, NaN) are rendered as the number instead."""
    try:
        return format_event_time(epoch)
    except (OverflowError, ValueError, OSError):
        return str(epoch)


def user_identity(principal: Principal) -> dict[str, Any]:
    """CloudTrail's userIdentity element for a caller."""
    account = bounds.text(principal.account, bounds.ACCOUNT_ID)
    identity: dict[str, Any] = {
        "type": principal.kind.value,
        "principalId": bounds.text(principal.principal_id or account, bounds.PRINCIPAL_ID),
        "arn": bounds.text(principal.arn, bounds.ARN),
        "accountId": account,
        "accessKeyId": bounds.text(principal.access_key_id, bounds.ACCESS_KEY_ID),
    }
    if principal.kind is PrincipalKind.IAM_USER and principal.user_name:
        identity["userName"] = bounds.text(principal.user_name, bounds.USER_NAME)
    if principal.kind is PrincipalKind.ASSUMED_ROLE and principal.role_arn:
        role_id = (principal.principal_id or ":").split(":", 1)[0]
        issued = principal.expiration - 3600 if principal.expiration else None
        identity["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": bounds.text(role_id, bounds.PRINCIPAL_ID),
                "arn": bounds.text(principal.role_arn, bounds.ARN),
                "accountId": account,
                "userName": bounds.text(principal.role_arn.rsplit("/", 1)[-1], bounds.USER_NAME),
            },
            "attributes": {
                "creationDate": _time(issued) if issued else None,
                "mfaAuthenticated": "false",
            },
        }
    return identity


#: userIdentity of recent callers: a caller's element is the same in each of its records,
#: which share it (a record is not changed once built).
_shared_identity = functools.lru_cache(maxsize=256)(user_identity)


@dataclass(frozen=True, slots=True)
class AuditedCall:
    """What the request path knows about one audited call, enough to write its record
    (not the handler's view of a KMS call, :class:`openkms.service.kms.call.OperationCall`)."""

    request_id: str
    event_id: str
    event_time: float
    event_source: str  # "kms.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com"
    event_name: str
    region: str
    source_ip: str
    user_agent: str
    principal: Principal
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    error_code: str | None = None
    error_message: str | None = None
    resources: Sequence[tuple[str, str]] = ()  # (account, ARN) of each key acted on
    additional: Mapping[str, Any] | None = None


def cloudtrail_record(
    call: AuditedCall, recipient_account: str, shared_event_id: str | None
) -> dict[str, Any]:
    """The record as stored and exported for ``recipient_account``, every field within
    :mod:`openkms.audit.bounds`."""
    record = indexed_record(call, recipient_account, shared_event_id).record
    assert isinstance(record, dict)
    return record


def indexed_record(
    call: AuditedCall, recipient_account: str, shared_event_id: str | None
) -> PendingRecord:
    """:func:`cloudtrail_record` with the columns it is indexed by, taken from the values
    just put in the record (what :meth:`PendingRecord.from_record` would read back)."""
    event_name = bounds.event_name(call.event_name)
    request, request_omitted = bounds.elements(_scrub(call.request) or None)
    response, response_omitted = bounds.elements(
        None
        if event_name in CRYPTO_OPERATIONS or call.response is None
        else (_scrub(call.response) or None)
    )
    identity = _shared_identity(call.principal)
    event_source = bounds.text(call.event_source, bounds.EVENT_NAME)
    region = bounds.region(call.region)
    read_only = is_read_only(event_name)
    resources = [
        {
            "accountId": bounds.text(account, bounds.ACCOUNT_ID),
            "type": _KEY_TYPE,
            "ARN": bounds.text(arn, bounds.ARN),
        }
        for account, arn in call.resources
    ]
    recipient = bounds.text(recipient_account, bounds.ACCOUNT_ID)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": _time(call.event_time),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": bounds.text(call.source_ip, bounds.SOURCE_IP),
        "userAgent": bounds.text(call.user_agent, bounds.USER_AGENT),
        "requestParameters": request,
        "responseElements": response,
        "requestID": bounds.text(call.request_id, bounds.REQUEST_ID),
        "eventID": call.event_id,
        "readOnly": read_only,
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
    }
    additional = dict(call.additional or {})
    omitted = [
        name
        for name, dropped in (
            ("requestParameters", request_omitted),
            ("responseElements", response_omitted),
        )
        if dropped
    ]
    if omitted:
        additional["omittedElements"] = omitted
    if additional:
        record["additionalEventData"], _ = bounds.elements(additional)
    error_code = None
    if call.error_code is not None:
        error_code = record["errorCode"] = bounds.text(call.error_code, bounds.ERROR_CODE)
        record["errorMessage"] = bounds.text(call.error_message or "", bounds.ERROR_MESSAGE)
    if shared_event_id is not None:
        record["sharedEventID"] = shared_event_id
    username = identity.get("userName")
    return PendingRecord(
        record=record,
        event_id=call.event_id,
        event_time=call.event_time,
        account_id=recipient,
        region=region,
        event_source=event_source,
        event_name=event_name,
        username="root" if username is None and identity["type"] == "Root" else username,
        access_key_id=identity["accessKeyId"],
        read_only=read_only,
        error_code=error_code,
        resources=tuple((r["ARN"], _KEY_TYPE) for r in resources),
    )


#: What CloudTrail shows as the actor of work KMS does by itself.
AWS_INTERNAL = "AWS Internal"


def service_event_record(
    *,
    event_id: str,
    event_time: float,
    event_name: str,
    account: str,
    region: str,
    key_arn: str,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A record of work KMS does on its own (``eventType: AwsServiceEvent``): DeleteKey
    after the waiting period, RotateKey, DeleteExpiredKeyMaterial. Shape as the developer
    guide's examples (pages ct-delete-key, ct-rotatekey, ct-deleteexpiredkeymaterial)."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"accountId": account, "invokedBy": AWS_INTERNAL},
        "eventTime": _time(event_time),
        "eventSource": "kms.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": AWS_INTERNAL,
        "userAgent": AWS_INTERNAL,
        "requestParameters": None,
        "responseElements": None,
        "eventID": event_id,
        "readOnly": False,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if details:
        record["serviceEventDetails"] = dict(details)
    return record
