"""``openkms backup`` and ``openkms restore`` against a real server (SQLite and
PostgreSQL): an online backup holds no root key; restored, every ciphertext decrypts,
every signature verifies and ``openkms audit verify`` passes; a restore under another
root key is refused with one line and leaves nothing behind."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from servers import PostgresCluster, ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client


def _openkms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    return subprocess.run(
        [sys.executable, "-m", "openkms", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def _storage(server: ServerProcess) -> list[str]:
    return ["--data-dir", str(server.data_dir)] + (
        ["--database", server.database] if server.database else []
    )


@pytest.fixture(scope="module")
def backed_up(quiet_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A workload on the server, then a backup taken while it runs."""
    kms = make_client(quiet_server.endpoint)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    blobs = [
        (kms.encrypt(KeyId=symmetric, Plaintext=f"secret {i}".encode())["CiphertextBlob"], i)
        for i in range(5)
    ]
    kms.rotate_key_on_demand(KeyId=symmetric)
    signature = kms.sign(KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    out = tmp_path_factory.mktemp("backup") / "openkms.backup"
    # Taken while another client keeps writing audit records: the copy is one consistent
    # state of the chain (the restored trail verifies below).
    stop, written = threading.Event(), [0]

    def busy() -> None:
        client = make_client(quiet_server.endpoint)
        while not stop.is_set():
            client.encrypt(KeyId=symmetric, Plaintext=b"busy")
            written[0] += 1

    writer = threading.Thread(target=busy)
    writer.start()
    try:
        made = _openkms("backup", "--out", str(out), *_storage(quiet_server))
    finally:
        stop.set()
        writer.join(timeout=60)
    assert made.returncode == 0, made.stderr
    assert written[0] > 0
    summary = json.loads(made.stdout)
    return {
        "file": out,
        "summary": summary,
        "blobs": blobs,
        "signing": signing["KeyId"],
        "signature": signature["Signature"],
        "root_key": (Path(str(quiet_server.data_dir)) / "root.key").read_bytes(),
    }


def test_backup_is_one_file_without_the_root_key(backed_up: Any) -> None:
    data = backed_up["file"].read_bytes()
    assert data.startswith(b"SQLite format 3\x00")
    encoded = backed_up["root_key"].strip()
    assert encoded not in data and base64.b64decode(encoded) not in data
    assert backed_up["summary"]["Rows"]["kms_keys"] == 2
    assert backed_up["summary"]["AuditSeq"] >= 8
    assert oct(backed_up["file"].stat().st_mode & 0o777) == "0o600"
    again = _openkms("backup", "--out", str(backed_up["file"]), "--data-dir", "/nonexistent")
    assert again.returncode == 1 and "exists" in again.stderr


def test_restore_decrypts_every_ciphertext_and_verifies(
    backed_up: Any, quiet_server: ServerProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SQLite's backup restores into a new data directory; PostgreSQL's into a new
    PostgreSQL database (the root key in --data-dir, as serve finds it)."""
    target = tmp_path / "restored"
    target.mkdir(mode=0o700)
    (target / "root.key").write_bytes(backed_up["root_key"])
    database = None
    if quiet_server.database is not None:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = cluster.create_database("openkms_restored")
    storage = ["--data-dir", str(target)] + (["--database", database] if database else [])
    restored = _openkms("restore", str(backed_up["file"]), *storage)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["AuditSeq"] == backed_up["summary"]["AuditSeq"]
    verified = _openkms("audit", "verify", *storage)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    server = ServerProcess.start(
        data_dir=str(target),
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    try:
        kms = make_client(server.endpoint)
        if database is None:  # the maintenance loop's first run counts the restored trail
            assert _rolled_up_to(target / "openkms.db") >= backed_up["summary"]["AuditSeq"]
        for blob, i in backed_up["blobs"]:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == f"secret {i}".encode()
        check = kms.verify(
            KeyId=backed_up["signing"],
            Message=b"m",
            Signature=backed_up["signature"],
            SigningAlgorithm="ECDSA_SHA_256",
        )
        assert check["SignatureValid"] is True
    finally:
        server.stop()
    again = _openkms("restore", str(backed_up["file"]), *storage)
    assert again.returncode == 1
    assert ("already holds OpenKMS state" if database else "already holds a database") in (
        again.stderr
    )


def _rolled_up_to(path: Path) -> int:
    """The usage rollup's watermark, once the server's first maintenance run set it."""
    for _ in range(300):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT seq FROM usage_rollup WHERE id = 1").fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.1)
    return 0


def test_restore_under_another_root_key_is_refused(
    backed_up: Any, quiet_server: ServerProcess, tmp_path: Path
) -> None:
    if quiet_server.database is not None:
        pytest.skip("the check reads the backup file, the same for either backend: once")
    target = tmp_path / "other"
    target.mkdir(mode=0o700)
    (target / "root.key").write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    refused = _openkms("restore", str(backed_up["file"]), "--data-dir", str(target))
    assert refused.returncode == 4
    assert refused.stderr.count("\n") == 1
    assert "sealed under another root key" in refused.stderr
    assert sorted(os.listdir(target)) == ["root.key"]  # nothing left behind
    missing = _openkms("restore", str(backed_up["file"]), "--data-dir", str(tmp_path / "new"))
    assert missing.returncode == 3 and "no root key" in missing.stderr
    not_backup = tmp_path / "not.backup"
    not_backup.write_bytes(b"hello")
    bad = _openkms("restore", str(not_backup), "--data-dir", str(target))
    assert bad.returncode == 1 and "not an OpenKMS backup" in bad.stderr
