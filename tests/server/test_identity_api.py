"""IAM and STS through the ASGI app in-process (no lifespan: the audit writer is a thread),
with a clock the test controls.

Requests are signed by botocore's own SigV4 signer; responses are parsed by botocore's
query-protocol parser. This is where session expiry is tested: the credential store's
clock is moved past a session's expiration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser

from openkms.server.app import OpenKMSApp
from openkms.server.bootstrap import Settings, build
from openkms.server.credentials import CredentialStore

ACCOUNT = "111122223333"
ROOT = {
    "AccessKeyId": "AKIAINPROCESSROOT001",
    "SecretAccessKey": "in-process-root-secret-0123456789abcdef",
}
VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15"}
_MODELS = {name: botocore.session.get_session().get_service_model(name) for name in VERSIONS}


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def app(tmp_path, monkeypatch, clock) -> OpenKMSApp:
    monkeypatch.setenv("OPENKMS_ROOT_ACCESS_KEY_ID", ROOT["AccessKeyId"])
    monkeypatch.setenv("OPENKMS_ROOT_SECRET_ACCESS_KEY", ROOT["SecretAccessKey"])
    runtime = build(
        Settings(data_dir=str(tmp_path), database=None, account_id=ACCOUNT, audit_writer="thread")
    )
    runtime.credentials = CredentialStore(runtime.store, runtime.credentials.keyring, clock=clock)
    return OpenKMSApp(runtime)


def send(
    app: OpenKMSApp, service: str, body: bytes, creds: dict[str, str], headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    request = AWSRequest(method="POST", url="http://localhost/", data=body, headers=headers)
    SigV4Auth(
        Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken")),
        service,
        "us-east-1",
    ).add_auth(request)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"localhost")]
        + [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def out(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, out))
    start, end = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, end["body"]


def call(
    app: OpenKMSApp, service: str, action: str, creds: dict[str, str] = ROOT, **params: str
) -> tuple[int, dict[str, Any]]:
    """A query-protocol call, parsed as botocore parses it."""
    body = urlencode({"Action": action, "Version": VERSIONS[service], **params}).encode()
    status, headers, raw = send(
        app, service, body, creds, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert headers["content-type"] == "text/xml"
    operation = _MODELS[service].operation_model(action)
    parsed = create_parser("query").parse(
        {"status_code": status, "headers": headers, "body": raw}, operation.output_shape
    )
    return status, parsed


def kms_call(app: OpenKMSApp, creds: dict[str, str]) -> tuple[int, dict[str, Any]]:
    status, _, raw = send(
        app,
        "kms",
        b"{}",
        creds,
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"},
    )
    return status, json.loads(raw)


def session(app: OpenKMSApp, duration: int = 900) -> dict[str, Any]:
    """Credentials of a new role session (user alice assumes role R)."""
    assert call(app, "iam", "CreateUser", UserName="alice")[0] == 200
    key = call(app, "iam", "CreateAccessKey", UserName="alice")[1]["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    status, role = call(
        app, "iam", "CreateRole", RoleName="R", AssumeRolePolicyDocument=json.dumps(trust)
    )
    assert status == 200, role
    status, out = call(
        app,
        "sts",
        "AssumeRole",
        key,
        RoleArn=role["Role"]["Arn"],
        RoleSessionName="sess",
        DurationSeconds=str(duration),
    )
    assert status == 200, out
    creds: dict[str, Any] = out["Credentials"]
    return creds


def test_expired_session_is_refused(app, clock) -> None:
    creds = session(app)
    status, me = call(app, "sts", "GetCallerIdentity", creds)
    assert status == 200 and me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/R/sess"
    clock.now = creds["Expiration"].timestamp() - 1
    assert call(app, "sts", "GetCallerIdentity", creds)[0] == 200

    clock.now += 1
    status, refused = call(app, "sts", "GetCallerIdentity", creds)
    assert (status, refused["Error"]["Code"], refused["Error"]["Message"]) == (
        400,
        "ExpiredToken",
        "The security token included in the request is expired",
    )
    status, body = kms_call(app, creds)
    assert (status, body) == (
        400,
        {
            "__type": "ExpiredTokenException",
            "message": "The security token included in the request is expired",
        },
    )


def test_session_token_must_match(app) -> None:
    creds = session(app)
    status, refused = call(app, "sts", "GetCallerIdentity", {**creds, "SessionToken": "x"})
    assert (status, refused["Error"]["Code"]) == (403, "InvalidClientTokenId")
    status, body = kms_call(app, {**creds, "SessionToken": "x"})
    assert (status, body["__type"]) == (400, "UnrecognizedClientException")
    # A long-term key with a session token is not a session either.
    status, refused = call(app, "sts", "GetCallerIdentity", {**ROOT, "SessionToken": "x"})
    assert refused["Error"]["Code"] == "InvalidClientTokenId"


def test_session_token_is_stored_only_hashed(app) -> None:
    creds = session(app)
    import sqlite3

    path = app.runtime.settings.data_dir
    with sqlite3.connect(f"{path}/openkms.db") as db:
        rows = db.execute("SELECT * FROM sts_sessions").fetchall()
    dump = repr(rows)
    assert creds["SessionToken"] not in dump and creds["SecretAccessKey"] not in dump
    assert creds["SecretAccessKey"].encode() not in b"".join(
        v for row in rows for v in row if isinstance(v, bytes)
    )


def test_signature_scope_picks_the_service(app) -> None:
    body = urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}).encode()
    # Signed for IAM, but an STS action: the IAM protocol refuses the action.
    status, _, raw = send(
        app, "iam", body, ROOT, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400 and b"<Code>InvalidAction</Code>" in raw
    assert b"Could not find operation GetCallerIdentity for version 2011-06-15" in raw
