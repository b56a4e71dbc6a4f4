"""``openkms usage report`` against a real server: the counts of a scripted workload, by
billing class, per key and per account; key-months and rotations; prices and the free
tier at the built-in list prices and from a price file; the rollup counts only what is new.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from servers import ServerProcess, maintenance_run

from conftest import ACCOUNT, make_client
from openkms.domain.billing import LIST_PRICES, BillingClass


def _report(
    server: ServerProcess, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "openkms", "usage", "report"]
    if server.data_dir:
        command += ["--data-dir", server.data_dir]
    if server.database:
        command += ["--database", server.database]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _json_report(server: ServerProcess, *args: str) -> dict[str, Any]:
    return dict(json.loads(_report(server, "--format", "json", *args).stdout))


def _by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["KeyArn"]: line for line in report["Keys"]}


def _nonzero(line: dict[str, Any]) -> dict[str, int]:
    return {name: n for name, n in line["Requests"].items() if n}


@pytest.fixture(scope="module")
def workload(quiet_server: ServerProcess) -> dict[str, Any]:
    """A scripted workload; returns the keys' ARNs."""
    kms = make_client(quiet_server.endpoint)
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    doomed = kms.create_key()["KeyMetadata"]["Arn"]
    for _ in range(5):
        blob = kms.encrypt(KeyId=symmetric, Plaintext=b"x")["CiphertextBlob"]
    for _ in range(3):
        kms.decrypt(CiphertextBlob=blob)
    for _ in range(2):
        kms.generate_data_key(KeyId=symmetric, KeySpec="AES_256")
        kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_P256")
    kms.generate_data_key_pair_without_plaintext(KeyId=symmetric, KeyPairSpec="RSA_2048")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]))  # failed: not billed
    mac = kms.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.generate_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    kms.verify_mac(KeyId=hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac)
    for _ in range(2):
        kms.sign(KeyId=rsa, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    kms.get_public_key(KeyId=rsa)
    kms.sign(KeyId=ecc, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    kms.list_keys()
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    kms.rotate_key_on_demand(KeyId=symmetric)
    maintenance_run(quiet_server)  # finishes the rotation (a RotateKey service record)
    return {"symmetric": symmetric, "hmac": hmac, "rsa": rsa, "ecc": ecc, "doomed": doomed}


def test_report_counts_the_workload_by_billing_class(
    quiet_server: ServerProcess, workload: dict[str, Any]
) -> None:
    report = _json_report(quiet_server)
    keys = _by_key(report)
    # CreateKey, ScheduleKeyDeletion, RotateKeyOnDemand: standard (symmetric) requests.
    assert _nonzero(keys[workload["symmetric"]]) == {
        "symmetric": 1 + 5 + 3 + 2 + 1,
        "data-key-pair-ecc": 2,
        "data-key-pair-rsa": 1,
    }
    assert _nonzero(keys[workload["hmac"]]) == {"symmetric": 1, "hmac": 3}
    assert _nonzero(keys[workload["rsa"]]) == {"symmetric": 1, "asymmetric-rsa-2048": 3}
    assert _nonzero(keys[workload["ecc"]]) == {"symmetric": 1, "asymmetric": 1}
    assert _nonzero(keys[workload["doomed"]]) == {"symmetric": 2}
    assert keys[workload["rsa"]]["KeySpec"] == "RSA_2048"
    no_key = keys[""]
    assert no_key["Requests"]["symmetric"] >= 1  # ListKeys (and the client's own calls)

    # Key-months: each key existed a few seconds of this month; the doomed one stopped
    # being billed when its deletion was scheduled; the rotated key pays a second month
    # for its first rotation.
    for name in ("symmetric", "hmac", "rsa", "ecc"):
        assert 0 < keys[workload[name]]["KeyMonths"] < 0.01
    assert keys[workload["doomed"]]["KeyMonths"] < keys[workload["ecc"]]["KeyMonths"]
    assert keys[workload["symmetric"]]["RotationMonths"] > 0, keys[workload["symmetric"]]
    assert keys[workload["hmac"]]["RotationMonths"] == 0

    (account,) = report["Accounts"]
    assert account["AccountId"] == ACCOUNT
    total = {c.value: sum(k["Requests"][c.value] for k in report["Keys"]) for c in BillingClass}
    assert account["Requests"] == total
    expected = sum(LIST_PRICES.request_price(c, total[c.value]) for c in BillingClass)
    assert account["RequestsUSD"] == pytest.approx(expected, abs=1e-6)
    free = min(20_000, total["symmetric"]) * 0.03 / 10_000 + total["hmac"] * 0.03 / 10_000
    assert account["FreeTierUSD"] == pytest.approx(free, abs=1e-6)
    assert account["TotalUSD"] == pytest.approx(
        account["RequestsUSD"] + account["KeysUSD"] - account["FreeTierUSD"], abs=1e-5
    )
    assert report["Prices"]["Effective"] == LIST_PRICES.effective


def test_rollup_counts_only_new_records(
    quiet_server: ServerProcess, workload: dict[str, Any]
) -> None:
    # Reported once already (the test above): counted again, it would be 2.
    before = _by_key(_json_report(quiet_server))[workload["ecc"]]["Requests"]["asymmetric"]
    assert before == 1
    kms = make_client(quiet_server.endpoint)
    kms.sign(KeyId=workload["ecc"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    after = _by_key(_json_report(quiet_server))[workload["ecc"]]["Requests"]["asymmetric"]
    assert after == before + 1


def test_a_window_of_days_counts_as_the_month(
    quiet_server: ServerProcess, workload: dict[str, Any]
) -> None:
    """--since/--until reads the daily counts, --month the monthly ones: the same here."""
    today = datetime.now(UTC).date().isoformat()
    days = _by_key(_json_report(quiet_server, "--since", today[:8] + "01", "--until", today))
    month = _by_key(_json_report(quiet_server, "--month", today[:7]))
    assert {arn: line["Requests"] for arn, line in days.items()} == {
        arn: line["Requests"] for arn, line in month.items()
    }
    assert days[workload["rsa"]]["Requests"]["asymmetric-rsa-2048"] == 3


def test_formats_windows_and_price_files(
    quiet_server: ServerProcess, workload: dict[str, Any], tmp_path: Any
) -> None:
    if quiet_server.database is not None:
        pytest.skip("formats and price files do not depend on the database: once")
    month = datetime.now(UTC).strftime("%Y-%m")
    table = _report(quiet_server, "--month", month).stdout
    assert f"account {ACCOUNT}:" in table
    assert workload["rsa"].rsplit("/", 1)[-1] in table
    rows = list(csv.DictReader(io.StringIO(_report(quiet_server, "--format", "csv").stdout)))
    rsa_row = next(r for r in rows if r["key_arn"] == workload["rsa"])
    assert rsa_row["scope"] == "key" and rsa_row["asymmetric-rsa-2048"] == "3"
    assert [r["account_id"] for r in rows if r["scope"] == "account"] == [ACCOUNT]

    # Another account, or a window before the keys existed: nothing.
    assert _json_report(quiet_server, "--account", "999999999999")["Keys"] == []
    empty = _json_report(quiet_server, "--since", "2020-01-01", "--until", "2020-01-31")
    assert empty["Keys"] == [] and empty["Accounts"] == []

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"effective": "2030-01-01", "per_10k": {"asymmetric": 10000}}))
    priced = _json_report(quiet_server, "--prices", str(prices))
    ecc = _by_key(priced)[workload["ecc"]]
    assert ecc["RequestsUSD"] == pytest.approx(ecc["Requests"]["asymmetric"] * 1.0 + 0.000003)
    assert priced["Prices"]["Effective"] == "2030-01-01"

    prices.write_text(json.dumps({"per_10k": {"quantum": 1}}))
    bad = _report(quiet_server, "--prices", str(prices), check=False)
    assert bad.returncode == 6
    assert bad.stderr.count("\n") == 1 and "unknown class 'quantum'" in bad.stderr
    both = _report(quiet_server, "--month", month, "--since", "2026-01-01", check=False)
    assert both.returncode == 2 and "not both" in both.stderr
