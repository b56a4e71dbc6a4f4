"""Grant rules: constraints, operations per key type, child grants, who may retire."""

from __future__ import annotations

import pytest

from openkms.domain import grants as g
from openkms.domain.grants import ConstraintKind, Grant, GrantConstraints, GrantOperation
from openkms.domain.keys import Key, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from openkms.errors import ValidationException

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
GRANT_ID = "ab" * 32

EQ, SUB = ConstraintKind.EQUALS, ConstraintKind.SUBSET
FINANCE = {"Department": "Finance", "Classification": "Public"}


def key(
    spec: KeySpec = KeySpec.SYMMETRIC_DEFAULT, usage: KeyUsage = KeyUsage.ENCRYPT_DECRYPT
) -> Key:
    return Key(
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        account=ACCOUNT,
        region="us-east-1",
        spec=spec,
        usage=usage,
        origin=Origin.AWS_KMS,
        manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        description="",
        policy="{}",
        created_at=0.0,
        current_version=1,
    )


def grant(
    grantee: str = ALICE,
    ops: tuple[str, ...] = ("Decrypt",),
    constraints: GrantConstraints | None = None,
    retiring: str | None = None,
    issuing: str = ACCOUNT,
    grant_id: str = GRANT_ID,
) -> Grant:
    return Grant(
        grant_id=grant_id,
        key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
        account=ACCOUNT,
        region="us-east-1",
        name=None,
        grantee_principal=grantee,
        retiring_principal=retiring,
        operations=tuple(GrantOperation(op) for op in ops),
        constraints=constraints,
        issuing_account=issuing,
        creation_date=0.0,
    )


# --- encryption context constraints ------------------------------------------------------

CONSTRAINT_CASES = [
    # The examples of "Using grant constraints" / "Grants in AWS KMS".
    (SUB, FINANCE, {"Department": "Finance", "Classification": "Public"}, True),
    (SUB, FINANCE, {"Classification": "Public", "Department": "Finance"}, True),
    (
        SUB,
        FINANCE,
        {
            "Customer": "12345",
            "Department": "Finance",
            "Classification": "Public",
            "Purpose": "Test",
        },
        True,
    ),
    (SUB, FINANCE, {"Department": "Finance"}, False),
    (SUB, FINANCE, {"department": "finance", "classification": "public"}, False),
    (SUB, FINANCE, {"Classification": "Public", "Customer": "12345"}, False),
    (SUB, FINANCE, None, False),
    (SUB, FINANCE, {}, False),
    # "the key in each key-value pair is not case sensitive, but the value is".
    (SUB, FINANCE, {"DEPARTMENT": "Finance", "classification": "Public"}, True),
    (SUB, {}, None, True),
    (EQ, {"Department": "IT"}, {"Department": "IT"}, True),
    (EQ, {"Department": "IT"}, {"department": "IT"}, True),
    (EQ, {"Department": "IT"}, {"Department": "it"}, False),
    (EQ, {"Department": "IT"}, {"Department": "IT", "Purpose": "Test"}, False),
    (EQ, {"Department": "IT", "Purpose": "Test"}, {"Department": "IT"}, False),
    (EQ, {"Department": "IT"}, {}, False),
    (EQ, {"Department": "IT"}, None, False),
    (EQ, {}, None, True),
    (EQ, {}, {}, True),
    (EQ, {}, {"a": "b"}, False),
    (EQ, FINANCE, {"Classification": "Public", "Department": "Finance"}, True),
]


@pytest.mark.parametrize(("kind", "constraint", "request_context", "allowed"), CONSTRAINT_CASES)
def test_constraint_semantics(kind, constraint, request_context, allowed) -> None:
    assert GrantConstraints.of(kind, constraint).allows(request_context) is allowed


def test_constraints_compare_equal_whatever_the_order() -> None:
    assert GrantConstraints.of(EQ, {"a": "1", "b": "2"}) == GrantConstraints.of(
        EQ, {"b": "2", "a": "1"}
    )
    assert GrantConstraints.of(EQ, {"a": "1"}) != GrantConstraints.of(SUB, {"a": "1"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({}, None),
        ({"EncryptionContextSubset": None}, None),
        ({"EncryptionContextSubset": {"a": "b"}}, GrantConstraints(SUB, (("a", "b"),))),
        (
            {"EncryptionContextEquals": {"b": "2", "a": "1"}},
            GrantConstraints(EQ, (("a", "1"), ("b", "2"))),
        ),
    ],
)
def test_parse_constraints(raw, expected) -> None:
    assert g.parse_constraints(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {"a": "b"}},
        {"EncryptionContextSubset": {str(i): "v" for i in range(9)}},
        {"EncryptionContextEquals": {"k": "v" * 384}},
    ],
)
def test_parse_constraints_refuses(raw) -> None:
    with pytest.raises(ValidationException):
        g.parse_constraints(raw)


def test_eight_pairs_and_384_characters_are_allowed() -> None:
    assert g.parse_constraints({"EncryptionContextSubset": {str(i): "v" for i in range(8)}})
    assert g.parse_constraints({"EncryptionContextEquals": {"k": "v" * 383}})


# --- operations per key type -------------------------------------------------------------

COMMON = {"CreateGrant", "RetireGrant", "DescribeKey"}
SYMMETRIC = COMMON | {
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
}
KEY_TYPES = [
    (KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT, SYMMETRIC),
    (
        KeySpec.RSA_2048,
        KeyUsage.ENCRYPT_DECRYPT,
        COMMON | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    ),
    (KeySpec.RSA_3072, KeyUsage.SIGN_VERIFY, COMMON | {"Sign", "Verify", "GetPublicKey"}),
    (KeySpec.ECC_NIST_P256, KeyUsage.SIGN_VERIFY, COMMON | {"Sign", "Verify", "GetPublicKey"}),
    (
        KeySpec.ECC_NIST_EDWARDS25519,
        KeyUsage.SIGN_VERIFY,
        COMMON | {"Sign", "Verify", "GetPublicKey"},
    ),
    (KeySpec.ML_DSA_65, KeyUsage.SIGN_VERIFY, COMMON | {"Sign", "Verify", "GetPublicKey"}),
    (
        KeySpec.ECC_NIST_P384,
        KeyUsage.KEY_AGREEMENT,
        COMMON | {"DeriveSharedSecret", "GetPublicKey"},
    ),
    (KeySpec.HMAC_256, KeyUsage.GENERATE_VERIFY_MAC, COMMON | {"GenerateMac", "VerifyMac"}),
    (
        KeySpec.ML_KEM_768,
        KeyUsage.ENCAPSULATE_DECAPSULATE,
        COMMON | {"Encapsulate", "Decapsulate", "GetPublicKey"},
    ),
]
MATRIX = [
    (spec, usage, op.value, op.value in allowed)
    for spec, usage, allowed in KEY_TYPES
    for op in GrantOperation
]


@pytest.mark.parametrize(("spec", "usage", "operation", "valid"), MATRIX)
def test_operations_per_key_type(spec, usage, operation, valid) -> None:
    ops = g.parse_operations([operation, "DescribeKey"])
    target = key(spec, usage)
    if valid:
        g.check_new_grant(target, ops, None)
    else:
        with pytest.raises(ValidationException) as exc:
            g.check_new_grant(target, ops, None)
        assert f"[{operation}]" in exc.value.message and target.arn in exc.value.message


def test_a_grant_of_only_create_grant_is_refused() -> None:
    with pytest.raises(ValidationException) as exc:
        g.check_new_grant(key(), g.parse_operations(["CreateGrant", "CreateGrant"]), None)
    assert exc.value.message == "Grants must not contain only the CreateGrant operation."
    g.check_new_grant(key(), g.parse_operations(["CreateGrant", "Decrypt"]), None)


def test_parse_operations_keeps_request_order_without_duplicates() -> None:
    assert g.parse_operations(["Encrypt", "Decrypt", "Encrypt"]) == (
        GrantOperation.ENCRYPT,
        GrantOperation.DECRYPT,
    )
    for bad in ([], ["ListGrants"]):
        with pytest.raises(ValidationException):
            g.parse_operations(bad)


@pytest.mark.parametrize(
    ("spec", "usage", "ops", "valid"),
    [
        (KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT, ["Decrypt", "GenerateDataKey"], True),
        # "Grants with encryption context grant constraints can include the DescribeKey and
        # RetireGrant operations" (and CreateGrant, with stricter children).
        (
            KeySpec.SYMMETRIC_DEFAULT,
            KeyUsage.ENCRYPT_DECRYPT,
            ["DescribeKey", "RetireGrant", "CreateGrant", "Encrypt"],
            True,
        ),
        (KeySpec.RSA_2048, KeyUsage.ENCRYPT_DECRYPT, ["Decrypt"], False),
        (KeySpec.RSA_2048, KeyUsage.ENCRYPT_DECRYPT, ["DescribeKey"], False),
        (KeySpec.ECC_NIST_P256, KeyUsage.SIGN_VERIFY, ["Sign"], False),
        (KeySpec.HMAC_256, KeyUsage.GENERATE_VERIFY_MAC, ["GenerateMac"], False),
    ],
)
def test_constraints_need_a_symmetric_encryption_key(spec, usage, ops, valid) -> None:
    constraints = GrantConstraints.of(SUB, {"a": "b"})
    if valid:
        g.check_new_grant(key(spec, usage), g.parse_operations(ops), constraints)
    else:
        with pytest.raises(ValidationException):
            g.check_new_grant(key(spec, usage), g.parse_operations(ops), constraints)


# --- using grants ------------------------------------------------------------------------

SUBSET_IT = GrantConstraints.of(SUB, {"Department": "IT"})


@pytest.mark.parametrize(
    ("grants", "principals", "operation", "context", "expected"),
    [
        ([grant()], [ALICE], "Decrypt", None, 0),
        ([grant()], [ALICE], "kms:Decrypt", None, 0),
        ([grant()], [BOB], "Decrypt", None, None),
        ([grant()], [ALICE], "Encrypt", None, None),
        ([grant()], [ALICE], "ScheduleKeyDeletion", None, None),
        ([grant()], [ALICE], "decrypt", None, None),
        (
            [grant(grantee=ROLE)],
            [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s", ROLE],
            "Decrypt",
            None,
            0,
        ),
        (
            [grant(grantee=ROLE)],
            [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s"],
            "Decrypt",
            None,
            None,
        ),
        ([grant(constraints=SUBSET_IT)], [ALICE], "Decrypt", {"Department": "IT", "x": "y"}, 0),
        ([grant(constraints=SUBSET_IT)], [ALICE], "Decrypt", {"Department": "HR"}, None),
        ([grant(constraints=SUBSET_IT)], [ALICE], "Decrypt", None, None),
        # The constraint does not apply to operations without an encryption context.
        (
            [grant(ops=("DescribeKey", "Decrypt"), constraints=SUBSET_IT)],
            [ALICE],
            "DescribeKey",
            None,
            0,
        ),
        ([grant(ops=("RetireGrant",), constraints=SUBSET_IT)], [ALICE], "kms:RetireGrant", None, 0),
        # The first grant that allows wins; later ones are still consulted.
        (
            [grant(constraints=SUBSET_IT), grant(grant_id="cd" * 32)],
            [ALICE],
            "Decrypt",
            {"Department": "HR"},
            1,
        ),
        ([grant(grantee=BOB), grant(grant_id="cd" * 32)], [ALICE], "Decrypt", None, 1),
        ([], [ALICE], "Decrypt", None, None),
    ],
)
def test_grant_allows(grants, principals, operation, context, expected) -> None:
    found = g.grant_allows(grants, principals, operation, context)
    assert found is (None if expected is None else grants[expected])


PARENT_SUBSET = grant(ops=("Decrypt", "GenerateDataKey", "CreateGrant"), constraints=SUBSET_IT)


@pytest.mark.parametrize(
    ("parent", "ops", "constraints", "within"),
    [
        (PARENT_SUBSET, ["Decrypt"], SUBSET_IT, True),
        (
            PARENT_SUBSET,
            ["Decrypt", "CreateGrant"],
            GrantConstraints.of(EQ, {"Department": "IT"}),
            True,
        ),
        (
            PARENT_SUBSET,
            ["Decrypt"],
            GrantConstraints.of(SUB, {"Department": "IT", "P": "T"}),
            True,
        ),
        (PARENT_SUBSET, ["Decrypt"], GrantConstraints.of(SUB, {"department": "IT"}), True),
        (PARENT_SUBSET, ["Decrypt"], GrantConstraints.of(SUB, {"Purpose": "Test"}), False),
        (PARENT_SUBSET, ["Decrypt"], None, False),
        (PARENT_SUBSET, ["Encrypt"], SUBSET_IT, False),
        (grant(ops=("Decrypt", "CreateGrant")), ["Decrypt"], None, True),
        (grant(ops=("Decrypt", "CreateGrant")), ["Decrypt"], SUBSET_IT, True),
        (
            grant(ops=("Decrypt", "CreateGrant"), constraints=GrantConstraints.of(EQ, {"a": "1"})),
            ["Decrypt"],
            GrantConstraints.of(EQ, {"a": "1"}),
            True,
        ),
        (
            grant(ops=("Decrypt", "CreateGrant"), constraints=GrantConstraints.of(EQ, {"a": "1"})),
            ["Decrypt"],
            GrantConstraints.of(EQ, {"a": "1", "b": "2"}),
            False,
        ),
        (
            grant(ops=("Decrypt", "CreateGrant"), constraints=GrantConstraints.of(EQ, {"a": "1"})),
            ["Decrypt"],
            GrantConstraints.of(SUB, {"a": "1"}),
            False,
        ),
    ],
)
def test_child_grants_are_at_least_as_strict(parent, ops, constraints, within) -> None:
    assert g.is_within(parent, g.parse_operations(ops), constraints) is within


OTHER_ROOT = "arn:aws:iam::444455556666:root"


@pytest.mark.parametrize(
    ("the_grant", "principals", "allowed"),
    [
        (grant(retiring=BOB), [BOB], True),
        (grant(retiring=OTHER_ROOT), [OTHER_ROOT], True),
        (grant(retiring=BOB), [ALICE], False),
        (grant(ops=("Decrypt", "RetireGrant")), [ALICE], True),
        (grant(ops=("Decrypt",)), [ALICE], False),
        (grant(), [f"arn:aws:iam::{ACCOUNT}:root"], True),
        (grant(issuing="444455556666"), [f"arn:aws:iam::{ACCOUNT}:root"], False),
        (grant(issuing="444455556666"), [OTHER_ROOT], True),
        (grant(retiring=ROLE), [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s", ROLE], True),
    ],
)
def test_who_may_retire(the_grant, principals, allowed) -> None:
    assert g.may_retire(the_grant, principals) is allowed
