"""The AWS Encryption SDK's multi-Region-aware keyrings and master key providers against
a live server (SQLite and PostgreSQL): a message encrypted under a multi-Region key in one
Region decrypts in another Region with the replica's ARN (or by discovery), as the SDK's
MRK-aware components allow; a plain (not MRK-aware) keyring with the replica's ARN does not.
"""

from __future__ import annotations

import os

import aws_encryption_sdk
import botocore.session
import pytest
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CreateAwsKmsKeyringInput,
    CreateAwsKmsMrkDiscoveryKeyringInput,
    CreateAwsKmsMrkKeyringInput,
    DiscoveryFilter,
)
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.key_providers.kms import MRKAwareStrictAwsKmsMasterKeyProvider
from test_encryption_sdk import aws_env  # noqa: F401 (a fixture)
from test_multi_region_keys import OTHER, kms_in, wait_state

from conftest import ACCOUNT, REGION

CONTEXT = {"tenant": "a", "purpose": "esdk-mrk"}


@pytest.fixture()
def esdk() -> aws_encryption_sdk.EncryptionSDKClient:
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def _related_arns(server) -> tuple[str, str]:
    east = kms_in(server, REGION)
    meta = east.create_key(MultiRegion=True, Description="esdk mrk")["KeyMetadata"]
    east.replicate_key(KeyId=meta["KeyId"], ReplicaRegion=OTHER)
    wait_state(kms_in(server, OTHER), meta["KeyId"], "Enabled")
    return meta["Arn"], f"arn:aws:kms:{OTHER}:{ACCOUNT}:key/{meta['KeyId']}"


def test_mrk_keyrings_decrypt_in_the_other_region(server, esdk) -> None:
    east_arn, west_arn = _related_arns(server)
    east, west = kms_in(server, REGION), kms_in(server, OTHER)
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    encrypting = mpl.create_aws_kms_mrk_keyring(
        input=CreateAwsKmsMrkKeyringInput(kms_key_id=east_arn, kms_client=east)
    )
    data = os.urandom(1 << 16)
    message, header = esdk.encrypt(source=data, keyring=encrypting, encryption_context=CONTEXT)
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [east_arn]

    replica_ring = mpl.create_aws_kms_mrk_keyring(
        input=CreateAwsKmsMrkKeyringInput(kms_key_id=west_arn, kms_client=west)
    )
    plaintext, _ = esdk.decrypt(source=message, keyring=replica_ring, encryption_context=CONTEXT)
    assert plaintext == data
    discovery = mpl.create_aws_kms_mrk_discovery_keyring(
        input=CreateAwsKmsMrkDiscoveryKeyringInput(
            kms_client=west,
            region=OTHER,
            discovery_filter=DiscoveryFilter(account_ids=[ACCOUNT], partition="aws"),
        )
    )
    assert esdk.decrypt(source=message, keyring=discovery)[0] == data
    # A keyring that is not MRK-aware wants the exact ARN the message names.
    plain = mpl.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=west_arn, kms_client=west)
    )
    with pytest.raises(AWSEncryptionSDKClientError):
        esdk.decrypt(source=message, keyring=plain)


def test_mrk_aware_master_key_provider(server, esdk, aws_env) -> None:  # noqa: F811
    east_arn, west_arn = _related_arns(server)
    encrypting = MRKAwareStrictAwsKmsMasterKeyProvider(
        key_ids=[east_arn], botocore_session=botocore.session.Session()
    )
    data = os.urandom(4096)
    message, _ = esdk.encrypt(source=data, key_provider=encrypting, encryption_context=CONTEXT)
    decrypting = MRKAwareStrictAwsKmsMasterKeyProvider(
        key_ids=[west_arn], botocore_session=botocore.session.Session()
    )
    plaintext, header = esdk.decrypt(source=message, key_provider=decrypting)
    assert plaintext == data
    assert header.encryption_context["purpose"] == "esdk-mrk"
