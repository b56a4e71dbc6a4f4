"""Multi-Region keys' pure rules: stored ids, the blob format that names a multi-Region
key (known answer, decrypted independently), and ReplicateKey's refusals."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openkms.crypto import symmetric
from openkms.domain import ciphertext as fmt
from openkms.domain import multi_region
from openkms.domain.keys import (
    Key,
    KeyManager,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
    require_usable,
)
from openkms.domain.multi_region import MultiRegionKeyType
from openkms.errors import (
    AlreadyExistsException,
    DisabledException,
    InvalidCiphertextException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)

MRK = "mrk-00112233445566778899aabbccddeeff"
BACKING = bytes(range(32))
NONCE = bytes(range(100, 116))
IV = bytes(range(200, 212))
CONTEXT = {"purpose": "kat", "a": "b"}
EXPECTED_BLOB = bytes.fromhex(
    "4f02"  # marker 'O', format version 2: a multi-Region key id follows
    "00112233445566778899aabbccddeeff"  # the 32 hex digits after mrk-
    "00000007"  # key-material version 7
    "6465666768696a6b6c6d6e6f70717273"  # nonce
    "c8c9cacbcccdcecfd0d1d2d3"  # IV
    "344f36352a4254d1e95a5a71df2e0eb549de68c7"  # ciphertext (20 bytes)
    "7014f4bdccd12d922ff1a1215f2e72c6"  # tag
)


def _key(region: str = "us-east-1", primary: str | None = "us-east-1", **changes: object) -> Key:
    key = Key(
        key_id=multi_region.record_id(MRK, region),
        account="111122223333",
        region=region,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        description="",
        policy="{}",
        created_at=0.0,
        current_version=1,
        multi_region=primary is not None,
        primary_region=primary,
    )
    return dataclasses.replace(key, **changes)  # type: ignore[arg-type]


def test_blob_known_answer_for_a_multi_region_key() -> None:
    blob = symmetric.encrypt(BACKING, MRK, 7, b"OpenKMS known answer", CONTEXT, nonce=NONCE, iv=IV)
    assert blob == EXPECTED_BLOB
    parsed = fmt.parse(blob)
    assert parsed.key_id == MRK and parsed.key_version == 7
    header, sealed = blob[: fmt.HEADER_LEN], blob[fmt.HEADER_LEN :]
    data_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=NONCE, info=b"openkms/v1/symmetric-default"
    ).derive(BACKING)
    aad = header + fmt.encode_context(CONTEXT)
    assert AESGCM(data_key).decrypt(IV, sealed, aad) == b"OpenKMS known answer"


def test_the_format_version_is_bound_to_the_blob() -> None:
    """Relabelling a v2 blob as v1 (same 16 bytes read as a UUID) fails authentication."""
    relabelled = fmt.parse(b"\x4f\x01" + EXPECTED_BLOB[2:])
    assert relabelled.key_id != MRK
    with pytest.raises(InvalidCiphertextException):
        symmetric.decrypt(BACKING, relabelled, CONTEXT)


def test_stored_ids() -> None:
    assert multi_region.record_id(MRK, "eu-west-2") == MRK + "@eu-west-2"
    single = "00000000-0000-4000-8000-000000000001"
    assert multi_region.record_id(single, "eu-west-2") == single
    assert multi_region.public_id(MRK + "@eu-west-2") == MRK
    replica = _key("eu-west-2")
    assert replica.public_id == MRK
    assert replica.arn == f"arn:aws:kms:eu-west-2:111122223333:key/{MRK}"
    assert multi_region.key_type(replica) is MultiRegionKeyType.REPLICA
    assert multi_region.key_type(_key()) is MultiRegionKeyType.PRIMARY
    assert multi_region.key_type(_key(primary=None)) is None


def test_replicate_refusals() -> None:
    primary = _key()
    served: frozenset[str] = frozenset()
    cases: list[tuple[Key, str, frozenset[str], type[Exception]]] = [
        (_key(primary=None), "eu-west-2", served, UnsupportedOperationException),
        (_key("eu-west-2"), "ap-south-1", served, UnsupportedOperationException),
        (_key(state=KeyState.DISABLED), "eu-west-2", served, DisabledException),
        (_key(state=KeyState.PENDING_DELETION), "eu-west-2", served, KMSInvalidStateException),
        (primary, "us-east-1", served, ValidationException),
        (primary, "eu-west-2", frozenset({"us-east-1"}), UnsupportedOperationException),
        (primary, "eu-westwestwestwestwestwest-22", served, UnsupportedOperationException),
    ]
    for key, region, regions, error in cases:
        with pytest.raises(error):
            multi_region.require_replicable(key, region, regions, [key])
    with pytest.raises(AlreadyExistsException):
        multi_region.require_replicable(primary, "eu-west-2", served, [primary, _key("eu-west-2")])
    multi_region.require_replicable(primary, "eu-west-2", frozenset({"eu-west-2"}), [primary])


def test_a_replica_is_creating_until_finished() -> None:
    replica = multi_region.replica_of(_key(), "eu-west-2", "d", "{}", 5.0)
    assert (replica.state, replica.sync_due, replica.region) == (
        KeyState.CREATING,
        5.0,
        "eu-west-2",
    )
    assert replica.key_id == MRK + "@eu-west-2" and replica.primary_region == "us-east-1"
    done = multi_region.finished(replica)
    assert (done.state, done.sync_due) == (KeyState.ENABLED, None)
    imported = multi_region.finished(dataclasses.replace(replica, origin=Origin.EXTERNAL))
    assert imported.state is KeyState.PENDING_IMPORT


def test_deletion_of_a_primary_waits_for_its_replicas() -> None:
    scheduled = _key(state=KeyState.PENDING_DELETION, deletion_date=99.0, pending_window_days=7)
    waiting = multi_region.scheduled_deletion(scheduled, [scheduled, _key("eu-west-2")])
    assert waiting.state is KeyState.PENDING_REPLICA_DELETION and waiting.deletion_date is None
    assert multi_region.scheduled_deletion(scheduled, [scheduled]) == scheduled
    replica = _key("eu-west-2", state=KeyState.PENDING_DELETION, deletion_date=1.0)
    assert multi_region.scheduled_deletion(replica, [_key(), replica]) == replica
    started = multi_region.replicas_deleted(waiting, 1000.0)
    assert started.state is KeyState.PENDING_DELETION
    assert started.deletion_date == 1000.0 + 7 * 86_400


def test_primary_region_change_rules() -> None:
    primary, replica = _key(), _key("eu-west-2")
    assert multi_region.require_primary_change(primary, "eu-west-2", [primary, replica]) == replica
    refusals: list[tuple[Key, str, list[Key], type[Exception]]] = [
        (_key(primary=None), "eu-west-2", [], UnsupportedOperationException),
        (replica, "us-east-1", [primary, replica], UnsupportedOperationException),
        (primary, "us-east-1", [primary, replica], ValidationException),
        (primary, "ap-south-1", [primary, replica], NotFoundException),
        (
            primary,
            "eu-west-2",
            [primary, _key("eu-west-2", state=KeyState.DISABLED)],
            DisabledException,
        ),
        (
            _key(state=KeyState.UPDATING),
            "eu-west-2",
            [_key(state=KeyState.UPDATING), replica],
            KMSInvalidStateException,
        ),
    ]
    for key, region, related, error in refusals:
        with pytest.raises(error):
            multi_region.require_primary_change(key, region, related)
    moving = multi_region.updating(primary, "eu-west-2", 3.0)
    assert (moving.state, moving.primary_region, moving.sync_due) == (
        KeyState.UPDATING,
        "eu-west-2",
        3.0,
    )
    require_usable(moving)  # an Updating key stays usable
    assert multi_region.key_type(moving) is MultiRegionKeyType.REPLICA
    assert multi_region.finished(moving).state is KeyState.ENABLED


def test_rotation_is_the_primarys() -> None:
    with pytest.raises(UnsupportedOperationException):
        multi_region.require_not_replica(_key("eu-west-2"), "RotateKeyOnDemand")
    multi_region.require_not_replica(_key(), "RotateKeyOnDemand")
    multi_region.require_not_replica(_key(primary=None), "RotateKeyOnDemand")
    primary = _key(
        current_version=3, rotation_enabled=True, rotation_period_days=90, next_rotation_date=7.0
    )
    shared = multi_region.with_shared_rotation(_key("eu-west-2"), primary)
    assert (shared.current_version, shared.rotation_enabled, shared.next_rotation_date) == (
        3,
        True,
        7.0,
    )
    assert shared.region == "eu-west-2" and shared.rotation_period_days == 90
