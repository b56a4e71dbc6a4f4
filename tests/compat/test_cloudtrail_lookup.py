"""CloudTrail LookupEvents on the KMS endpoint, through boto3 and the AWS CLI, on SQLite
and PostgreSQL: filters, newest-first paging, time ranges, errors, account isolation."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from test_iam_sts import client, new_user

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY

AWS = Path(sys.executable).parent / "aws"
KMS_SOURCE = "kms.amazonaws.com"


@pytest.fixture()
def trail(server: Any) -> Any:
    return client(server, "cloudtrail")


@pytest.fixture()
def activity(server: Any, kms: Any) -> dict[str, Any]:
    """A key with a CreateKey, an Encrypt, a DisableKey and a failing Decrypt."""
    start = time.time() - 1
    plaintext = f"ct-plaintext-{uuid.uuid4().hex}".encode()
    arn = kms.create_key(Description="cloudtrail lookup")["KeyMetadata"]["Arn"]
    encrypted = kms.encrypt(KeyId=arn, Plaintext=plaintext)
    kms.disable_key(KeyId=arn)
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    assert exc.value.response["Error"]["Code"] == "DisabledException"
    return {
        "arn": arn,
        "plaintext": plaintext,
        "start": start,
        "end": time.time() + 1,
        "blob": encrypted["CiphertextBlob"],
    }


def lookup(trail: Any, key: str, value: str, **kwargs: Any) -> list[dict[str, Any]]:
    attrs = [{"AttributeKey": key, "AttributeValue": value}]
    return list(trail.lookup_events(LookupAttributes=attrs, **kwargs)["Events"])


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_events_of_a_key_newest_first(trail, activity) -> None:
    events = lookup(trail, "ResourceName", activity["arn"])
    assert [e["EventName"] for e in events] == ["Decrypt", "DisableKey", "Encrypt"]
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True)
    assert all(isinstance(t, datetime) for t in times)
    for event in events:
        assert event["EventSource"] == KMS_SOURCE
        assert event["Username"] == "root"
        assert event["AccessKeyId"] == ACCESS_KEY
        assert {"ResourceType": "AWS::KMS::Key", "ResourceName": activity["arn"]} in (
            event["Resources"]
        )
        record = json.loads(event["CloudTrailEvent"])
        assert record["eventID"] == event["EventId"]
        assert record["eventName"] == event["EventName"]
        assert record["recipientAccountId"] == ACCOUNT
        assert event["EventTime"] == datetime.fromisoformat(
            record["eventTime"].replace("Z", "+00:00")
        )
    decrypt, disable, encrypt = events
    assert (decrypt["ReadOnly"], disable["ReadOnly"], encrypt["ReadOnly"]) == (
        "true",
        "false",
        "true",
    )
    assert json.loads(decrypt["CloudTrailEvent"])["errorCode"] == "DisabledException"
    assert "errorCode" not in json.loads(encrypt["CloudTrailEvent"])


def test_records_hold_no_plaintext(trail, activity) -> None:
    events = lookup(trail, "ResourceName", activity["arn"])
    text = json.dumps(events, default=str)
    assert activity["plaintext"].decode() not in text
    assert base64.b64encode(activity["plaintext"]).decode() not in text


def test_each_attribute_filters(trail, activity) -> None:
    window = {"StartTime": activity["start"], "EndTime": activity["end"]}
    ours = {e["EventName"]: e for e in lookup(trail, "ResourceName", activity["arn"])}
    encrypt_id = ours["Encrypt"]["EventId"]

    named = lookup(trail, "EventName", "Encrypt", **window)
    assert {e["EventName"] for e in named} == {"Encrypt"}
    assert encrypt_id in {e["EventId"] for e in named}

    by_id = lookup(trail, "EventId", encrypt_id)
    assert [e["EventId"] for e in by_id] == [encrypt_id]
    assert by_id[0]["CloudTrailEvent"] == ours["Encrypt"]["CloudTrailEvent"]

    from_kms = lookup(trail, "EventSource", KMS_SOURCE, **window)
    assert {e["EventSource"] for e in from_kms} == {KMS_SOURCE}
    assert {e["EventId"] for e in ours.values()} <= {e["EventId"] for e in from_kms}
    assert lookup(trail, "EventSource", "nothing.amazonaws.com", **window) == []

    writes = lookup(trail, "ReadOnly", "false", **window)
    reads = lookup(trail, "ReadOnly", "true", **window)
    assert {e["ReadOnly"] for e in writes} == {"false"}
    assert {e["ReadOnly"] for e in reads} == {"true"}
    assert ours["DisableKey"]["EventId"] in {e["EventId"] for e in writes}
    assert encrypt_id in {e["EventId"] for e in reads}
    assert encrypt_id not in {e["EventId"] for e in writes}

    as_root = lookup(trail, "Username", "root", **window)
    assert {e["Username"] for e in as_root} == {"root"}
    assert encrypt_id in {e["EventId"] for e in as_root}
    assert lookup(trail, "Username", f"nobody-{uuid.uuid4().hex}", **window) == []

    by_key = lookup(trail, "AccessKeyId", ACCESS_KEY, **window)
    assert {e["AccessKeyId"] for e in by_key} == {ACCESS_KEY}
    assert encrypt_id in {e["EventId"] for e in by_key}

    typed = lookup(trail, "ResourceType", "AWS::KMS::Key", **window)
    assert {e["EventId"] for e in ours.values()} <= {e["EventId"] for e in typed}


def test_time_range(trail, activity) -> None:
    arn = activity["arn"]
    assert (
        len(
            lookup(trail, "ResourceName", arn, StartTime=activity["start"], EndTime=activity["end"])
        )
        == 3
    )
    assert lookup(trail, "ResourceName", arn, EndTime=activity["start"] - 60) == []
    assert lookup(trail, "ResourceName", arn, StartTime=activity["end"] + 60) == []
    encrypt = lookup(trail, "ResourceName", arn)[-1]
    at = encrypt["EventTime"]
    # Both bounds are inclusive.
    only = lookup(trail, "ResourceName", arn, StartTime=at, EndTime=at)
    assert encrypt["EventId"] in {e["EventId"] for e in only}


def test_paging_with_max_results_one(trail, activity) -> None:
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": activity["arn"]}]
    whole = trail.lookup_events(LookupAttributes=attrs)
    assert "NextToken" not in whole
    pages = list(
        trail.get_paginator("lookup_events").paginate(
            LookupAttributes=attrs, PaginationConfig={"PageSize": 1}
        )
    )
    assert [len(p["Events"]) for p in pages] == [1, 1, 1]
    assert [e for p in pages for e in p["Events"]] == whole["Events"]
    first = trail.lookup_events(LookupAttributes=attrs, MaxResults=2)
    assert len(first["Events"]) == 2
    rest = trail.lookup_events(LookupAttributes=attrs, MaxResults=2, NextToken=first["NextToken"])
    assert first["Events"] + rest["Events"] == whole["Events"]
    assert "NextToken" not in rest
    # A token is good only with the parameters it was issued for.
    with pytest.raises(ClientError) as exc:
        trail.lookup_events(MaxResults=2, NextToken=first["NextToken"])
    assert code_of(exc) == "InvalidNextTokenException"


def test_invalid_requests(server, trail, activity) -> None:
    arn = activity["arn"]
    two = [
        {"AttributeKey": "EventName", "AttributeValue": "Encrypt"},
        {"AttributeKey": "ResourceName", "AttributeValue": arn},
    ]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"LookupAttributes": two}, "InvalidLookupAttributesException"),
        (
            {"LookupAttributes": [{"AttributeKey": "KeyId", "AttributeValue": arn}]},
            "InvalidLookupAttributesException",
        ),
        (
            {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}]},
            "InvalidLookupAttributesException",
        ),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
        ({"StartTime": activity["end"], "EndTime": activity["start"]}, "InvalidTimeRangeException"),
    ]
    for params, code in cases:
        with pytest.raises(ClientError) as exc:
            trail.lookup_events(**params)
        assert code_of(exc) == code, params
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # MaxResults 0 never leaves a validating client; send it without validation.
    raw = boto3.client(
        "cloudtrail",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
    with pytest.raises(ClientError) as exc:
        raw.lookup_events(MaxResults=0)
    assert code_of(exc) == "InvalidMaxResultsException"
    # A tampered token: one character changed.
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": arn}]
    token = trail.lookup_events(LookupAttributes=attrs, MaxResults=1)["NextToken"]
    for i in (0, len(token) // 2, len(token) - 2):
        bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        with pytest.raises(ClientError) as exc:
            trail.lookup_events(LookupAttributes=attrs, MaxResults=1, NextToken=bad)
        assert code_of(exc) == "InvalidNextTokenException"
    # Only LookupEvents is served.
    with pytest.raises(ClientError) as exc:
        trail.describe_trails()
    assert code_of(exc) == "UnsupportedOperationException"
    assert "DescribeTrails" in exc.value.response["Error"]["Message"]


def test_bad_signature_is_refused(server, activity) -> None:
    wrong = client(
        server, "cloudtrail", {"AccessKeyId": ACCESS_KEY, "SecretAccessKey": "not-the-secret"}
    )
    with pytest.raises(ClientError) as exc:
        wrong.lookup_events()
    assert code_of(exc) == "InvalidSignatureException"


def test_users_need_an_identity_policy(server, activity) -> None:
    iam = client(server, "iam")
    name, key = new_user(iam)
    as_user = client(server, "cloudtrail", key)
    with pytest.raises(ClientError) as exc:
        as_user.lookup_events()
    assert code_of(exc) == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in exc.value.response["Error"]["Message"]
    iam.put_user_policy(
        UserName=name,
        PolicyName="ct",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}
                ],
            }
        ),
    )
    events = as_user.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": activity["arn"]}]
    )["Events"]
    assert [e["EventName"] for e in events] == ["Decrypt", "DisableKey", "Encrypt"]


def _new_account(server: Any, account: str) -> dict[str, str]:
    args = [sys.executable, "-m", "openkms", "admin", "create-account", account]
    if server.data_dir:
        args += ["--data-dir", server.data_dir]
    if server.database:
        args += ["--database", server.database]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_another_account_sees_none_of_ours(server, trail, activity) -> None:
    other = str(555566660000 + int(uuid.uuid4().int % 9999))
    creds = _new_account(server, other)
    theirs = client(server, "cloudtrail", creds)
    assert lookup(theirs, "ResourceName", activity["arn"]) == []
    assert lookup(theirs, "AccessKeyId", ACCESS_KEY) == []
    assert theirs.lookup_events()["Events"] == []
    arn = client(server, "kms", creds).create_key()["KeyMetadata"]["Arn"]
    seen = theirs.lookup_events()["Events"]
    assert [e["EventName"] for e in seen] == ["CreateKey"]
    assert json.loads(seen[0]["CloudTrailEvent"])["recipientAccountId"] == other
    assert arn in seen[0]["CloudTrailEvent"]
    # ... and we see none of theirs.
    assert seen[0]["EventId"] not in {
        e["EventId"] for e in lookup(trail, "EventName", "CreateKey", StartTime=activity["start"])
    }


def test_aws_cli_lookup_events(server, activity, tmp_path: Path) -> None:
    if not AWS.exists():
        pytest.fail(f"the AWS CLI is not installed in the test venv ({AWS})")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    cmd = [
        str(AWS),
        "--endpoint-url",
        server.endpoint,
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=Encrypt",
        "--start-time",
        str(int(activity["start"])),
        "--output",
        "json",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)["Events"]
    assert events and {e["EventName"] for e in events} == {"Encrypt"}
    assert activity["arn"] in {r["ResourceName"] for e in events for r in e["Resources"]}
