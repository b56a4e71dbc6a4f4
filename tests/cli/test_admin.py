"""``openkms admin create-account`` / ``list-accounts``, run as a user runs them, next to
a live server on the same state (SQLite data directory and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from servers import ServerProcess

from conftest import ACCESS_KEY, SECRET_KEY

DEFAULT_ACCOUNT = "111122223333"


def admin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "openkms", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "AWS_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def client(endpoint: str, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


def check_new_account(endpoint: str, created: dict[str, str], account: str) -> None:
    assert created["AccountId"] == account
    assert created["AccessKeyId"].startswith("AKIA") and len(created["AccessKeyId"]) == 20
    assert len(created["SecretAccessKey"]) == 40
    me = client(endpoint, "sts", created).get_caller_identity()
    assert (me["Account"], me["Arn"]) == (account, f"arn:aws:iam::{account}:root")
    user = client(endpoint, "iam", created).create_user(UserName="admin-made")["User"]
    assert user["Arn"] == f"arn:aws:iam::{account}:user/admin-made"


def test_create_and_list_accounts_next_to_a_running_server(tmp_path) -> None:
    data = str(tmp_path / "data")
    os.makedirs(data)
    env = clean_env(tmp_path)
    server = ServerProcess.start(data_dir=data, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    try:
        done = admin("create-account", "444455556666", "--data-dir", data, env=env)
        assert done.returncode == 0, done.stderr
        created = json.loads(done.stdout)
        assert set(created) == {"AccountId", "AccessKeyId", "SecretAccessKey"}
        check_new_account(server.endpoint, created, "444455556666")

        again = admin("create-account", "444455556666", "--data-dir", data, env=env)
        assert again.returncode == 1
        assert again.stderr.strip() == "openkms: error: account 444455556666 already exists"
        taken = admin("create-account", DEFAULT_ACCOUNT, "--data-dir", data, env=env)
        assert taken.returncode == 1 and "already exists" in taken.stderr

        listed = admin("list-accounts", "--data-dir", data, env=env)
        assert listed.returncode == 0, listed.stderr
        accounts = {a["AccountId"]: a for a in json.loads(listed.stdout)}
        assert set(accounts) == {DEFAULT_ACCOUNT, "444455556666"}
        assert accounts[DEFAULT_ACCOUNT]["RootAccessKeyIds"] == [ACCESS_KEY]
        assert accounts["444455556666"]["RootAccessKeyIds"] == [created["AccessKeyId"]]
        assert accounts["444455556666"]["CreatedAt"] is not None
        assert created["SecretAccessKey"] not in listed.stdout
    finally:
        server.stop()


def test_create_account_on_postgres(tmp_path, postgres) -> None:
    data = str(tmp_path / "data")
    os.makedirs(data)
    database = postgres.create_database("openkms_admin")
    server = ServerProcess.start(
        data_dir=data, database=database, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    try:
        env = clean_env(tmp_path)
        done = admin(
            "create-account", "777788889999", "--data-dir", data, "--database", database, env=env
        )
        assert done.returncode == 0, done.stderr
        check_new_account(server.endpoint, json.loads(done.stdout), "777788889999")
        listed = json.loads(
            admin("list-accounts", "--data-dir", data, "--database", database, env=env).stdout
        )
        assert [a["AccountId"] for a in listed] == [DEFAULT_ACCOUNT, "777788889999"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("create-account", "12"), 2, "account id must be 12 digits, not '12'"),
        (("rename-account",), 2, "invalid choice: 'rename-account'"),
        ((), 2, "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, status, message) -> None:
    done = (
        admin(*args, "--data-dir", str(tmp_path), env=clean_env(tmp_path))
        if args
        else admin(env=clean_env(tmp_path))
    )
    assert done.returncode == status
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr


def test_wrong_root_key_is_a_one_line_error(tmp_path) -> None:
    data = str(tmp_path / "data")
    env = clean_env(tmp_path)
    assert admin("create-account", "444455556666", "--data-dir", data, env=env).returncode == 0
    wrong = clean_env(tmp_path, OPENKMS_ROOT_KEY="A" * 43 + "=")
    done = admin("list-accounts", "--data-dir", data, env=wrong)
    assert done.returncode == 4
    assert done.stderr.startswith("openkms: error: the root key does not open this database")
