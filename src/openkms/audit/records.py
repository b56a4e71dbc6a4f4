"""CloudTrail records for KMS, IAM and STS calls, as AWS writes them for KMS.

Shape and field meanings: "CloudTrail record contents" (eventVersion 1.11) and the KMS
examples in "Logging AWS KMS API calls with AWS CloudTrail"
(https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html).
Never in a record: plaintext, ciphertext, data keys, key material, signatures, MACs,
secret access keys or session tokens — request and response members that carry them are
dropped here, by name, before anything is stored.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openkms.domain.principals import Principal, PrincipalKind

EVENT_VERSION = "1.11"

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


def _scrub(value: Any) -> Any:
    """CloudTrail's lower-camel member names, secrets removed, bytes never included."""
    if isinstance(value, Mapping):
        return {
            _camel(k): _scrub(v)
            for k, v in value.items()
            if k not in SECRET_MEMBERS and not isinstance(v, bytes | bytearray)
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, float) and value > 1e9:  # epoch timestamps in KMS responses
        return _time(value)
    return value


def _time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def user_identity(principal: Principal) -> dict[str, Any]:
    """CloudTrail's userIdentity element for a caller."""
    identity: dict[str, Any] = {
        "type": principal.kind.value,
        "principalId": principal.principal_id or principal.account,
        "arn": principal.arn,
        "accountId": principal.account,
        "accessKeyId": principal.access_key_id,
    }
    if principal.kind is PrincipalKind.IAM_USER and principal.user_name:
        identity["userName"] = principal.user_name
    if principal.kind is PrincipalKind.ASSUMED_ROLE and principal.role_arn:
        role_id = (principal.principal_id or ":").split(":", 1)[0]
        issued = principal.expiration - 3600 if principal.expiration else None
        identity["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": principal.role_arn,
                "accountId": principal.account,
                "userName": principal.role_arn.rsplit("/", 1)[-1],
            },
            "attributes": {
                "creationDate": _time(issued) if issued else None,
                "mfaAuthenticated": "false",
            },
        }
    return identity


@dataclass(frozen=True, slots=True)
class Call:
    """What the request path knows about one call, enough to write its record."""

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
    call: Call, recipient_account: str, shared_event_id: str | None
) -> dict[str, Any]:
    """The record as stored and exported for ``recipient_account``."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(call.principal),
        "eventTime": _time(call.event_time),
        "eventSource": call.event_source,
        "eventName": call.event_name,
        "awsRegion": call.region,
        "sourceIPAddress": call.source_ip,
        "userAgent": call.user_agent,
        "requestParameters": _scrub(call.request) or None,
        "responseElements": None
        if call.event_name in CRYPTO_OPERATIONS or call.response is None
        else (_scrub(call.response) or None),
        "requestID": call.request_id,
        "eventID": call.event_id,
        "readOnly": is_read_only(call.event_name),
        "resources": [
            {"accountId": account, "type": "AWS::KMS::Key", "ARN": arn}
            for account, arn in call.resources
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient_account,
        "eventCategory": "Management",
    }
    if call.additional:
        record["additionalEventData"] = dict(call.additional)
    if call.error_code is not None:
        record["errorCode"] = call.error_code
        record["errorMessage"] = call.error_message or ""
    if shared_event_id is not None:
        record["sharedEventID"] = shared_event_id
    return record


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
