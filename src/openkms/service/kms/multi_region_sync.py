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
from openkms.domain.keys import Key, KeyMaterial, KeyState
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
        updated = multi_region.with_shared_rotation(other, key)
        have = key_records.get_material(tx, other.key_id, material.version)
        if have is None:
            key_records.insert_material(tx, copy_material(keyring, material, key, other))
        else:  # imported material the replica was given: now current there too
            key_records.update_material(
                tx,
                dataclasses.replace(
                    have, rotation_type=material.rotation_type, rotated_at=material.rotated_at
                ),
            )
            if not have.present and updated.state is not KeyState.PENDING_DELETION:
                updated = imports.with_state(updated, KeyState.PENDING_IMPORT)
        key_records.update_key(tx, updated)
        written.append(updated)
    return written


def related_import(
    tx: Tx,
    keyring: Keyring,
    key: Key,
    materials: Sequence[KeyMaterial],
    material: bytes,
    material_id: str,
    *,
    new: bool,
) -> list[KeyMaterial]:
    """ImportKeyMaterial into a multi-Region key: the material rows to import against.

    AWS does not copy imported material between related keys; each must be given the
    same material ("Importing key material into multi-Region keys"). New material goes
    into the primary (ImportType NEW_KEY_MATERIAL), then into each replica with
    EXISTING_KEY_MATERIAL; here material another related key has is added to this key
    under the same version (the import then completes it as a re-import). Material no
    related key has is the primary's alone to import; a replica refuses it."""
    if any(m.material_id == material_id for m in materials):
        return list(materials)  # this key's own material, imported again
    kind = multi_region.key_type(key)
    if kind is multi_region.MultiRegionKeyType.REPLICA and new:
        raise UnsupportedOperationException(
            f"{key.arn} is a multi-Region replica key: import new key material into its "
            f"primary key {multi_region.primary_arn(key)}, then the same key material into "
            "each replica key with ImportType EXISTING_KEY_MATERIAL."
        )
    known = False
    for other in others_unlocked(tx, key):
        for found in key_records.list_materials(tx, other.key_id):
            if found.material_id == material_id:
                row = dataclasses.replace(
                    imports.without_material(found),
                    key_id=key.key_id,
                    wrapped=keyring.wrap(
                        material, contexts.key_material(key.key_id, found.version)
                    ),
                    imported_at=None,
                )
                if key_records.get_material(tx, key.key_id, found.version) is None:
                    key_records.insert_material(tx, row)
                else:
                    key_records.update_material(tx, row)
                rest = [m for m in materials if m.version != found.version]
                return sorted([*rest, row], key=lambda m: m.version)
            known = known or found.imported
    if kind is multi_region.MultiRegionKeyType.PRIMARY:
        return list(materials)  # its first or new material, or a mismatch: as for any key
    if known or imports.associated(key, materials):
        raise IncorrectKeyMaterialException(
            f"The key material is not the key material of the multi-Region key "
            f"{multi_region.primary_arn(key)}: import the same key material into every "
            "related multi-Region key."
        )
    raise KMSInvalidStateException(
        f"{key.arn} is a multi-Region replica key: import the key material into its primary "
        f"key {multi_region.primary_arn(key)} first."
    )


def others_unlocked(tx: Tx, key: Key) -> list[Key]:
    """The related keys of a multi-Region key but itself, read without locks."""
    return [
        other
        for other in key_records.related_keys(tx, key.account, key.public_id)
        if other.key_id != key.key_id
    ]


def awaiting_replicas(tx: Tx, key: Key, materials: Sequence[KeyMaterial]) -> set[int]:
    """Versions of a primary's imported material waiting to be rotated to that some
    replica has not been given yet (``PENDING_MULTI_REGION_IMPORT_AND_ROTATION``)."""
    if multi_region.key_type(key) is not multi_region.MultiRegionKeyType.PRIMARY:
        return set()
    pending = {m.version for m in materials if m.version > key.current_version and m.present}
    missing: set[int] = set()
    for other in others_unlocked(tx, key) if pending else []:
        have = {m.version for m in key_records.list_materials(tx, other.key_id) if m.present}
        missing |= pending - have
    return missing


def require_replicas_imported(tx: Tx, key: Key, materials: Sequence[KeyMaterial]) -> None:
    """RotateKeyOnDemand of a multi-Region primary with imported material: every replica
    must have the new material first."""
    if awaiting_replicas(tx, key, materials):
        raise KMSInvalidStateException(
            f"The new key material of {key.arn} is in PENDING_MULTI_REGION_IMPORT_AND_ROTATION "
            "state: import the same key material into each replica key before rotating."
        )


def discard_pending(tx: Tx, key: Key, version: int) -> list[str]:
    """DeleteImportedKeyMaterial of a primary's material waiting to be rotated to also
    deletes it from every replica (AWS: "you'll also be deleting the key materials for the
    replica Region keys"); the stored ids of the keys it was deleted from."""
    if multi_region.key_type(key) is not multi_region.MultiRegionKeyType.PRIMARY:
        return []
    touched = []
    for other in others(tx, key):
        found = key_records.get_material(tx, other.key_id, version)
        if found is not None and found.present and version > other.current_version:
            key_records.update_material(tx, imports.without_material(found))
            touched.append(other.key_id)
    return touched
