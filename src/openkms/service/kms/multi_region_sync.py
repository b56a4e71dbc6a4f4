"""Keeping related multi-Region keys' shared properties the same, inside the transaction
that changes one of them: rotation settings (EnableKeyRotation, DisableKeyRotation) and
new material versions (the maintenance pass's rotations), copied from the key that
changed to every other related key ("Synchronizing shared properties",
https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html#mrk-sync-properties).

Each other related key is locked before it is written, so a concurrent change of its own
(DisableKey in its Region) is never overwritten; the key that changed is locked first by
its caller, so two synchronisations take the locks in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring
from openkms.domain import imports, multi_region
from openkms.domain.keys import Key, KeyMaterial
from openkms.errors import (
    IncorrectKeyMaterialException,
    KMSInvalidStateException,
    UnsupportedOperationException,
)
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx


def others(tx: Tx, key: Key) -> list[Key]:
    """The related keys of a multi-Region key but itself, locked (none for others)."""
    if not key.multi_region:
        return []
    found = []
    for other in key_records.related_keys(tx, key.account, key.public_id):
        if other.key_id == key.key_id:
            continue
        locked = key_records.get_key(tx, other.key_id, for_update=True)
        if locked is not None:
            found.append(locked)
    return found


def share_rotation(tx: Tx, key: Key) -> list[Key]:
    """Give every other related key ``key``'s rotation settings; the keys written."""
    written = []
    for other in others(tx, key):
        updated = multi_region.with_shared_rotation(other, key)
        key_records.update_key(tx, updated)
        written.append(updated)
    return written


def copy_material(keyring: Keyring, material: KeyMaterial, source: Key, to: Key) -> KeyMaterial:
    """``material`` of ``source`` as ``to`` stores it: the same version and material id,
    the secret wrapped anew (a wrapped secret is bound to its key's stored id). Imported
    material is copied without its secret: each related key must be given it by its own
    ImportKeyMaterial, which the copied version and id then check."""
    if material.imported:
        return dataclasses.replace(
            imports.without_material(material), key_id=to.key_id, imported_at=None
        )
    wrapped = material.wrapped
    if wrapped is not None:
        secret = keyring.unwrap(wrapped, contexts.key_material(source.key_id, material.version))
        wrapped = keyring.wrap(secret, contexts.key_material(to.key_id, material.version))
    return KeyMaterial(
        key_id=to.key_id,
        version=material.version,
        material_id=material.material_id,
        wrapped=wrapped,
        created_at=material.created_at,
        rotation_type=material.rotation_type,
        rotated_at=material.rotated_at,
        expiration_model=material.expiration_model,
        valid_to=material.valid_to,
        description=material.description,
        imported_at=material.imported_at,
    )


def share_new_version(tx: Tx, keyring: Keyring, key: Key, material: KeyMaterial) -> list[Key]:
    """A rotation of ``key`` (now at ``material``'s version) reaches every other related
    key: the same material under the same version, and the same rotation settings."""
    written = []
    for other in others(tx, key):
        if key_records.get_material(tx, other.key_id, material.version) is None:
            key_records.insert_material(tx, copy_material(keyring, material, key, other))
        updated = multi_region.with_shared_rotation(other, key)
        key_records.update_key(tx, updated)
        written.append(updated)
    return written


def related_import(
    tx: Tx, key: Key, materials: Sequence[KeyMaterial], material_id: str, *, new: bool
) -> list[KeyMaterial]:
    """ImportKeyMaterial into a multi-Region key: the material rows to import against.

    Related keys share imported material ("Importing key material into multi-Region
    keys"): material another related key already has is imported into this one under the
    same version (a row without its secret is added, which the import then fills).
    Material no related key has is accepted only as the primary's first material;
    importing new material to rotate to (``PENDING_MULTI_REGION_IMPORT_AND_ROTATION``)
    is not built and is refused (``new``: the request asks for NEW_KEY_MATERIAL)."""
    if any(m.material_id == material_id for m in materials):
        return list(materials)
    if imports.associated(key, materials):
        if not new:  # other material than this key's: refused as for any key
            return list(materials)
        raise UnsupportedOperationException(
            f"{key.arn} is a multi-Region key: importing new key material to rotate to "
            "(PENDING_MULTI_REGION_IMPORT_AND_ROTATION) is not supported by this OpenKMS "
            "server yet."
        )
    related = [
        other
        for other in key_records.related_keys(tx, key.account, key.public_id)
        if other.key_id != key.key_id
    ]
    known: list[KeyMaterial] = []
    for other in related:
        for material in key_records.list_materials(tx, other.key_id):
            if material.material_id == material_id:
                row = dataclasses.replace(
                    imports.without_material(material), key_id=key.key_id, imported_at=None
                )
                key_records.insert_material(tx, row)
                return [*materials, row]
            if material.imported:
                known.append(material)
    if multi_region.key_type(key) is multi_region.MultiRegionKeyType.PRIMARY and not known:
        return list(materials)  # the primary's first material: a NEW_KEY_MATERIAL import
    if known:
        raise IncorrectKeyMaterialException(
            f"The key material is not the key material of the multi-Region key "
            f"{multi_region.primary_arn(key)}: import the same key material into every "
            "related multi-Region key."
        )
    raise KMSInvalidStateException(
        f"{key.arn} is a multi-Region replica key: import the key material into its primary "
        f"key {multi_region.primary_arn(key)} first."
    )
