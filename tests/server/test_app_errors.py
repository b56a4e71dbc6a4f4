"""The ASGI app's error boundary, driven in-process."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from openkms.server.app import OpenKMSApp, new_request_id
from openkms.server.bootstrap import Settings, build


@pytest.fixture()
def app(tmp_path) -> OpenKMSApp:
    return OpenKMSApp(build(Settings(data_dir=None, database=None, account_id="111122223333",
                                     dev=True)))


def call(app: OpenKMSApp, target: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
         path: str = "/", method: str = "POST") -> tuple[int, dict[str, str], dict[str, Any]]:
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "client": ("127.0.0.1", 1),
        "headers": [(b"x-amz-target", target.encode()), *(headers or [])],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

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
    runtime = build(Settings(data_dir=str(tmp_path), database=None, account_id="111122223333"))
    app = OpenKMSApp(runtime)
    status, _, body = call(app, "TrentService.ListKeys", b"{}", headers=[
        (b"authorization", b"AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/kms/aws4_request"),
        (b"x-amz-date", b"20260101T000000Z"), (b"host", b"localhost"),
    ])
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
    runtime = build(Settings(data_dir=str(tmp_path), database=None, account_id="111122223333",
                             dev=True))
    app = OpenKMSApp(runtime)
    status, _, body = call(app, "TrentService.CreateKey", b"{}")
    assert status == 200
    key_id = body["KeyMetadata"]["KeyId"]

    def broken(tx: object, entries: object) -> None:
        raise RuntimeError("audit disk full")

    runtime.service.audit_appender = broken
    assert runtime.audit is not None
    runtime.audit._appender = broken  # the group-commit path
    status, _, body = call(app, "TrentService.Encrypt", json.dumps(
        {"KeyId": key_id, "Plaintext": "aGVsbG8="}).encode())
    assert status == 500 and body["__type"] == "KMSInternalException"
    assert "CiphertextBlob" not in body
    status, _, body = call(app, "TrentService.DisableKey", json.dumps({"KeyId": key_id}).encode())
    assert status == 500
    with runtime.store.transaction() as tx:
        key = tx.get_key(key_id)
    assert key is not None and key.state.value == "Enabled"
    runtime.audit.close()
