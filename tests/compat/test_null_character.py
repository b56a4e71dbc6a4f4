"""U+0000 in a request string: one answer on every backend (PostgreSQL's text cannot
hold it, and it used to fail there as a 500 while SQLite stored it)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def code_of(call) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


def test_null_character_is_a_validation_error(kms) -> None:
    key = kms.create_key(Description="plain")["KeyMetadata"]["KeyId"]
    refused = {
        "CreateKey": lambda: kms.create_key(Description="a\x00b"),
        "UpdateKeyDescription": lambda: kms.update_key_description(KeyId=key, Description="\x00"),
        "TagResource": lambda: kms.tag_resource(
            KeyId=key, Tags=[{"TagKey": "k", "TagValue": "v\x00"}]
        ),
        "DescribeCustomKeyStores by name": lambda: kms.describe_custom_key_stores(
            CustomKeyStoreName="store\x00"
        ),
        "DescribeCustomKeyStores by id": lambda: kms.describe_custom_key_stores(
            CustomKeyStoreId="cks-\x00"
        ),
        "DeleteCustomKeyStore": lambda: kms.delete_custom_key_store(CustomKeyStoreId="\x00"),
    }
    assert {name: code_of(call) for name, call in refused.items()} == {
        name: "ValidationException" for name in refused
    }
    with pytest.raises(ClientError, match="null character"):
        kms.create_key(Description="a\x00b")
    # Nothing half-written: the key keeps its description and has no tag.
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "plain"
    assert kms.list_resource_tags(KeyId=key)["Tags"] == []
    # The encryption context is authenticated data, never stored as text: it may hold one.
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"a": "b\x00c"})
    opened = kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b\x00c"})
    assert opened["Plaintext"] == b"x"
