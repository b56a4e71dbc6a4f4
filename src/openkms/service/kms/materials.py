"""Key material: fresh material for a new key or version (:func:`new_material`), and an
in-memory cache of unwrapped, ready-to-use material.

Symmetric backing keys are cached as bytes; asymmetric and HMAC keys as loaded key
objects, so that private keys are parsed once and not on every request (parsing an
RSA key costs more than signing with it).

Material of a key version never changes once written (imported material can be
deleted and imported again, but only the same material: its id is a fingerprint of
it), so entries need no invalidation for correctness: every request still reads the
key's current state (through the read cache, current to the state generation), and a
disabled, deleted or PendingImport key is refused before its material is used.
Maintenance drops the entries of keys it deletes and of material that expires in this
process. The cache is bounded and lives only in
process memory.
"""

from __future__ import annotations

from typing import Any

from openkms.crypto import asymmetric, contexts, symmetric
from openkms.crypto.keyring import Keyring, UnwrapError
from openkms.domain.keys import Key, KeySpec
from openkms.errors import KMSInternalException
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx

MAX_ENTRIES = 50_000


class MaterialCache:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._entries: dict[tuple[str, int], tuple[Any, str]] = {}
        #: Lookups and the misses among them (the metrics' hit rate; not locked: a lost
        #: increment under a race only blurs a statistic).
        self.lookups = 0
        self.misses = 0

    def get(self, tx: Tx, key: Key, version: int) -> tuple[Any, str] | None:
        """``(material, material id)`` of one key version, or None if it does not exist.

        The material is ``bytes`` for SYMMETRIC_DEFAULT keys and an
        :class:`openkms.crypto.loaded.LoadedKey` for every other spec."""
        slot = (key.key_id, version)
        found = self._entries.get(slot)
        self.lookups += 1
        if found is not None:
            return found
        self.misses += 1
        material = key_records.get_material(tx, key.key_id, version)
        if material is None or material.wrapped is None:
            return None  # no such version, or imported material deleted / expired
        try:
            plain = self._keyring.unwrap(
                material.wrapped, contexts.key_material(key.key_id, version)
            )
        except UnwrapError:
            raise KMSInternalException("stored key material failed to unwrap") from None
        loaded: Any = plain
        if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
            # trusted: the material was made by us and authenticated by the keyring's unwrap.
            loaded = asymmetric.load_private_key(key.spec.value, plain, trusted=True)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        entry = self._entries[slot] = (loaded, material.material_id)
        return entry

    def forget(self, *key_ids: str) -> None:
        """Drop every cached version of these keys (one pass over the cache)."""
        gone = set(key_ids)
        if gone:
            # Request threads add entries meanwhile: iterate over a copy (list() of a dict
            # is one step under the GIL) and tolerate a slot another thread dropped.
            for slot in [slot for slot in list(self._entries) if slot[0] in gone]:
                self._entries.pop(slot, None)

    def clear(self) -> None:
        self._entries.clear()


def new_material(spec: KeySpec) -> bytes:
    """Fresh key material: a symmetric backing key or a PKCS#8 private key / HMAC key."""
    if spec is KeySpec.SYMMETRIC_DEFAULT:
        return symmetric.new_backing_key()
    return asymmetric.generate_private_key(spec.value)
