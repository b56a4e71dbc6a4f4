"""``openkms xks-proxy`` as AWS KMS calls it: a real proxy process on 127.0.0.1, on SQLite
and on PostgreSQL, driven by a SigV4-signing client (botocore's signer, service
``kms-xks-proxy``) with the requests of the External Key Store Proxy API specification
and AWS's test client, and every error path the specification lists that a client can
reach. Keys and credentials are managed with ``openkms admin xks-key|xks-credential``."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from xks import (
    ACCESS_KEY,
    PRINCIPAL,
    XKSClient,
    b64,
    metadata,
    openkms,
    start_proxy,
)

PREFIX = "tenant/a"
BASE = "/tenant/a/kms/xks/v1"


class Proxy:
    def __init__(self, data_dir: str, database: str | None, port: int) -> None:
        self.data_dir, self.database = data_dir, database
        self.client = XKSClient(port, BASE)

    def admin(self, *args: str) -> tuple[int, Any]:
        state = ["--data-dir", self.data_dir]
        if self.database:
            state += ["--database", self.database]
        status, out, err = openkms("admin", *args, *state)
        return status, (json.loads(out) if out.strip() else err)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def proxy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    data_dir = str(tmp_path_factory.mktemp(f"xks-{request.param}"))
    database = None
    if request.param == "postgres":
        database = request.getfixturevalue("postgres").create_database("openkms_xks_proxy")
    state = Proxy(data_dir, database, 0)
    for key, usage in (
        ("foo", "encrypt-decrypt"),
        ("other", "encrypt-decrypt"),
        ("encrypt_only_key", "encrypt-only"),
        ("decrypt_only_key", "decrypt-only"),
        ("impotent_key", "none"),
    ):
        assert state.admin("xks-key", "create", key, "--usage", usage)[0] == 0
    status, _ = state.admin(
        "xks-key",
        "create",
        "guarded",
        "--allow-principal",
        PRINCIPAL,
        "--allow-operation",
        "Encrypt",
        "--allow-operation",
        "Decrypt",
    )
    assert status == 0
    process = start_proxy(data_dir=data_dir, database=database, prefix=PREFIX)
    state.client = XKSClient(process.port, BASE)
    try:
        yield state
    finally:
        process.stop()


def eventually(check: Callable[[], bool]) -> bool:
    """Whether ``check`` holds within a few seconds (a change made by another process
    reaches the proxy within the read cache's bound, 0.5 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_health_and_key_metadata(proxy: Proxy) -> None:
    client = proxy.client
    health = client.call(
        "health", {"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}
    )
    assert health.status == 200
    assert health.body["xksProxyFleetSize"] == 1
    assert health.body["xksProxyVendor"] == "OpenKMS" and health.body["ekmVendor"] == "OpenKMS"
    assert [d["healthStatus"] for d in health.body["ekmFleetDetails"]] == ["ACTIVE"]
    bad: dict[str, Any]
    for bad in ({}, {"requestMetadata": {}}, {"requestMetadata": {"kmsRequestId": "r"}}):
        answer = client.call("health", bad)
        assert (answer.status, answer.error) == (400, "ValidationException")

    found = client.call("keys/foo/metadata", {"requestMetadata": metadata("CreateKey")})
    assert found.status == 200
    assert found.body == {
        "keySpec": "AES_256",
        "keyUsage": ["ENCRYPT", "DECRYPT"],
        "keyStatus": "ENABLED",
    }
    # kmsKeyArn is optional for GetKeyMetadata; an operation the proxy does not know is
    # not rejected (the specification's MUST).
    light = {
        "awsPrincipalArn": PRINCIPAL,
        "kmsOperation": "SomeFutureOperation",
        "kmsRequestId": "",  # opaque: never validated
        "kmsRecipientAttestationImageSha384": "ab" * 48,  # fields KMS may add (Appendix B)
    }
    assert client.call("keys/foo/metadata", {"requestMetadata": light}).status == 200
    usages = {
        key: client.call(f"keys/{key}/metadata", {"requestMetadata": metadata("DescribeKey")}).body[
            "keyUsage"
        ]
        for key in ("encrypt_only_key", "decrypt_only_key", "impotent_key")
    }
    assert usages == {
        "encrypt_only_key": ["ENCRYPT"],
        "decrypt_only_key": ["DECRYPT"],
        "impotent_key": [],
    }
    missing = client.call("keys/nope/metadata", {"requestMetadata": metadata("DescribeKey")})
    assert (missing.status, missing.error) == (404, "KeyNotFoundException")
    for bad in (
        {},
        {"requestMetadata": {}},
        {"requestMetadata": {"kmsOperation": "CreateKey", "kmsRequestId": "r"}},
    ):
        answer = client.call("keys/foo/metadata", bad)
        assert (answer.status, answer.error) == (400, "ValidationException")
    not_json = client.call("keys/foo/metadata", b"{not json")
    assert (not_json.status, not_json.error) == (400, "ValidationException")


def _cdiv(aad: bytes | None, sealed: dict[str, str]) -> str:
    parts = [aad or b""] + [
        base64.b64decode(sealed.get(name, ""))
        for name in (
            "ciphertextMetadata",
            "initializationVector",
            "ciphertext",
            "authenticationTag",
        )
    ]
    return b64(hashlib.sha256(b"".join(parts)).digest())


def test_encrypt_decrypt_and_the_aad_framing(proxy: Proxy) -> None:
    client = proxy.client
    for aad in (None, b"project=nile,department=marketing"):
        sealed = client.encrypt("foo", b"Hello World!", aad)
        assert sealed.status == 200, sealed.body
        body = sealed.body
        assert len(base64.b64decode(body["ciphertext"])) == len(b"Hello World!")
        assert len(base64.b64decode(body["initializationVector"])) == 12
        assert len(base64.b64decode(body["authenticationTag"])) == 16
        assert 0 < len(base64.b64decode(body["ciphertextMetadata"])) <= 20
        assert "ciphertextDataIntegrityValue" not in body
        opened = client.decrypt("foo", body, aad)
        assert (opened.status, opened.body) == (200, {"plaintext": b64(b"Hello World!")})
        wrong = client.decrypt("foo", body, b"project=blue")
        assert (wrong.status, wrong.error) == (400, "InvalidCiphertextException")
    # The AAD left out, the ciphertext metadata moved into the AAD (what the length
    # framing stops), removed or changed, another key, a flipped bit: all one error.
    blob = client.encrypt("foo", b"data key bytes", b"ctx").body
    ctm = base64.b64decode(blob["ciphertextMetadata"])
    without_ctm = {k: v for k, v in blob.items() if k != "ciphertextMetadata"}
    flipped = bytearray(base64.b64decode(blob["ciphertext"]))
    flipped[0] ^= 1
    cases = [
        client.decrypt("foo", blob),
        client.decrypt("foo", without_ctm, b"ctx" + ctm),
        client.decrypt("foo", without_ctm, b"ctx"),
        client.decrypt("foo", {**blob, "ciphertextMetadata": b64(b"\x01" + bytes(4))}, b"ctx"),
        client.decrypt("other", blob, b"ctx"),
        client.decrypt("foo", {**blob, "ciphertext": b64(bytes(flipped))}, b"ctx"),
        client.decrypt("foo", {**blob, "initializationVector": b64(bytes(16))}, b"ctx"),
    ]
    assert [(c.status, c.error) for c in cases] == [(400, "InvalidCiphertextException")] * len(
        cases
    )
    # Ciphertext Data Integrity Value (Appendix C), with and without AAD.
    for aad in (b"project=nile", None):
        made = client.encrypt(
            "foo", b"plaintext\n", aad, ciphertextDataIntegrityValueAlgorithm="SHA_256"
        )
        assert made.status == 200
        assert made.body["ciphertextDataIntegrityValue"] == _cdiv(aad, made.body)
        assert client.decrypt("foo", made.body, aad).body == {"plaintext": b64(b"plaintext\n")}
    # The specification's minimum sizes (4,300 bytes of data, 8,192 of AAD) and beyond.
    big = client.encrypt("foo", bytes(4300), bytes(range(256)) * 32)
    assert big.status == 200
    assert client.decrypt("foo", big.body, bytes(range(256)) * 32).body["plaintext"] == b64(
        bytes(4300)
    )
    too_big = client.encrypt("foo", bytes(9000))
    assert (too_big.status, too_big.error) == (501, "UnsupportedOperationException")
    too_much_aad = client.encrypt("foo", b"x", bytes(17000))
    assert (too_much_aad.status, too_much_aad.error) == (501, "UnsupportedOperationException")


def test_malformed_requests_are_validation_errors(proxy: Proxy) -> None:
    client = proxy.client
    good = client.encrypt("foo", b"abc").body
    base: dict[str, Any] = {
        "requestMetadata": metadata("Encrypt"),
        "plaintext": b64(b"abc"),
        "encryptionAlgorithm": "AES_GCM",
    }
    encrypt_cases = [
        {k: v for k, v in base.items() if k != "plaintext"},
        {k: v for k, v in base.items() if k != "encryptionAlgorithm"},
        {**base, "encryptionAlgorithm": "AES_CBC"},
        {**base, "plaintext": "not base64!"},
        {**base, "plaintext": 42},
        {**base, "ciphertextDataIntegrityValueAlgorithm": "MD5"},
        {**base, "requestMetadata": {**metadata("Encrypt"), "kmsKeyArn": None}},
        {**base, "requestMetadata": {**metadata("Encrypt"), "kmsViaService": 7}},
        {k: v for k, v in base.items() if k != "requestMetadata"},
    ]
    for body in encrypt_cases:
        answer = client.call("keys/foo/encrypt", body)
        assert (answer.status, answer.error) == (400, "ValidationException"), body
    decrypt_cases = [
        {"initializationVector": b64(bytes(13))},
        {"authenticationTag": b64(bytes(15))},
        {"ciphertextMetadata": b64(bytes(21))},
    ]
    for change in decrypt_cases:
        answer = client.decrypt("foo", {**good, **change})
        assert (answer.status, answer.error) == (400, "ValidationException"), change
    bad_id = client.call("keys/bad!id/encrypt", base)
    assert (bad_id.status, bad_id.error) == (400, "ValidationException")
    missing = client.encrypt("non_existing_key", b"abc")
    assert (missing.status, missing.error) == (404, "KeyNotFoundException")


def test_key_usage_status_and_lifecycle(proxy: Proxy) -> None:
    client = proxy.client
    sealed = client.encrypt("encrypt_only_key", b"abc")
    assert sealed.status == 200
    refused = [
        client.decrypt("encrypt_only_key", sealed.body),
        client.encrypt("encrypt_only_key", b"abc", ciphertextDataIntegrityValueAlgorithm="SHA_256"),
        client.encrypt("decrypt_only_key", b"abc"),
        client.encrypt("impotent_key", b"abc", b"aad"),
        client.decrypt("impotent_key", sealed.body),
    ]
    assert [(r.status, r.error) for r in refused] == [(400, "InvalidKeyUsageException")] * 5

    made = client.encrypt("foo", b"before").body
    assert proxy.admin("xks-key", "disable", "foo")[0] == 0

    def described() -> Any:
        return client.call("keys/foo/metadata", {"requestMetadata": metadata("DescribeKey")})

    assert eventually(lambda: described().body.get("keyStatus") == "DISABLED")
    for answer in (client.encrypt("foo", b"x"), client.decrypt("foo", made)):
        assert (answer.status, answer.error) == (400, "InvalidStateException")
    assert proxy.admin("xks-key", "enable", "foo")[0] == 0
    assert eventually(lambda: client.encrypt("foo", b"x").status == 200)
    assert client.decrypt("foo", made).body == {"plaintext": b64(b"before")}

    status, listed = proxy.admin("xks-key", "list")
    assert status == 0
    assert {k["KeyId"]: k["KeyStatus"] for k in listed}["foo"] == "ENABLED"
    assert proxy.admin("xks-key", "create", "foo")[0] == 1  # taken
    assert proxy.admin("xks-key", "disable", "nope")[0] == 1

    # Deleted, then made again under the same id: new material, old ciphertexts refused.
    old = client.encrypt("other", b"old").body
    assert proxy.admin("xks-key", "delete", "other")[0] == 0
    assert eventually(lambda: client.encrypt("other", b"x").error == "KeyNotFoundException")
    assert proxy.admin("xks-key", "create", "other")[0] == 0
    assert eventually(lambda: client.encrypt("other", b"x").status == 200)
    assert client.decrypt("other", old).error == "InvalidCiphertextException"


def test_secondary_authorization(proxy: Proxy) -> None:
    client = proxy.client
    sealed = client.encrypt("guarded", b"abc")
    assert sealed.status == 200
    assert client.decrypt("guarded", sealed.body).status == 200
    stranger = {**metadata("Encrypt"), "awsPrincipalArn": "arn:aws:iam::999999999999:user/Mallory"}
    body = {"requestMetadata": stranger, "plaintext": b64(b"abc"), "encryptionAlgorithm": "AES_GCM"}
    denied = [
        client.call("keys/guarded/encrypt", body),
        client.call("keys/guarded/metadata", {"requestMetadata": metadata("CreateKey")}),
        client.call(
            "keys/guarded/encrypt", {**body, "requestMetadata": metadata("GenerateDataKey")}
        ),
    ]
    assert [(d.status, d.error) for d in denied] == [(403, "AccessDeniedException")] * 3
    # Health is never subject to secondary authorization; other keys are not guarded.
    assert (
        client.call(
            "health", {"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "X"}}
        ).status
        == 200
    )
    assert client.call("keys/foo/encrypt", body).status == 200


def test_authentication_and_credential_rotation(proxy: Proxy) -> None:
    client = proxy.client
    body = {
        "requestMetadata": metadata("Encrypt"),
        "plaintext": b64(b"abc"),
        "encryptionAlgorithm": "AES_GCM",
    }
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert (
        client.call("keys/foo/encrypt", body, at=now - datetime.timedelta(minutes=4)).status == 200
    )
    failures = [
        XKSClient(client.port, BASE, secret_key="Invalid" + client.secret_key).call(
            "keys/foo/encrypt", body
        ),
        XKSClient(client.port, BASE, access_key="INVALID" + ACCESS_KEY).call(
            "keys/foo/encrypt", body
        ),
        XKSClient(client.port, BASE, service="kms").call("keys/foo/encrypt", body),
        client.call("keys/foo/encrypt", body, at=now - datetime.timedelta(minutes=6)),
        client.call("keys/foo/encrypt", body, at=now + datetime.timedelta(minutes=6)),
        client.raw(f"{BASE}/keys/foo/encrypt", json.dumps(body).encode()),  # unsigned
    ]
    data = json.dumps(body).encode()
    headers = client.signed_headers(f"{BASE}/keys/foo/encrypt", data)
    failures.append(client.raw(f"{BASE}/keys/foo/encrypt", data.replace(b"abc", b"abd"), headers))
    assert [(f.status, f.error) for f in failures] == [(401, "AuthenticationFailedException")] * 7

    # A stored credential works alongside the environment's; deleted, it stops working.
    status, config = proxy.admin("xks-credential", "create", "--uri-prefix", PREFIX)
    assert status == 0 and config["XksProxyUriPath"] == BASE
    credential = config["XksProxyAuthenticationCredential"]
    second = XKSClient(
        client.port, BASE, credential["AccessKeyId"], credential["RawSecretAccessKey"]
    )
    assert eventually(lambda: second.call("keys/foo/encrypt", body).status == 200)
    assert client.call("keys/foo/encrypt", body).status == 200
    assert [c["AccessKeyId"] for c in proxy.admin("xks-credential", "list")[1]] == [
        credential["AccessKeyId"]
    ]
    assert proxy.admin("xks-credential", "delete", credential["AccessKeyId"])[0] == 0
    assert eventually(lambda: second.call("keys/foo/encrypt", body).status == 401)
    assert proxy.admin("xks-credential", "delete", credential["AccessKeyId"])[0] == 1


def test_routing(proxy: Proxy) -> None:
    client = proxy.client
    body = {
        "requestMetadata": metadata("Encrypt"),
        "plaintext": b64(b"abc"),
        "encryptionAlgorithm": "AES_GCM",
    }
    for base in ("/tenant/a/invalid/kms/xks/v1", "/tenant/kms/xks/v1", "/kms/xks/v1"):
        wrong = client.call("keys/foo/encrypt", body, base=base)
        assert (wrong.status, wrong.error) == (404, "InvalidUriPathException")
    for target in ("keys/foo/sign", "keys/foo", "keys//encrypt", "healthz"):
        wrong = client.call(target, body)
        assert (wrong.status, wrong.error) == (404, "InvalidUriPathException"), target
    for target in ("health", "keys/foo/encrypt", "keys/foo/metadata"):
        got = client.raw(f"{BASE}/{target}", b"", method="GET")
        assert got.status == 405 and got.headers["allow"] == "POST"
    ping = client.raw("/ping", b"", method="GET")
    assert ping.status == 200
    huge = client.call("keys/foo/encrypt", b"{" + b" " * 300_000 + b"}")
    assert (huge.status, huge.error) == (501, "UnsupportedOperationException")


def _stored_records(proxy: Proxy) -> list[dict[str, Any]]:
    from sqlalchemy import text

    from openkms.storage.engine import make_engine, sqlite_url

    engine = make_engine(proxy.database or sqlite_url(proxy.data_dir))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT record FROM audit_events ORDER BY seq")).all()
    finally:
        engine.dispose()
    return [json.loads(row[0]) for row in rows]


def _sent_metadata(record: dict[str, Any]) -> dict[str, Any]:
    return dict((record["requestParameters"] or {}).get("requestMetadata") or {})


def test_calls_are_in_the_audit_trail(proxy: Proxy) -> None:
    client = proxy.client
    request_metadata = metadata("GenerateDataKey")
    body = {
        "requestMetadata": request_metadata,
        "plaintext": b64(b"top secret"),
        "encryptionAlgorithm": "AES_GCM",
    }
    assert client.call("keys/foo/encrypt", body).status == 200
    stranger = {**metadata("Decrypt"), "awsPrincipalArn": "arn:aws:iam::999999999999:user/Mallory"}
    assert client.call("keys/guarded/metadata", {"requestMetadata": stranger}).status == 403
    forged = XKSClient(client.port, BASE, secret_key="Invalid" + client.secret_key)
    assert forged.call("keys/foo/metadata", {"requestMetadata": stranger}).status == 401
    state = ["--data-dir", proxy.data_dir] + (
        ["--database", proxy.database] if proxy.database else []
    )
    records = _stored_records(proxy)
    xks_records = [r for r in records if r.get("eventSource") == "kms-xks-proxy"]
    wanted = request_metadata["kmsRequestId"]
    mine = [r for r in xks_records if _sent_metadata(r).get("kmsRequestId") == wanted]
    assert len(mine) == 1
    record = mine[0]
    assert record["eventName"] == "Encrypt" and record["userIdentity"] == {
        "type": "AWSService",
        "invokedBy": "kms.amazonaws.com",
        "accessKeyId": ACCESS_KEY,
    }
    assert record["requestParameters"] == {
        "externalKeyId": "foo",
        "encryptionAlgorithm": "AES_GCM",
        "requestMetadata": request_metadata,
    }
    assert record["responseElements"] is None and "errorCode" not in record
    assert b64(b"top secret") not in json.dumps(xks_records)
    denied = [r for r in xks_records if _sent_metadata(r) == stranger]
    assert [(r["eventName"], r["errorCode"]) for r in denied] == [
        ("GetKeyMetadata", "AccessDeniedException")
    ]
    forged_records = [
        r for r in xks_records if r.get("errorCode") == "AuthenticationFailedException"
    ]
    assert forged_records and {r["awsRegion"] for r in forged_records} == {"us-east-1"}
    status, _, err = openkms("audit", "verify", *state)
    assert status == 0, err
