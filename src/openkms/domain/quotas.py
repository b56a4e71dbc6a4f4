"""AWS KMS's request quotas: which quota each request counts against, and its default rate.

From AWS's "Request quotas" page
(https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html), the
table as published in 2023-2025; every value is per account and Region, in requests per
second, and overridable (``openkms admin quota set``):

* Cryptographic operations share one quota per key type, "calculated separately": the
  symmetric one (Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
  GenerateMac, GenerateRandom, ReEncrypt, VerifyMac) is 10,000, 20,000 or 100,000 by
  Region; RSA keys 1,000; elliptic-curve keys 1,000 (Sign, Verify, DeriveSharedSecret).
  AWS's table lists GenerateMac and VerifyMac under the symmetric quota's name, whose
  value it says varies with "the type of KMS key used in the request": requests on HMAC
  keys are counted in a bucket of their own (``crypto-hmac``) with the symmetric default.
  ML-DSA and SM2 keys count with the elliptic-curve ones (their own quotas exist only in
  some Regions). GenerateRandom uses no key: the symmetric quota.
* GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext share one quota per data key
  pair spec (RSA_4096: one request in ten seconds).
* Every other operation has its own quota (CreateKey 5, DescribeKey 2,000, ...); an
  operation AWS's table does not list (RotateKeyOnDemand, ListKeyRotations,
  GetKeyLastUsage) is not limited.

Cross-account requests count against the caller's account, not the key owner's (AWS:
"AWS KMS throttles the account that makes the requests"). Custom key store quotas (1,800
per store) are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openkms.domain.keys import KeySpec

#: ThrottlingException's message, as AWS sends it.
THROTTLED_MESSAGE = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)

SYMMETRIC = "crypto-symmetric"
RSA = "crypto-rsa"
ECC = "crypto-ecc"
HMAC = "crypto-hmac"
#: GenerateDataKeyPair's quotas are ``PAIR_PREFIX + KeyPairSpec``.
PAIR_PREFIX = "GenerateDataKeyPair:"

#: The operations that share the per-key-type quotas (AWS: "cryptographic operations").
CRYPTO_OPERATIONS = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "ReEncrypt",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
    }
)
PAIR_OPERATIONS = frozenset({"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"})

_SYMMETRIC_BY_REGION = {
    **dict.fromkeys(("us-east-1", "us-west-2", "eu-west-1"), 100_000.0),
    **dict.fromkeys(
        (
            "us-east-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-northeast-1",
            "eu-central-1",
            "eu-west-2",
        ),
        20_000.0,
    ),
}
_SYMMETRIC_ELSEWHERE = 10_000.0

#: Per-operation quotas (requests per second) and the other shared ones, by quota name.
DEFAULTS: Mapping[str, float] = {
    RSA: 1_000.0,
    ECC: 1_000.0,
    PAIR_PREFIX + "ECC_NIST_P256": 25.0,
    PAIR_PREFIX + "ECC_NIST_P384": 10.0,
    PAIR_PREFIX + "ECC_NIST_P521": 5.0,
    PAIR_PREFIX + "ECC_SECG_P256K1": 25.0,
    PAIR_PREFIX + "RSA_2048": 1.0,
    PAIR_PREFIX + "RSA_3072": 0.5,
    PAIR_PREFIX + "RSA_4096": 0.1,
    "CancelKeyDeletion": 5.0,
    "ConnectCustomKeyStore": 5.0,
    "CreateAlias": 5.0,
    "CreateCustomKeyStore": 5.0,
    "CreateGrant": 50.0,
    "CreateKey": 5.0,
    "DeleteAlias": 15.0,
    "DeleteCustomKeyStore": 5.0,
    "DeleteImportedKeyMaterial": 5.0,
    "DescribeCustomKeyStores": 5.0,
    "DescribeKey": 2_000.0,
    "DisableKey": 5.0,
    "DisableKeyRotation": 5.0,
    "DisconnectCustomKeyStore": 5.0,
    "EnableKey": 5.0,
    "EnableKeyRotation": 15.0,
    "GetKeyPolicy": 1_000.0,
    "GetKeyRotationStatus": 1_000.0,
    "GetParametersForImport": 0.25,
    "GetPublicKey": 2_000.0,
    "ImportKeyMaterial": 5.0,
    "ListAliases": 500.0,
    "ListGrants": 100.0,
    "ListKeyPolicies": 100.0,
    "ListKeys": 500.0,
    "ListResourceTags": 2_000.0,
    "ListRetirableGrants": 100.0,
    "PutKeyPolicy": 15.0,
    "ReplicateKey": 5.0,
    "RetireGrant": 30.0,
    "RevokeGrant": 30.0,
    "ScheduleKeyDeletion": 15.0,
    "TagResource": 10.0,
    "UntagResource": 5.0,
    "UpdateAlias": 5.0,
    "UpdateCustomKeyStore": 5.0,
    "UpdateKeyDescription": 5.0,
    "UpdatePrimaryRegion": 5.0,
}

#: What ``openkms admin quota list`` calls each shared quota (AWS's Service Quotas names).
SHARED_NAMES: Mapping[str, str] = {
    SYMMETRIC: "Cryptographic operations (symmetric) request rate",
    RSA: "Cryptographic operations (RSA) request rate",
    ECC: "Cryptographic operations (ECC) request rate",
    HMAC: "Cryptographic operations (symmetric) request rate, HMAC keys",
}


def default_rate(quota: str, region: str) -> float | None:
    """AWS's default rate of ``quota`` in ``region`` (None: not limited)."""
    if quota in (SYMMETRIC, HMAC):
        return _SYMMETRIC_BY_REGION.get(region, _SYMMETRIC_ELSEWHERE)
    return DEFAULTS.get(quota)


def known_quotas() -> list[str]:
    """Every request quota's name, shared ones first."""
    return [SYMMETRIC, HMAC, *DEFAULTS]


def is_known(quota: str) -> bool:
    """A request quota's or a resource quota's name."""
    return quota in (SYMMETRIC, HMAC) or quota in DEFAULTS or quota in RESOURCE_DEFAULTS


def key_quota(spec: KeySpec) -> str:
    """The shared cryptographic quota requests on a key of ``spec`` count against."""
    return _BY_SPEC[spec]


def _spec_quota(spec: KeySpec) -> str:
    name = spec.value
    if name.startswith("RSA_"):
        return RSA
    if name.startswith("HMAC_"):
        return HMAC
    if spec is KeySpec.SYMMETRIC_DEFAULT:
        return SYMMETRIC
    return ECC  # ECC_*, SM2, ML_DSA_* (and ML_KEM_*, which no listed operation uses)


_BY_SPEC = {spec: _spec_quota(spec) for spec in KeySpec}


def request_quota(operation: str, params: Mapping[str, Any]) -> str | None:
    """The quota a request counts against before its key is known: its own, GenerateRandom's
    (symmetric) or its data key pair spec's; None for the cryptographic operations (their
    key's type decides: :func:`key_quota`) and for operations with no quota."""
    if operation in PAIR_OPERATIONS:
        spec = params.get("KeyPairSpec")
        return PAIR_PREFIX + spec if isinstance(spec, str) else None
    if operation == "GenerateRandom":
        return SYMMETRIC
    if operation in DEFAULTS:
        return operation
    return None


def also_counts(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(Region, quota) a request counts against besides its own quota in its own Region.
    AWS: "A ReplicateKey operation counts as one ReplicateKey request in the primary key's
    Region and two CreateKey requests in the replica's Region"; "An UpdatePrimaryRegion
    operation counts as two UpdatePrimaryRegion requests; one request in each of the two
    affected Regions"."""
    if operation == "ReplicateKey" and isinstance(params.get("ReplicaRegion"), str):
        return [(params["ReplicaRegion"], "CreateKey")] * 2
    if operation == "UpdatePrimaryRegion" and isinstance(params.get("PrimaryRegion"), str):
        return [(params["PrimaryRegion"], "UpdatePrimaryRegion")]
    return []


# -- resource quotas --------------------------------------------------------------------
# AWS's "Resource quotas" page (resource-limits.html): per account and Region, each
# adjustable there and here (``openkms admin quota set --quota keys-per-region ...``). The
# key policy size (32 KB, openkms.authz.document) and tags per key (50,
# openkms.domain.tags) are fixed, as in AWS.
KEYS_PER_REGION = "keys-per-region"
ALIASES_PER_KEY = "aliases-per-key"
GRANTS_PER_KEY = "grants-per-key"
GRANTS_PER_PRINCIPAL_PER_KEY = "grants-per-principal-per-key"

RESOURCE_DEFAULTS: Mapping[str, int] = {
    KEYS_PER_REGION: 100_000,  # customer managed keys, in any state
    ALIASES_PER_KEY: 50,  # customer created aliases of one customer managed key
    GRANTS_PER_KEY: 50_000,
    GRANTS_PER_PRINCIPAL_PER_KEY: 500,  # grants on one key for the same grantee principal
}
