"""Every ``openkms`` command: one exit status per kind of startup error, and commands that
only open state create none (issue 11 item 7).

Real subprocesses on real directories: a typo'd ``--data-dir`` must leave nothing behind
on disk, a data directory without its root key must not get a new one, and an empty
PostgreSQL database must not get OpenKMS's tables. The statuses are those of
openkms.cli.exit_codes (2 usage, 3 missing state, 4 root key, 5 database, 6 config).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import PostgresCluster

from openkms.cli.exit_codes import Exit

#: Every command that opens existing state and must never create it.
OPENING = [
    (
        "authz",
        "explain",
        "--principal",
        "arn:aws:iam::111122223333:root",
        "--action",
        "kms:Decrypt",
        "--key",
        "alias/x",
    ),
    ("admin", "list-accounts"),
    ("audit", "verify"),
    ("audit", "seal"),
    ("audit", "export", "--out", "{out}"),
    ("audit", "export", "--out", "{out}", "--seal"),
    ("maintenance", "run"),
]
IDS = [
    " ".join(a for a in cmd if not a.startswith(("-", "arn:", "kms:", "alias/", "{")))
    + (" --seal" if "--seal" in cmd else "")
    for cmd in OPENING
]
#: Those that need the root key (``audit verify`` and plain ``export`` do not).
KEYED = [cmd for cmd in OPENING if cmd[0] != "audit" or "seal" in cmd or "--seal" in cmd]
KEYED_IDS = [name for name, cmd in zip(IDS, OPENING, strict=True) if cmd in KEYED]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "AWS_"))}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def openkms(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "openkms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def one_line(done: subprocess.CompletedProcess[str], status: Exit, *needles: str) -> str:
    assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("openkms: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def command(cmd: tuple[str, ...], tmp_path: Path) -> list[str]:
    return [part.replace("{out}", str(tmp_path / "export")) for part in cmd]


def make_state(data: Path, env: dict[str, str]) -> None:
    """Real state, made the way an operator would (create-account makes it on first use)."""
    done = openkms("admin", "create-account", "444455556666", "--data-dir", str(data), env=env)
    assert done.returncode == 0, done.stderr


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("cmd", OPENING, ids=IDS)
def test_typo_data_dir_leaves_nothing_behind(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    env = clean_env(tmp_path)
    typo = tmp_path / "dta"
    done = openkms(*command(cmd, tmp_path), "--data-dir", str(typo), env=env)
    one_line(done, Exit.MISSING_STATE, str(typo))
    assert not typo.exists()
    assert not (tmp_path / "export").exists()
    assert not (tmp_path / "xdg").exists()  # nor in the default data directory


@pytest.mark.parametrize("cmd", OPENING, ids=IDS)
def test_empty_data_dir_stays_empty(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = openkms(*command(cmd, tmp_path), "--data-dir", str(empty), env=clean_env(tmp_path))
    one_line(done, Exit.MISSING_STATE, "no OpenKMS database", str(empty))
    assert tree(empty) == []


def test_default_data_dir_is_not_created(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    one_line(openkms("admin", "list-accounts", env=env), Exit.MISSING_STATE)
    assert not (tmp_path / "xdg").exists()


@pytest.mark.parametrize("cmd", KEYED, ids=KEYED_IDS)
def test_missing_root_key_is_not_replaced(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    env = clean_env(tmp_path)
    data = tmp_path / "data"
    make_state(data, env)
    (data / "root.key").unlink()
    before = tree(data)
    done = openkms(*command(cmd, tmp_path), "--data-dir", str(data), env=env)
    one_line(done, Exit.MISSING_STATE, "root key", str(data / "root.key"))
    assert not (data / "root.key").exists()
    assert [p for p in tree(data) if not p.endswith(("-wal", "-shm"))] == [
        p for p in before if not p.endswith(("-wal", "-shm"))
    ]


@pytest.mark.parametrize("cmd", KEYED, ids=KEYED_IDS)
def test_wrong_root_key(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    make_state(data, clean_env(tmp_path))
    wrong = clean_env(tmp_path, OPENKMS_ROOT_KEY=base64.b64encode(b"\x01" * 32).decode())
    done = openkms(*command(cmd, tmp_path), "--data-dir", str(data), env=wrong)
    one_line(done, Exit.ROOT_KEY, "the root key does not open this database")


def test_malformed_root_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_state(data, clean_env(tmp_path))
    (data / "root.key").write_text("not base64!\n")
    done = openkms("maintenance", "run", "--data-dir", str(data), env=clean_env(tmp_path))
    one_line(done, Exit.ROOT_KEY, "root key")
    env = clean_env(tmp_path, OPENKMS_ROOT_KEY="c2hvcnQ=")
    one_line(
        openkms("admin", "list-accounts", "--data-dir", str(data), env=env),
        Exit.ROOT_KEY,
        "OPENKMS_ROOT_KEY",
    )


def test_database_errors(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    one_line(
        openkms("admin", "list-accounts", "--database", "mysql://x/y", env=env),
        Exit.DATABASE,
        "mysql",
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "openkms.db").write_bytes(b"this is not a database" * 100)
    one_line(openkms("audit", "verify", "--data-dir", str(bad), env=env), Exit.DATABASE, "database")
    one_line(
        openkms("serve", "--data-dir", str(bad), "--port", "1", env=env), Exit.DATABASE, "database"
    )


def test_usage_and_configuration(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    assert openkms("admin", "create-account", "12", env=env).returncode == Exit.USAGE
    assert openkms("nonsense", env=env).returncode == Exit.USAGE
    one_line(openkms("serve", "--tls-cert", "x.pem", env=env), Exit.CONFIG, "--tls-key")
    one_line(openkms("serve", "--workers", "2", "--dev", env=env), Exit.CONFIG, "--workers")
    half = clean_env(tmp_path, OPENKMS_ROOT_ACCESS_KEY_ID="AKIAEXAMPLE000000000")
    one_line(
        openkms("serve", "--data-dir", str(tmp_path / "d"), env=half),
        Exit.CONFIG,
        "OPENKMS_ROOT_SECRET_ACCESS_KEY",
    )


def test_commands_that_create_state_still_do(tmp_path: Path) -> None:
    """``admin create-account`` (like ``serve``) makes the state on first use; the
    commands that only open it then find it."""
    env = clean_env(tmp_path)
    data = tmp_path / "new"
    make_state(data, env)
    assert {"root.key", "openkms.db"} <= set(tree(data))
    for cmd in OPENING:
        done = openkms(*command(cmd, tmp_path), "--data-dir", str(data), env=env)
        if cmd[0] == "authz":
            assert done.returncode == Exit.USAGE, done.stderr  # alias/x does not exist
        else:
            assert done.returncode == Exit.OK, (cmd, done.stderr)


def test_empty_postgres_database_gets_no_tables(tmp_path: Path, postgres: PostgresCluster) -> None:
    import psycopg

    url = postgres.create_database("exit_codes_empty")
    env = clean_env(tmp_path, OPENKMS_ROOT_KEY=base64.b64encode(b"\x02" * 32).decode())
    for cmd in OPENING:
        done = openkms(*command(cmd, tmp_path), "--database", url, env=env)
        one_line(done, Exit.MISSING_STATE, "no OpenKMS state")
    with psycopg.connect(url) as conn:
        count = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert count is not None and count[0] == 0
