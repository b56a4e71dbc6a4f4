"""The query-protocol codec (IAM, STS): form decoding, model validation, XML output that
botocore's own parser reads back, and error rendering."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from botocore.parsers import create_parser

from openkms.errors import (
    AccessDeniedException,
    ExpiredTokenException,
    KMSInternalException,
    NoSuchEntity,
    UnknownOperationException,
    UnrecognizedClientException,
    ValidationException,
)
from openkms.wire.query import QueryProtocol, parse_form
from openkms.wire.query_model import python_pattern

IAM = QueryProtocol("iam")
STS = QueryProtocol("sts")


def decode(protocol: QueryProtocol, body: str) -> tuple[str, dict[str, object]]:
    return protocol.decode_request(parse_form(body.encode()))


def parse(protocol: QueryProtocol, operation: str, status: int, body: bytes) -> dict[str, object]:
    shape = protocol.model.operation_model(operation).output_shape
    parsed: dict[str, object] = create_parser("query").parse(
        {"status_code": status, "headers": {}, "body": body}, shape
    )
    return parsed


def test_decodes_lists_numbers_and_empty_values() -> None:
    name, params = decode(
        STS,
        "Action=AssumeRole&Version=2011-06-15"
        "&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FR"
        "&RoleSessionName=s1&DurationSeconds=900"
        "&Tags.member.2.Key=b&Tags.member.2.Value="
        "&Tags.member.1.Key=a&Tags.member.1.Value=x"
        "&TransitiveTagKeys=",
    )
    assert name == "AssumeRole"
    assert params == {
        "RoleArn": "arn:aws:iam::111122223333:role/R",
        "RoleSessionName": "s1",
        "DurationSeconds": 900,
        "Tags": [{"Key": "a", "Value": "x"}, {"Key": "b", "Value": ""}],
        "TransitiveTagKeys": [],
    }


def test_validation_collects_every_violation_in_aws_words() -> None:
    with pytest.raises(ValidationException) as exc:
        decode(
            IAM, "Action=CreateUser&Version=2010-05-08&UserName=a%20b&Path=nope&Tags.member.1.Key=k"
        )
    assert exc.value.message == (
        "3 validation errors detected: "
        "Value 'nope' at 'path' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); "
        "Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: [\\w+=,.@-]+; "
        "Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"
    )
    with pytest.raises(ValidationException, match="Value null at 'userName'"):
        decode(IAM, "Action=DeleteUser&Version=2010-05-08")
    with pytest.raises(ValidationException, match="less than or equal to 1000"):
        decode(IAM, "Action=ListUsers&Version=2010-05-08&MaxItems=1001")
    with pytest.raises(ValidationException, match="Member must be a number"):
        decode(IAM, "Action=ListUsers&Version=2010-05-08&MaxItems=many")


def test_unicode_categories_of_java_patterns() -> None:
    tag_key = python_pattern(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
    for ok in ("team", "Équipe 2", "チーム", "a\u00a0b", "x_y.z:/=+-@", "٣"):
        assert tag_key.fullmatch(ok), ok
    for bad in ("☃", "a\tb", "a!b", "emoji😀", ""):
        assert tag_key.fullmatch(bad) is None, bad


def test_unknown_action_and_version() -> None:
    with pytest.raises(
        UnknownOperationException,
        match="Could not find operation CreateUser for version 2011-06-15",
    ):
        decode(IAM, "Action=CreateUser&Version=2011-06-15&UserName=a")
    with pytest.raises(UnknownOperationException, match="NO_VERSION_SPECIFIED"):
        decode(STS, "Action=GetCallerIdentity")
    with pytest.raises(UnknownOperationException, match="Missing Action"):
        decode(STS, "Version=2011-06-15")


def test_responses_are_read_back_by_botocore() -> None:
    user = {
        "Path": "/a/",
        "UserName": "x&<y>",
        "UserId": "AIDAAAAAAAAAAAAAAAAA",
        "Arn": "arn:aws:iam::111122223333:user/a/x",
        "CreateDate": 1_700_000_000.0,
        "Tags": [{"Key": "k", "Value": "v"}],
    }
    body = IAM.encode_response(
        "ListUsers", {"Users": [user], "IsTruncated": True, "Marker": "m"}, "req-1"
    )
    parsed = parse(IAM, "ListUsers", 200, body)
    listed = parsed["Users"][0]  # type: ignore[index]
    assert listed["UserName"] == "x&<y>" and listed["CreateDate"].timestamp() == 1_700_000_000
    assert parsed["IsTruncated"] is True and parsed["Marker"] == "m"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"  # type: ignore[index]
    body = IAM.encode_response("DeleteUser", {}, "req-2")
    assert body.startswith(
        b'<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    )
    with pytest.raises(ValueError):
        IAM.encode_response("GetUser", {"Usr": {}}, "req-3")


def test_policy_documents_are_url_encoded() -> None:
    document = '{"Statement": [{"Effect": "Allow", "Action": "a:b&c"}]}'
    body = IAM.encode_response(
        "GetUserPolicy", {"UserName": "u", "PolicyName": "p", "PolicyDocument": document}, "r"
    )
    assert b"%7B%22Statement%22" in body and b'"' not in body.split(b"<PolicyDocument>")[1][:20]
    # botocore's after-call handler for IAM unquotes it (and loads the JSON).
    assert unquote(str(parse(IAM, "GetUserPolicy", 200, body)["PolicyDocument"])) == document


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (NoSuchEntity("gone"), "NoSuchEntity", 404),
        (UnrecognizedClientException("bad"), "InvalidClientTokenId", 403),
        (ExpiredTokenException("old"), "ExpiredToken", 400),
        (AccessDeniedException("no"), "AccessDenied", 403),
        (ValidationException("1 validation error detected: x"), "ValidationError", 400),
        (KMSInternalException("boom"), "ServiceFailure", 500),
    ],
)
def test_errors(error, code, status) -> None:
    got_status, body = IAM.encode_error(error, "rid")
    assert got_status == status
    parsed = parse(IAM, "GetUser", got_status, body)
    assert parsed["Error"]["Code"] == code  # type: ignore[index]
    assert parsed["Error"]["Message"] == error.message  # type: ignore[index]
    assert parsed["ResponseMetadata"]["RequestId"] == "rid"  # type: ignore[index]
    fault = "Receiver" if status >= 500 else "Sender"
    assert f"<Type>{fault}</Type>".encode() in body
    assert STS.encode_error(KMSInternalException("boom"), "r")[1].count(b"InternalFailure") == 1
