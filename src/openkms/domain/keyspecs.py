"""What each key spec can do: its key usages and, per usage, the algorithms AWS lists.

Source: "Key spec reference" in the AWS KMS Developer Guide
(https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html)
and the CreateKey API reference. DescribeKey, GetPublicKey and the usage checks of
every cryptographic operation read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.domain.keys import Key, KeySpec, KeyUsage
from openkms.errors import InvalidKeyUsageException

_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
_RSA_SIGNING = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The algorithm lists DescribeKey shows for one (spec, usage)."""

    encryption: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    mac: tuple[str, ...] = ()
    key_agreement: tuple[str, ...] = ()


_ECDH = Capabilities(key_agreement=("ECDH",))

CAPABILITIES: dict[tuple[KeySpec, KeyUsage], Capabilities] = {
    (KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT): Capabilities(
        encryption=("SYMMETRIC_DEFAULT",)
    ),
    **{
        (spec, KeyUsage.ENCRYPT_DECRYPT): Capabilities(encryption=_RSA_ENCRYPTION)
        for spec in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096)
    },
    **{
        (spec, KeyUsage.SIGN_VERIFY): Capabilities(signing=_RSA_SIGNING)
        for spec in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096)
    },
    (KeySpec.ECC_NIST_P256, KeyUsage.SIGN_VERIFY): Capabilities(signing=("ECDSA_SHA_256",)),
    (KeySpec.ECC_NIST_P384, KeyUsage.SIGN_VERIFY): Capabilities(signing=("ECDSA_SHA_384",)),
    (KeySpec.ECC_NIST_P521, KeyUsage.SIGN_VERIFY): Capabilities(signing=("ECDSA_SHA_512",)),
    (KeySpec.ECC_SECG_P256K1, KeyUsage.SIGN_VERIFY): Capabilities(signing=("ECDSA_SHA_256",)),
    **{
        (spec, KeyUsage.KEY_AGREEMENT): _ECDH
        for spec in (
            KeySpec.ECC_NIST_P256,
            KeySpec.ECC_NIST_P384,
            KeySpec.ECC_NIST_P521,
        )
    },
    (KeySpec.ECC_NIST_EDWARDS25519, KeyUsage.SIGN_VERIFY): Capabilities(
        signing=("ED25519_SHA_512", "ED25519_PH_SHA_512")
    ),
    **{
        (spec, KeyUsage.SIGN_VERIFY): Capabilities(signing=("ML_DSA_SHAKE_256",))
        for spec in (KeySpec.ML_DSA_44, KeySpec.ML_DSA_65, KeySpec.ML_DSA_87)
    },
    (KeySpec.HMAC_224, KeyUsage.GENERATE_VERIFY_MAC): Capabilities(mac=("HMAC_SHA_224",)),
    (KeySpec.HMAC_256, KeyUsage.GENERATE_VERIFY_MAC): Capabilities(mac=("HMAC_SHA_256",)),
    (KeySpec.HMAC_384, KeyUsage.GENERATE_VERIFY_MAC): Capabilities(mac=("HMAC_SHA_384",)),
    (KeySpec.HMAC_512, KeyUsage.GENERATE_VERIFY_MAC): Capabilities(mac=("HMAC_SHA_512",)),
}


def usages(spec: KeySpec) -> tuple[KeyUsage, ...]:
    """The key usages AWS allows for ``spec`` (empty when OpenKMS cannot make such keys)."""
    return tuple(usage for (s, usage) in CAPABILITIES if s is spec)


#: What a (spec, usage) pair that is not in the table can do: nothing (one shared value,
#: not a new one at every call).
_NO_CAPABILITIES = Capabilities()


def capabilities(spec: KeySpec, usage: KeyUsage) -> Capabilities:
    return CAPABILITIES.get((spec, usage), _NO_CAPABILITIES)


def is_asymmetric(spec: KeySpec) -> bool:
    return spec is not KeySpec.SYMMETRIC_DEFAULT and not spec.value.startswith("HMAC_")


def require_usage(key: Key, usage: KeyUsage, operation: str) -> None:
    """AWS's InvalidKeyUsageException for a key used outside its key usage."""
    if key.usage is not usage:
        raise InvalidKeyUsageException(
            f"{key.arn} key usage is {key.usage.value} which is not valid for {operation}."
        )


def require_algorithm(key: Key, algorithm: str, allowed: tuple[str, ...]) -> None:
    if algorithm not in allowed:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {key.spec.value}."
        )
