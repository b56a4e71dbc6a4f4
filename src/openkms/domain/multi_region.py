"""Multi-Region keys: related KMS keys in several Regions of one account that share their
key id, key material, key spec, key usage, origin and automatic rotation, so that what
one encrypts, signs or MACs another decrypts or verifies ("Multi-Region keys in AWS
KMS", https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html).

One related key is the *primary* (the only one that can be replicated or rotated); the
others are *replicas*. Everything else (key policy, description, tags, aliases, grants,
key state) belongs to each key alone.

Stored identity: every key is one row whose ``key_id`` is unique. Related keys share
their public key id (``mrk-`` and 32 hex digits), so each is stored as
``<key id>@<region>`` (:func:`record_id`); :attr:`Key.public_id` is what callers see.
The stored id binds each key's wrapped material, tags, grants and aliases to that key
alone. Every related key stores its primary's Region (``primary_region``).

Choices where AWS leaves the behaviour undocumented (listed in the README as well):

* ReplicateKey of a single-Region key, or of a replica: UnsupportedOperationException;
  into the primary's own Region: ValidationException; into a Region this server does not
  serve (``serve --regions``): UnsupportedOperationException.
* A replica is made ``Creating``; the maintenance pass (woken at once) finishes it
  (``Enabled``, or ``PendingImport`` for imported material) and records
  ``SynchronizeMultiRegionKey`` in the primary's Region.
* UpdatePrimaryRegion needs both keys ``Enabled`` (DisabledException for a disabled one);
  to the primary's own Region it is a ValidationException.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from enum import StrEnum

from openkms.domain.keys import DAY_SECONDS, Key, KeyState, Origin, key_arn
from openkms.errors import (
    AlreadyExistsException,
    DisabledException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)

PREFIX = "mrk-"
#: Between the public key id and the Region in a related key's stored id.
SEPARATOR = "@"
#: The longest Region name a SigV4 credential scope may name here (auth.sigv4's region
#: names); a stored id (36 + 1 + Region) then fits the 64 characters key ids are stored in.
MAX_REGION_LENGTH = 27


class MultiRegionKeyType(StrEnum):
    PRIMARY = "PRIMARY"
    REPLICA = "REPLICA"


def record_id(key_id: str, region: str) -> str:
    """The stored id of the key ``key_id`` (as callers write it) in ``region``."""
    return f"{key_id}{SEPARATOR}{region}" if key_id.startswith(PREFIX) else key_id


def public_id(stored_id: str) -> str:
    """The key id callers see for a stored key id (the same for single-Region keys)."""
    return stored_id.split(SEPARATOR, 1)[0]


def key_type(key: Key) -> MultiRegionKeyType | None:
    """PRIMARY or REPLICA; None for a single-Region key."""
    if not key.multi_region or key.primary_region is None:
        return None
    if key.primary_region == key.region:
        return MultiRegionKeyType.PRIMARY
    return MultiRegionKeyType.REPLICA


def primary_arn(key: Key) -> str:
    """The ARN of the primary key of ``key``'s set of related keys."""
    if key.primary_region is None:
        raise ValueError("not a multi-Region key")
    return key_arn(key.primary_region, key.account, key.public_id)


def require_replicable(
    key: Key, replica_region: str, served: Collection[str], related: Sequence[Key]
) -> None:
    """Raise the error ReplicateKey gives for replicating ``key`` into ``replica_region``
    (``served``: the Regions this server serves, empty for any; ``related``: the keys
    that exist now, ``key`` among them)."""
    kind = key_type(key)
    if kind is None:
        raise UnsupportedOperationException(
            f"{key.arn} is not a multi-Region key. Only multi-Region primary keys can be "
            "replicated."
        )
    if kind is MultiRegionKeyType.REPLICA:
        raise UnsupportedOperationException(
            f"{key.arn} is a multi-Region replica key. Only multi-Region primary keys can be "
            "replicated."
        )
    if key.state is KeyState.DISABLED:
        raise DisabledException(f"{key.arn} is disabled.")
    if key.state not in (KeyState.ENABLED, KeyState.PENDING_IMPORT):
        raise KMSInvalidStateException(f"{key.arn} is {key.state.value}.")
    if replica_region == key.region:
        raise ValidationException(
            f"ReplicaRegion {replica_region} is the Region of the primary key {key.arn}."
        )
    if (served and replica_region not in served) or len(replica_region) > MAX_REGION_LENGTH:
        raise UnsupportedOperationException(
            f"Region {replica_region} is not served by this OpenKMS server."
        )
    for other in related:
        if other.region == replica_region:
            raise AlreadyExistsException(f"{other.arn} already exists.")


def replica_of(primary: Key, region: str, description: str, policy: str, now: float) -> Key:
    """A new replica of ``primary`` in ``region``: the shared properties copied, its own
    description and policy, ``Creating`` until maintenance finishes it."""
    return dataclasses.replace(
        primary,
        key_id=record_id(primary.public_id, region),
        region=region,
        state=KeyState.CREATING,
        description=description,
        policy=policy,
        created_at=now,
        deletion_date=None,
        pending_window_days=None,
        on_demand_rotation_started=None,
        sync_due=now,
    )


def finished(key: Key) -> Key:
    """A key whose transient multi-Region state has ended: ``Creating`` becomes
    ``Enabled`` (``PendingImport`` for imported material); ``Updating`` goes back to
    ``Enabled``, the only state a primary-Region change starts from."""
    if key.state is KeyState.CREATING:
        state = KeyState.ENABLED if key.origin is Origin.AWS_KMS else KeyState.PENDING_IMPORT
        return dataclasses.replace(key, state=state, sync_due=None)
    if key.state is KeyState.UPDATING:
        return dataclasses.replace(key, state=KeyState.ENABLED, sync_due=None)
    return dataclasses.replace(key, sync_due=None)


def require_not_replica(key: Key, operation: str) -> None:
    """Rotation is a shared property: it is managed, and rotations are started, on the
    primary key only (the primary's rotations reach every replica)."""
    if key_type(key) is MultiRegionKeyType.REPLICA:
        raise UnsupportedOperationException(
            f"{key.arn} is a multi-Region replica key: {operation} is valid only on its "
            f"primary key {primary_arn(key)}, whose rotation settings and rotations every "
            "replica shares."
        )


def with_shared_rotation(replica: Key, primary: Key) -> Key:
    """``replica`` with the primary's rotation settings and current material version."""
    return dataclasses.replace(
        replica,
        current_version=primary.current_version,
        rotation_enabled=primary.rotation_enabled,
        rotation_period_days=primary.rotation_period_days,
        next_rotation_date=primary.next_rotation_date,
    )


def scheduled_deletion(key: Key, related: Sequence[Key]) -> Key:
    """ScheduleKeyDeletion's result for a key already moved to ``PendingDeletion``: a
    primary key that still has replicas waits in ``PendingReplicaDeletion`` instead, its
    waiting period not yet begun (it begins when the last replica is deleted)."""
    if key_type(key) is MultiRegionKeyType.PRIMARY and any(
        other.region != key.region for other in related
    ):
        return dataclasses.replace(key, state=KeyState.PENDING_REPLICA_DELETION, deletion_date=None)
    return key


def replicas_deleted(primary: Key, at: float) -> Key:
    """A primary ``PendingReplicaDeletion`` once its last replica is deleted: its waiting
    period (the days it was scheduled with) begins now."""
    days = primary.pending_window_days or 30
    return dataclasses.replace(
        primary, state=KeyState.PENDING_DELETION, deletion_date=at + days * DAY_SECONDS
    )


def require_primary_change(primary: Key, new_region: str, related: Sequence[Key]) -> Key:
    """UpdatePrimaryRegion's checks; the replica in ``new_region`` that becomes primary."""
    kind = key_type(primary)
    if kind is None:
        raise UnsupportedOperationException(f"{primary.arn} is not a multi-Region key.")
    if kind is MultiRegionKeyType.REPLICA:
        raise UnsupportedOperationException(
            f"{primary.arn} is a multi-Region replica key. Specify the current primary key "
            f"{primary_arn(primary)}."
        )
    if new_region == primary.region:
        raise ValidationException(
            f"PrimaryRegion {new_region} is already the Region of the primary key {primary.arn}."
        )
    replica = next((other for other in related if other.region == new_region), None)
    if replica is None:
        raise NotFoundException(
            f"Key '{key_arn(new_region, primary.account, primary.public_id)}' does not exist"
        )
    for key in (primary, replica):
        if key.state is KeyState.DISABLED:
            raise DisabledException(f"{key.arn} is disabled.")
        if key.state is not KeyState.ENABLED:
            raise KMSInvalidStateException(f"{key.arn} is {key.state.value}.")
    return replica


def updating(key: Key, new_primary_region: str, now: float) -> Key:
    """One of the two keys whose roles swap: ``Updating`` until maintenance finishes it."""
    return dataclasses.replace(
        key, state=KeyState.UPDATING, primary_region=new_primary_region, sync_due=now
    )


def with_primary_region(key: Key, new_primary_region: str) -> Key:
    """Another related key, told of the new primary Region."""
    return dataclasses.replace(key, primary_region=new_primary_region)
