"""Grants through boto3: create, list, page, retire, revoke, and their errors."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from test_boto3_keys import error_of

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin-{uuid.uuid4().hex[:8]}"


def key_arn(key_id: str) -> str:
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


def test_create_and_list_a_grant(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    made = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal=ALICE,
        RetiringPrincipal=ADMIN,
        Operations=["Decrypt", "GenerateDataKey"],
        Constraints={"EncryptionContextSubset": {"Department": "IT"}},
        Name="it-decrypt",
    )
    assert len(made["GrantId"]) == 64 and made["GrantToken"]
    grants = kms.list_grants(KeyId=key_id)
    assert grants["Truncated"] is False
    (entry,) = grants["Grants"]
    assert entry["KeyId"] == key_arn(key_id)
    assert entry["GrantId"] == made["GrantId"]
    assert entry["Name"] == "it-decrypt"
    assert entry["GranteePrincipal"] == ALICE
    assert entry["RetiringPrincipal"] == ADMIN
    assert entry["IssuingAccount"] == ROOT
    assert entry["Operations"] == ["Decrypt", "GenerateDataKey"]
    assert entry["Constraints"] == {"EncryptionContextSubset": {"Department": "IT"}}
    assert entry["CreationDate"].year >= 2024


def test_a_bare_grant_lists_without_optional_members(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=key_arn(key_id), GranteePrincipal=ALICE, Operations=["Encrypt"])
    (entry,) = kms.list_grants(KeyId=key_arn(key_id))["Grants"]
    assert entry["Name"] == ""
    assert "RetiringPrincipal" not in entry and "Constraints" not in entry


def test_list_grants_pages_and_filters(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=other, GranteePrincipal=ALICE, Operations=["Encrypt"])
    ids = set()
    for i in range(5):
        grantee = ALICE if i % 2 == 0 else BOB
        ids.add(
            kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=["Encrypt"])[
                "GrantId"
            ]
        )
    seen, marker, pages = [], None, 0
    while True:
        kwargs: dict[str, str] = {"Marker": marker} if marker else {}
        page = kms.list_grants(KeyId=key_id, Limit=2, **kwargs)
        pages += 1
        assert len(page["Grants"]) <= 2
        seen += [g["GrantId"] for g in page["Grants"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert pages == 3 and len(seen) == 5 and set(seen) == ids
    assert [
        g["GrantId"]
        for g in kms.get_paginator("list_grants")
        .paginate(KeyId=key_id)
        .build_full_result()["Grants"]
    ] == seen

    alice = kms.list_grants(KeyId=key_id, GranteePrincipal=ALICE)["Grants"]
    assert len(alice) == 3 and {g["GranteePrincipal"] for g in alice} == {ALICE}
    one = seen[2]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id, GrantId=one)["Grants"]] == [one]
    # A grant of another key is not listed under this one.
    other_id = kms.list_grants(KeyId=other)["Grants"][0]["GrantId"]
    assert kms.list_grants(KeyId=key_id, GrantId=other_id)["Grants"] == []
    assert kms.list_grants(KeyId=key_id, GrantId="0" * 64)["Grants"] == []

    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key_id, Marker="not-a-marker")
    assert error_of(exc)[0] == "InvalidMarkerException"
    with pytest.raises(ClientError) as exc:
        kms.list_grants(KeyId=key_id, GrantId="not-a-grant-id")
    assert error_of(exc) == (
        "InvalidGrantIdException",
        "The request was rejected because the specified GrantId is not valid.",
    )


def test_name_makes_create_grant_idempotent(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    params = {
        "KeyId": key_id,
        "GranteePrincipal": ALICE,
        "Operations": ["Decrypt", "Encrypt"],
        "Constraints": {"EncryptionContextEquals": {"a": "1", "b": "2"}},
        "Name": "retry-me",
    }
    first = kms.create_grant(**params)
    again = kms.create_grant(
        **{
            **params,
            "Operations": ["Encrypt", "Decrypt"],
            "Constraints": {"EncryptionContextEquals": {"b": "2", "a": "1"}},
        }
    )
    assert again["GrantId"] == first["GrantId"]
    assert again["GrantToken"] != first["GrantToken"]
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1
    # Both tokens name the grant.
    kms.retire_grant(GrantToken=again["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []

    a = kms.create_grant(**params)
    b = kms.create_grant(**{**params, "GranteePrincipal": BOB})
    without_name = {k: v for k, v in params.items() if k != "Name"}
    unnamed = [kms.create_grant(**without_name)["GrantId"] for _ in range(2)]
    assert len({a["GrantId"], b["GrantId"], *unnamed}) == 4
    # The same name on another key is another grant.
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.create_grant(**{**params, "KeyId": other})["GrantId"] != a["GrantId"]


def test_retire_by_token_and_by_key_and_grant_id(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    by_token = kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    by_id = kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    kms.retire_grant(GrantToken=by_token["GrantToken"])
    kms.retire_grant(KeyId=key_arn(key_id), GrantId=by_id["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(GrantToken=by_token["GrantToken"])
    assert error_of(exc) == ("NotFoundException", f"Grant ID {by_token['GrantId']} not found")
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(KeyId=key_id, GrantId=by_id["GrantId"])
    assert error_of(exc) == ("NotFoundException", f"Grant ID {by_id['GrantId']} not found")


def test_retire_grant_errors(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    made = kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    for token in ("junk", made["GrantToken"][:-2], made["GrantToken"] + "AA"):
        with pytest.raises(ClientError) as exc:
            kms.retire_grant(GrantToken=token)
        assert error_of(exc) == (
            "InvalidGrantTokenException",
            "The request was rejected because the specified grant token is not valid.",
        )
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(GrantId=made["GrantId"])
    assert error_of(exc) == (
        "ValidationException",
        "Grant token OR (grant ID, key ID) must be specified",
    )
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(KeyId=other, GrantId=made["GrantId"])
    assert error_of(exc)[0] == "NotFoundException"
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1


def test_revoke_grant(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    made = kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=other, GrantId=made["GrantId"])
    assert error_of(exc) == ("NotFoundException", f"Grant ID {made['GrantId']} not found")
    kms.disable_key(KeyId=key_id)  # revoking works in every key state
    kms.revoke_grant(KeyId=key_id, GrantId=made["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_id, GrantId=made["GrantId"])
    assert error_of(exc) == ("NotFoundException", f"Grant ID {made['GrantId']} not found")
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_id, GrantId="xyz")
    assert error_of(exc)[0] == "InvalidGrantIdException"


def test_list_retirable_grants(kms) -> None:
    retiree = f"arn:aws:iam::{ACCOUNT}:role/retiree-{uuid.uuid4().hex[:8]}"
    a = kms.create_key()["KeyMetadata"]["KeyId"]
    b = kms.create_key()["KeyMetadata"]["KeyId"]
    mine = {
        kms.create_grant(
            KeyId=k, GranteePrincipal=ALICE, RetiringPrincipal=retiree, Operations=["Decrypt"]
        )["GrantId"]
        for k in (a, b, a)
    }
    kms.create_grant(KeyId=a, GranteePrincipal=ALICE, RetiringPrincipal=BOB, Operations=["Decrypt"])
    first = kms.list_retirable_grants(RetiringPrincipal=retiree, Limit=2)
    assert first["Truncated"] is True and len(first["Grants"]) == 2
    rest = kms.list_retirable_grants(RetiringPrincipal=retiree, Marker=first["NextMarker"])
    assert rest["Truncated"] is False
    listed = first["Grants"] + rest["Grants"]
    assert {g["GrantId"] for g in listed} == mine
    assert {g["KeyId"] for g in listed} == {key_arn(a), key_arn(b)}
    assert {g["RetiringPrincipal"] for g in listed} == {retiree}
    with pytest.raises(ClientError) as exc:
        kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::444455556666:root")
    assert error_of(exc)[0] == "AccessDeniedException"


@pytest.mark.parametrize(
    ("key_args", "operations", "constraints"),
    [
        ({}, ["Sign"], None),
        ({}, ["GenerateMac"], None),
        ({}, ["GetPublicKey"], None),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, ["GenerateDataKey"], None),
        ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, ["Decrypt"], None),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, ["Encrypt"], None),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, ["Sign"], None),
        (
            {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
            ["Decrypt"],
            {"EncryptionContextSubset": {"a": "b"}},
        ),
        (
            {},
            ["Decrypt"],
            {"EncryptionContextSubset": {"a": "b"}, "EncryptionContextEquals": {"a": "b"}},
        ),
        ({}, ["Decrypt"], {"EncryptionContextSubset": {str(i): "v" for i in range(9)}}),
        ({}, ["CreateGrant"], None),
    ],
)
def test_invalid_grants_are_validation_errors(kms, key_args, operations, constraints) -> None:
    key_id = kms.create_key(**key_args)["KeyMetadata"]["KeyId"]
    extra = {"Constraints": constraints} if constraints else {}
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=operations, **extra)
    assert error_of(exc)[0] == "ValidationException"
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_valid_grants_per_key_type(kms) -> None:
    cases = [
        (
            {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
            ["Sign", "Verify", "GetPublicKey", "DescribeKey"],
        ),
        (
            {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
            ["GenerateMac", "VerifyMac", "RetireGrant"],
        ),
        (
            {"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"},
            ["DeriveSharedSecret", "GetPublicKey"],
        ),
        (
            {},
            [
                "Encrypt",
                "Decrypt",
                "ReEncryptFrom",
                "ReEncryptTo",
                "GenerateDataKeyPair",
                "CreateGrant",
            ],
        ),
    ]
    for key_args, operations in cases:
        key_id = kms.create_key(**key_args)["KeyMetadata"]["KeyId"]
        kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=operations)
        assert kms.list_grants(KeyId=key_id)["Grants"][0]["Operations"] == operations


def test_create_grant_errors(kms) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/grant-{uuid.uuid4().hex[:8]}", TargetKeyId=key["KeyId"])
    alias = kms.list_aliases(KeyId=key["KeyId"])["Aliases"][0]["AliasName"]
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=alias, GranteePrincipal=ALICE, Operations=["Decrypt"])
    assert error_of(exc) == (
        "InvalidArnException",
        "Key Aliases are not supported for this operation.",
    )
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=str(uuid.uuid4()), GranteePrincipal=ALICE, Operations=["Decrypt"])
    assert error_of(exc)[0] == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=ALICE, Operations=["Decrypt"], GrantTokens=["junk"]
        )
    assert error_of(exc)[0] == "InvalidGrantTokenException"
    token = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ALICE, Operations=["Decrypt", "CreateGrant"]
    )["GrantToken"]
    kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=BOB, Operations=["Decrypt"], GrantTokens=[token]
    )
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key["KeyId"], Operations=["Decrypt"])
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.create_grant(
            KeyId=key["KeyId"],
            GranteePrincipal=ALICE,
            Operations=["Decrypt"],
            Constraints={"SourceArn": f"arn:aws:s3:us-east-1:{ACCOUNT}:bucket"},
        )
    assert error_of(exc)[0] == "UnsupportedOperationException"
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ALICE, Operations=["Decrypt"])
    assert error_of(exc) == ("DisabledException", f"{key['Arn']} is disabled.")
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 2


def test_dry_run_changes_nothing(kms) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"], DryRun=True)
    assert error_of(exc) == (
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    )
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    made = kms.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])
    with pytest.raises(ClientError) as exc:
        kms.retire_grant(GrantToken=made["GrantToken"], DryRun=True)
    assert error_of(exc)[0] == "DryRunOperationException"
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_id, GrantId=made["GrantId"], DryRun=True)
    assert error_of(exc)[0] == "DryRunOperationException"
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1
    # A dry run of a failing request reports the failure, not the dry run.
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_id, GrantId="0" * 64, DryRun=True)
    assert error_of(exc)[0] == "NotFoundException"


def test_malformed_grant_tokens_are_refused_on_any_operation(kms) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for call in (
        lambda: kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=["not-a-token"]),
        lambda: kms.describe_key(KeyId=key, GrantTokens=["AAAA"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "InvalidGrantTokenException"
    assert kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[])["KeyId"].endswith(key)
