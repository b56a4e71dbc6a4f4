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

from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring
from openkms.domain import multi_region
from openkms.domain.keys import Key, KeyMaterial
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
    the secret wrapped anew (a wrapped secret is bound to its key's stored id)."""
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
