"""Pure domain rules: identifiers, key state transitions, aliases, tags, policies."""

from __future__ import annotations

import dataclasses

import pytest

from openkms.domain import keys as k
from openkms.domain import policy, tags
from openkms.domain.aliases import check_customer_alias_name
from openkms.domain.identifiers import RefKind, parse_key_ref
from openkms.errors import (
    DisabledException,
    InvalidAliasNameException,
    KMSInvalidStateException,
    NotFoundException,
    TagException,
    ValidationException,
)

KID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY = k.Key(
    key_id=KID,
    account="111122223333",
    region="us-west-2",
    spec=k.KeySpec.SYMMETRIC_DEFAULT,
    usage=k.KeyUsage.ENCRYPT_DECRYPT,
    origin=k.Origin.AWS_KMS,
    manager=k.KeyManager.CUSTOMER,
    state=k.KeyState.ENABLED,
    description="",
    policy="{}",
    created_at=0.0,
    current_version=1,
)


@pytest.mark.parametrize(
    "text, kind, name, account, region",
    [
        (KID, RefKind.KEY, KID, None, None),
        (
            f"arn:aws:kms:us-west-2:111122223333:key/{KID}",
            RefKind.KEY,
            KID,
            "111122223333",
            "us-west-2",
        ),
        ("alias/ExampleAlias", RefKind.ALIAS, "alias/ExampleAlias", None, None),
        (
            "arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias",
            RefKind.ALIAS,
            "alias/ExampleAlias",
            "111122223333",
            "us-west-2",
        ),
        (
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            RefKind.KEY,
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            None,
            None,
        ),
    ],
)
def test_parse_key_ref(
    text: str, kind: RefKind, name: str, account: str | None, region: str | None
) -> None:
    ref = parse_key_ref(text)
    assert (ref.kind, ref.name, ref.account, ref.region) == (kind, name, account, region)


@pytest.mark.parametrize(
    "text", ["foo", "1234", f"{KID}x", "arn:aws:kms:us-west-2:1:key/x", "arn:aws:s3:::bucket"]
)
def test_parse_key_ref_rejects(text: str) -> None:
    with pytest.raises(NotFoundException):
        parse_key_ref(text)


def test_key_state_machine() -> None:
    disabled = k.disable(KEY)
    assert disabled.state is k.KeyState.DISABLED
    with pytest.raises(DisabledException, match=r"is disabled\.$"):
        k.require_usable(disabled)
    assert k.enable(disabled).state is k.KeyState.ENABLED
    pending = k.schedule_deletion(disabled, 7, now=1000.0)
    assert pending.deletion_date == 1000.0 + 7 * 86400 and pending.pending_window_days == 7
    for change in (k.enable, k.disable, lambda key: k.schedule_deletion(key, 30, 0.0)):
        with pytest.raises(KMSInvalidStateException, match="is pending deletion"):
            change(pending)
    with pytest.raises(KMSInvalidStateException, match="is pending deletion"):
        k.require_usable(pending)
    restored = k.cancel_deletion(pending)
    assert restored.state is k.KeyState.DISABLED and restored.deletion_date is None
    with pytest.raises(KMSInvalidStateException, match="is not pending deletion"):
        k.cancel_deletion(restored)
    importing = dataclasses.replace(KEY, state=k.KeyState.PENDING_IMPORT)
    with pytest.raises(KMSInvalidStateException, match=r"is pending import\.$"):
        k.require_usable(importing)


@pytest.mark.parametrize("name", ["alias/ok", "alias/a/b_c-d", "alias/X1"])
def test_alias_names_accepted(name: str) -> None:
    check_customer_alias_name(name)


def test_alias_names_refused() -> None:
    with pytest.raises(ValidationException, match='must start with the prefix "alias/"'):
        check_customer_alias_name("noprefix")
    for reserved in ("alias/aws/s3", "alias/aws/mine", "alias/aws"):
        with pytest.raises(InvalidAliasNameException, match="reserved for AWS managed keys"):
            check_customer_alias_name(reserved)
    with pytest.raises(InvalidAliasNameException):
        check_customer_alias_name("alias/bad name")


def test_tag_rules() -> None:
    assert tags.check_new_tags([("a", "1"), ("b", "")]) == {"a": "1", "b": ""}
    with pytest.raises(TagException, match="reserved"):
        tags.check_new_tags([("aws:owner", "x")])
    with pytest.raises(TagException, match="Duplicate"):
        tags.check_new_tags([("a", "1"), ("a", "2")])
    full = {f"k{i}": "v" for i in range(50)}
    assert len(tags.merged(full, {"k0": "new"})) == 50
    with pytest.raises(TagException, match="Too many tags"):
        tags.merged(full, {"k50": "v"})


def test_default_policy_is_valid_and_names_the_account() -> None:
    text = policy.default_policy("444455556666")
    import json

    from openkms.authz import parse_policy

    parse_policy(text, "resource")
    statement = json.loads(text)["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::444455556666:root"}
    assert statement["Action"] == "kms:*" and statement["Effect"] == "Allow"
