"""Key, material and alias rows to frozen domain values and back, by column name.

Each row layout is read once, at import, from the statement that returns it
(:func:`openkms.storage.sql.columns`); decoding a row then indexes by the column's
name, not by a position written by hand. Nothing above the storage layer sees a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openkms.domain.aliases import Alias
from openkms.domain.keys import (
    ExpirationModel,
    Key,
    KeyManager,
    KeyMaterial,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
    RotationType,
)
from openkms.storage.keys import statements
from openkms.storage.sql import columns

#: Column name -> position, for the rows of key_get / keys_list (the kms_keys table).
KEY = columns(statements.key_get)
#: ... of material_get / materials_list (the kms_key_materials table).
MATERIAL = columns(statements.material_get)
#: ... of alias_get / aliases_list (the kms_aliases table).
ALIAS = columns(statements.alias_get)


def key_from_row(r: Sequence[Any]) -> Key:
    c = KEY
    return Key(
        key_id=r[c["key_id"]],
        account=r[c["account_id"]],
        region=r[c["region"]],
        spec=KeySpec(r[c["key_spec"]]),
        usage=KeyUsage(r[c["key_usage"]]),
        origin=Origin(r[c["origin"]]),
        manager=KeyManager(r[c["key_manager"]]),
        state=KeyState(r[c["key_state"]]),
        description=r[c["description"]],
        policy=r[c["policy"]],
        created_at=r[c["created_at"]],
        current_version=r[c["current_version"]],
        deletion_date=r[c["deletion_date"]],
        pending_window_days=r[c["pending_window_days"]],
        multi_region=bool(r[c["multi_region"]]),
        rotation_enabled=bool(r[c["rotation_enabled"]]),
        rotation_period_days=r[c["rotation_period_days"]],
        next_rotation_date=r[c["next_rotation_date"]],
        on_demand_rotation_started=r[c["on_demand_rotation_started"]],
        primary_region=r[c["primary_region"]],
        sync_due=r[c["sync_due"]],
        custom_key_store_id=r[c["custom_key_store_id"]],
        xks_key_id=r[c["xks_key_id"]],
    )


def key_values(key: Key) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "account_id": key.account,
        "region": key.region,
        "key_spec": key.spec.value,
        "key_usage": key.usage.value,
        "origin": key.origin.value,
        "key_manager": key.manager.value,
        "key_state": key.state.value,
        "description": key.description,
        "policy": key.policy,
        "created_at": key.created_at,
        "current_version": key.current_version,
        "deletion_date": key.deletion_date,
        "pending_window_days": key.pending_window_days,
        "multi_region": key.multi_region,
        "rotation_enabled": key.rotation_enabled,
        "rotation_period_days": key.rotation_period_days,
        "next_rotation_date": key.next_rotation_date,
        "on_demand_rotation_started": key.on_demand_rotation_started,
        "primary_region": key.primary_region,
        "sync_due": key.sync_due,
        "custom_key_store_id": key.custom_key_store_id,
        "xks_key_id": key.xks_key_id,
    }


def material_from_row(r: Sequence[Any]) -> KeyMaterial:
    c = MATERIAL
    wrapped = r[c["wrapped_material"]]
    rotation_type = r[c["rotation_type"]]
    expiration_model = r[c["expiration_model"]]
    return KeyMaterial(
        key_id=r[c["key_id"]],
        version=r[c["version"]],
        material_id=r[c["material_id"]],
        wrapped=None if wrapped is None else bytes(wrapped),
        created_at=r[c["created_at"]],
        rotation_type=None if rotation_type is None else RotationType(rotation_type),
        rotated_at=r[c["rotated_at"]],
        expiration_model=None if expiration_model is None else ExpirationModel(expiration_model),
        valid_to=r[c["valid_to"]],
        description=r[c["description"]],
        imported_at=r[c["imported_at"]],
    )


def material_values(m: KeyMaterial) -> dict[str, Any]:
    return {
        "key_id": m.key_id,
        "version": m.version,
        "material_id": m.material_id,
        "wrapped_material": m.wrapped,
        "created_at": m.created_at,
        "rotation_type": None if m.rotation_type is None else m.rotation_type.value,
        "rotated_at": m.rotated_at,
        "expiration_model": None if m.expiration_model is None else m.expiration_model.value,
        "valid_to": m.valid_to,
        "description": m.description,
        "imported_at": m.imported_at,
    }


def alias_from_row(r: Sequence[Any]) -> Alias:
    c = ALIAS
    return Alias(
        account=r[c["account_id"]],
        region=r[c["region"]],
        name=r[c["name"]],
        target_key_id=r[c["target_key_id"]],
        created_at=r[c["created_at"]],
        updated_at=r[c["updated_at"]],
    )
