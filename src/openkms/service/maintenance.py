"""Due lifecycle work: rotations, deletions after their waiting period, expiring imported
key material, expired import tokens and STS sessions.

:meth:`Maintenance.run` does everything due *as of* a given time. The server runs it
periodically (and right after a RotateKeyOnDemand); ``openkms maintenance run --at``
runs it on demand, as of any time, without touching the server's clock.

Exactly once, on any number of nodes: candidates are read without locks, then each
piece of work runs in its own write transaction that locks the key row, checks again
that the work is still due, does it and appends its CloudTrail record
(``AwsServiceEvent``) in that same transaction. A second runner finds nothing left to
do, so running it twice or on several nodes at once changes nothing more.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from openkms.audit.records import service_event_record
from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring
from openkms.domain import imports, multi_region, rotation
from openkms.domain.audit import PendingRecord
from openkms.domain.keys import Key, KeyMaterial, KeyState, Origin, RotationType
from openkms.service.identity.sts import EXPIRED_SESSION_RETENTION
from openkms.service.kms import multi_region_sync
from openkms.service.kms.key_stores import KeyStores
from openkms.service.kms.materials import new_material
from openkms.storage.audit import trail as audit_store
from openkms.storage.identity import repository as identity_records
from openkms.storage.keys import lifecycle
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store, Tx

log = logging.getLogger("openkms.maintenance")

T = TypeVar("T")


@dataclass
class MaintenanceReport:
    """What one run did (key ARNs; material ids)."""

    rotated: list[dict[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Multi-Region keys whose creation (replicas) or primary-Region change was finished.
    synchronized: list[str] = field(default_factory=list)
    expired: list[dict[str, str]] = field(default_factory=list)
    import_tokens_purged: int = 0
    sessions_purged: int = 0

    @property
    def touched_keys(self) -> list[str]:
        """Key ids whose cached material a process should drop."""
        ids = [entry["KeyId"] for entry in self.expired]
        return ids + [_stored_id(arn) for arn in self.deleted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "Rotated": self.rotated,
            "Deleted": self.deleted,
            "Synchronized": self.synchronized,
            "ExpiredKeyMaterial": self.expired,
            "ImportTokensPurged": self.import_tokens_purged,
            "SessionsPurged": self.sessions_purged,
        }

    def __bool__(self) -> bool:
        return bool(
            self.rotated
            or self.deleted
            or self.synchronized
            or self.expired
            or self.import_tokens_purged
            or self.sessions_purged
        )


class Maintenance:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        *,
        batch: int = lifecycle.DUE_BATCH,
        key_stores: KeyStores | None = None,
    ):
        self.store = store
        self.keyring = keyring
        self.batch = batch
        #: Custom key stores, whose deleted keys' backing keys are destroyed (the
        #: server's, sharing its connections; a command's own otherwise).
        self.key_stores = key_stores if key_stores is not None else KeyStores(keyring)

    def run(self, at: float | None = None) -> MaintenanceReport:
        """Do all work due at ``at`` (default: now)."""
        at = time.time() if at is None else at
        report = MaintenanceReport()
        self._each(lifecycle.due_sync, at, lambda key_id: self._synchronize(key_id, at, report))
        self._each(lifecycle.due_on_demand, at, lambda key_id: self._on_demand(key_id, at, report))
        self._each(lifecycle.due_rotations, at, lambda key_id: self._automatic(key_id, at, report))
        self._each(lifecycle.due_expirations, at, lambda item: self._expire(item, at, report))
        self._each(lifecycle.due_deletions, at, lambda key_id: self._delete(key_id, at, report))
        with self.store.transaction(write=True) as tx:
            report.import_tokens_purged = lifecycle.purge_import_tokens(tx, at)
            report.sessions_purged = identity_records.purge_sessions(
                tx, at - EXPIRED_SESSION_RETENTION
            )
        return report

    def _each(
        self, find: Callable[[Tx, float, int], list[T]], at: float, work: Callable[[T], None]
    ) -> None:
        """Run ``work`` on every candidate ``find`` returns, batch after batch, until a
        batch brings nothing new (work already done elsewhere is skipped by ``work``)."""
        seen: set[Any] = set()
        while True:
            with self.store.transaction() as tx:
                found = [item for item in find(tx, at, self.batch) if item not in seen]
            if not found:
                return
            for item in found:
                seen.add(item)
                work(item)

    # -- the pieces of work, each in its own transaction --------------------------------

    def _on_demand(self, key_id: str, at: float, report: MaintenanceReport) -> None:
        with self.store.transaction(write=True) as tx:
            key = key_records.get_key(tx, key_id, for_update=True)
            if key is None or key.on_demand_rotation_started is None:
                return
            materials = key_records.list_materials(tx, key_id)
            if key.origin is Origin.EXTERNAL:
                pending = rotation.next_pending(key, materials)
                if pending is None:  # the imported material was deleted meanwhile
                    key_records.update_key(tx, _no_rotation_in_progress(key))
                    return
                made = _became_current(pending, RotationType.ON_DEMAND, at)
                key_records.update_material(tx, made)
            else:
                made = self._new_version(key, materials, RotationType.ON_DEMAND, at)
                key_records.insert_material(tx, made)
            self._record_rotation(tx, key, materials, made, report)
            rotated = rotation.rotated(key, made.version, RotationType.ON_DEMAND, at)
            key_records.update_key(tx, rotated)
            self._share_rotation(tx, rotated, made)

    def _automatic(self, key_id: str, at: float, report: MaintenanceReport) -> None:
        with self.store.transaction(write=True) as tx:
            key = key_records.get_key(tx, key_id, for_update=True)
            if key is None or not rotation.automatic_rotation_due(key, at):
                return
            materials = key_records.list_materials(tx, key_id)
            made = self._new_version(key, materials, RotationType.AUTOMATIC, at)
            key_records.insert_material(tx, made)
            self._record_rotation(tx, key, materials, made, report)
            rotated = rotation.rotated(key, made.version, RotationType.AUTOMATIC, at)
            key_records.update_key(tx, rotated)
            self._share_rotation(tx, rotated, made)

    def _expire(self, item: tuple[str, int], at: float, report: MaintenanceReport) -> None:
        key_id, version = item
        with self.store.transaction(write=True) as tx:
            key = key_records.get_key(tx, key_id, for_update=True)
            material = None if key is None else key_records.get_material(tx, key_id, version)
            if (
                key is None
                or material is None
                or not material.present
                or material.valid_to is None
                or material.valid_to > at
            ):
                return
            key_records.update_material(tx, imports.without_material(material))
            if material.version <= key.current_version:  # else it was never used
                state = imports.state_after_material_loss(key)
                if state is not key.state:
                    key_records.update_key(tx, imports.with_state(key, state))
            details = {"keyId": key.public_id, "keyMaterialId": material.material_id}
            _append(tx, "DeleteExpiredKeyMaterial", key, details)
            report.expired.append({"KeyId": key.key_id, "KeyMaterialId": material.material_id})

    def _synchronize(self, key_id: str, at: float, report: MaintenanceReport) -> None:
        """Finish a multi-Region key's transient state: a replica ``Creating`` becomes
        ``Enabled`` (``PendingImport`` for imported material), recorded as AWS records its
        synchronisation, ``SynchronizeMultiRegionKey`` on the primary in its Region."""
        with self.store.transaction(write=True) as tx:
            key = key_records.get_key(tx, key_id, for_update=True)
            if key is None or key.sync_due is None or key.sync_due > at:
                return
            key_records.update_key(tx, multi_region.finished(key))
            if key.primary_region is not None:
                primary = replace(
                    key,
                    key_id=multi_region.record_id(key.public_id, key.primary_region),
                    region=key.primary_region,
                )
                _append(tx, "SynchronizeMultiRegionKey", primary, None)
            report.synchronized.append(key.arn)

    def _delete(self, key_id: str, at: float, report: MaintenanceReport) -> None:
        with self.store.transaction(write=True) as tx:
            key = key_records.get_key(tx, key_id, for_update=True)
            if (
                key is None
                or key.state is not KeyState.PENDING_DELETION
                or key.deletion_date is None
                or key.deletion_date > at
            ):
                return
            destroy_backing_keys = self.key_stores.destroy_later(tx, key)
            key_records.delete_key(tx, key_id)
            _append(tx, "DeleteKey", key, None)
            report.deleted.append(key.arn)
        destroy_backing_keys()  # a key in a custom key store: in its HSM, once deleted
        if multi_region.key_type(key) is multi_region.MultiRegionKeyType.REPLICA:
            self._after_replica_deleted(key, at)

    def _after_replica_deleted(self, replica: Key, at: float) -> None:
        """A primary ``PendingReplicaDeletion`` whose last replica is now gone starts its
        own waiting period (in a transaction of its own: locks are taken primary first
        everywhere else)."""
        assert replica.primary_region is not None  # a replica
        primary_id = multi_region.record_id(replica.public_id, replica.primary_region)
        with self.store.transaction(write=True) as tx:
            primary = key_records.get_key(tx, primary_id, for_update=True)
            if primary is None or primary.state is not KeyState.PENDING_REPLICA_DELETION:
                return
            related = key_records.related_keys(tx, primary.account, primary.public_id)
            if any(other.region != primary.region for other in related):
                return
            key_records.update_key(tx, multi_region.replicas_deleted(primary, at))

    # -- helpers ---------------------------------------------------------------------------

    def _share_rotation(self, tx: Tx, key: Key, made: KeyMaterial) -> None:
        """A multi-Region key's rotation reaches its replicas in the same transaction,
        recorded as AWS records a synchronisation (on the key that rotated)."""
        if multi_region_sync.share_new_version(tx, self.keyring, key, made):
            _append(tx, "SynchronizeMultiRegionKey", key, None)

    def _new_version(
        self, key: Key, materials: Iterable[KeyMaterial], kind: RotationType, at: float
    ) -> KeyMaterial:
        version = max((m.version for m in materials), default=0) + 1
        return KeyMaterial(
            key_id=key.key_id,
            version=version,
            material_id=os.urandom(32).hex(),
            wrapped=self.keyring.wrap(
                new_material(key.spec), contexts.key_material(key.key_id, version)
            ),
            created_at=at,
            rotation_type=kind,
            rotated_at=at,
        )

    @staticmethod
    def _record_rotation(
        tx: Tx,
        key: Key,
        materials: Iterable[KeyMaterial],
        made: KeyMaterial,
        report: MaintenanceReport,
    ) -> None:
        previous = next((m for m in materials if m.version == key.current_version), None)
        kind = (made.rotation_type or RotationType.AUTOMATIC).value
        details = {
            "rotationType": kind,
            "keyOrigin": key.origin.value,
            "previousKeyMaterialId": None if previous is None else previous.material_id,
            "currentKeyMaterialId": made.material_id,
            "keyId": key.public_id,
        }
        _append(tx, "RotateKey", key, details)
        report.rotated.append(
            {
                "KeyId": key.key_id,
                "KeyMaterialId": made.material_id,
                "RotationType": kind,
            }
        )


def _became_current(material: KeyMaterial, kind: RotationType, at: float) -> KeyMaterial:
    return replace(material, rotation_type=kind, rotated_at=at)


def _no_rotation_in_progress(key: Key) -> Key:
    return replace(key, on_demand_rotation_started=None)


def _append(tx: Tx, event_name: str, key: Key, details: dict[str, Any] | None) -> None:
    now = time.time()
    record = service_event_record(
        event_id=str(uuid.uuid4()),
        event_time=now,
        event_name=event_name,
        account=key.account,
        region=key.region,
        key_arn=key.arn,
        details=details,
    )
    audit_store.append_records(tx, [PendingRecord.from_record(record, event_time=now)])


def _stored_id(arn: str) -> str:
    """The stored id of the key an ARN names (a multi-Region key's names its Region)."""
    region, key_id = arn.split(":")[3], arn.rsplit("/", 1)[-1]
    return multi_region.record_id(key_id, region)
