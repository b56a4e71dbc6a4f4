"""Key management: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, deletion, description.

Each handler links its AWS API reference page.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

from openkms.crypto import contexts
from openkms.domain import imports, keyspecs, multi_region, policy, tags
from openkms.domain import keys as domain_keys
from openkms.domain.identifiers import is_key_id
from openkms.domain.keys import Key, KeyManager, KeyMaterial, KeySpec, KeyState, KeyUsage, Origin
from openkms.errors import (
    AWSError,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.kms import resource_quotas
from openkms.service.kms.call import OperationCall
from openkms.service.kms.key_stores import store_for_new_key
from openkms.service.kms.managed import ensure_managed_key
from openkms.service.kms.materials import new_material
from openkms.service.kms.metadata import key_metadata
from openkms.service.kms.paging import decode_marker, page
from openkms.service.kms.policy_lockout import check_new_policy
from openkms.service.kms.registry import operation
from openkms.service.kms.sealing import store_request
from openkms.storage.audit import usage as audit_usage
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    CancelKeyDeletionRequest,
    CancelKeyDeletionResponse,
    CreateKeyRequest,
    CreateKeyResponse,
    DescribeKeyRequest,
    DescribeKeyResponse,
    DisableKeyRequest,
    DisableKeyResponse,
    EnableKeyRequest,
    EnableKeyResponse,
    GetKeyLastUsageRequest,
    GetKeyLastUsageResponse,
    KeyLastUsageData,
    ListKeysRequest,
    ListKeysResponse,
    ScheduleKeyDeletionRequest,
    ScheduleKeyDeletionResponse,
    UpdateKeyDescriptionRequest,
    UpdateKeyDescriptionResponse,
)

DEFAULT_PENDING_WINDOW_DAYS = 30


def _prepare_material(_stock: object, p: CreateKeyRequest) -> bytes | None:
    """The private key of a new asymmetric key, made before CreateKey's transaction opens
    (RSA-4096: 0.1-2 s). A request the handler will refuse gets none, so its error is the
    same as ever."""
    try:
        spec = KeySpec(p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT")
        _key_usage(spec, p.get("KeyUsage"))
    except (AWSError, ValueError):
        return None
    if spec is KeySpec.SYMMETRIC_DEFAULT or p.get("Origin", Origin.AWS_KMS.value) != "AWS_KMS":
        return None
    return new_material(spec)


@operation("CreateKey", keys=(), writes=True, prepare=_prepare_material, slow=True)
def create_key(call: OperationCall[CreateKeyRequest]) -> CreateKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html"""
    p = call.params
    if "KeySpec" in p and "CustomerMasterKeySpec" in p:
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec is deprecated."
        )
    spec = KeySpec(p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT")
    usage = _key_usage(spec, p.get("KeyUsage"))
    origin = Origin(p.get("Origin", Origin.AWS_KMS.value))
    multi = bool(p.get("MultiRegion"))
    xks_key_id = p.get("XksKeyId")
    store = store_for_new_key(
        call.tx, call.ctx, origin, p.get("CustomKeyStoreId"), spec, multi, xks_key_id
    )
    if origin is Origin.EXTERNAL:
        imports.require_importable_spec(spec)
    ctx = call.ctx
    public_id = multi_region.PREFIX + os.urandom(16).hex() if multi else str(uuid.uuid4())
    key_id = multi_region.record_id(public_id, ctx.region)
    text = p.get("Policy")
    if text is None:
        text = policy.default_policy(ctx.account)
    else:
        arn = domain_keys.key_arn(ctx.region, ctx.account, public_id)
        check_new_policy(call, text, arn, bypass=p.get("BypassPolicyLockoutSafetyCheck"))
    new_tags = tags.check_new_tags([(t["TagKey"], t["TagValue"]) for t in p.get("Tags", [])])
    tags.merged({}, new_tags)
    key = Key(
        key_id=key_id,
        account=ctx.account,
        region=ctx.region,
        spec=spec,
        usage=usage,
        origin=origin,
        manager=KeyManager.CUSTOMER,
        state=KeyState.PENDING_IMPORT if origin is Origin.EXTERNAL else KeyState.ENABLED,
        description=p.get("Description", ""),
        policy=text,
        created_at=ctx.now,
        current_version=1,
        multi_region=multi,
        primary_region=ctx.region if multi else None,
        custom_key_store_id=None if store is None else store.store_id,
        xks_key_id=xks_key_id,
    )
    resource_quotas.check_new_key(call.tx, ctx.account, ctx.region)  # before any HSM work
    material = None
    if store is not None:  # the backing key is made inside the store (its HSM), or checked
        metadata = store_request(call, key).metadata
        call.after_rollback.append(call.key_stores.new_key(call.tx, store, key, 1, metadata))
    if store is not None and origin is Origin.AWS_CLOUDHSM:
        material = KeyMaterial(key.key_id, 1, os.urandom(32).hex(), None, ctx.now)
    elif origin in (Origin.AWS_KMS, Origin.EXTERNAL_KEY_STORE):  # (the latter: double encryption)
        material = KeyMaterial(
            key_id=key.key_id,
            version=1,
            material_id=os.urandom(32).hex(),
            wrapped=call.keyring.wrap(
                call.prepared if isinstance(call.prepared, bytes) else new_material(spec),
                contexts.key_material(key.key_id, 1),
            ),
            created_at=ctx.now,
        )
    # Origin EXTERNAL: no material until ImportKeyMaterial (the key is PendingImport).
    key_records.insert_key(call.tx, key, material, new_tags)
    return {"KeyMetadata": key_metadata(call, key)}


_UNSUPPORTED_SPECS = {
    KeySpec.SM2: "SM2 keys are not supported by OpenKMS: no well-kept Python library implements "
    "SM2 signatures and encryption (see README).",
    KeySpec.ML_KEM_512: "ML-KEM keys are not supported by this OpenKMS server yet.",
    KeySpec.ML_KEM_768: "ML-KEM keys are not supported by this OpenKMS server yet.",
    KeySpec.ML_KEM_1024: "ML-KEM keys are not supported by this OpenKMS server yet.",
}


def _key_usage(spec: KeySpec, requested: str | None) -> KeyUsage:
    """The key usage of a new key, checked against what AWS allows for the spec."""
    if spec in _UNSUPPORTED_SPECS:
        raise UnsupportedOperationException(_UNSUPPORTED_SPECS[spec])
    if requested is None:
        if spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric "
                "encryption keys."
            )
        return KeyUsage.ENCRYPT_DECRYPT
    usage = KeyUsage(requested)
    if usage not in keyspecs.usages(spec):
        raise ValidationException(
            f"KeyUsage {usage.value} is not compatible with KeySpec {spec.value}"
        )  # AWS's text, without a final period
    return usage


@operation("DescribeKey", allow_alias=True, snapshot=True, materialize=ensure_managed_key)
def describe_key(call: OperationCall[DescribeKeyRequest]) -> DescribeKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html

    A predefined alias (``alias/aws/<service>``) without a key gets its AWS managed key
    first (:mod:`openkms.service.kms.managed`)."""
    return {"KeyMetadata": key_metadata(call, call.key)}


@operation("ListKeys", keys=())
def list_keys(call: OperationCall[ListKeysRequest]) -> ListKeysResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html"""
    limit = call.params.get("Limit", 100)
    region = call.ctx.region
    after = decode_marker(call.params.get("Marker"), is_key_id)
    # Stored ids sort as the public ids do within one Region (every public id has 36
    # characters; a multi-Region key's stored id appends its Region to it).
    after = None if after is None else multi_region.record_id(after, region)
    found = key_records.list_keys(call.tx, call.ctx.account, region, after, limit + 1)
    keys, paging = page(found, limit, lambda key: key.public_id)
    return {"Keys": [{"KeyId": key.public_id, "KeyArn": key.arn} for key in keys], **paging}


@operation("EnableKey", writes=True)
def enable_key(call: OperationCall[EnableKeyRequest]) -> EnableKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html"""
    key_records.update_key(call.tx, domain_keys.enable(call.key))
    return {}


@operation("DisableKey", writes=True)
def disable_key(call: OperationCall[DisableKeyRequest]) -> DisableKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html"""
    key_records.update_key(call.tx, domain_keys.disable(call.key))
    return {}


@operation("ScheduleKeyDeletion", writes=True)
def schedule_key_deletion(
    call: OperationCall[ScheduleKeyDeletionRequest],
) -> ScheduleKeyDeletionResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"""
    days = call.params.get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS)
    key = domain_keys.schedule_deletion(call.key, days, call.ctx.now)
    if key.multi_region:  # a primary with replicas waits for them: PendingReplicaDeletion
        related = key_records.related_keys(call.tx, key.account, key.public_id)
        key = multi_region.scheduled_deletion(key, related)
    key_records.update_key(call.tx, key)
    result: ScheduleKeyDeletionResponse = {
        "KeyId": key.arn,
        "KeyState": key.state.value,
        "PendingWindowInDays": days,
    }
    if key.deletion_date is not None:  # none while replicas remain
        result["DeletionDate"] = key.deletion_date
    return result


@operation("CancelKeyDeletion", writes=True)
def cancel_key_deletion(
    call: OperationCall[CancelKeyDeletionRequest],
) -> CancelKeyDeletionResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html"""
    key = domain_keys.cancel_deletion(call.key)
    if key.origin is Origin.EXTERNAL:
        state = imports.state_after_cancelled_deletion(
            key, key_records.list_materials(call.tx, key.key_id)
        )
        key = imports.with_state(key, state)
    key_records.update_key(call.tx, key)
    return {"KeyId": key.arn}


@operation("UpdateKeyDescription", writes=True)
def update_key_description(
    call: OperationCall[UpdateKeyDescriptionRequest],
) -> UpdateKeyDescriptionResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateKeyDescription.html"""
    domain_keys.require_manageable(call.key)
    key_records.update_key(
        call.tx, domain_keys.with_description(call.key, call.params["Description"])
    )
    return {}


@operation("GetKeyLastUsage")
def get_key_last_usage(call: OperationCall[GetKeyLastUsageRequest]) -> GetKeyLastUsageResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html

    Read from the audit trail: the newest successful cryptographic operation recorded on
    the key in its owner's trail. TrackingStartDate is when this trail began."""
    key = call.key
    result: GetKeyLastUsageResponse = {
        "KeyId": key.arn,
        "TrackingStartDate": audit_usage.tracking_start(call.tx) or call.ctx.now,
        "KeyCreationDate": key.created_at,
    }
    used = audit_usage.last_use(call.tx, key.arn, key.account)
    if used is not None:
        result["KeyLastUsage"] = _last_usage(used)
    return result


def _last_usage(used: Mapping[str, Any]) -> KeyLastUsageData:
    """KeyLastUsageData from the audit trail's answer (its members, named the same)."""
    return {
        "Operation": used["Operation"],
        "Timestamp": used["Timestamp"],
        "CloudTrailEventId": used["CloudTrailEventId"],
        "KmsRequestId": used["KmsRequestId"],
    }


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    create_key,
    describe_key,
    list_keys,
    enable_key,
    disable_key,
    schedule_key_deletion,
    cancel_key_deletion,
    update_key_description,
    get_key_last_usage,
)
