"""The request context a policy's Condition block sees: global and KMS condition keys.

Keys and meanings: "AWS global condition context keys" and "AWS KMS condition keys"
(https://docs.aws.amazon.com/kms/latest/developerguide/policy-conditions.html). Keys
that cost a database read (resource tags, resource aliases) are computed only when a
policy that will be evaluated mentions them.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from typing import Any

from openkms.domain import multi_region
from openkms.domain.keys import Key
from openkms.domain.principals import Principal, PrincipalKind
from openkms.service.context import RequestContext
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx

#: Request parameters that become kms:* condition keys as they are.
_PARAMETER_KEYS = {
    "EncryptionAlgorithm": "kms:EncryptionAlgorithm",
    "SigningAlgorithm": "kms:SigningAlgorithm",
    "MacAlgorithm": "kms:MacAlgorithm",
    "KeyAgreementAlgorithm": "kms:KeyAgreementAlgorithm",
    "KeyPairSpec": "kms:DataKeyPairSpec",
    "PendingWindowInDays": "kms:ScheduleKeyDeletionPendingWindowInDays",
    "BypassPolicyLockoutSafetyCheck": "kms:BypassPolicyLockoutSafetyCheck",
    "GranteePrincipal": "kms:GranteePrincipal",
    "RetiringPrincipal": "kms:RetiringPrincipal",
    "Operations": "kms:GrantOperations",
    "RotationPeriodInDays": "kms:RotationPeriodInDays",
    "WrappingAlgorithm": "kms:WrappingAlgorithm",
    "WrappingKeySpec": "kms:WrappingKeySpec",
    "ExpirationModel": "kms:ExpirationModel",
    "ValidTo": "kms:ValidTo",
    "ReplicaRegion": "kms:ReplicaRegion",
    "PrimaryRegion": "kms:PrimaryRegion",
}


_PRINCIPAL_TYPE = {
    PrincipalKind.ROOT: "Account",
    PrincipalKind.IAM_USER: "User",
    PrincipalKind.ASSUMED_ROLE: "AssumedRole",
}


def principal_type(principal: Principal) -> str:
    """aws:PrincipalType: Account (root user), User (IAM user) or AssumedRole."""
    return _PRINCIPAL_TYPE[principal.kind]


def global_context(ctx: RequestContext) -> dict[str, object]:
    """The global ``aws:*`` condition keys of a request, the same for every API (KMS,
    IAM, STS, CloudTrail): "AWS global condition context keys"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
    ``aws:PrincipalArn`` of a role session is its role's ARN, with the role's path."""
    principal = ctx.principal
    values: dict[str, object] = {
        "aws:PrincipalArn": principal.principal_arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal_type(principal),
        "aws:userid": principal.principal_id or principal.account,
        "aws:CurrentTime": datetime.datetime.fromtimestamp(ctx.now, datetime.UTC),
        "aws:EpochTime": int(ctx.now),
        "aws:SecureTransport": ctx.secure_transport,
        "aws:RequestedRegion": ctx.region,
    }
    if ctx.source_ip:
        values["aws:SourceIp"] = ctx.source_ip
    if ctx.user_agent:
        values["aws:UserAgent"] = ctx.user_agent
    if principal.user_name is not None:
        values["aws:username"] = principal.user_name
    for tag_key, tag_value in principal.tags:
        values[f"aws:PrincipalTag/{tag_key}"] = tag_value
    return values


#: The IAM tag that makes a user or role a *service principal*: its requests are made
#: "through" the service named by the tag's value (``s3``, ``ec2``, ...), so they carry
#: ``kms:ViaService`` = ``<value>.<region>.amazonaws.com`` and
#: ``kms:GrantIsForAWSResource`` = true. AWS sets that key when an AWS
#: service calls KMS on a principal's behalf; no AWS service calls OpenKMS, so an operator
#: (whoever may tag IAM users and roles) names the principals that act for a service,
#: and applications can exercise the policies of AWS managed keys in tests.
VIA_SERVICE_TAG = "openkms:via-service"


def via_service(ctx: RequestContext) -> str | None:
    """``kms:ViaService`` of the request (None: the caller calls KMS directly)."""
    for tag_key, tag_value in ctx.principal.tags:
        if tag_key == VIA_SERVICE_TAG and tag_value:
            return f"{tag_value}.{ctx.region}.amazonaws.com"
    return None


def base_context(ctx: RequestContext, params: dict[str, Any]) -> dict[str, object]:
    """Keys that do not depend on a key: the global keys, the caller's account and the
    request parameters."""
    values = global_context(ctx)
    values["kms:CallerAccount"] = ctx.principal.account
    via = via_service(ctx)
    # "when an AWS service integrated with AWS KMS calls the operation on the user's
    # behalf": here, when a service principal calls.
    values["kms:GrantIsForAWSResource"] = via is not None
    if via is not None:
        values["kms:ViaService"] = via
    for param, key in _PARAMETER_KEYS.items():
        if param in params:
            values[key] = params[param]
    context = params.get("EncryptionContext")
    if context is None:
        context = params.get("SourceEncryptionContext")
    if isinstance(context, dict):
        for name, value in context.items():
            values[f"kms:EncryptionContext:{name}"] = value
        values["kms:EncryptionContextKeys"] = list(context)
    constraints = params.get("Constraints")
    if isinstance(constraints, dict) and constraints:
        values["kms:GrantConstraintType"] = next(iter(constraints))
    tags = params.get("Tags")
    if isinstance(tags, list):
        keys = [t.get("TagKey") for t in tags if isinstance(t, dict)]
        for tag in tags:
            if isinstance(tag, dict) and "TagKey" in tag:
                values[f"aws:RequestTag/{tag['TagKey']}"] = tag.get("TagValue", "")
        values["aws:TagKeys"] = keys
    elif isinstance(params.get("TagKeys"), list):
        values["aws:TagKeys"] = params["TagKeys"]
    return values


@functools.lru_cache(maxsize=1024)
def _mentions(policy_text: str) -> tuple[bool, bool]:
    """Whether a policy reads resource tags / resource aliases (decided once per text)."""
    lowered = policy_text.lower()
    return "resourcetag" in lowered, "resourcealiases" in lowered


def key_context(
    base: dict[str, object],
    key: Key,
    tx: Tx,
    requested: str | None,
    policy_texts: Sequence[str],
) -> dict[str, object]:
    """``base`` plus the keys that describe ``key`` and how the request named it."""
    values = dict(base)
    values["kms:KeySpec"] = key.spec.value
    values["kms:KeyUsage"] = key.usage.value
    values["kms:KeyOrigin"] = key.origin.value
    values["kms:MultiRegion"] = key.multi_region
    kind = multi_region.key_type(key)
    if kind is not None:
        values["kms:MultiRegionKeyType"] = kind.value
    if requested is not None and "alias/" in requested:
        values["kms:RequestAlias"] = "alias/" + requested.split("alias/", 1)[1]
    wants_tags = any(_mentions(text)[0] for text in policy_texts)
    wants_aliases = any(_mentions(text)[1] for text in policy_texts)
    if wants_tags:
        for name, value in key_records.get_tags(tx, key.key_id).items():
            values[f"aws:ResourceTag/{name}"] = value
    if wants_aliases:
        values["kms:ResourceAliases"] = [
            a.name
            for a in key_records.list_aliases(tx, key.account, key.region, key.key_id, None, 1000)
        ]
    return values
