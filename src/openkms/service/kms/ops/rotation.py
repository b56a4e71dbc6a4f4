"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations. The rules are in :mod:`openkms.domain.rotation`;
rotations themselves are carried out by :mod:`openkms.service.maintenance`."""

from __future__ import annotations

from openkms.domain import imports, multi_region, rotation
from openkms.domain.identifiers import is_key_material_id
from openkms.domain.keys import Key, KeyMaterial, KeyState
from openkms.errors import UnsupportedOperationException
from openkms.service.kms import multi_region_sync
from openkms.service.kms.call import OperationCall
from openkms.service.kms.paging import decode_marker
from openkms.service.kms.registry import operation
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    DisableKeyRotationRequest,
    DisableKeyRotationResponse,
    EnableKeyRotationRequest,
    EnableKeyRotationResponse,
    GetKeyRotationStatusRequest,
    GetKeyRotationStatusResponse,
    ListKeyRotationsRequest,
    ListKeyRotationsResponse,
    RotateKeyOnDemandRequest,
    RotateKeyOnDemandResponse,
    RotationsListEntry,
)


@operation("EnableKeyRotation", writes=True)
def enable_key_rotation(
    call: OperationCall[EnableKeyRotationRequest],
) -> EnableKeyRotationResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html"""
    key = call.key
    rotation.require_automatic_rotation_allowed(key, "EnableKeyRotation")
    multi_region.require_not_replica(key, "EnableKeyRotation")
    updated = rotation.enable_rotation(key, call.params.get("RotationPeriodInDays"), call.ctx.now)
    key_records.update_key(call.tx, updated)
    multi_region_sync.share_rotation(call.tx, updated)
    return {}


@operation("DisableKeyRotation", writes=True)
def disable_key_rotation(
    call: OperationCall[DisableKeyRotationRequest],
) -> DisableKeyRotationResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html"""
    key = call.key
    rotation.require_automatic_rotation_allowed(key, "DisableKeyRotation")
    multi_region.require_not_replica(key, "DisableKeyRotation")
    updated = rotation.disable_rotation(key)
    key_records.update_key(call.tx, updated)
    multi_region_sync.share_rotation(call.tx, updated)
    return {}


@operation("GetKeyRotationStatus")
def get_key_rotation_status(
    call: OperationCall[GetKeyRotationStatusRequest],
) -> GetKeyRotationStatusResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html

    Keys that cannot rotate automatically (asymmetric, HMAC, imported) report false, and
    so does a key pending deletion (its setting returns if the deletion is cancelled)."""
    key = call.key
    enabled = key.rotation_enabled and key.state is not KeyState.PENDING_DELETION
    result: GetKeyRotationStatusResponse = {"KeyId": key.arn, "KeyRotationEnabled": enabled}
    # An enabled rotation has both its period and its next date (domain.rotation).
    if enabled and key.rotation_period_days is not None:
        result["RotationPeriodInDays"] = key.rotation_period_days
    if enabled and key.next_rotation_date is not None:
        result["NextRotationDate"] = key.next_rotation_date
    if key.on_demand_rotation_started is not None:
        result["OnDemandRotationStartDate"] = key.on_demand_rotation_started
    return result


@operation("RotateKeyOnDemand", writes=True)
def rotate_key_on_demand(
    call: OperationCall[RotateKeyOnDemandRequest],
) -> RotateKeyOnDemandResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html

    Starts the rotation; the maintenance worker carries it out moments later (at once in
    a running server), as AWS does it in the background. The answer's KeyId is the key
    ARN, whichever identifier the request used (as AWS answers it)."""
    key = call.key
    multi_region.require_not_replica(key, "RotateKeyOnDemand")
    materials = key_records.list_materials(call.tx, key.key_id)
    multi_region_sync.require_replicas_imported(call.tx, key, materials)
    key_records.update_key(call.tx, rotation.start_on_demand(key, materials, call.ctx.now))
    call.after_commit.append(call.wake_maintenance)
    return {"KeyId": key.arn}


def rotation_entry(
    key: Key, material: KeyMaterial, awaiting_replicas: bool = False
) -> RotationsListEntry:
    """One element of ListKeyRotations' Rotations list (``awaiting_replicas``: new
    material of a multi-Region primary that some replica has not been given yet)."""
    state = rotation.material_state(key, material).value
    if awaiting_replicas:
        state = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    entry: RotationsListEntry = {
        "KeyId": key.public_id,
        "KeyMaterialId": material.material_id,
        "KeyMaterialState": state,
    }
    if material.imported:
        if material.description:
            entry["KeyMaterialDescription"] = material.description
        entry["ImportState"] = "IMPORTED" if material.present else "PENDING_IMPORT"
        if material.present and material.expiration_model is not None:
            entry["ExpirationModel"] = material.expiration_model.value
            if material.valid_to is not None:
                entry["ValidTo"] = material.valid_to
    if material.rotation_type is not None:
        if material.rotated_at is not None:  # a rotated material has its date
            entry["RotationDate"] = material.rotated_at
        entry["RotationType"] = material.rotation_type.value
    return entry


@operation("ListKeyRotations", snapshot=True)
def list_key_rotations(call: OperationCall[ListKeyRotationsRequest]) -> ListKeyRotationsResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html

    ROTATIONS_ONLY (the default) lists the material versions that became current by a
    rotation; ALL_KEY_MATERIAL adds the first material and imported material waiting to
    be rotated to. Oldest first (as AWS's example); the marker is the last KeyMaterialId
    of a page."""
    key = call.key
    if not rotation.supports_rotation(key):
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for ListKeyRotations."
        )
    p = call.params
    everything = p.get("IncludeKeyMaterial", "ROTATIONS_ONLY") == "ALL_KEY_MATERIAL"
    materials = [
        m
        for m in imports.associated(key, key_records.list_materials(call.tx, key.key_id))
        if everything or m.rotation_type is not None
    ]
    marker = decode_marker(
        p.get("Marker"),
        lambda value: is_key_material_id(value) and any(m.material_id == value for m in materials),
    )
    if marker is not None:
        index = next(i for i, m in enumerate(materials) if m.material_id == marker)
        materials = materials[index + 1 :]
    limit = p.get("Limit", 100)
    waiting = multi_region_sync.awaiting_replicas(call.tx, key, materials)
    result: ListKeyRotationsResponse = {
        "Rotations": [rotation_entry(key, m, m.version in waiting) for m in materials[:limit]],
        "Truncated": len(materials) > limit,
    }
    if len(materials) > limit:
        result["NextMarker"] = materials[limit - 1].material_id
    return result


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    enable_key_rotation,
    disable_key_rotation,
    get_key_rotation_status,
    rotate_key_on_demand,
    list_key_rotations,
)
