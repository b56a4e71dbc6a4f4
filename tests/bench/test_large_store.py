"""bench/large_store.py build: a small store it makes passes ``openkms audit verify`` and
serves its keys (the full-size store is issue 12's scale benchmark; this keeps the tool
honest at a size a test can afford)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers import PostgresCluster, ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

ROOT = Path(__file__).resolve().parents[2]
KEYS, EVENTS = 50, 500


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_built_store_verifies_and_serves_its_keys(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = str(tmp_path / "large")
    database = None
    if backend == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = cluster.create_database("openkms_large_store")
    storage = ["--data-dir", data_dir] + (["--database", database] if database else [])
    built = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "large_store.py"), "build", *storage,
         "--keys", str(KEYS), "--events", str(EVENTS), "--batch", "64", "--seal-every", "200", "--check-every", "1",
         "--account", ACCOUNT],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert f"building {KEYS:,} keys and {EVENTS:,} events" in built.stdout

    verified = subprocess.run(
        [sys.executable, "-m", "openkms", "audit", "verify", *storage],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{EVENTS} records (seq 1..{EVENTS})" in verified.stdout
    assert "sealed to seq 500" in verified.stdout

    server = ServerProcess.start(
        data_dir=data_dir,
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--maintenance-interval", "0"],
    )
    try:
        kms = make_client(server.endpoint)
        keys = kms.list_keys(Limit=1000)["Keys"]
        assert len(keys) == KEYS
        aliases = [a for a in kms.list_aliases(Limit=100)["Aliases"] if "TargetKeyId" in a]
        assert len(aliases) == KEYS // 10
        for key_id in (keys[0]["KeyId"], keys[-1]["KeyId"], "alias/large/0"):
            assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"large store")["CiphertextBlob"]
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"large store"
    finally:
        server.stop()
