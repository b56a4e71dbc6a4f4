"""Rotation and import rules, as pure functions."""

from __future__ import annotations

import dataclasses

import pytest

from openkms.domain import imports, rotation
from openkms.domain.keys import (
    DAY_SECONDS,
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
from openkms.errors import (
    ConflictException,
    DisabledException,
    IncorrectKeyMaterialException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
    ValidationException,
)

NOW = 1_800_000_000.0


def key(**changes: object) -> Key:
    base = Key(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        account="111122223333",
        region="us-east-1",
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        description="",
        policy="{}",
        created_at=NOW,
        current_version=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def material(version: int, **changes: object) -> KeyMaterial:
    base = KeyMaterial(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        version=version,
        material_id=f"{version:064x}",
        wrapped=b"w",
        created_at=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_first_rotation_is_one_period_after_enabling() -> None:
    enabled = rotation.enable_rotation(key(), None, NOW)
    assert enabled.rotation_period_days == 365
    assert enabled.next_rotation_date == NOW + 365 * DAY_SECONDS
    custom = rotation.enable_rotation(key(), 90, NOW)
    assert custom.next_rotation_date == NOW + 90 * DAY_SECONDS


def test_changing_the_period_keeps_the_start_and_reenabling_restarts() -> None:
    enabled = rotation.enable_rotation(key(), 180, NOW)
    changed = rotation.enable_rotation(enabled, 90, NOW + 10 * DAY_SECONDS)
    assert changed.next_rotation_date == NOW + 90 * DAY_SECONDS
    again = rotation.enable_rotation(
        rotation.disable_rotation(enabled), 180, NOW + 10 * DAY_SECONDS
    )
    assert again.next_rotation_date == NOW + 190 * DAY_SECONDS


@pytest.mark.parametrize("days", [89, 2561, 0, -1])
def test_period_bounds(days: int) -> None:
    with pytest.raises(ValidationException):
        rotation.enable_rotation(key(), days, NOW)


def test_which_keys_rotate_automatically() -> None:
    rotation.require_automatic_rotation_allowed(key(), "EnableKeyRotation")
    for bad, error in (
        (
            key(spec=KeySpec.HMAC_256, usage=KeyUsage.GENERATE_VERIFY_MAC),
            UnsupportedOperationException,
        ),
        (key(spec=KeySpec.RSA_2048, usage=KeyUsage.SIGN_VERIFY), UnsupportedOperationException),
        (key(origin=Origin.EXTERNAL), UnsupportedOperationException),
        (key(manager=KeyManager.AWS), UnsupportedOperationException),
        (key(state=KeyState.DISABLED), DisabledException),
        (key(state=KeyState.PENDING_DELETION), KMSInvalidStateException),
    ):
        with pytest.raises(error):
            rotation.require_automatic_rotation_allowed(bad, "EnableKeyRotation")


def test_on_demand_rules() -> None:
    started = rotation.start_on_demand(key(), [material(1)], NOW)
    assert started.on_demand_rotation_started == NOW
    with pytest.raises(ConflictException):
        rotation.start_on_demand(started, [material(1)], NOW)
    due_soon = rotation.enable_rotation(key(), 90, NOW - 90 * DAY_SECONDS + 600)
    with pytest.raises(ConflictException, match="20 minutes"):
        rotation.start_on_demand(due_soon, [material(1)], NOW)
    done = [material(1)] + [material(v, rotation_type=RotationType.ON_DEMAND) for v in range(2, 27)]
    with pytest.raises(LimitExceededException):
        rotation.start_on_demand(key(current_version=26), done, NOW)
    # Automatic rotations do not count toward the 25.
    automatic = [material(v, rotation_type=RotationType.AUTOMATIC) for v in range(2, 40)]
    rotation.start_on_demand(key(current_version=39), [material(1), *automatic], NOW)
    with pytest.raises(DisabledException):
        rotation.start_on_demand(key(state=KeyState.DISABLED), [material(1)], NOW)
    with pytest.raises(UnsupportedOperationException):
        rotation.start_on_demand(key(spec=KeySpec.ECC_NIST_P256), [material(1)], NOW)


def test_imported_keys_rotate_only_to_imported_material() -> None:
    external = key(origin=Origin.EXTERNAL)
    with pytest.raises(KMSInvalidStateException, match="No available key material pending"):
        rotation.start_on_demand(external, [material(1)], NOW)
    pending = material(2, imported_at=NOW)
    rotation.start_on_demand(external, [material(1), pending], NOW)
    assert rotation.next_pending(external, [material(1), pending]) == pending
    assert rotation.material_state(external, pending) is rotation.KeyMaterialState.PENDING_ROTATION
    assert rotation.material_state(external, material(1)) is rotation.KeyMaterialState.CURRENT
    moved = rotation.rotated(external, 2, RotationType.ON_DEMAND, NOW)
    assert rotation.material_state(moved, material(1)) is rotation.KeyMaterialState.NON_CURRENT


def test_automatic_rotation_waits_for_enabled_keys() -> None:
    due = rotation.enable_rotation(key(), 90, NOW - 91 * DAY_SECONDS)
    assert rotation.automatic_rotation_due(due, NOW)
    assert not rotation.automatic_rotation_due(
        dataclasses.replace(due, state=KeyState.DISABLED), NOW
    )
    after = rotation.rotated(due, 2, RotationType.AUTOMATIC, NOW)
    assert after.next_rotation_date == NOW + 90 * DAY_SECONDS
    on_demand = rotation.rotated(due, 2, RotationType.ON_DEMAND, NOW)
    assert on_demand.next_rotation_date == due.next_rotation_date


def test_expiration_parameters() -> None:
    assert imports.expiration({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}, NOW) == (
        ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE,
        None,
    )
    assert imports.expiration({"ValidTo": NOW + 10}, NOW) == (
        ExpirationModel.KEY_MATERIAL_EXPIRES,
        NOW + 10,
    )
    for bad in (
        {},
        {"ValidTo": NOW},
        {"ValidTo": NOW + 365 * DAY_SECONDS + 1},
        {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": NOW + 10},
    ):
        with pytest.raises(ValidationException):
            imports.expiration(bad, NOW)


def test_import_type_defaults_and_limits() -> None:
    external = key(origin=Origin.EXTERNAL, state=KeyState.PENDING_IMPORT)
    assert imports.import_type(external, [], {}) is imports.ImportType.NEW_KEY_MATERIAL
    assert (
        imports.import_type(external, [material(1)], {}) is imports.ImportType.EXISTING_KEY_MATERIAL
    )
    with pytest.raises(IncorrectKeyMaterialException):
        imports.import_type(external, [], {"ImportType": "EXISTING_KEY_MATERIAL"})
    with pytest.raises(ValidationException):
        imports.import_type(
            external, [material(1)], {"ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": "0" * 64}
        )
    # Other material pending rotation: refused once the new material's id is known.
    pending = [material(1), material(2)]
    assert (
        imports.import_type(external, pending, {"ImportType": "NEW_KEY_MATERIAL"})
        is imports.ImportType.NEW_KEY_MATERIAL
    )
    with pytest.raises(KMSInvalidStateException) as exc:
        imports.require_nothing_pending(external, pending, "ab" * 32)
    assert exc.value.message == (
        f"New key material (id: {'ab' * 32}) cannot be imported into KMS key {external.arn}, "
        f"because another key material (id: {pending[1].material_id}) is pending rotation."
    )
    rsa = key(origin=Origin.EXTERNAL, spec=KeySpec.RSA_2048, usage=KeyUsage.SIGN_VERIFY)
    with pytest.raises(ValidationException):
        imports.import_type(rsa, [], {"ImportType": "NEW_KEY_MATERIAL"})


def test_state_follows_the_presence_of_every_used_material() -> None:
    pending = key(origin=Origin.EXTERNAL, state=KeyState.PENDING_IMPORT, current_version=2)
    gone = imports.without_material(material(1))
    assert imports.state_after_import(pending, [gone, material(2)]) is KeyState.PENDING_IMPORT
    assert imports.state_after_import(pending, [material(1), material(2)]) is KeyState.ENABLED
    # Material waiting for rotation is not needed for the key to be usable.
    assert (
        imports.state_after_import(
            dataclasses.replace(pending, current_version=1),
            [material(1), imports.without_material(material(2))],
        )
        is KeyState.ENABLED
    )
    assert (
        imports.state_after_material_loss(key(state=KeyState.DISABLED)) is KeyState.PENDING_IMPORT
    )
    assert (
        imports.state_after_material_loss(key(state=KeyState.PENDING_DELETION))
        is KeyState.PENDING_DELETION
    )
