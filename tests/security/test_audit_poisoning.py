"""No request can poison the audit trail (issue 10, defects 3, 4 and 5), against a real
server on SQLite and on PostgreSQL.

The attack that was found: a request signed with a known access key id but a wrong
secret and ``X-Amz-Target: TrentService.`` + 100 characters was recorded with an
over-long event name; on PostgreSQL the group-committed batch it shared with valid
Encrypt calls failed (``VARCHAR(64)``) and 158 of 180 of them got KMSInternalException.
Here the same requests (and a 40-character region, huge user agents and header
sections) run concurrently with 180 valid Encrypts: every Encrypt must succeed, and each
hostile request is answered with its own 400 and either recorded with bounded fields
or not recorded at all.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from servers import ServerProcess
from sqlalchemy import text

from conftest import ACCESS_KEY, REGION, SECRET_KEY
from openkms.storage.engine import make_engine, sqlite_url

ENCRYPTS = 180
LONG_TARGET = "TrentService." + "A" * 100


def send(
    server: ServerProcess,
    target: str,
    body: dict[str, Any],
    *,
    secret: str = SECRET_KEY,
    region: str = REGION,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A SigV4-signed request (headers added after signing are not signed: botocore
    never signs User-Agent)."""
    from botocore.credentials import Credentials

    req = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, secret), "kms", region).add_auth(req)
    sent = dict(req.headers.items()) | (headers or {})
    raw = urllib.request.Request(server.endpoint + "/", data=req.body, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(raw, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.load(err)


def _database_url(server: ServerProcess) -> str:
    if server.database:
        return server.database
    assert server.data_dir is not None
    return sqlite_url(server.data_dir)


def records(server: ServerProcess) -> dict[str, list[dict[str, Any]]]:
    """Every stored record, by request id."""
    engine = make_engine(_database_url(server))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT record FROM audit_events ORDER BY seq")).fetchall()
    finally:
        engine.dispose()
    found: dict[str, list[dict[str, Any]]] = {}
    for (row,) in rows:
        rec = json.loads(row)
        found.setdefault(rec.get("requestID", ""), []).append(rec)
    return found


def column_widths_hold(server: ServerProcess) -> None:
    engine = make_engine(_database_url(server))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT max(length(event_name)), max(length(region)), "
                    "max(length(access_key_id)), max(length(error_code)), max(length(record)) "
                    "FROM audit_events"
                )
            ).one()
    finally:
        engine.dispose()
    name, region, akid, error, record = row
    assert name <= 64 and region <= 32 and (akid or 0) <= 128 and (error or 0) <= 128
    assert record < 200_000


def test_poisoning_requests_never_fail_valid_encrypts(server: ServerProcess) -> None:
    kms = boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    marker = uuid.uuid4().hex
    poisons: dict[str, Any] = {
        # wrong secret, known access key, unknown 100-character operation
        "bad-secret-long-target": lambda: send(
            server, LONG_TARGET, {}, secret="wrong-secret-0123456789"
        ),
        # correct signature over a 40-character credential-scope region
        "long-region": lambda: send(
            server, "TrentService.Encrypt", {"KeyId": key_id, "Plaintext": "eA=="}, region="r" * 40
        ),
        # wrong secret and a user agent just under the header limit
        "bad-secret-long-agent": lambda: send(
            server,
            "TrentService.Encrypt",
            {"KeyId": key_id, "Plaintext": "eA=="},
            secret="wrong-secret-0123456789",
            headers={"User-Agent": f"Poison-{marker}-" + "U" * 14_000},
        ),
        # correct signature, unknown 100-character operation
        "signed-long-target": lambda: send(server, "TrentService." + "B" * 100, {}),
    }
    with ThreadPoolExecutor(max_workers=24) as pool:
        encrypts = [
            pool.submit(kms.encrypt, KeyId=key_id, Plaintext=b"valid") for _ in range(ENCRYPTS)
        ]
        hostile: list[tuple[str, Future[Any]]] = []
        for i in range(60):
            kind = list(poisons)[i % len(poisons)]
            hostile.append((kind, pool.submit(poisons[kind])))
    failures = [f.exception() for f in encrypts if f.exception() is not None]
    assert failures == [], f"{len(failures)} of {ENCRYPTS} valid Encrypts failed: {failures[:3]}"
    stored = records(server)
    for kind, future in hostile:
        status, headers, body = future.result()
        assert status == 400, (kind, status, body)
        request_id = headers["x-amzn-requestid"]
        mine = stored.get(request_id, [])
        if kind == "long-region":
            assert body["__type"] == "InvalidSignatureException"
            assert (
                body["message"]
                == f"Credential should be scoped to a valid region, not '{'r' * 40}'."
            )
            assert mine == []  # refused before anyone is known: nobody's trail
            continue
        (rec,) = mine  # recorded exactly once, bounded
        if kind == "bad-secret-long-target":
            assert body["__type"] == "InvalidSignatureException"
            assert rec["eventName"] == "UnknownOperation"
            assert rec["errorCode"] == "InvalidSignatureException"
        elif kind == "bad-secret-long-agent":
            assert body["__type"] == "InvalidSignatureException"
            assert rec["eventName"] == "Encrypt"
            assert len(rec["userAgent"]) == 1024 and rec["userAgent"].startswith("Poison-")
        else:
            assert body["__type"] == "UnknownOperationException"
            assert rec["eventName"] == "UnknownOperation"
            assert rec["errorCode"] == "UnknownOperationException"
            assert len(rec["errorMessage"]) <= 1024
        assert rec["awsRegion"] == REGION
    column_widths_hold(server)


def test_oversized_headers_get_an_aws_400_and_no_record(server: ServerProcess) -> None:
    marker = f"Oversized-{uuid.uuid4().hex}"
    status, headers, body = send(
        server, "TrentService.ListKeys", {}, headers={"User-Agent": marker + "x" * 20_000}
    )
    assert status == 400
    assert body == {
        "__type": "RequestHeaderSectionTooLarge",
        "message": "Your request header section exceeds the maximum allowed size.",
    }
    assert len(headers["x-amzn-requestid"]) == 36
    # The same with a wrong signature and many small headers (the total counts).
    many = {f"X-Pad-{i}": "p" * 100 for i in range(200)}
    status, _, body = send(
        server,
        "TrentService.ListKeys",
        {},
        secret="wrong-secret-0123",
        headers={"User-Agent": marker, **many},
    )
    assert status == 400 and body["__type"] == "RequestHeaderSectionTooLarge"
    stored = records(server)
    assert headers["x-amzn-requestid"] not in stored
    assert not any(r["userAgent"].startswith(marker) for rs in stored.values() for r in rs)


def test_an_eight_mib_user_agent_is_refused_without_a_record(server: ServerProcess) -> None:
    """The HTTP server (uvicorn with httptools) hands such a request to the app, which
    refuses it before reading the body; no record is made."""
    marker = f"Huge-{uuid.uuid4().hex}"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.putrequest("POST", "/", skip_accept_encoding=True)
        conn.putheader("X-Amz-Target", "TrentService.ListKeys")
        conn.putheader("Content-Type", "application/x-amz-json-1.1")
        conn.putheader(
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/"
            f"{REGION}/kms/aws4_request, SignedHeaders=host, Signature=00",
        )
        conn.putheader("X-Amz-Date", "20260101T000000Z")
        conn.putheader("User-Agent", marker + "U" * (8 << 20))
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
        request_id = resp.getheader("x-amzn-RequestId")
    finally:
        conn.close()
    assert status in (400, 431), status
    if request_id is not None:  # our answer (the HTTP layer did not refuse it first)
        assert json.loads(body)["__type"] == "RequestHeaderSectionTooLarge"
    stored = records(server)
    assert request_id not in stored
    assert not any(r["userAgent"].startswith(marker) for rs in stored.values() for r in rs)
