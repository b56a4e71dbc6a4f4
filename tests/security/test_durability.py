"""Durability and secrecy at rest, with the server's own processes (not the shared one).

Each test runs on SQLite (``--data-dir``) and on PostgreSQL (a fresh database in the
throwaway cluster; the root key still lives in the data directory). The servers start
without ``OPENKMS_ROOT_*`` credentials, so the root credentials are generated, printed
once to the server's output (kept outside the data directory) and reused on restart.

(a) a graceful restart (SIGTERM) keeps keys, aliases, tags, states and ciphertexts;
(b) SIGKILL right after acknowledged writes loses none of them;
(c) nothing under the data directory (or in the PostgreSQL cluster) holds a plaintext,
    a returned data key, random bytes handed out, or the root secret access key.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess, free_port

from conftest import ACCOUNT, make_client

_GENERATED = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)")


@dataclass
class Backend:
    name: str
    data_dir: Path
    database: str | None
    log_path: Path
    #: extra directories whose files are scanned for secrets (the PostgreSQL cluster)
    scan_dirs: list[Path]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    data_dir = tmp_path / "data"  # created by the server itself
    log_path = tmp_path / "server.log"  # outside the data directory
    if request.param == "sqlite":
        return Backend("sqlite", data_dir, None, log_path, [])
    cluster = request.getfixturevalue("postgres")
    database = cluster.create_database(f"durability_{uuid.uuid4().hex[:12]}")
    return Backend("postgres", data_dir, database, log_path, [Path(cluster.directory)])


def start(backend: Backend) -> ServerProcess:
    """Start a server with generated root credentials, output to ``backend.log_path``."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "openkms",
        "serve",
        "--port",
        str(port),
        "--account-id",
        ACCOUNT,
        "--data-dir",
        str(backend.data_dir),
    ]
    if backend.database:
        args += ["--database", backend.database]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env["OPENKMS_QUOTAS"] = "off"  # its rounds create keys faster than 5 a second
    log = open(backend.log_path, "ab")
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    server = ServerProcess(
        proc, port, str(backend.data_dir), backend.database, env, args, str(backend.log_path)
    )
    server.wait_ready()
    return server


@pytest.fixture()
def running(backend: Backend) -> Iterator[ServerProcess]:
    server = start(backend)
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


def client_for(server: ServerProcess) -> Any:
    found = _GENERATED.findall(server.log())
    assert len(found) == 1, f"expected generated credentials once:\n{server.log()}"
    akid, secret = found[0]
    return make_client(server.endpoint, access_key=akid, secret_key=secret)


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_graceful_restart_keeps_everything(running: ServerProcess) -> None:
    kms = client_for(running)
    keys = [
        kms.create_key(Description=f"durable {i}", Tags=[{"TagKey": "n", "TagValue": str(i)}])[
            "KeyMetadata"
        ]
        for i in range(3)
    ]
    aliases = {f"alias/durable-{i}": keys[i]["KeyId"] for i in range(3)}
    for name, target in aliases.items():
        kms.create_alias(AliasName=name, TargetKeyId=target)
    blobs = []
    for i, key in enumerate(keys):
        ctx = {"i": str(i)}
        plain = os.urandom(100 + i)
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=plain, EncryptionContext=ctx)[
            "CiphertextBlob"
        ]
        blobs.append((blob, ctx, plain, key["Arn"]))
    data_key = kms.generate_data_key(KeyId="alias/durable-0", KeySpec="AES_256")
    kms.disable_key(KeyId=keys[1]["KeyId"])
    kms.schedule_key_deletion(KeyId=keys[2]["KeyId"], PendingWindowInDays=7)
    before = {k["KeyId"]: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in keys}

    running.restart()  # SIGTERM, then the same command line again
    kms = client_for(running)  # the stored credentials still sign
    assert "(stored)" in running.log()

    for key_id, meta in before.items():
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == meta
        assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [
            {"TagKey": "n", "TagValue": meta["Description"].split()[-1]}
        ]
    listed = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    for name, target in aliases.items():
        assert listed.get(name) == target
    assert {k["KeyId"] for k in kms.list_keys()["Keys"]} >= set(before)
    assert before[keys[1]["KeyId"]]["KeyState"] == "Disabled"
    assert before[keys[2]["KeyId"]]["KeyState"] == "PendingDeletion"

    blob, ctx, plain, arn = blobs[0]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == plain and out["KeyId"] == arn
    assert (
        kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    )
    for blob, ctx, _plain, _arn in blobs[1:]:  # disabled / pending deletion: still refused
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
        assert code_of(exc) in ("DisabledException", "KMSInvalidStateException")
    kms.enable_key(KeyId=keys[1]["KeyId"])
    kms.cancel_key_deletion(KeyId=keys[2]["KeyId"])
    kms.enable_key(KeyId=keys[2]["KeyId"])
    for blob, ctx, plain, _ in blobs:
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == plain
    # New material written after the restart is usable too.
    fresh = kms.encrypt(KeyId="alias/durable-1", Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"after"


def test_sigkill_after_acknowledged_writes(running: ServerProcess) -> None:
    kms = client_for(running)
    expected_states: dict[str, str] = {}
    expected_aliases: dict[str, str] = {}
    ciphertexts: list[tuple[bytes, bytes]] = []
    for round_no in range(3):
        for i in range(4):
            key_id = kms.create_key(Description=f"r{round_no}k{i}")["KeyMetadata"]["KeyId"]
            expected_states[key_id] = "Enabled"
            alias = f"alias/kill-{round_no}-{i}"
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            expected_aliases[alias] = key_id
            plain = os.urandom(32)
            ciphertexts.append((kms.encrypt(KeyId=alias, Plaintext=plain)["CiphertextBlob"], plain))
            if i % 2:
                kms.disable_key(KeyId=key_id)
                expected_states[key_id] = "Disabled"
        # The last acknowledged write is immediately followed by kill -9.
        last = kms.create_key(Description=f"last {round_no}")["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=last)
        expected_states[last] = "Disabled"
        kms.create_alias(AliasName=f"alias/last-{round_no}", TargetKeyId=last)
        expected_aliases[f"alias/last-{round_no}"] = last
        running.stop(signal.SIGKILL)
        assert running.proc.returncode == -signal.SIGKILL
        running.restart()
        kms = client_for(running)

        for key_id, state in expected_states.items():
            assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == state, key_id
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        for alias, key_id in expected_aliases.items():
            assert aliases.get(alias) == key_id, alias
        listed = set()
        pages = kms.get_paginator("list_keys").paginate()
        for page in pages:
            listed |= {k["KeyId"] for k in page["Keys"]}
        assert listed == set(expected_states)

    for blob, plain in ciphertexts:
        try:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
        except ClientError as err:
            assert err.response["Error"]["Code"] == "DisabledException"
    # Every acknowledged call's record survived the kills, and the trail verifies: each
    # restart signed a start digest over what the killed server left unsealed.
    verify = [
        sys.executable,
        "-m",
        "openkms",
        "audit",
        "verify",
        "--data-dir",
        str(running.data_dir),
    ]
    if running.database:
        verify += ["--database", running.database]
    done = subprocess.run(verify, env=running.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit trail intact" in done.stdout


def _forms(secret: bytes) -> dict[str, bytes]:
    return {
        "raw": secret,
        "base64": base64.b64encode(secret),
        "base64-unpadded": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
    }


def _files(*dirs: Path) -> list[Path]:
    found = []
    for top in dirs:
        for root, _dirs, names in os.walk(top):
            found += [Path(root, n) for n in names if Path(root, n).is_file()]
    return found


def _scan(files: list[Path], needles: dict[str, bytes]) -> list[str]:
    hits = []
    for path in files:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, PermissionError):
            continue  # removed or replaced while we walked (PostgreSQL temp files)
        hits += [f"{label} in {path}" for label, needle in needles.items() if needle in data]
    return hits


def test_no_secrets_at_rest(backend: Backend, running: ServerProcess) -> None:
    kms = client_for(running)
    _akid, root_secret = _GENERATED.findall(running.log())[0]
    key = kms.create_key(Description="secrets")["KeyMetadata"]
    kms.create_alias(AliasName="alias/secrets", TargetKeyId=key["KeyId"])

    needles: dict[str, bytes] = {}
    for i in range(5):
        # Distinctive plaintexts: random, and long enough that no accident matches.
        plain = f"PLAINTEXT-{i}-{uuid.uuid4().hex}".encode() + os.urandom(24)
        blob = kms.encrypt(KeyId="alias/secrets", Plaintext=plain, EncryptionContext={"n": str(i)})[
            "CiphertextBlob"
        ]
        assert (
            kms.decrypt(CiphertextBlob=blob, EncryptionContext={"n": str(i)})["Plaintext"] == plain
        )
        needles |= {f"plaintext {i} ({form})": v for form, v in _forms(plain).items()}
    data_keys = [
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256"),
        kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_128", EncryptionContext={"a": "b"}),
        kms.generate_data_key(KeyId="alias/secrets", NumberOfBytes=64),
    ]
    for i, out in enumerate(data_keys):
        again = kms.decrypt(
            CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "b"} if i == 1 else {}
        )
        assert again["Plaintext"] == out["Plaintext"]
        needles |= {f"data key {i} ({form})": v for form, v in _forms(out["Plaintext"]).items()}
    for i in range(2):
        random = kms.generate_random(NumberOfBytes=48)["Plaintext"]
        needles |= {f"random {i} ({form})": v for form, v in _forms(random).items()}
    root_needles = {"root secret access key": root_secret.encode()}

    root_key = backend.data_dir / "root.key"
    assert root_key.is_file()
    assert root_key.stat().st_mode & 0o777 == 0o600
    assert backend.data_dir.stat().st_mode & 0o077 == 0, oct(backend.data_dir.stat().st_mode)

    # While running (the SQLite -wal and -shm files exist), then after a clean stop.
    for phase in ("running", "stopped"):
        if phase == "stopped":
            running.stop()
        files = _files(backend.data_dir, *backend.scan_dirs)
        names = {p.name for p in _files(backend.data_dir)}
        assert "root.key" in names
        if backend.name == "sqlite":
            assert "openkms.db" in names
            if phase == "running":
                assert "openkms.db-wal" in names, names
        assert _scan(files, needles | root_needles) == [], phase
        # Control: the scan does see what the server stored (the key id, the root key).
        assert _scan(files, {"key id": key["KeyId"].encode()}), phase
        assert _scan([root_key], {"root key": root_key.read_bytes().strip()})

    # The server's own output (kept outside the data directory) leaks none of them
    # either; the generated secret appears there exactly once, in the start-up banner.
    output = backend.log_path.read_bytes()
    assert _scan([backend.log_path], needles) == []
    assert output.count(root_secret.encode()) == 1
