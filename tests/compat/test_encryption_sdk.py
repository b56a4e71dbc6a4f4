"""The AWS Encryption SDK for Python (4.x) against a live server, on SQLite and PostgreSQL.

(a) the legacy ``StrictAwsKmsMasterKeyProvider``, which builds its own KMS clients and
is pointed at the server with ``AWS_ENDPOINT_URL_KMS``; (b) MPL keyrings with an
explicit boto3 client, including a multi-keyring.
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
    CreateMultiKeyringInput,
)
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError as ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY

CONTEXT = {"tenant": "a", "purpose": "esdk-test"}


@pytest.fixture()
def esdk() -> aws_encryption_sdk.EncryptionSDKClient:
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


@pytest.fixture()
def aws_env(server, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", server.endpoint)


def assert_context(header_context: dict[str, str]) -> None:
    for name, value in CONTEXT.items():
        assert header_context.get(name) == value, header_context


def test_legacy_master_key_provider_via_env(server, kms, esdk, aws_env) -> None:
    key_arn = kms.create_key(Description="esdk legacy")["KeyMetadata"]["Arn"]
    session = botocore.session.Session()
    calls: list[tuple[str, str]] = []

    def record(request, **_: object) -> None:
        calls.append((request.headers["X-Amz-Target"].decode(), request.url))

    session.register("before-send.kms", record)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[key_arn], botocore_session=session
    )
    data = os.urandom(1 << 20)
    ciphertext, header = esdk.encrypt(
        source=data, key_provider=provider, encryption_context=CONTEXT
    )
    assert data not in ciphertext and len(ciphertext) > len(data)
    assert_context(header.encryption_context)
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [key_arn]

    plaintext, dec_header = esdk.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == data
    assert_context(dec_header.encryption_context)
    targets = [target for target, _ in calls]
    assert targets == ["TrentService.GenerateDataKey", "TrentService.Decrypt"], targets
    assert all(url.startswith(server.endpoint) for _, url in calls), calls

    # The data key is bound to the caller's context: a tampered header fails to decrypt.
    tampered = ciphertext.replace(b"esdk-test", b"esdk-TEST", 1)
    assert tampered != ciphertext
    with pytest.raises(ClientError):
        esdk.decrypt(source=tampered, key_provider=provider)


def test_mpl_keyrings_with_explicit_client(server, kms, esdk) -> None:
    arn1 = kms.create_key(Description="esdk ring 1")["KeyMetadata"]["Arn"]
    arn2 = kms.create_key(Description="esdk ring 2")["KeyMetadata"]["Arn"]
    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    ring1 = mpl.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=arn1, kms_client=kms)
    )
    ring2 = mpl.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=arn2, kms_client=kms)
    )

    data = os.urandom(1 << 20)
    single, header = esdk.encrypt(source=data, keyring=ring1, encryption_context=CONTEXT)
    assert_context(header.encryption_context)
    plaintext, dec_header = esdk.decrypt(source=single, keyring=ring1, encryption_context=CONTEXT)
    assert plaintext == data
    assert_context(dec_header.encryption_context)

    multi = mpl.create_multi_keyring(
        input=CreateMultiKeyringInput(generator=ring1, child_keyrings=[ring2])
    )
    ciphertext, header = esdk.encrypt(source=data, keyring=multi, encryption_context=CONTEXT)
    assert_context(header.encryption_context)
    assert sorted(k.key_provider.key_info.decode() for k in header.encrypted_data_keys) == sorted(
        [arn1, arn2]
    )

    # The second key alone opens the message, even with the first key disabled.
    kms.disable_key(KeyId=arn1)
    plaintext, dec_header = esdk.decrypt(
        source=ciphertext, keyring=ring2, encryption_context=CONTEXT
    )
    assert plaintext == data
    assert_context(dec_header.encryption_context)
    with pytest.raises(ClientError, match="No Configured KMS Key was able to decrypt"):
        esdk.decrypt(source=ciphertext, keyring=ring1, encryption_context=CONTEXT)
    # And a message for ring1 only cannot be opened by ring2.
    kms.enable_key(KeyId=arn1)
    with pytest.raises(ClientError, match="No Encrypted Data Keys found to match"):
        esdk.decrypt(source=single, keyring=ring2, encryption_context=CONTEXT)
    assert esdk.decrypt(source=single, keyring=ring1)[0] == data


def _wait_rotated(kms, key_id: str, count: int) -> None:
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{key_id}: rotation {count} did not complete")


def test_messages_survive_rotation_and_reimport(server, kms, esdk) -> None:
    """ESDK messages made before an on-demand rotation, and under imported material that
    was deleted and imported again, still decrypt (and fail while the material is gone);
    messages made after the rotation decrypt as well."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    generated = kms.create_key(Description="esdk rotation")["KeyMetadata"]["Arn"]
    external = kms.create_key(Description="esdk byok", Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    material = os.urandom(32)

    def import_material() -> None:
        params = kms.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
        public = serialization.load_der_public_key(params["PublicKey"])
        assert isinstance(public, rsa.RSAPublicKey)
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        kms.import_key_material(
            KeyId=external,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=public.encrypt(material, oaep),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )

    import_material()
    rings = {
        arn: mpl.create_aws_kms_keyring(
            input=CreateAwsKmsKeyringInput(kms_key_id=arn, kms_client=kms)
        )
        for arn in (generated, external)
    }
    data = os.urandom(4096)
    before = {
        arn: esdk.encrypt(source=data, keyring=ring, encryption_context=CONTEXT)[0]
        for arn, ring in rings.items()
    }

    kms.rotate_key_on_demand(KeyId=generated)
    _wait_rotated(kms, generated, 1)
    kms.delete_imported_key_material(KeyId=external)
    with pytest.raises(ClientError):
        esdk.decrypt(source=before[external], keyring=rings[external], encryption_context=CONTEXT)
    import_material()

    after = esdk.encrypt(source=data, keyring=rings[generated], encryption_context=CONTEXT)[0]
    for arn, message in (*before.items(), (generated, after)):
        assert (
            esdk.decrypt(source=message, keyring=rings[arn], encryption_context=CONTEXT)[0] == data
        )
