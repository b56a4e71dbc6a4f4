"""KeyMetadata, as DescribeKey, CreateKey and GetPublicKey describe a key.

https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
"""

from __future__ import annotations

from collections.abc import Sequence

from openkms.domain import imports, keyspecs, multi_region
from openkms.domain.custom_key_stores import effective_state
from openkms.domain.keys import Key, KeySpec, KeyState, Origin
from openkms.service.kms.call import OperationCall
from openkms.service.kms.key_stores import store_of
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import KeyMetadata, MultiRegionConfiguration, MultiRegionKey


def key_metadata(call: OperationCall[object], key: Key) -> KeyMetadata:
    """KeyMetadata as DescribeKey returns it for this key."""
    store = store_of(call.tx, key)
    state = effective_state(key, store)
    meta: KeyMetadata = {
        "AWSAccountId": key.account,
        "KeyId": key.public_id,
        "Arn": key.arn,
        "CreationDate": key.created_at,
        "Enabled": state is KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.usage.value,
        "KeyState": state.value,
        "Origin": key.origin.value,
        "KeyManager": key.manager.value,
        "CustomerMasterKeySpec": key.spec.value,
        "KeySpec": key.spec.value,
    }
    if store is not None:
        meta["CustomKeyStoreId"] = store.store_id
        if store.cluster_id is not None:
            meta["CloudHsmClusterId"] = store.cluster_id
    if key.xks_key_id is not None:
        meta["XksKeyConfiguration"] = {"Id": key.xks_key_id}
    caps = keyspecs.capabilities(key.spec, key.usage)
    if caps.encryption:
        meta["EncryptionAlgorithms"] = list(caps.encryption)
    if caps.signing:
        meta["SigningAlgorithms"] = list(caps.signing)
    if caps.mac:
        meta["MacAlgorithms"] = list(caps.mac)
    if caps.key_agreement:
        meta["KeyAgreementAlgorithms"] = list(caps.key_agreement)
    meta["MultiRegion"] = key.multi_region
    if key.multi_region:
        meta["MultiRegionConfiguration"] = multi_region_configuration(
            key, key_records.related_keys(call.tx, key.account, key.public_id)
        )
    if key.deletion_date is not None:
        meta["DeletionDate"] = key.deletion_date
    if key.pending_window_days is not None:  # also PendingReplicaDeletion, with no date yet
        meta["PendingDeletionWindowInDays"] = key.pending_window_days
    if key.origin is Origin.EXTERNAL:
        expiry = imports.expiry(key, key_records.list_materials(call.tx, key.key_id))
        if expiry is not None:
            meta["ExpirationModel"] = expiry[0].value
            if expiry[1] is not None:
                meta["ValidTo"] = expiry[1]
    if key.spec is KeySpec.SYMMETRIC_DEFAULT:  # AWS shows it for symmetric keys only
        material_id = call.material_id(key, key.current_version)
        if material_id is not None:
            meta["CurrentKeyMaterialId"] = material_id
    return meta


def multi_region_configuration(key: Key, related: Sequence[Key]) -> MultiRegionConfiguration:
    """MultiRegionConfiguration of a multi-Region key: its type, the primary key and every
    replica (the key itself included, in the list its type puts it in)."""
    kind = multi_region.key_type(key)
    assert kind is not None and key.primary_region is not None  # a multi-Region key
    replicas: list[MultiRegionKey] = [
        {"Arn": other.arn, "Region": other.region}
        for other in related
        if other.region != key.primary_region
    ]
    return {
        "MultiRegionKeyType": kind.value,
        "PrimaryKey": {"Arn": multi_region.primary_arn(key), "Region": key.primary_region},
        "ReplicaKeys": replicas,
    }
