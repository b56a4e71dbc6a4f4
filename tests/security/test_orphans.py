"""No process outlives the server it belongs to (issue 13, item 6).

``kill -9`` of the ``serve --workers N`` parent used to leave the workers serving the
port: the next start printed "listening" and then failed with "Address already in use".
Workers now end with their parent (``PR_SET_PDEATHSIG``, and a check that the parent is
still the one that started them), each worker's audit writer process ends with its
worker, and "listening" is printed only once the port is bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

#: How long the processes of a killed server may take to go (generous: not a measurement).
_GONE_WITHIN = 30.0


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split() if is_running(int(p))]


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie holds no port and no file)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int]) -> list[int]:
    """Wait (up to ``_GONE_WITHIN``) for ``pids`` to end; those still running."""
    deadline = time.monotonic() + _GONE_WITHIN
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if is_running(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if is_running(pid)]


def test_workers_end_when_their_parent_is_killed(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=str(tmp_path),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--workers", "2"],
    )
    family: list[int] = []
    try:
        kms = make_client(server.endpoint)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        for _ in range(10):  # new connections: audit writers in the workers that answer
            make_client(server.endpoint).encrypt(KeyId=key, Plaintext=b"x")
        family = descendants(server.proc.pid)
        assert len(children(server.proc.pid)) >= 2, family  # the workers
        server.stop(signal.SIGKILL)
        assert wait_gone(family) == [], "processes outlived the killed server parent"
        # The port is free again: a new server binds it and answers.
        server.restart()
        assert server.proc.poll() is None
        assert make_client(server.endpoint).encrypt(KeyId=key, Plaintext=b"y")["KeyId"]
    finally:
        pids = family + descendants(server.proc.pid)
        server.stop()
        for pid in wait_gone(pids):  # never leave a test's processes behind
            os.kill(pid, signal.SIGKILL)


def test_single_process_server_leaves_no_audit_writer_behind(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=str(tmp_path), account=ACCOUNT, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    kms = make_client(server.endpoint)
    kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")
    family = descendants(server.proc.pid)
    assert family, "the audit writer process"
    server.stop(signal.SIGKILL)
    assert wait_gone(family) == []
