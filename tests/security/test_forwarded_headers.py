"""X-Forwarded-For and X-Forwarded-Proto are believed only from proxies the operator names.

uvicorn trusts these headers from 127.0.0.1 by default; OpenKMS listens on 127.0.0.1 by
default, so every local caller could choose its own aws:SourceIp (and the audit record's
sourceIPAddress) and claim aws:SecureTransport. Now they are ignored unless
``serve --trusted-proxies`` names the proxy that sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

CLAIMED = "203.0.113.77"


def _policy() -> str:
    """Encrypt only from 203.0.113.0/24, and only over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                    "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                },
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def _forwarding(endpoint: str, service: str = "kms") -> Any:
    client = make_client(endpoint, service=service)

    def add(request: Any, **_: object) -> None:
        request.headers["X-Forwarded-For"] = CLAIMED
        request.headers["X-Forwarded-Proto"] = "https"

    client.meta.events.register(f"before-sign.{service}.*", add)
    return client


def _server(tmp_path: Any, extra: list[str]) -> Iterator[ServerProcess]:
    server = ServerProcess.start(
        data_dir=str(tmp_path),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=extra,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def plain(tmp_path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path, [])


@pytest.fixture()
def behind_proxy(tmp_path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path, ["--trusted-proxies", "127.0.0.1,::1"])


def _encrypt_and_source(server: ServerProcess) -> tuple[str | None, str]:
    """The error of an Encrypt sent with forwarding headers (None: allowed), and the
    sourceIPAddress its record shows."""
    kms = _forwarding(server.endpoint)
    key = kms.create_key(Policy=_policy(), BypassPolicyLockoutSafetyCheck=True)
    error = None
    try:
        kms.encrypt(KeyId=key["KeyMetadata"]["KeyId"], Plaintext=b"x")
    except ClientError as exc:
        error = exc.response["Error"]["Code"]
    trail = make_client(server.endpoint, service="cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}]
    )["Events"]
    return error, json.loads(events[0]["CloudTrailEvent"])["sourceIPAddress"]


def test_a_caller_cannot_choose_its_source_address(plain) -> None:
    error, source = _encrypt_and_source(plain)
    assert error == "AccessDeniedException"
    assert source == "127.0.0.1"


def test_a_named_proxy_is_believed(behind_proxy) -> None:
    error, source = _encrypt_and_source(behind_proxy)
    assert error is None
    assert source == CLAIMED


def test_a_wildcard_is_refused(tmp_path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "openkms", "serve", "--data-dir", str(tmp_path)]
        + ["--trusted-proxies", "*"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "not an IP address or network" in done.stderr
