"""Which quota each request counts against, and AWS's default rates
(openkms.domain.quotas)."""

from __future__ import annotations

import pytest

from openkms.domain import quotas
from openkms.domain.keys import KeySpec
from openkms.service.kms.ops import REGISTRY


@pytest.mark.parametrize(
    ("spec", "quota"),
    [
        (KeySpec.SYMMETRIC_DEFAULT, quotas.SYMMETRIC),
        (KeySpec.RSA_2048, quotas.RSA),
        (KeySpec.RSA_4096, quotas.RSA),
        (KeySpec.ECC_NIST_P256, quotas.ECC),
        (KeySpec.ECC_SECG_P256K1, quotas.ECC),
        (KeySpec.ML_DSA_65, quotas.ECC),
        (KeySpec.SM2, quotas.ECC),
        (KeySpec.HMAC_256, quotas.HMAC),
    ],
)
def test_shared_cryptographic_quota_by_key_type(spec: KeySpec, quota: str) -> None:
    assert quotas.key_quota(spec) == quota


def test_symmetric_rate_by_region() -> None:
    assert quotas.default_rate(quotas.SYMMETRIC, "us-east-1") == 100_000
    assert quotas.default_rate(quotas.SYMMETRIC, "eu-west-1") == 100_000
    assert quotas.default_rate(quotas.SYMMETRIC, "eu-west-2") == 20_000
    assert quotas.default_rate(quotas.SYMMETRIC, "ap-northeast-1") == 20_000
    assert quotas.default_rate(quotas.SYMMETRIC, "sa-east-1") == 10_000
    assert quotas.default_rate(quotas.HMAC, "sa-east-1") == 10_000
    assert quotas.default_rate(quotas.RSA, "us-east-1") == 1_000
    assert quotas.default_rate("RotateKeyOnDemand", "us-east-1") is None


def test_request_quota_of_each_operation() -> None:
    assert quotas.request_quota("CreateKey", {}) == "CreateKey"
    assert quotas.request_quota("DescribeKey", {}) == "DescribeKey"
    assert quotas.request_quota("GenerateRandom", {}) == quotas.SYMMETRIC
    assert quotas.request_quota("Encrypt", {}) is None  # its key's type decides
    pair = {"KeyPairSpec": "RSA_4096"}
    assert quotas.request_quota("GenerateDataKeyPairWithoutPlaintext", pair) == (
        "GenerateDataKeyPair:RSA_4096"
    )
    assert quotas.default_rate("GenerateDataKeyPair:RSA_4096", "us-east-1") == 0.1
    assert quotas.request_quota("ListKeyRotations", {}) is None


def test_every_served_operation_is_classified() -> None:
    """A new operation must be a cryptographic one, have a quota, or be listed here as
    one AWS's table does not limit."""
    unlimited = {"RotateKeyOnDemand", "ListKeyRotations", "GetKeyLastUsage"}
    for name in REGISTRY:
        classified = (
            name in quotas.CRYPTO_OPERATIONS
            or name in quotas.PAIR_OPERATIONS
            or quotas.request_quota(name, {}) is not None
        )
        assert classified or name in unlimited, name


def test_names_known_to_the_admin_command() -> None:
    assert quotas.is_known("crypto-hmac") and quotas.is_known("CreateGrant")
    assert quotas.is_known("grants-per-principal-per-key")
    assert not quotas.is_known("Encrypt")  # counted in a shared quota, not its own
    assert quotas.RESOURCE_DEFAULTS[quotas.KEYS_PER_REGION] == 100_000
