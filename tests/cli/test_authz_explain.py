"""``openkms authz explain`` against the state of a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from servers import ServerProcess

from conftest import ACCESS_KEY, SECRET_KEY, make_client

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def explain(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "openkms",
        "authz",
        "explain",
        "--data-dir",
        server.data_dir,
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_explain_allowed_denied_and_why(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=str(tmp_path), access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    try:
        kms = make_client(server.endpoint)
        iam = make_client(server.endpoint, service="iam")
        key = kms.create_key()["KeyMetadata"]["Arn"]
        kms.put_key_policy(
            KeyId=key,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "root",
                            "Effect": "Allow",
                            "Principal": {"AWS": ROOT},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "NoBilling",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"kms:EncryptionContext:dept": "billing"}
                            },
                        },
                    ],
                }
            ),
        )
        iam.create_user(UserName="carol")
        iam.put_user_policy(
            UserName="carol",
            PolicyName="use",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}],
                }
            ),
        )
        carol = f"arn:aws:iam::{ACCOUNT}:user/carol"

        ok = explain(
            server,
            "--principal",
            carol,
            "--action",
            "kms:Decrypt",
            "--key",
            key,
            "--context",
            "dept=hr",
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "== Result: ALLOWED" in ok.stdout and "Sid 'root'" in ok.stdout

        denied = explain(
            server,
            "--principal",
            carol,
            "--action",
            "kms:Decrypt",
            "--key",
            key,
            "--context",
            "dept=billing",
        )
        assert denied.returncode == 1
        assert "NoBilling" in denied.stdout
        assert "explicit deny in a resource-based policy" in denied.stdout

        other = explain(server, "--principal", carol, "--action", "kms:Encrypt", "--key", key)
        assert other.returncode == 1
        assert "no identity-based policy allows the kms:Encrypt action" in other.stdout

        bad = explain(
            server,
            "--principal",
            "arn:aws:iam::111122223333:user/nobody",
            "--action",
            "kms:Decrypt",
            "--key",
            key,
        )
        assert bad.returncode == 2 and "no such user" in bad.stderr
    finally:
        server.stop()
