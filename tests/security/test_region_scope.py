"""The SigV4 credential scope's region is validated on every API (issue 10, defect 5).

Regions such as ``us-east-1:444455556666`` (which made key ARNs with an extra
component), ``..`` or 300 characters were accepted. Now only well-formed AWS region
names are, and with ``openkms serve --regions`` only the regions listed; anything else
gets AWS's InvalidSignatureException "Credential should be scoped to a valid region,
not '<region>'." on KMS, IAM, STS and CloudTrail alike.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

BAD = "us-east-1:444455556666"
MESSAGE = f"Credential should be scoped to a valid region, not '{BAD}'."
KEY_ARN = re.compile(r"arn:aws:kms:([a-z0-9-]+):(\d{12}):key/[0-9a-f-]{36}")

#: service -> (headers, body) of a harmless call
CALLS: dict[str, tuple[dict[str, str], bytes]] = {
    "kms": (
        {"X-Amz-Target": "TrentService.ListKeys", "Content-Type": "application/x-amz-json-1.1"},
        b"{}",
    ),
    "cloudtrail": (
        {
            "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            "Content-Type": "application/x-amz-json-1.1",
        },
        b"{}",
    ),
    "iam": (
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"Action=ListUsers&Version=2010-05-08",
    ),
    "sts": (
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"Action=GetCallerIdentity&Version=2011-06-15",
    ),
}


def signed(
    endpoint: str,
    service: str,
    region: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, str]:
    base_headers, base_body = CALLS[service]
    req = AWSRequest(
        method="POST", url=endpoint + "/", data=body or base_body, headers=headers or base_headers
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, region).add_auth(req)
    raw = urllib.request.Request(
        endpoint + "/", data=req.body, method="POST", headers=dict(req.headers.items())
    )
    try:
        with urllib.request.urlopen(raw, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_malformed_region_is_refused_on_every_api(server: ServerProcess, service: str) -> None:
    status, body = signed(server.endpoint, service, BAD)
    assert status in (400, 403), body
    assert MESSAGE in body
    ok, _ = signed(server.endpoint, service, "us-east-1")
    assert ok == 200


def test_dev_mode_refuses_a_malformed_region() -> None:
    """Dev mode checks no signature, but the scope's region is still checked: a
    malformed one is refused with AWS's error and never reaches a key ARN."""
    server = ServerProcess.start(data_dir=None, dev=True, account=ACCOUNT)
    try:
        headers = {
            "X-Amz-Target": "TrentService.CreateKey",
            "Content-Type": "application/x-amz-json-1.1",
        }
        status, body = signed(server.endpoint, "kms", BAD, headers, b"{}")
        assert status == 400 and MESSAGE in body, body
        status, body = signed(server.endpoint, "kms", "eu-west-3", headers, b"{}")
        assert status == 200 and ":eu-west-3:" in body
    finally:
        server.stop()


@pytest.fixture(scope="module")
def eu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess.start(
        data_dir=str(tmp_path_factory.mktemp("regions")),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--regions", "eu-west-1,eu-central-1"],
    )
    try:
        yield proc
    finally:
        proc.stop()


def test_only_the_served_regions_are_accepted(eu_server: ServerProcess) -> None:
    key = make_client(eu_server.endpoint, region="eu-central-1").create_key()["KeyMetadata"]
    assert key["Arn"].startswith(f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/")
    for service in ("kms", "sts"):
        client = make_client(eu_server.endpoint, region="us-east-1", service=service)
        with pytest.raises(ClientError) as err:
            if service == "kms":
                client.list_keys()
            else:
                client.get_caller_identity()
        assert err.value.response["Error"]["Message"] == (
            "Credential should be scoped to a valid region, not 'us-east-1'."
        )
    identity = make_client(eu_server.endpoint, region="eu-west-1", service="sts")
    assert identity.get_caller_identity()["Account"] == ACCOUNT


@pytest.mark.parametrize("value", ["us-east-1:444455556666", "..", "", "eu-west-1,x" * 3])
def test_serve_refuses_a_malformed_regions_list(value: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openkms", "serve", "--data-dir", str(tmp_path), "--regions", value],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "not an AWS region name" in done.stderr and "Traceback" not in done.stderr
