"""Key policies are enforced on every request, the account root included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_boto3_keys import error_of

ROOT = "arn:aws:iam::111122223333:root"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ADMIN = {
    "Sid": "admin",
    "Effect": "Allow",
    "Principal": {"AWS": ROOT},
    "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"],
    "Resource": "*",
}


def test_explicit_deny_beats_the_root_allow(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.put_key_policy(
        KeyId=key["KeyId"],
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
        ),
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "AccessDeniedException",
        f"User: {ROOT} is not authorized to perform: kms:Encrypt on resource: {key['Arn']} "
        "with an explicit deny in a resource-based policy",
    )
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_no_key_policy_allow_means_no_access_even_for_root(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.put_key_policy(KeyId=key["KeyId"], Policy=policy(ADMIN))
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(exc) == (
        "AccessDeniedException",
        f"User: {ROOT} is not authorized to perform: kms:Encrypt on resource: {key['Arn']} "
        "because no resource-based policy allows the kms:Encrypt action",
    )
    # What the policy does allow still works.
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == policy(ADMIN)


def test_encryption_context_conditions(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.put_key_policy(
        KeyId=key,
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"kms:EncryptionContext:tenant": "a"}},
            },
        ),
    )
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"tenant": "a"})
    assert (
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"tenant": "a"})[
            "Plaintext"
        ]
        == b"x"
    )
    for context in ({"tenant": "b"}, {}):
        with pytest.raises(ClientError) as exc:
            kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)
        assert error_of(exc)[0] == "AccessDeniedException"


def test_policy_lockout_safety_check(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    no_admin = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
        }
    )
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, Policy=no_admin)
    assert error_of(exc) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=no_admin)
    assert error_of(exc)[0] == "MalformedPolicyDocumentException"
    # With the check bypassed the change is made, and the caller is locked out as warned.
    kms.put_key_policy(KeyId=key, Policy=no_admin, BypassPolicyLockoutSafetyCheck=True)
    assert kms.encrypt(KeyId=key, Plaintext=b"still usable")["KeyId"].endswith(key)
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, Policy=policy(ADMIN))
    assert error_of(exc)[0] == "AccessDeniedException"


def test_malformed_policy_messages_name_the_problem(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    bad = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"StringEqualz": {"a": "b"}},
        }
    )
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, Policy=bad)
    code, message = error_of(exc)
    assert code == "MalformedPolicyDocumentException" and "StringEqualz" in message
    too_big = policy({**ADMIN, "Sid": "x" * 33000})
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key, Policy=too_big)
    # AWS (PutKeyPolicy, Policy): "If the key policy exceeds the length constraint, KMS
    # returns a LimitExceededException."
    code, message = error_of(exc)
    assert code == "LimitExceededException" and "32768" in message


ALLOW_ALL = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}


def test_lifecycle_condition_keys(kms) -> None:
    """The condition keys of AWS's lifecycle examples: kms:RotationPeriodInDays on
    EnableKeyRotation, kms:WrappingKeySpec on GetParametersForImport, kms:ExpirationModel
    and kms:ValidTo on ImportKeyMaterial."""
    import os
    import time

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.put_key_policy(
        KeyId=key,
        Policy=policy(
            ALLOW_ALL,
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": "kms:EnableKeyRotation",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"kms:RotationPeriodInDays": 180}},
            },
        ),
    )
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    assert error_of(exc)[0] == "AccessDeniedException"
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=180)
    assert kms.get_key_rotation_status(KeyId=key)["RotationPeriodInDays"] == 180

    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    limit = time.time() + 30 * 86_400
    kms.put_key_policy(
        KeyId=external,
        Policy=policy(
            ALLOW_ALL,
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": "kms:GetParametersForImport",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:WrappingKeySpec": "RSA_2048"}},
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": "kms:ImportKeyMaterial",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
                },
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROOT},
                "Action": "kms:ImportKeyMaterial",
                "Resource": "*",
                "Condition": {"NumericGreaterThan": {"kms:ValidTo": limit}},
            },
        ),
    )
    with pytest.raises(ClientError) as exc:
        kms.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    assert error_of(exc)[0] == "AccessDeniedException"
    material = os.urandom(32)

    def attempt(**expiry: object) -> None:
        params = kms.get_parameters_for_import(
            KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072"
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
            **expiry,
        )

    for refused in (
        {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
        {"ValidTo": time.time() + 60 * 86_400},
    ):
        with pytest.raises(ClientError) as exc:
            attempt(**refused)
        assert error_of(exc)[0] == "AccessDeniedException", refused
    attempt(ValidTo=time.time() + 10 * 86_400)
    assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "Enabled"
