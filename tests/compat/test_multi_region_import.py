"""Multi-Region keys with imported key material (Origin EXTERNAL) through boto3 against
real servers (SQLite and PostgreSQL): a replica is made without material (PendingImport)
and takes only the material imported into its primary, under the same KeyMaterialId;
each related key's imported material is deleted and imported again on its own; new
material goes into the primary (PENDING_MULTI_REGION_IMPORT_AND_ROTATION until every
replica has it), then RotateKeyOnDemand on the primary rotates them all; a replica's
import before its primary has material is refused.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess
from test_key_import import import_material
from test_multi_region_keys import OTHER, THIRD, code_of, kms_in, wait_state
from test_multi_region_sync import eventually

from conftest import REGION


def external_pair(server: ServerProcess, region: str = OTHER) -> tuple[Any, Any, str]:
    east, west = kms_in(server, REGION), kms_in(server, region)
    meta = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    assert meta["KeyId"].startswith("mrk-") and meta["KeyState"] == "PendingImport"
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    east.replicate_key(KeyId=meta["KeyId"], ReplicaRegion=region)
    replica = wait_state(west, meta["KeyId"], "PendingImport")
    assert replica["Origin"] == "EXTERNAL"
    return east, west, meta["KeyId"]


def test_replica_takes_the_primarys_imported_material(server: ServerProcess) -> None:
    east, west, key_id = external_pair(server)
    material = os.urandom(32)
    first = import_material(east, key_id, material)
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        import_material(west, key_id, os.urandom(32))
    assert code_of(exc) == "IncorrectKeyMaterialException"
    second = import_material(west, key_id, material)
    assert second["KeyMaterialId"] == first["KeyMaterialId"]
    meta = west.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["CurrentKeyMaterialId"] == first["KeyMaterialId"]
    blob = east.encrypt(KeyId=key_id, Plaintext=b"byok")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"
    # Each related key's material is its own to delete and import again.
    west.delete_imported_key_material(KeyId=key_id)
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"
    import_material(west, key_id, material)
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"
    # A replica made after the import is PendingImport too and takes the same material.
    east.replicate_key(KeyId=key_id, ReplicaRegion=THIRD)
    third = kms_in(server, THIRD)
    wait_state(third, key_id, "PendingImport")
    import_material(third, key_id, material)
    assert third.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"


def test_replica_import_waits_for_the_primary(server: ServerProcess) -> None:
    _east, west, key_id = external_pair(server)
    with pytest.raises(ClientError) as exc:
        import_material(west, key_id, os.urandom(32))
    assert code_of(exc) == "KMSInvalidStateException"


def _states(kms: Any, key_id: str) -> dict[str, str]:
    rotations = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    return {r["KeyMaterialId"]: r["KeyMaterialState"] for r in rotations["Rotations"]}


def test_new_material_is_imported_everywhere_then_rotated(server: ServerProcess) -> None:
    east, west, key_id = external_pair(server)
    first_material, second_material = os.urandom(32), os.urandom(32)
    first = import_material(east, key_id, first_material)["KeyMaterialId"]
    import_material(west, key_id, first_material, ImportType="EXISTING_KEY_MATERIAL")
    old = east.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    # New material goes into the primary first, never straight into a replica.
    with pytest.raises(ClientError) as exc:
        import_material(west, key_id, second_material, ImportType="NEW_KEY_MATERIAL")
    assert code_of(exc) == "UnsupportedOperationException"
    second = import_material(east, key_id, second_material, ImportType="NEW_KEY_MATERIAL")[
        "KeyMaterialId"
    ]
    assert _states(east, key_id) == {
        first: "CURRENT",
        second: "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
    with pytest.raises(ClientError) as exc:
        east.rotate_key_on_demand(KeyId=key_id)
    assert code_of(exc) == "KMSInvalidStateException"
    # The same material into the replica (EXISTING_KEY_MATERIAL, as AWS documents it).
    import_material(west, key_id, second_material, ImportType="EXISTING_KEY_MATERIAL")
    assert _states(west, key_id) == {first: "CURRENT", second: "PENDING_ROTATION"}
    assert _states(east, key_id) == {first: "CURRENT", second: "PENDING_ROTATION"}
    east.rotate_key_on_demand(KeyId=key_id)

    def rotated() -> None:
        for kms in (east, west):
            assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == second

    eventually(rotated)
    assert _states(west, key_id) == {first: "NON_CURRENT", second: "CURRENT"}
    blob = east.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == second
    assert west.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"


def test_deleting_the_primarys_pending_material_deletes_the_replicas(
    server: ServerProcess,
) -> None:
    east, west, key_id = external_pair(server)
    material, pending = os.urandom(32), os.urandom(32)
    first = import_material(east, key_id, material)["KeyMaterialId"]
    import_material(west, key_id, material)
    waiting = import_material(east, key_id, pending, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    import_material(west, key_id, pending)
    assert _states(west, key_id) == {first: "CURRENT", waiting: "PENDING_ROTATION"}
    east.delete_imported_key_material(KeyId=key_id, KeyMaterialId=waiting)
    assert _states(east, key_id) == {first: "CURRENT"}
    assert _states(west, key_id) == {first: "CURRENT"}
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    # Other material than the key's own is refused as for any key.
    with pytest.raises(ClientError) as exc:
        import_material(east, key_id, os.urandom(32))
    assert code_of(exc) == "IncorrectKeyMaterialException"
