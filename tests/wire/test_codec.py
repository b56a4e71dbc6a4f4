"""The JSON 1.1 codec's byte-level forms: timestamps as AWS writes them, error bodies
with and without a message (issue 14)."""

from __future__ import annotations

import orjson

from openkms.errors import (
    DryRunOperationException,
    InvalidCiphertextException,
    NotFoundException,
)
from openkms.wire.codec import encode_error, encode_response, epoch_seconds


def test_epoch_seconds_in_java_double_form_to_the_millisecond() -> None:
    assert epoch_seconds(1700000000.1234567) == b"1.700000000123E9"
    assert epoch_seconds(1700000000.0) == b"1.7E9"
    assert epoch_seconds(1700000000.5) == b"1.7000000005E9"
    assert epoch_seconds(1700000000.9996) == b"1.700000001E9"
    assert epoch_seconds(1702592000.1230001) == b"1.702592000123E9"  # no float noise
    assert epoch_seconds(12.5) == b"12.5"  # plain notation below 10^7, as Java
    assert epoch_seconds(0.0) == b"0.0"


def test_every_float_of_a_response_is_written_as_a_timestamp() -> None:
    result = {
        "KeyMetadata": {"CreationDate": 1700000000.1234567, "Arn": "arn", "Enabled": True},
        "Grants": [{"CreationDate": 1.7e9, "GrantId": "g"}],
        "Blob": b"ab",
        "Limit": 5,
    }
    assert encode_response(result) == (
        b'{"KeyMetadata":{"CreationDate":1.700000000123E9,"Arn":"arn","Enabled":true},'
        b'"Grants":[{"CreationDate":1.7E9,"GrantId":"g"}],"Blob":"YWI=","Limit":5}'
    )
    assert orjson.loads(encode_response(result))["KeyMetadata"]["CreationDate"] == 1700000000.123
    plain = {"KeyId": "arn", "Plaintext": b"\x00"}
    assert encode_response(plain) == b'{"KeyId":"arn","Plaintext":"AA=="}'


def test_error_without_text_has_no_message_member() -> None:
    assert encode_error(InvalidCiphertextException()) == b'{"__type":"InvalidCiphertextException"}'
    assert encode_error(NotFoundException("gone")) == (
        b'{"__type":"NotFoundException","message":"gone"}'
    )
    assert DryRunOperationException.status == 412
