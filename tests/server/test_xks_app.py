"""The XKS proxy's ASGI app in this process, for the answers a client cannot provoke
from outside: too many requests at once (429), a database that cannot be reached (503),
our own bugs and an audit trail that cannot be written (500, no details), a root of
trust that fails the deep health check (UNAVAILABLE); and ``openkms xks-proxy``'s
refusals to start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from concurrent.futures import Future
from typing import Any

import pytest
from servers import free_port
from xks import ACCESS_KEY, SECRET_KEY, XKSClient, b64, metadata, openkms

from openkms.server import xks_runtime
from openkms.server.bootstrap import Settings
from openkms.server.xks_app import XKSProxyApp
from openkms.storage.repository import DatabaseUnavailable, StorageError
from openkms.storage.xks import repository as xks_records

BASE = "/kms/xks/v1"
PORT = 8800


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XKSProxyApp]:
    data_dir = str(tmp_path_factory.mktemp("xks-app"))
    patch = pytest.MonkeyPatch()
    patch.setenv(xks_runtime.ACCESS_KEY_ENV, ACCESS_KEY)
    patch.setenv(xks_runtime.SECRET_ENV, SECRET_KEY)
    assert openkms("admin", "xks-key", "create", "foo", "--data-dir", data_dir)[0] == 0
    settings = Settings(data_dir, None, "111122223333", audit_writer="thread")
    runtime = xks_runtime.build(settings)
    runtime.audit.start()
    try:
        yield XKSProxyApp(runtime, BASE)
    finally:
        runtime.audit.close()
        runtime.store.close()
        patch.undo()


def call(app: XKSProxyApp, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = f"{BASE}/{target}"
    data = json.dumps(body).encode()
    headers = XKSClient(PORT, BASE).signed_headers(path, data)
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "headers": [
            (b"host", f"127.0.0.1:{PORT}".encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


ENCRYPT = {"plaintext": b64(b"abc"), "encryptionAlgorithm": "AES_GCM"}
HEALTH = {"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}


def test_answers_in_process(app: XKSProxyApp) -> None:
    assert call(app, "keys/foo/encrypt", {"requestMetadata": metadata(), **ENCRYPT})[0] == 200
    status, body = call(app, "health", HEALTH)
    assert status == 200 and body["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE"


def test_too_many_requests_at_once_are_throttled(app: XKSProxyApp, monkeypatch) -> None:
    monkeypatch.setattr(app, "max_in_flight", 0)
    assert call(app, "health", HEALTH) == (
        429,
        {"errorName": "ThrottlingException", "errorMessage": "Too many requests at once; retry."},
    )


def test_faults_of_dependencies_and_bugs(app: XKSProxyApp, monkeypatch) -> None:
    def unreachable(tx: Any, key_id: str) -> None:
        raise DatabaseUnavailable("connection refused")

    monkeypatch.setattr(xks_records, "get_key", unreachable)
    status, body = call(app, "keys/foo/encrypt", {"requestMetadata": metadata(), **ENCRYPT})
    assert (status, body["errorName"]) == (503, "DependencyTimeoutException")
    monkeypatch.undo()

    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.runtime.service, "key_metadata", bug)
    status, body = call(app, "keys/foo/metadata", {"requestMetadata": metadata("DescribeKey")})
    assert (status, body["errorName"]) == (500, "InternalException")
    assert "secret detail" not in body["errorMessage"]


def test_a_call_that_cannot_be_audited_fails(app: XKSProxyApp, monkeypatch) -> None:
    def refuse(entries: Any) -> Future[None]:
        failed: Future[None] = Future()
        failed.set_exception(StorageError("disk full"))
        return failed

    monkeypatch.setattr(app.runtime.audit, "submit", refuse)
    status, body = call(app, "keys/foo/encrypt", {"requestMetadata": metadata(), **ENCRYPT})
    assert (status, body["errorName"]) == (500, "InternalException")


def test_health_is_deep(app: XKSProxyApp, monkeypatch) -> None:
    service = app.runtime.service

    def broken() -> None:
        raise StorageError("the database is gone")

    monkeypatch.setattr(service, "_probe", broken)
    monkeypatch.setattr(service, "_healthy_until", 0.0)
    status, body = call(app, "health", HEALTH)
    assert status == 200 and body["ekmFleetDetails"][0]["healthStatus"] == "UNAVAILABLE"


def test_the_proxy_refuses_to_start_without_what_it_needs(tmp_path, monkeypatch) -> None:
    for name in (xks_runtime.ACCESS_KEY_ENV, xks_runtime.SECRET_ENV):
        monkeypatch.delenv(name, raising=False)
    state = ["--data-dir", str(tmp_path), "--port", str(free_port())]
    status, _, err = openkms("xks-proxy", *state)
    assert status == 6 and "no XKS proxy credential" in err
    status, _, err = openkms("xks-proxy", *state, env={xks_runtime.ACCESS_KEY_ENV: ACCESS_KEY})
    assert status == 6 and "set both" in err
    bad = {xks_runtime.ACCESS_KEY_ENV: "akia-lower", xks_runtime.SECRET_ENV: SECRET_KEY}
    status, _, err = openkms("xks-proxy", *state, env=bad)
    assert status == 6 and "20-30 characters" in err
    status, _, err = openkms("xks-proxy", "--host", "0.0.0.0", *state)
    assert status == 6 and "plain HTTP" in err
    status, _, err = openkms("xks-proxy", "--uri-prefix", "a//b", *state)
    assert status == 2 and "not a URI path prefix" in err
    status, _, err = openkms("admin", "xks-key", "create", "bad/id", "--data-dir", str(tmp_path))
    assert status == 2
