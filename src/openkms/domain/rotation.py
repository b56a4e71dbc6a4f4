"""Key rotation rules: automatic rotation schedules and on-demand rotations.

AWS references: "Rotate AWS KMS keys" (developer guide ``rotate-keys``) and the API pages
of EnableKeyRotation, RotateKeyOnDemand, GetKeyRotationStatus and ListKeyRotations.

* Automatic rotation is for symmetric encryption keys with AWS_KMS origin only. The
  first rotation comes RotationPeriodInDays (90–2560, default 365) after rotation is
  enabled, then every period. Changing the period moves the next date by the
  difference (it stays counted from the same start).
* A disabled key is not rotated; when it is enabled again and its date has passed, it
  is rotated at once. A key pending deletion is not rotated either.
* On-demand rotation: symmetric encryption keys only, at most 25 per key, one at a time
  (it runs in the background, as in AWS; GetKeyRotationStatus shows
  OnDemandRotationStartDate meanwhile), and not while an automatic rotation is due
  within 20 minutes (ConflictException). It does not move the automatic schedule. For
  imported key material, new material must first be imported (PENDING_ROTATION).
* Disabling automatic rotation and enabling it again starts the period afresh from the
  new enable date. While a key is pending deletion its rotation status reads false.
* Every material version stays usable for decryption for the life of the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum

from openkms.domain.keys import (
    DAY_SECONDS,
    Key,
    KeyManager,
    KeyMaterial,
    KeySpec,
    KeyState,
    Origin,
    RotationType,
    require_usable,
)
from openkms.errors import (
    ConflictException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
    ValidationException,
)

MIN_ROTATION_PERIOD_DAYS, MAX_ROTATION_PERIOD_DAYS = 90, 2560
DEFAULT_ROTATION_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25
#: AWS refuses an on-demand rotation while an automatic one is due within 20 minutes.
AUTOMATIC_ROTATION_GUARD_SECONDS = 20 * 60


class KeyMaterialState(StrEnum):
    CURRENT = "CURRENT"
    NON_CURRENT = "NON_CURRENT"
    PENDING_ROTATION = "PENDING_ROTATION"


def material_state(key: Key, material: KeyMaterial) -> KeyMaterialState:
    """Derived from the key's current version: newer imported material waits to be
    rotated to; older material only decrypts."""
    if material.version == key.current_version:
        return KeyMaterialState.CURRENT
    if material.version > key.current_version:
        return KeyMaterialState.PENDING_ROTATION
    return KeyMaterialState.NON_CURRENT


def supports_rotation(key: Key) -> bool:
    """Only symmetric encryption keys have more than one material version."""
    return key.spec is KeySpec.SYMMETRIC_DEFAULT


def _require_symmetric(key: Key, what: str) -> None:
    if not supports_rotation(key):
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.spec.value} which is not valid for {what}. "
            "Only symmetric encryption KMS keys support key rotation."
        )


def _require_customer_managed(key: Key) -> None:
    if key.manager is not KeyManager.CUSTOMER:
        raise UnsupportedOperationException(
            f"{key.arn} is an AWS managed key; AWS KMS rotates it every year."
        )


def require_automatic_rotation_allowed(key: Key, operation: str) -> None:
    """EnableKeyRotation / DisableKeyRotation: which keys and states allow them."""
    _require_symmetric(key, operation)
    _require_customer_managed(key)
    if key.origin is not Origin.AWS_KMS:
        raise UnsupportedOperationException(
            f"{key.arn} origin is {key.origin.value} which is not valid for this operation."
        )
    require_usable(key)


def enable_rotation(key: Key, period_days: int | None, now: float) -> Key:
    period = DEFAULT_ROTATION_PERIOD_DAYS if period_days is None else period_days
    if not MIN_ROTATION_PERIOD_DAYS <= period <= MAX_ROTATION_PERIOD_DAYS:
        raise ValidationException(
            f"RotationPeriodInDays must be between {MIN_ROTATION_PERIOD_DAYS} and "
            f"{MAX_ROTATION_PERIOD_DAYS}"
        )
    if key.rotation_enabled and key.next_rotation_date is not None:
        old = key.rotation_period_days or DEFAULT_ROTATION_PERIOD_DAYS
        start = key.next_rotation_date - old * DAY_SECONDS
    else:
        start = now
    return dataclasses.replace(
        key,
        rotation_enabled=True,
        rotation_period_days=period,
        next_rotation_date=start + period * DAY_SECONDS,
    )


def disable_rotation(key: Key) -> Key:
    return dataclasses.replace(
        key, rotation_enabled=False, rotation_period_days=None, next_rotation_date=None
    )


def on_demand_count(materials: Sequence[KeyMaterial]) -> int:
    return sum(1 for m in materials if m.rotation_type is RotationType.ON_DEMAND)


def start_on_demand(key: Key, materials: Sequence[KeyMaterial], now: float) -> Key:
    """RotateKeyOnDemand: check every rule, in the order AWS answers them (the key's state,
    its key spec, imported material waiting to be rotated to, the quota; the messages are
    AWS's recorded ones), then mark the rotation as in progress."""
    require_usable(key)
    if not supports_rotation(key):
        raise UnsupportedOperationException()  # AWS answers this one without a message
    _require_customer_managed(key)
    if key.origin not in (Origin.AWS_KMS, Origin.EXTERNAL):
        raise UnsupportedOperationException(
            f"{key.arn} is in a custom key store; on-demand rotation is not supported for it."
        )
    if key.origin is Origin.EXTERNAL and next_pending(key, materials) is None:
        raise KMSInvalidStateException(
            f"No available key material pending rotation for the key: {key.arn}."
        )
    if on_demand_count(materials) >= MAX_ON_DEMAND_ROTATIONS:
        raise LimitExceededException(
            "The on-demand rotations limit has been reached for the given keyId. No more "
            f"on-demand rotations can be performed for this key: {key.arn}"
        )
    if key.on_demand_rotation_started is not None:
        raise ConflictException(
            f"An on-demand rotation of {key.arn} is already in progress. Try again after "
            "it completes."
        )
    if (
        key.rotation_enabled
        and key.next_rotation_date is not None
        and key.next_rotation_date <= now + AUTOMATIC_ROTATION_GUARD_SECONDS
    ):
        raise ConflictException(
            f"An automatic rotation of {key.arn} is in progress or scheduled to begin within "
            "the next 20 minutes. Try again later."
        )
    return dataclasses.replace(key, on_demand_rotation_started=now)


def next_pending(key: Key, materials: Sequence[KeyMaterial]) -> KeyMaterial | None:
    """The imported material an on-demand rotation of an EXTERNAL key makes current."""
    for material in materials:
        if material.version > key.current_version and material.present:
            return material
    return None


def automatic_rotation_due(key: Key, at: float) -> bool:
    return (
        key.rotation_enabled
        and key.state is KeyState.ENABLED
        and key.next_rotation_date is not None
        and key.next_rotation_date <= at
    )


def rotated(key: Key, version: int, kind: RotationType, at: float) -> Key:
    """The key after ``version`` became current by a rotation of ``kind``."""
    changes: dict[str, object] = {"current_version": version}
    if kind is RotationType.ON_DEMAND:
        changes["on_demand_rotation_started"] = None
    elif key.rotation_period_days is not None:
        changes["next_rotation_date"] = at + key.rotation_period_days * DAY_SECONDS
    return dataclasses.replace(key, **changes)  # type: ignore[arg-type]
