"""The ASGI app's error boundary, driven in-process."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest

from openkms.server.app import OpenKMSApp, new_request_id, request_headers
from openkms.server.bootstrap import Settings, build
from openkms.service.audit_trail import AuditWriter
from openkms.storage.keys import repository as key_records


@pytest.fixture()
def app(tmp_path) -> OpenKMSApp:
    return OpenKMSApp(
        build(Settings(data_dir=None, database=None, account_id="111122223333", dev=True))
    )


def call(
    app: OpenKMSApp,
    target: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    path: str = "/",
    method: str = "POST",
) -> tuple[int, dict[str, str], dict[str, Any]]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "headers": [(b"x-amz-target", target.encode()), *(headers or [])],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    start, end = sent
    hdrs = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], hdrs, json.loads(end["body"])


def test_unexpected_fault_is_internal_and_logged(app, monkeypatch, caplog) -> None:
    def broken(*args: object) -> dict[str, Any]:
        raise RuntimeError("bug with secret detail")

    monkeypatch.setattr(app.runtime.service, "dispatch", broken)
    with caplog.at_level(logging.ERROR, logger="openkms.server"):
        status, headers, body = call(app, "TrentService.ListKeys", b"{}")
    assert status == 500 and body["__type"] == "KMSInternalException"
    request_id = headers["x-amzn-requestid"]
    assert request_id in body["message"] and "secret detail" not in body["message"]
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_malformed_authorization_is_incomplete_signature(tmp_path) -> None:
    runtime = build(
        Settings(
            data_dir=str(tmp_path),
            database=None,
            account_id="111122223333",
            audit_writer="thread",
        )
    )
    app = OpenKMSApp(runtime)
    status, _, body = call(
        app,
        "TrentService.ListKeys",
        b"{}",
        headers=[
            (
                b"authorization",
                b"AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/kms/aws4_request",
            ),
            (b"x-amz-date", b"20260101T000000Z"),
            (b"host", b"localhost"),
        ],
    )
    assert status == 400 and body["__type"] == "IncompleteSignatureException"


def test_oversized_body_is_refused(app) -> None:
    status, _, body = call(app, "TrentService.ListKeys", b" " * (1 << 20 + 1))
    assert status == 413 and body["__type"] == "SerializationException"


def test_only_post_root_is_the_api(app) -> None:
    status, _, body = call(app, "TrentService.ListKeys", b"{}", method="GET")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, _, _ = call(app, "", b"", path="/_openkms/nothing", method="GET")
    assert status == 404


def test_request_ids_are_uuid4() -> None:
    import uuid

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_no_audit_record_means_no_answer(tmp_path) -> None:
    """Fail closed: when the audit store cannot be written, the request fails, and a state
    change is not made."""
    runtime = build(
        Settings(
            data_dir=str(tmp_path),
            database=None,
            account_id="111122223333",
            dev=True,
            audit_writer="thread",
        )
    )
    app = OpenKMSApp(runtime)
    status, _, body = call(app, "TrentService.CreateKey", b"{}")
    assert status == 200
    key_id = body["KeyMetadata"]["KeyId"]

    def broken(tx: object, entries: object) -> None:
        raise RuntimeError("audit disk full")

    runtime.service.audit_appender = broken
    assert isinstance(runtime.audit, AuditWriter)
    runtime.audit._appender = broken  # the group-commit path
    status, _, body = call(
        app, "TrentService.Encrypt", json.dumps({"KeyId": key_id, "Plaintext": "aGVsbG8="}).encode()
    )
    assert status == 500 and body["__type"] == "KMSInternalException"
    assert "CiphertextBlob" not in body
    status, _, body = call(app, "TrentService.DisableKey", json.dumps({"KeyId": key_id}).encode())
    assert status == 500
    with runtime.store.transaction() as tx:
        key = key_records.get_key(tx, key_id)
    assert key is not None and key.state.value == "Enabled"
    runtime.audit.close()


# --- issue 10, defect 6: malformed bodies get their AWS error and their audit record -----


def _records_of(app: OpenKMSApp, request_id: str) -> list[dict[str, Any]]:
    from openkms.storage.audit import trail as audit_store

    with app.runtime.store.transaction() as tx:
        events = audit_store.read_chain(tx, limit=100_000)
    records = [json.loads(e.record) for e in events]
    return [r for r in records if r.get("requestID") == request_id]


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("target", "params", "status", "error"),
    [
        # A stray member is ignored (it used to be read as an out-of-range timestamp).
        ("ListKeys", {"X": 1e12}, 200, None),
        ("ListKeys", {"X": 1e300, "Y": -1e308, "Z": 2**64 + 1}, 200, None),
        ("ListKeys", {"X": _nested(900)}, 200, None),
        # GrantTokens is no member of ListKeys: ignored, never checked as tokens.
        ("ListKeys", {"GrantTokens": 5}, 200, None),
        # A number out of an Integer's range is a deserialization failure.
        ("ListKeys", {"Limit": 1e300}, 400, "SerializationException"),
        ("ListKeys", {"Limit": 2**40}, 400, "SerializationException"),
        ("ListKeys", {"Limit": "5"}, 400, "SerializationException"),
        ("ListKeys", {"GrantTokens": 5, "Limit": 0}, 400, "ValidationException"),
        # An explicit null is the member's absence.
        ("ListKeys", {"Limit": None, "Marker": None}, 200, None),
        ("ListAliases", {"KeyId": None, "Limit": None, "Marker": None}, 200, None),
        ("ListResourceTags", {"KeyId": "KEY", "Limit": None, "Marker": None}, 200, None),
        (
            "CreateKey",
            {"Tags": None, "Origin": None, "Description": None, "Policy": None},
            200,
            None,
        ),
        ("CreateKey", {"Tags": [{"TagKey": "a", "TagValue": "b", "X": 1e300}]}, 200, None),
        ("CreateKey", {"Tags": [None]}, 400, "ValidationException"),
        (
            "Encrypt",
            {
                "KeyId": "KEY",
                "Plaintext": "aGk=",
                "EncryptionContext": None,
                "GrantTokens": None,
                "EncryptionAlgorithm": None,
            },
            200,
            None,
        ),
        ("Encrypt", {"KeyId": "KEY", "Plaintext": "not base64!"}, 400, "SerializationException"),
        ("Encrypt", {"KeyId": None, "Plaintext": "aGk="}, 400, "ValidationException"),
    ],
)
def test_malformed_members_get_aws_errors_and_records(
    app, target: str, params: dict[str, Any], status: int, error: str | None
) -> None:
    _, _, created = call(app, "TrentService.CreateKey", b"{}")
    key_id = created["KeyMetadata"]["KeyId"]
    body = json.dumps(params).replace('"KEY"', json.dumps(key_id)).encode()
    got, headers, answer = call(app, f"TrentService.{target}", body)
    assert (got, answer.get("__type")) == (status, error), answer
    records = _records_of(app, headers["x-amzn-requestid"])
    assert len(records) == 1
    assert records[0]["eventName"] == target
    assert records[0].get("errorCode") == error
    stored = json.dumps(records[0])
    assert "GrantTokens" not in stored and "grantTokens" not in stored


def test_record_of_a_valid_call_holds_only_model_members(app) -> None:
    _, headers, _ = call(app, "TrentService.ListKeys", b'{"Limit": 5, "Marker": null, "X": 1e12}')
    (record,) = _records_of(app, headers["x-amzn-requestid"])
    assert record["requestParameters"] == {"limit": 5}


def test_record_of_a_refused_body_shows_what_was_sent_safely(app) -> None:
    body = json.dumps({"Limit": "x", "X": 1e300, "Deep": _nested(900), "7": 2**64 + 1})
    status, headers, answer = call(app, "TrentService.ListKeys", body.encode())
    assert status == 400 and answer["__type"] == "SerializationException"
    (record,) = _records_of(app, headers["x-amzn-requestid"])
    params = record["requestParameters"]
    assert params["limit"] == "x" and params["x"] == 1e300
    assert "OMITTED_NESTED_TOO_DEEPLY" in json.dumps(params["deep"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Action=GetUser&Version=2010-05-08&UserName=" + b"A" * 200, "ValidationError"),
        (b"Action=ListUsers&Version=2010-05-08&MaxItems=1e300", "ValidationError"),
        (b"Action=Nope&Version=2010-05-08", "InvalidAction"),
    ],
)
def test_malformed_iam_form_is_recorded_for_its_caller(app, body: bytes, code: str) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    start, end = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 400 and f"<Code>{code}</Code>".encode() in end["body"]
    (record,) = _records_of(app, headers["x-amzn-requestid"])
    assert record["eventSource"] == "iam.amazonaws.com" and record["errorCode"]


def test_request_headers_join_repeated_ones_in_order() -> None:
    raw = [(b"host", b"h"), (b"x-a", b"1"), (b"x-b", b"\xe9"), (b"x-a", b"2"), (b"x-a", b"3")]
    assert request_headers(raw) == {"host": "h", "x-a": "1,2,3", "x-b": "\xe9"}
    assert list(request_headers(raw)) == ["host", "x-a", "x-b"]
    assert request_headers([(b"host", b"h")]) == {"host": "h"}
