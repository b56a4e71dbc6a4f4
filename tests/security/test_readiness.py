"""A server that cannot write says so (issue 13, item 7).

A server on a read-only SQLite file used to start and answer health 200 while every call
failed, and health stayed 200 through a full disk and a PostgreSQL outage. Now ``serve``
refuses a database it cannot write (one line), ``/_openkms/ready`` answers 503 naming
what cannot be written (the database, the root of trust, the audit trail), and
``/_openkms/health`` stays a liveness check (200 while the process answers).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import PostgresCluster, ServerProcess, free_port

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.cli.exit_codes import Exit

#: Generous: how long a server may take to notice a change (its answer is cached 1 s).
_NOTICED_WITHIN = 30.0


def get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def ready(server: ServerProcess) -> tuple[int, dict[str, str]]:
    return get(server.endpoint + "/_openkms/ready")


def health(server: ServerProcess) -> int:
    return get(server.endpoint + "/_openkms/health")[0]


def wait_ready_status(server: ServerProcess, status: int) -> dict[str, str]:
    """Poll ``/_openkms/ready`` until it answers ``status``; that answer's body."""
    deadline = time.monotonic() + _NOTICED_WITHIN
    while True:
        code, body = ready(server)
        if code == status:
            return body
        assert time.monotonic() < deadline, (code, body)
        time.sleep(0.2)


def start(data_dir: Path, database: str | None = None) -> ServerProcess:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the server log goes there
    return ServerProcess.start(
        data_dir=str(data_dir),
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    database = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = cluster.create_database(f"ready_{free_port()}")
    started = start(tmp_path / "data", database)
    try:
        yield started
    finally:
        started.stop()


def test_ready_names_every_part_and_health_stays_liveness(server: ServerProcess) -> None:
    status, body = ready(server)
    assert status == 200, body
    assert body == {
        "status": "ready",
        "database": "ok",
        "rootOfTrust": "ok",
        "auditTrail": "ok",
    }
    assert health(server) == 200


def test_a_read_only_sqlite_database_is_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start(data).stop()  # made, with its keys and credentials
    db = data / "openkms.db"
    with _read_only(db):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
        args = [sys.executable, "-m", "openkms", "serve", "--port", str(free_port())]
        done = subprocess.run(
            [*args, "--data-dir", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == Exit.DATABASE, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("openkms: error: "), done.stderr
    assert "cannot be written" in lines[0] and "readonly" in lines[0], lines[0]
    assert "listening" not in done.stdout


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this user: mode 0444, and as root (who ignores modes) the
    immutable attribute too."""
    os.chmod(path, 0o444)
    immutable = False
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a file read-only for root here: {done.stderr.strip()}")
        immutable = True
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, 0o600)


@contextlib.contextmanager
def _small_file_system(path: Path, size: str) -> Iterator[None]:
    """A tmpfs of ``size`` mounted at ``path`` (needs root, or CAP_SYS_ADMIN)."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system to fill: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_ready_reports_a_full_disk_on_sqlite(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    with _small_file_system(mount, "48m"):
        server = start(mount / "data")
        try:
            kms = make_client(server.endpoint)
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            assert ready(server)[0] == 200
            filler = mount / "filler"
            _fill(filler)
            body = wait_ready_status(server, 503)
            assert body["status"] == "not ready" and body["database"] != "ok", body
            assert health(server) == 200  # alive: a liveness probe must not restart it
            filler.unlink()
            wait_ready_status(server, 200)
            assert kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
        finally:
            server.stop()


def test_ready_reports_a_postgresql_outage(tmp_path: Path) -> None:
    try:
        cluster = PostgresCluster.create(free_port())  # its own: this test stops it
    except FileNotFoundError as exc:
        if os.environ.get("OPENKMS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not available: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        server = start(tmp_path / "data", cluster.create_database("outage"))
        try:
            assert ready(server)[0] == 200
            cluster.halt()
            body = wait_ready_status(server, 503)
            assert body["database"] != "ok" and body["auditTrail"] != "ok", body
            assert health(server) == 200
            cluster.resume()
            wait_ready_status(server, 200)
            kms = make_client(server.endpoint)
            assert kms.create_key()["KeyMetadata"]["KeyId"]
        finally:
            server.stop()
    finally:
        cluster.stop()
