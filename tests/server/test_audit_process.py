"""The audit writer process: records cross the pipe without secrets, a writer that dies
fails only the requests waiting on it (KMSInternalException, never an unaudited answer),
and the next requests get a new writer."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.audit.records import AuditedCall, indexed_record
from openkms.domain.principals import Principal
from openkms.service.audit_trail import Entry


def _call(request: dict[str, object], response: dict[str, object] | None) -> AuditedCall:
    return AuditedCall(
        request_id="11111111-2222-4333-8444-555555555555",
        event_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        event_time=1_700_000_000.5,
        event_source="kms.amazonaws.com",
        event_name="GenerateDataKey",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        principal=Principal.root(ACCOUNT, "AKIAEXAMPLE"),
        request=request,
        response=response,
        resources=((ACCOUNT, f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"),),
    )


def test_records_leave_the_server_without_secrets_and_unchanged() -> None:
    call = _call(
        {"KeyId": "alias/x", "KeySpec": "AES_256", "EncryptionContext": {"a": "b"}},
        {"Plaintext": b"\x01" * 32, "CiphertextBlob": b"\x02" * 64, "KeyId": "k"},
    )
    moved = pickle.loads(pickle.dumps(Entry(None, call, ACCOUNT), pickle.HIGHEST_PROTOCOL))
    assert b"\x01" * 32 not in pickle.dumps(Entry(None, call, ACCOUNT))
    assert moved.call.principal == call.principal
    assert "Plaintext" not in (moved.call.response or {})
    assert "CiphertextBlob" not in (moved.call.response or {})
    assert moved.call.request["EncryptionContext"] == {"a": "b"}
    assert indexed_record(moved.call, ACCOUNT, None) == indexed_record(call, ACCOUNT, None)


def _writer_pids(server: ServerProcess) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid), "-f", "openkms.server.audit_process"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(p) for p in found.stdout.split()]


def test_a_dead_writer_fails_its_requests_and_is_replaced(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=str(tmp_path), account=ACCOUNT, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    try:
        kms = make_client(server.endpoint)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key, Plaintext=b"before")
        (writer,) = _writer_pids(server)
        # No retry at all (botocore's legacy max_attempts=1 still retries a 500 once).
        clients = [
            boto3.client(
                "kms",
                endpoint_url=server.endpoint,
                region_name="us-east-1",
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=Config(retries={"total_max_attempts": 1}),
            )
            for _ in range(4)
        ]
        for client in clients:  # connected and warm before the writer stops
            client.encrypt(KeyId=key, Plaintext=b"warm")
        os.kill(writer, signal.SIGSTOP)  # records queue up in the pipe, unanswered

        def encrypt(i: int) -> str:
            try:
                clients[i].encrypt(KeyId=key, Plaintext=b"during")
                return "ok"
            except ClientError as err:
                return str(err.response["Error"]["Code"])

        with ThreadPoolExecutor(4) as pool:
            waiting = [pool.submit(encrypt, i) for i in range(4)]
            time.sleep(1.5)
            assert not any(f.done() for f in waiting)  # nobody answered without a record
            os.kill(writer, signal.SIGKILL)
            outcomes = [f.result(timeout=30) for f in waiting]
        assert set(outcomes) == {"KMSInternalException"}
        time.sleep(1.1)  # restarts are at most once a second
        blob = kms.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
        assert _writer_pids(server) and _writer_pids(server) != [writer]
    finally:
        server.stop()
    verified = subprocess.run(
        [sys.executable, "-m", "openkms", "audit", "verify", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=server.env,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_writer_ends_with_its_server(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=str(tmp_path), account=ACCOUNT, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    kms = make_client(server.endpoint)
    kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")
    (writer,) = _writer_pids(server)
    server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{writer}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{writer}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    else:
        assert not os.path.exists(f"/proc/{writer}"), "the writer outlived its server"
