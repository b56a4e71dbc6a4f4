"""Key management: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, deletion, description.

Each handler links its AWS API reference page.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from openkms.crypto import symmetric
from openkms.domain import keys as k
from openkms.domain import policy, tags
from openkms.domain.identifiers import is_key_id
from openkms.domain.keys import Key, KeyManager, KeyMaterial, KeySpec, KeyState, KeyUsage, Origin
from openkms.errors import (
    InvalidMarkerException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.call import Call
from openkms.service.materials import material_context
from openkms.service.registry import operation

DEFAULT_PENDING_WINDOW_DAYS = 30


def key_metadata(call: Call, key: Key) -> dict[str, Any]:
    """KeyMetadata as DescribeKey returns it for this key."""
    meta: dict[str, Any] = {
        "AWSAccountId": key.account,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.created_at,
        "Enabled": key.enabled,
        "Description": key.description,
        "KeyUsage": key.usage.value,
        "KeyState": key.state.value,
        "Origin": key.origin.value,
        "KeyManager": key.manager.value,
        "CustomerMasterKeySpec": key.spec.value,
        "KeySpec": key.spec.value,
        "EncryptionAlgorithms": list(k.ENCRYPTION_ALGORITHMS.get(key.spec, ())),
        "MultiRegion": key.multi_region,
    }
    if key.deletion_date is not None:
        meta["DeletionDate"] = key.deletion_date
        meta["PendingDeletionWindowInDays"] = key.pending_window_days
    material_id = call.material_id(key, key.current_version)
    if material_id is not None:
        meta["CurrentKeyMaterialId"] = material_id
    return meta


@operation("CreateKey", keys=(), writes=True)
def create_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html"""
    p = call.params
    if "KeySpec" in p and "CustomerMasterKeySpec" in p:
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec is deprecated."
        )
    spec_name = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec_name != KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException(
            f"KeySpec {spec_name} is not supported by this OpenKMS server yet; "
            "only SYMMETRIC_DEFAULT keys can be created."
        )
    usage = p.get("KeyUsage", KeyUsage.ENCRYPT_DECRYPT.value)
    if usage != KeyUsage.ENCRYPT_DECRYPT:
        raise ValidationException(
            f"KeyUsage {usage} is not compatible with KeySpec {spec_name}. "
            "Symmetric encryption keys must have KeyUsage ENCRYPT_DECRYPT."
        )
    origin = p.get("Origin", Origin.AWS_KMS.value)
    if origin != Origin.AWS_KMS:
        raise UnsupportedOperationException(
            f"Origin {origin} is not supported by this OpenKMS server yet."
        )
    for unsupported in ("CustomKeyStoreId", "XksKeyId"):
        if p.get(unsupported):
            raise UnsupportedOperationException(
                f"{unsupported} (custom key stores) is not supported by this OpenKMS server yet."
            )
    if p.get("MultiRegion"):
        raise UnsupportedOperationException(
            "Multi-Region keys are not supported by this OpenKMS server yet."
        )
    ctx = call.ctx
    text = p.get("Policy")
    if text is None:
        text = policy.default_policy(ctx.account)
    else:
        policy.check_policy_document(text)
    new_tags = tags.check_new_tags([(t["TagKey"], t["TagValue"]) for t in p.get("Tags", [])])
    tags.merged({}, new_tags)
    key = Key(
        key_id=str(uuid.uuid4()),
        account=ctx.account,
        region=ctx.region,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        description=p.get("Description", ""),
        policy=text,
        created_at=ctx.now,
        current_version=1,
    )
    material = KeyMaterial(
        key_id=key.key_id,
        version=1,
        material_id=os.urandom(32).hex(),
        wrapped=call.service.keyring.wrap(
            symmetric.new_backing_key(), material_context(key.key_id, 1)
        ),
        created_at=ctx.now,
    )
    call.tx.insert_key(key, material, new_tags)
    return {"KeyMetadata": key_metadata(call, key)}


@operation("DescribeKey", allow_alias=True)
def describe_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html"""
    return {"KeyMetadata": key_metadata(call, call.key)}


def decode_marker(marker: str | None, valid: Any) -> str | None:
    """Markers are the last item of the previous page; anything else is InvalidMarkerException."""
    if marker is None:
        return None
    if not valid(marker):
        raise InvalidMarkerException("The request was rejected because the marker is not valid.")
    return marker


def page(items: list[Any], limit: int, marker_of: Any) -> tuple[list[Any], dict[str, Any]]:
    """Split a fetch of ``limit + 1`` items into a page and the paging members."""
    if len(items) > limit:
        items = items[:limit]
        return items, {"Truncated": True, "NextMarker": marker_of(items[-1])}
    return items, {"Truncated": False}


@operation("ListKeys", keys=())
def list_keys(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html"""
    limit = call.params.get("Limit", 100)
    after = decode_marker(call.params.get("Marker"), is_key_id)
    found = call.tx.list_keys(call.ctx.account, call.ctx.region, after, limit + 1)
    keys, paging = page(found, limit, lambda key: key.key_id)
    return {"Keys": [{"KeyId": key.key_id, "KeyArn": key.arn} for key in keys], **paging}


@operation("EnableKey", writes=True)
def enable_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html"""
    call.tx.update_key(k.enable(call.key))
    return {}


@operation("DisableKey", writes=True)
def disable_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html"""
    call.tx.update_key(k.disable(call.key))
    return {}


@operation("ScheduleKeyDeletion", writes=True)
def schedule_key_deletion(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"""
    days = call.params.get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS)
    key = k.schedule_deletion(call.key, days, call.ctx.now)
    call.tx.update_key(key)
    return {
        "KeyId": key.arn,
        "DeletionDate": key.deletion_date,
        "KeyState": key.state.value,
        "PendingWindowInDays": days,
    }


@operation("CancelKeyDeletion", writes=True)
def cancel_key_deletion(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html"""
    key = k.cancel_deletion(call.key)
    call.tx.update_key(key)
    return {"KeyId": key.arn}


@operation("UpdateKeyDescription", writes=True)
def update_key_description(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateKeyDescription.html"""
    k.require_manageable(call.key)
    call.tx.update_key(k.with_description(call.key, call.params["Description"]))
    return {}
