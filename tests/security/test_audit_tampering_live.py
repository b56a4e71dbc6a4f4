"""The audit trail's tamper evidence with a real server (``openkms serve``) and the real
command line (``openkms audit ...``), on SQLite and PostgreSQL (issue 13).

* a live trail is sealed within seconds (before: every 5 minutes), so an edit to an
  answered call's record is caught soon after;
* ``serve --audit-digest-dir`` keeps the digests outside the database, and
  ``verify --digests-from`` catches a tail cut from the database;
* a signing key deleted from the database stops the next start with one line;
  ``audit rotate-signing-key`` replaces it explicitly, endorsed by the old key.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import ServerProcess
from sqlalchemy import create_engine, text

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.audit.digest import GAP_BOUND
from openkms.domain.audit import link_hash


@dataclass
class Backend:
    data_dir: Path
    database: str | None

    def options(self) -> list[str]:
        found = ["--data-dir", str(self.data_dir)]
        return found + (["--database", self.database] if self.database else [])

    def sql(self, statement: str, **params: object) -> list[tuple[Any, ...]]:
        url = self.database or f"sqlite:///{self.data_dir / 'openkms.db'}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    database = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres")
        database = cluster.create_database(f"tamper_live_{uuid.uuid4().hex[:10]}")
    (tmp_path / "data").mkdir(mode=0o700)
    return Backend(tmp_path / "data", database)


def serve(backend: Backend, *extra: str) -> ServerProcess:
    return ServerProcess.start(
        data_dir=str(backend.data_dir),
        database=backend.database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=list(extra),
    )


@pytest.fixture()
def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}


def openkms(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "openkms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def some_calls(server: ServerProcess) -> None:
    kms = make_client(server.endpoint)
    key = kms.create_key(Description="audited")["KeyMetadata"]["KeyId"]
    for i in range(3):
        kms.encrypt(KeyId=key, Plaintext=f"secret {i}".encode())


def rechain(backend: Backend) -> None:
    prev = "0" * 64
    for seq, body in backend.sql("SELECT seq, record FROM audit_events ORDER BY seq"):
        digest = link_hash(prev, seq, body.encode())
        backend.sql(
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=seq,
        )
        prev = digest
    backend.sql(
        "UPDATE audit_chain_head SET seq = (SELECT max(seq) FROM audit_events), hash = :h",
        h=prev,
    )


def test_a_live_trail_is_sealed_within_seconds(backend: Backend, env: dict[str, str]) -> None:
    server = serve(backend)
    try:
        some_calls(server)
        # Poll (no timed assertion): the records are sealed well within the bound.
        deadline = time.monotonic() + GAP_BOUND
        while True:
            done = openkms("audit", "verify", *backend.options(), env=env)
            assert done.returncode == 0, done.stderr
            if "; 0 records, " in done.stdout:
                break
            assert time.monotonic() < deadline, done.stdout
            time.sleep(0.5)
        (last,) = backend.sql("SELECT max(seq) FROM audit_events")[0:1]
        victim = backend.sql(
            "SELECT seq FROM audit_events WHERE event_name = 'Encrypt' ORDER BY seq LIMIT 1"
        )[0][0]
        assert victim <= last[0]
        backend.sql(
            "UPDATE audit_events SET record = replace(record, '\"Encrypt\"', '\"Decrypt\"'), "
            "event_name = 'Decrypt' WHERE seq = :s",
            s=victim,
        )
        rechain(backend)
        done = openkms("audit", "verify", *backend.options(), env=env)
        assert done.returncode == 1
        assert "the chain hash differs from the signed digest" in done.stderr
    finally:
        server.stop()


def test_the_digest_directory_catches_a_cut_tail(
    backend: Backend, env: dict[str, str], tmp_path: Path
) -> None:
    digests = tmp_path / "elsewhere" / "digests"
    server = serve(backend, "--audit-digest-dir", str(digests))
    try:
        some_calls(server)
        sealed = openkms("audit", "seal", *backend.options(), env=env)
        assert sealed.returncode == 0, sealed.stderr
        some_calls(server)
    finally:
        server.stop()  # a clean stop: its stop digest is copied too
    assert oct(digests.stat().st_mode & 0o777) == "0o700"
    done = openkms("audit", "verify", *backend.options(), "--digests-from", str(digests), env=env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+ digests match the external copy", done.stdout), done.stdout
    # Cut the tail from the database: the newest records, the digests that sealed them,
    # and the chain head moved back to match.
    (newest,) = backend.sql("SELECT max(number) FROM audit_digests")[0]
    ((keep_seq, keep_number),) = backend.sql(
        "SELECT seq_to, number FROM audit_digests WHERE kind = 'manual'"
    )
    ((keep_hash,),) = backend.sql("SELECT hash FROM audit_events WHERE seq = :s", s=keep_seq)
    backend.sql("DELETE FROM audit_events WHERE seq > :s", s=keep_seq)
    backend.sql("DELETE FROM audit_resources WHERE seq > :s", s=keep_seq)
    backend.sql("DELETE FROM audit_digests WHERE number > :n", n=keep_number)
    backend.sql("UPDATE audit_chain_head SET seq = :s, hash = :h", s=keep_seq, h=keep_hash)
    done = openkms("audit", "verify", *backend.options(), "--digests-from", str(digests), env=env)
    assert done.returncode == 1
    assert f"digests {keep_number + 1}..{newest} are in the external copy" in done.stderr


def test_a_missing_signing_key_stops_the_server(backend: Backend, env: dict[str, str]) -> None:
    server = serve(backend)
    try:
        some_calls(server)
    finally:
        server.stop()
    backend.sql("DELETE FROM openkms_meta WHERE name LIKE 'audit_signing%'")
    done = openkms("serve", "--port", "1", *backend.options(), env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("openkms: error: the audit signing key is missing"), done.stderr
    assert "rotate-signing-key --replace-lost-key" in line
    done = openkms("audit", "seal", *backend.options(), env=env)  # nor does a manual seal
    assert done.returncode == 3 and "audit signing key is missing" in done.stderr
    # The explicit way on: a new key, which verifiers must trust explicitly.
    done = openkms("audit", "rotate-signing-key", *backend.options(), env=env)
    assert done.returncode == 1 and "--replace-lost-key" in done.stderr
    done = openkms("audit", "rotate-signing-key", "--replace-lost-key", *backend.options(), env=env)
    assert done.returncode == 0, done.stderr
    new = re.search(r"new audit signing key SHA-256 ([0-9a-f]{64})", done.stdout)
    assert new is not None
    done = openkms("audit", "verify", *backend.options(), env=env)
    assert done.returncode == 1 and "endorses the new one" in done.stderr
    (old,) = backend.sql("SELECT key_fingerprint FROM audit_digests WHERE number = 1")[0]
    trusted = ["--expect-fingerprint", old, "--expect-fingerprint", new.group(1)]
    done = openkms("audit", "verify", *backend.options(), *trusted, env=env)
    assert done.returncode == 0, done.stderr


def test_rotation_while_serving_is_endorsed(
    backend: Backend, env: dict[str, str], tmp_path: Path
) -> None:
    server = serve(backend)
    try:
        some_calls(server)
        done = openkms("audit", "verify", *backend.options(), env=env)
        old = re.search(r"signing key SHA-256 ([0-9a-f]{64})", done.stdout)
        assert old is not None, done.stdout
        done = openkms("audit", "rotate-signing-key", *backend.options(), env=env)
        assert done.returncode == 0, done.stderr
        assert f"rotated: SHA-256 {old.group(1)} -> " in done.stdout
        some_calls(server)
    finally:
        server.stop(signal.SIGTERM)  # its stop digest is signed with the new key
    trusted = tmp_path / "trusted"
    trusted.write_text(f"# the key we pinned\n{old.group(1)}\n")
    done = openkms(
        "audit", "verify", *backend.options(), "--trusted-fingerprints", str(trusted), env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"signing keys SHA-256 {old.group(1)} -> " in done.stdout
    other = "ab" * 32
    done = openkms("audit", "verify", *backend.options(), "--expect-fingerprint", other, env=env)
    assert done.returncode == 1 and "not a trusted fingerprint" in done.stderr
