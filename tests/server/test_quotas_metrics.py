"""Request quotas, resource quotas, ``GET /metrics`` and JSON logs, against a real server
(``serve --quotas on --metrics-port P --log-format json``) on SQLite and PostgreSQL.

One server per backend for the whole module; every test changes only what it set up
(its own overrides, made with ``openkms admin quota``, and dropped again), and waits for
a change by polling with a deadline, never by timing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from servers import ServerProcess, free_port

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client
from openkms.cli.main import main

OTHER = "222233334444"
THROTTLED = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def quota_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data_dir = str(tmp_path_factory.mktemp(f"quotas-{request.param}"))
    database = None
    if request.param == "postgres":
        database = request.getfixturevalue("postgres").create_database("openkms_quotas")
    metrics_port = free_port()
    proc = ServerProcess.start(
        data_dir=data_dir,
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--quotas", "on", "--metrics-port", str(metrics_port), "--log-format", "json"],
    )
    proc.extra["metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        yield proc
    finally:
        proc.stop()


def _state(server: ServerProcess) -> list[str]:
    state = ["--data-dir", str(server.data_dir)]
    return state + (["--database", server.database] if server.database else [])


def openkms(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``openkms admin ARGS`` on the server's state, run in this process (a command per
    subprocess would cost an interpreter start each)."""
    out, err = io.StringIO(), io.StringIO()
    umask = os.umask(0o077)  # main() sets it: put this process's back afterwards
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(["admin", *args, *_state(server)])
            except SystemExit as exc:  # argparse refusing the arguments
                status = int(exc.code or 0)
    finally:
        os.umask(umask)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def client(
    server: ServerProcess, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> Any:
    """A KMS client that never retries (each refusal is one request, one request id)."""
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def other(quota_server: ServerProcess) -> Any:
    """A client of a second account (its own quotas)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(  # a root key to open: in a process of its own
        [sys.executable, "-m", "openkms", "admin", "create-account", OTHER, *_state(quota_server)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    creds = json.loads(done.stdout)
    return client(quota_server, creds["AccessKeyId"], creds["SecretAccessKey"])


def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """``check()``'s first truthy answer, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def scrape(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.extra["metrics"], timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for family in families.values()
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def error_of(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_admin_quota_list_set_and_unset(quota_server: ServerProcess) -> None:
    listed = openkms(quota_server, "quota", "list", "--json", "--account", ACCOUNT)
    assert listed.returncode == 0, listed.stderr
    rows = {row["Quota"]: row for row in json.loads(listed.stdout)["Quotas"]}
    assert rows["crypto-symmetric"]["AWSDefault"] == 100_000  # us-east-1
    assert rows["CreateKey"]["Value"] == 5
    assert rows["DescribeKey"]["Value"] == 2_000
    assert rows["GenerateDataKeyPair:RSA_4096"]["Value"] == 0.1
    assert rows["keys-per-region"]["Value"] == 100_000
    assert rows["grants-per-principal-per-key"]["Value"] == 500

    assert openkms(quota_server, "quota", "set", "ListKeys", "7", "--account", "*").returncode == 0
    done = openkms(quota_server, "quota", "set", "ListKeys", "9", "--account", ACCOUNT)
    assert done.returncode == 0, done.stderr
    table = openkms(quota_server, "quota", "list", "--account", ACCOUNT)
    line = next(row for row in table.stdout.splitlines() if row.startswith("ListKeys "))
    assert line.split()[1:] == ["500", "7", "9", "9"]
    for account in ("*", ACCOUNT):
        assert (
            openkms(quota_server, "quota", "unset", "ListKeys", "--account", account).returncode
            == 0
        )

    missing = openkms(quota_server, "quota", "unset", "ListKeys", "--account", ACCOUNT)
    assert missing.returncode == 1
    assert "no override of ListKeys" in missing.stderr
    unknown = openkms(quota_server, "quota", "set", "Frobnicate", "1", "--account", ACCOUNT)
    assert unknown.returncode == 2 and "unknown quota 'Frobnicate'" in unknown.stderr
    fraction = openkms(quota_server, "quota", "set", "keys-per-region", "2.5", "--account", OTHER)
    assert fraction.returncode == 2 and "whole number" in fraction.stderr


def test_throttling_a_bounded_burst(quota_server: ServerProcess, other: Any) -> None:
    kms = client(quota_server)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    other_key = other.create_key()["KeyMetadata"]["KeyId"]
    # One request in ten seconds, for this account only.
    done = openkms(quota_server, "quota", "set", "crypto-symmetric", "0.1", "--account", ACCOUNT)
    assert done.returncode == 0, done.stderr
    throttled: list[ClientError] = []

    def refused() -> bool:
        try:
            kms.encrypt(KeyId=key_id, Plaintext=b"x")
        except ClientError as exc:
            throttled.append(exc)
            return True
        return False

    until(refused, "the override applies (refresh every 2 s)")
    for _ in range(10):  # the bounded burst
        try:
            kms.encrypt(KeyId=key_id, Plaintext=b"x")
        except ClientError as exc:
            throttled.append(exc)
    assert len(throttled) >= 10  # at most one token refilled during the burst
    for refusal in throttled:
        assert refusal.response["Error"]["Code"] == "ThrottlingException"
        assert refusal.response["Error"]["Message"] == THROTTLED
        assert refusal.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Quotas are per account: the other account is not throttled.
    assert other.encrypt(KeyId=other_key, Plaintext=b"x")["KeyId"].endswith(other_key)
    # GenerateRandom shares the symmetric quota.
    assert error_of(lambda: kms.generate_random(NumberOfBytes=8)).response["Error"]["Code"] == (
        "ThrottlingException"
    )
    ids = {refusal.response["ResponseMetadata"]["RequestId"] for refusal in throttled}

    # Recorded in the trail with errorCode ThrottlingException (as CloudTrail does).
    trail = make_client(quota_server.endpoint, service="cloudtrail")

    def recorded() -> list[dict[str, Any]]:
        attrs = [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}]
        events = trail.lookup_events(LookupAttributes=attrs, MaxResults=50)["Events"]
        found = [json.loads(e["CloudTrailEvent"]) for e in events]
        return [r for r in found if r.get("requestID") in ids]

    records = until(recorded, "the throttled requests in LookupEvents")
    assert all(r["errorCode"] == "ThrottlingException" for r in records)
    assert records[0]["errorMessage"] == THROTTLED

    # Counted in the metrics.
    until(
        lambda: (
            sample(
                scrape(quota_server), "openkms_throttled_requests_total", quota="crypto-symmetric"
            )
            >= len(throttled)
        ),
        "the throttled requests counted",
    )
    until(
        lambda: (
            sample(
                scrape(quota_server),
                "openkms_requests_total",
                operation="Encrypt",
                error_type="ThrottlingException",
            )
            >= len(throttled)
        ),
        "Encrypt's ThrottlingException answers counted",
    )

    # Logged once, as JSON, with the id of a throttled request.
    def warned() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in quota_server.log().splitlines() if x.startswith("{")]
        return [x for x in lines if "throttling account" in x["message"]]

    warning = until(warned, "the throttling warning in the log")[0]
    assert warning["level"] == "WARNING" and warning["logger"] == "openkms.quotas"
    assert warning["request_id"] in ids
    assert f"account {ACCOUNT} in us-east-1: over its crypto-symmetric quota" in warning["message"]

    done = openkms(quota_server, "quota", "unset", "crypto-symmetric", "--account", ACCOUNT)
    assert done.returncode == 0, done.stderr
    until(lambda: not refused(), "the default quota again")


def test_resource_quotas(quota_server: ServerProcess, other: Any) -> None:
    def limit(quota: str, value: int | None) -> None:
        args = ["set", quota, str(value)] if value is not None else ["unset", quota]
        done = openkms(quota_server, "quota", *args, "--account", OTHER)
        assert done.returncode == 0, done.stderr

    # Keys per account and Region (AWS: 100,000).
    have = len(other.list_keys()["Keys"])
    limit("keys-per-region", have + 1)
    key = other.create_key()["KeyMetadata"]
    refused = error_of(other.create_key).response["Error"]
    assert refused["Code"] == "LimitExceededException"
    assert refused["Message"] == (
        f"The request was rejected because account {OTHER} has reached the quota of "
        f"{have + 1} KMS keys in us-east-1."
    )
    limit("keys-per-region", None)
    second = other.create_key()["KeyMetadata"]

    # Aliases per key (50).
    limit("aliases-per-key", 2)
    for name in ("alias/q-1", "alias/q-2"):
        other.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    refused = error_of(
        lambda: other.create_alias(AliasName="alias/q-3", TargetKeyId=key["KeyId"])
    ).response["Error"]
    assert refused["Code"] == "LimitExceededException"
    assert refused["Message"] == (
        f"The request was rejected because {key['Arn']} has reached the quota of 2 aliases "
        "per KMS key."
    )
    other.create_alias(AliasName="alias/q-3", TargetKeyId=second["KeyId"])
    moved = error_of(lambda: other.update_alias(AliasName="alias/q-3", TargetKeyId=key["KeyId"]))
    assert moved.response["Error"]["Code"] == "LimitExceededException"
    limit("aliases-per-key", None)

    # Grants per grantee per key (500) and per key (50,000).
    limit("grants-per-principal-per-key", 2)
    limit("grants-per-key", 3)
    grantee = f"arn:aws:iam::{OTHER}:role/worker"

    def grant(principal: str) -> Any:
        return other.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=principal, Operations=["Decrypt"]
        )

    grant(grantee)
    grant(grantee)
    refused = error_of(lambda: grant(grantee)).response["Error"]
    assert refused["Code"] == "LimitExceededException"
    assert refused["Message"] == (
        f"The request was rejected because {key['Arn']} has reached the quota of 2 grants for "
        f"the grantee principal {grantee}."
    )
    grant(f"arn:aws:iam::{OTHER}:role/auditor")
    refused = error_of(lambda: grant(f"arn:aws:iam::{OTHER}:role/third")).response["Error"]
    assert refused["Message"] == (
        f"The request was rejected because {key['Arn']} has reached the quota of 3 grants per "
        "KMS key."
    )
    limit("grants-per-principal-per-key", None)
    limit("grants-per-key", None)
    grant(grantee)

    # Key policy size: 32 KB, LimitExceededException (not adjustable).
    base = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    big = base[:-1] + " " * (32_769 - len(base)) + "}"
    refused = error_of(lambda: other.create_key(Policy=big)).response["Error"]
    assert refused["Code"] == "LimitExceededException"
    assert refused["Message"] == "The key policy is 32769 bytes; the maximum is 32768 bytes."
    refused = error_of(lambda: other.put_key_policy(KeyId=key["KeyId"], Policy=big))
    assert refused.response["Error"]["Code"] == "LimitExceededException"


def test_metrics_scraped_and_parsed(quota_server: ServerProcess) -> None:
    kms = make_client(quota_server.endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = sample(scrape(quota_server), "openkms_requests_total", operation="Decrypt")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"metrics")["CiphertextBlob"]
    for _ in range(3):
        kms.decrypt(CiphertextBlob=blob)
    error_of(lambda: kms.describe_key(KeyId="alias/does-not-exist"))

    def fresh() -> dict[str, Any] | None:
        families = scrape(quota_server)
        decrypts = sample(families, "openkms_requests_total", operation="Decrypt")
        return families if decrypts >= before + 3 else None

    families = until(fresh, "three more Decrypts counted")
    assert (
        sample(
            families,
            "openkms_requests_total",
            operation="DescribeKey",
            outcome="error",
            error_type="NotFoundException",
        )
        >= 1
    )
    assert families["openkms_requests"].type == "counter"

    latency = families["openkms_request_duration_seconds"]
    assert latency.type == "histogram"
    buckets = [
        s
        for s in latency.samples
        if s.name.endswith("_bucket") and s.labels["operation"] == "Decrypt"
    ]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
    assert counts[-1] == sample(
        families, "openkms_request_duration_seconds_count", operation="Decrypt"
    )

    assert sample(families, "openkms_keys", state="Enabled") >= 1
    assert sample(families, "openkms_maintenance_runs_total", outcome="succeeded") >= 1
    assert sample(families, "openkms_cache_requests_total", cache="material", result="hit") >= 2
    assert sample(families, "openkms_audit_commit_duration_seconds_count") >= 4
    assert families["openkms_audit_queue_depth"].type == "gauge"
    assert sample(families, "openkms_metrics_processes") == 1


def test_metrics_of_several_workers_are_summed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    metrics_port = free_port()
    server = ServerProcess.start(
        data_dir=str(tmp_path_factory.mktemp("quotas-workers")),
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--workers", "2", "--metrics-port", str(metrics_port)],
    )
    server.extra["metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        until(
            lambda: sample(scrape(server), "openkms_metrics_processes") == 2,
            "both workers report",
        )
        clients = [make_client(server.endpoint) for _ in range(4)]  # a connection each
        for client in clients:
            for _ in range(3):
                client.list_keys()
        until(
            lambda: sample(scrape(server), "openkms_requests_total", operation="ListKeys") == 12,
            "the two workers' ListKeys summed",
        )
    finally:
        server.stop()
