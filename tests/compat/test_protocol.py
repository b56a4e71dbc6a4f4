"""The AWS JSON 1.1 wire and SigV4 authentication, seen from raw HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from test_boto3_keys import error_of

from conftest import ACCESS_KEY, SECRET_KEY, make_client


def signed_request(
    endpoint: str,
    target: str,
    body: bytes,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    region: str = "us-east-1",
    service: str = "kms",
    mutate: Any = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    req = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(req)
    headers = dict(req.headers.items())
    data = req.body if isinstance(req.body, bytes) else str(req.body).encode()
    if mutate is not None:
        headers, data = mutate(headers, data)
    raw = urllib.request.Request(endpoint + "/", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), json.loads(err.read() or b"{}")


def test_response_headers(server) -> None:
    status, headers, body = signed_request(server.endpoint, "TrentService.ListKeys", b"{}")
    assert status == 200 and "Keys" in body
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["content-type"] == "application/x-amz-json-1.1"
    assert len(lower["x-amzn-requestid"]) == 36
    status, headers, body = signed_request(server.endpoint, "TrentService.Nope", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    assert "x-amzn-requestid" in {k.lower() for k in headers}


def test_every_model_operation_is_recognised(server) -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    for name in model.operation_names:
        status, _, body = signed_request(server.endpoint, f"TrentService.{name}", b"{}")
        assert status != 500, (name, body)
        assert body.get("__type") != "UnknownOperationException", name


def test_bad_json_is_serialization_error(server) -> None:
    status, _, body = signed_request(server.endpoint, "TrentService.ListKeys", b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"


def test_missing_authentication(server) -> None:
    raw = urllib.request.Request(
        server.endpoint + "/",
        data=b"{}",
        method="POST",
        headers={
            "X-Amz-Target": "TrentService.ListKeys",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(raw, timeout=10)
    body = json.loads(exc.value.read())
    assert body["__type"] == "MissingAuthenticationTokenException"


def test_wrong_secret_is_invalid_signature(server) -> None:
    client = make_client(server.endpoint, secret_key="not-the-secret")
    with pytest.raises(ClientError) as exc:
        client.list_keys()
    code, message = error_of(exc)
    assert code == "InvalidSignatureException"
    assert message.startswith("The request signature we calculated does not match")


def test_unknown_access_key_is_unrecognized(server) -> None:
    client = make_client(server.endpoint, access_key="AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(ClientError) as exc:
        client.list_keys()
    assert error_of(exc) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_tampered_body_is_rejected(server) -> None:
    def tamper(headers: dict[str, str], data: bytes) -> tuple[dict[str, str], bytes]:
        return headers, data.replace(b"10", b"11")

    status, _, body = signed_request(
        server.endpoint, "TrentService.ListKeys", b'{"Limit": 10}', mutate=tamper
    )
    assert status == 400 and body["__type"] == "InvalidSignatureException"


def test_tampered_target_is_rejected(server) -> None:
    def retarget(headers: dict[str, str], data: bytes) -> tuple[dict[str, str], bytes]:
        return {**headers, "X-Amz-Target": "TrentService.CreateKey"}, data

    status, _, body = signed_request(
        server.endpoint, "TrentService.ListKeys", b"{}", mutate=retarget
    )
    assert status == 400 and body["__type"] == "InvalidSignatureException"


@pytest.mark.parametrize(
    "minutes, prefix", [(-6, "Signature expired:"), (6, "Signature not yet current:")]
)
def test_clock_skew_beyond_five_minutes(server, minutes: int, prefix: str) -> None:
    import datetime
    from unittest import mock

    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(
        minutes=minutes
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
        status, _, body = signed_request(server.endpoint, "TrentService.ListKeys", b"{}")
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert body["message"].startswith(prefix)


def test_wrong_service_scope(server) -> None:
    status, _, body = signed_request(server.endpoint, "TrentService.ListKeys", b"{}", service="s3")
    assert status == 400 and body["__type"] == "InvalidSignatureException"
    assert "kms" in body["message"]


def test_session_token_without_session_is_refused(server) -> None:
    import boto3

    client = boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token="forged-token",
    )
    with pytest.raises(ClientError) as exc:
        client.list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"


def test_validation_errors_use_aws_text(server) -> None:
    status, _, body = signed_request(server.endpoint, "TrentService.ListKeys", b'{"Limit": 0}')
    assert status == 400
    assert body == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value '0' at 'limit' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1",
    }
    status, _, body = signed_request(server.endpoint, "TrentService.Encrypt", b"{}")
    assert body["message"] == (
        "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null; Value null at 'plaintext' failed to satisfy constraint: "
        "Member must not be null"
    )
