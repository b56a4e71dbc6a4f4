"""Files OpenKMS writes are private to its user (issue 10, defect 11).

The SQLite database holds wrapped key material and the audit trail; the root key file
opens all of it. They were created 0644 (the directory was 0700 only when OpenKMS made
it). Now every file under the data directory is 0600 and every directory 0700, an audit
export is 0600 too, and a data directory that group or others may read or write is
reported once at start.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from servers import ServerProcess

from conftest import ACCESS_KEY, SECRET_KEY, make_client

_SHARED_WARNING = "is readable or writable by group or others (mode 0755)"


def _modes(root: Path, skip: str = "") -> dict[str, int]:
    """Mode of every file and directory under ``root`` (``root`` included), by path."""
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if skip and path.name.startswith(skip):
            continue
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _exercise(server: ServerProcess) -> None:
    kms = make_client(server.endpoint)
    key_id = kms.create_key(Description="perm")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    kms.create_alias(AliasName="alias/perm", TargetKeyId=key_id)
    make_client(server.endpoint, service="iam").create_user(UserName="perm-user")


def _assert_private(modes: dict[str, int], root: Path) -> None:
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, wrong


def test_every_file_under_the_data_dir_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)  # the harness writes the server's log there before it starts
    server = ServerProcess.start(data_dir=str(data), access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    # The harness writes the server's output log there too: not a file OpenKMS makes.
    log_prefix = "server-"
    try:
        _exercise(server)
        running = _modes(data, skip=log_prefix)
    finally:
        server.stop()
    assert {"root.key", "openkms.db", "openkms.db-wal", "openkms.db-shm"} <= set(running)
    _assert_private(running, data)
    _assert_private(_modes(data, skip=log_prefix), data)  # after shutdown (checkpoint)


def test_audit_export_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    server = ServerProcess.start(data_dir=str(data), access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    try:
        _exercise(server)
    finally:
        server.stop()
    out = tmp_path / "export"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openkms",
            "audit",
            "export",
            "--data-dir",
            str(data),
            "--out",
            str(out),
            "--seal",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    modes = _modes(out)
    assert any(name.endswith(".json.gz") for name in modes), modes
    _assert_private(modes, out)


def test_a_shared_data_dir_is_reported_and_its_files_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    server = ServerProcess.start(data_dir=str(data), access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    server.stop()
    # A database left 0644 by an older version is made private at the next start.
    (data / "openkms.db").chmod(0o644)
    (data / "root.key").chmod(0o644)
    server.restart()
    try:
        _exercise(server)
        log = server.log()
    finally:
        server.stop()
    warnings = [line for line in log.splitlines() if _SHARED_WARNING in line]
    assert len(warnings) == 2, log  # one line per start
    assert "WARNING" in warnings[0] and str(data) in warnings[0]
    files = {name: mode for name, mode in _modes(data, skip="server-").items() if name != str(data)}
    _assert_private(files, data)


def test_a_private_data_dir_is_not_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    server = ServerProcess.start(data_dir=str(data), access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    try:
        log = server.log()
    finally:
        server.stop()
    assert "group or others" not in log, log
