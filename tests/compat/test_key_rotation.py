"""Key rotation through boto3 against real servers (SQLite and PostgreSQL): the automatic
schedule (EnableKeyRotation / GetKeyRotationStatus), RotateKeyOnDemand and its limits,
ListKeyRotations, KeyMaterialIds, and rotations carried out by ``openkms maintenance run``
as of a later time (exactly once, also with two runs at once).

``maintenance_run(server, at=...)`` acts on every key of the module's database, so every
assertion about a report looks only at the keys its own test made.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from servers import ServerProcess, maintenance_report, maintenance_reports_together

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, make_client

DAY = 86400.0


def kms_of(server: ServerProcess) -> Any:
    return make_client(server.endpoint)


def unvalidated_kms(server: ServerProcess) -> Any:
    """A client that sends out-of-range values instead of refusing them itself."""
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def at_days(days: float) -> tuple[str, float]:
    """An ISO time ``days`` from now, and the same instant as a POSIX timestamp."""
    moment = datetime.now(UTC) + timedelta(days=days)
    return moment.isoformat(), moment.timestamp()


def run(server: ServerProcess, at: str | None = None) -> dict[str, Any]:
    return maintenance_report(server, at)


def rotated_for(report: dict[str, Any], key_id: str) -> list[dict[str, str]]:
    return [entry for entry in report["Rotated"] if entry["KeyId"] == key_id]


def rotations(kms: Any, key_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every ListKeyRotations entry (following markers)."""
    out: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = kms.list_key_rotations(
            KeyId=key_id, **kwargs, **({"Marker": marker} if marker else {})
        )
        out += page["Rotations"]
        if not page["Truncated"]:
            return out
        marker = page["NextMarker"]


def wait_rotated(kms: Any, key_id: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Poll until no on-demand rotation is in progress and ``count`` rotations are listed
    (the list is read after the status, so it never races the rotation's commit: see
    test_list_key_rotations_is_consistent_while_rotating)."""
    deadline = time.monotonic() + timeout
    while True:
        status = kms.get_key_rotation_status(KeyId=key_id)
        listed: list[dict[str, Any]] = []
        if "OnDemandRotationStartDate" not in status:
            listed = kms.list_key_rotations(KeyId=key_id, Limit=1000)["Rotations"]
            if len(listed) >= count:
                return listed
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{key_id}: {len(listed)} rotations after {timeout}s, wanted {count}; {status}"
            )
        time.sleep(0.05)


def current_material(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])


def service_events(server: ServerProcess, arn: str, name: str) -> list[dict[str, Any]]:
    trail = make_client(server.endpoint, service="cloudtrail")
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": arn}]
    events = trail.lookup_events(LookupAttributes=attrs, MaxResults=50)["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == name]


# -- EnableKeyRotation / DisableKeyRotation / GetKeyRotationStatus ---------------------------


def test_rotation_off_by_default_then_default_period(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == key["Arn"]
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status
    before = time.time()
    kms.enable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["Arn"])
    assert status["KeyRotationEnabled"] is True
    assert status["KeyId"] == key["Arn"]
    assert status["RotationPeriodInDays"] == 365
    expected = before + 365 * DAY
    assert abs(status["NextRotationDate"].timestamp() - expected) < 60
    assert "OnDemandRotationStartDate" not in status
    kms.disable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status


def test_custom_period_and_its_bounds(own_server) -> None:
    kms = unvalidated_kms(own_server)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    before = time.time()
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=180)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["RotationPeriodInDays"] == 180
    assert abs(status["NextRotationDate"].timestamp() - (before + 180 * DAY)) < 60
    for bad in (89, 2561, 0, -1):
        with pytest.raises(ClientError) as exc:
            kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=bad)
        assert code_of(exc) == "ValidationException", bad
    assert kms.get_key_rotation_status(KeyId=key)["RotationPeriodInDays"] == 180
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=other, RotationPeriodInDays=89)
    assert code_of(exc) == "ValidationException"
    assert kms.get_key_rotation_status(KeyId=other)["KeyRotationEnabled"] is False
    for edge in (90, 2560):
        kms.enable_key_rotation(KeyId=other, RotationPeriodInDays=edge)
        assert kms.get_key_rotation_status(KeyId=other)["RotationPeriodInDays"] == edge


def test_changing_the_period_moves_the_next_date_by_the_difference(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key)
    first = kms.get_key_rotation_status(KeyId=key)["NextRotationDate"].timestamp()
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=180)
    shorter = kms.get_key_rotation_status(KeyId=key)
    assert shorter["RotationPeriodInDays"] == 180
    assert abs(shorter["NextRotationDate"].timestamp() - (first - 185 * DAY)) < 1
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=730)
    longer = kms.get_key_rotation_status(KeyId=key)
    assert longer["RotationPeriodInDays"] == 730
    assert abs(longer["NextRotationDate"].timestamp() - (first + 365 * DAY)) < 1
    kms.enable_key_rotation(KeyId=key)  # no period: back to the default
    again = kms.get_key_rotation_status(KeyId=key)
    assert again["RotationPeriodInDays"] == 365
    assert abs(again["NextRotationDate"].timestamp() - first) < 1


def test_disable_then_enable_restarts_from_the_new_enable_date(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=120)
    first = kms.get_key_rotation_status(KeyId=key)["NextRotationDate"].timestamp()
    time.sleep(1.2)  # the enable dates must differ measurably
    kms.disable_key_rotation(KeyId=key)
    before = time.time()
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=120)
    status = kms.get_key_rotation_status(KeyId=key)
    restarted = status["NextRotationDate"].timestamp()
    assert status["RotationPeriodInDays"] == 120
    assert restarted - first >= 1.0
    assert abs(restarted - (before + 120 * DAY)) < 60


KEY_KINDS = {
    "ecc-sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
    "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
}


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
def test_asymmetric_and_hmac_keys_do_not_rotate(own_server, kind: str) -> None:
    kms = kms_of(own_server)
    key = kms.create_key(**KEY_KINDS[kind])["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in status
    calls = {
        "EnableKeyRotation": lambda: kms.enable_key_rotation(KeyId=key["KeyId"]),
        "EnableKeyRotation(period)": lambda: kms.enable_key_rotation(
            KeyId=key["KeyId"], RotationPeriodInDays=90
        ),
        "DisableKeyRotation": lambda: kms.disable_key_rotation(KeyId=key["KeyId"]),
        "RotateKeyOnDemand": lambda: kms.rotate_key_on_demand(KeyId=key["KeyId"]),
        "ListKeyRotations": lambda: kms.list_key_rotations(KeyId=key["KeyId"]),
        "ListKeyRotations(all)": lambda: kms.list_key_rotations(
            KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL"
        ),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "UnsupportedOperationException", name
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_external_key_has_no_automatic_rotation(own_server) -> None:
    kms = kms_of(own_server)
    arn = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=90)
    assert exc.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert exc.value.response["Error"]["Message"] == (
        f"{arn} origin is EXTERNAL which is not valid for this operation."
    )


def test_disabled_key_refuses_rotation_changes(own_server) -> None:
    kms = kms_of(own_server)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=200)
    kms.disable_key(KeyId=arn)
    for call in (
        lambda: kms.enable_key_rotation(KeyId=arn),
        lambda: kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=300),
        lambda: kms.disable_key_rotation(KeyId=arn),
        lambda: kms.rotate_key_on_demand(KeyId=arn),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "DisabledException"
        assert exc.value.response["Error"]["Message"] == f"{arn} is disabled."
    status = kms.get_key_rotation_status(KeyId=arn)  # still readable, unchanged
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 200
    assert "OnDemandRotationStartDate" not in status
    assert kms.list_key_rotations(KeyId=arn)["Rotations"] == []
    kms.enable_key(KeyId=arn)
    kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=300)
    assert kms.get_key_rotation_status(KeyId=arn)["RotationPeriodInDays"] == 300


def test_pending_deletion_reads_false_until_cancelled(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=400)
    before = kms.get_key_rotation_status(KeyId=key)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=30)
    pending = kms.get_key_rotation_status(KeyId=key)
    assert pending["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in pending
    for call in (
        lambda: kms.enable_key_rotation(KeyId=key),
        lambda: kms.disable_key_rotation(KeyId=key),
        lambda: kms.rotate_key_on_demand(KeyId=key),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key)
    after = kms.get_key_rotation_status(KeyId=key)
    assert after["KeyRotationEnabled"] is True
    assert after["RotationPeriodInDays"] == 400
    assert after["NextRotationDate"] == before["NextRotationDate"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"


# -- RotateKeyOnDemand ---------------------------------------------------------------------


def test_on_demand_rotation_and_key_material_ids(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    key_id = key["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    schedule = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    materials = [key["CurrentKeyMaterialId"]]
    made: list[tuple[bytes, bytes, str]] = []  # (ciphertext, plaintext, material id)

    def encrypt_now(tag: str) -> None:
        plaintext = f"{tag}-{len(made)}".encode()
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        made.append((blob, plaintext, materials[-1]))
        data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        assert data_key["KeyMaterialId"] == materials[-1]
        made.append((data_key["CiphertextBlob"], data_key["Plaintext"], materials[-1]))

    encrypt_now("before")
    for round_ in (1, 2):
        response = kms.rotate_key_on_demand(KeyId=key["Arn"] if round_ == 1 else key_id)
        assert response["KeyId"] == key["Arn"]  # the ARN, whichever form was asked
        listed = wait_rotated(kms, key_id, round_)
        assert len(listed) == round_
        newest = listed[-1]
        assert newest["RotationType"] == "ON_DEMAND"
        assert newest["KeyMaterialState"] == "CURRENT"
        assert newest["KeyId"] in (key_id, key["Arn"])
        assert abs(newest["RotationDate"].timestamp() - time.time()) < 60
        assert all(entry["KeyMaterialState"] == "NON_CURRENT" for entry in listed[:-1])
        assert newest["KeyMaterialId"] not in materials
        materials.append(newest["KeyMaterialId"])
        assert current_material(kms, key_id) == materials[-1]
        assert len(materials[-1]) == 64
        encrypt_now(f"after-{round_}")
        for blob, plaintext, material in made:
            out = kms.decrypt(CiphertextBlob=blob)
            assert out["Plaintext"] == plaintext
            assert out["KeyMaterialId"] == material
            assert out["KeyId"] == key["Arn"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["NextRotationDate"] == schedule
    assert status["RotationPeriodInDays"] == 180
    assert "OnDemandRotationStartDate" not in status
    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert [e["KeyMaterialId"] for e in everything["Rotations"]] == materials
    first = everything["Rotations"][0]
    assert "RotationDate" not in first and "RotationType" not in first
    assert first["KeyMaterialState"] == "NON_CURRENT"


def test_on_demand_rotation_stays_in_progress_until_maintenance(quiet_server) -> None:
    kms = kms_of(quiet_server)
    key = kms.create_key()["KeyMetadata"]
    key_id, before_material = key["KeyId"], key["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id)
    started = time.time()
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key["Arn"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert abs(status["OnDemandRotationStartDate"].timestamp() - started) < 60
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    assert current_material(kms, key_id) == before_material
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert code_of(exc) == "ConflictException"
    kms.disable_key_rotation(KeyId=key_id)  # does not cancel the on-demand rotation
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "OnDemandRotationStartDate" in status
    report = run(quiet_server)
    (entry,) = rotated_for(report, key_id)
    assert entry["RotationType"] == "ON_DEMAND"
    assert entry["KeyMaterialId"] != before_material
    assert current_material(kms, key_id) == entry["KeyMaterialId"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert "OnDemandRotationStartDate" not in status
    (listed,) = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert listed["KeyMaterialId"] == entry["KeyMaterialId"]
    assert listed["RotationType"] == "ON_DEMAND"
    out = kms.decrypt(CiphertextBlob=blob)
    assert out["Plaintext"] == b"old" and out["KeyMaterialId"] == before_material
    assert rotated_for(run(quiet_server), key_id) == []  # done once only
    (event,) = service_events(quiet_server, key["Arn"], "RotateKey")
    assert event["eventType"] == "AwsServiceEvent"
    assert event["serviceEventDetails"]["rotationType"] == "ON_DEMAND"
    assert event["serviceEventDetails"]["previousKeyMaterialId"] == before_material
    assert event["serviceEventDetails"]["currentKeyMaterialId"] == entry["KeyMaterialId"]
    # and a new on-demand rotation can be asked for once the first one is done
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key["Arn"]
    assert "OnDemandRotationStartDate" in kms.get_key_rotation_status(KeyId=key_id)


def test_twenty_five_on_demand_rotations_then_limit_and_paging(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    key_id = key["KeyId"]
    order = []
    for count in range(1, 26):
        kms.rotate_key_on_demand(KeyId=key_id)
        listed = wait_rotated(kms, key_id, count)
        assert len(listed) == count
        order.append(listed[-1]["KeyMaterialId"])
    assert current_material(kms, key_id) == order[-1]
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert code_of(exc) == "LimitExceededException"
    assert exc.value.response["Error"]["Message"] == (  # AWS's text, no final period
        "The on-demand rotations limit has been reached for the given keyId. No more "
        f"on-demand rotations can be performed for this key: {key['Arn']}"
    )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "OnDemandRotationStartDate" not in kms.get_key_rotation_status(KeyId=key_id)

    pages = []
    marker: str | None = None
    while True:
        page = kms.list_key_rotations(
            KeyId=key_id, Limit=10, **({"Marker": marker} if marker else {})
        )
        pages.append(page)
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert page["NextMarker"]
        marker = page["NextMarker"]
        assert len(pages) < 10, "paging does not end"
    assert [len(p["Rotations"]) for p in pages] == [10, 10, 5]
    entries = [e for p in pages for e in p["Rotations"]]
    ids = [e["KeyMaterialId"] for e in entries]
    assert ids == order and len(set(ids)) == 25
    assert all(e["RotationType"] == "ON_DEMAND" for e in entries)
    dates = [e["RotationDate"] for e in entries]
    assert dates == sorted(dates)
    assert [e["KeyMaterialState"] for e in entries] == ["NON_CURRENT"] * 24 + ["CURRENT"]

    assert [e["KeyMaterialId"] for e in rotations(kms, key_id)] == order
    everything = rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL", Limit=7)
    assert [e["KeyMaterialId"] for e in everything] == [key["CurrentKeyMaterialId"], *order]
    assert "RotationDate" not in everything[0] and "RotationType" not in everything[0]
    assert all("RotationDate" in e for e in everything[1:])

    with pytest.raises(ClientError) as exc:
        kms.list_key_rotations(KeyId=key_id, Marker="not-a-real-marker")
    assert code_of(exc) == "InvalidMarkerException"
    raw = unvalidated_kms(own_server)
    for bad in (0, 1001):
        with pytest.raises(ClientError) as exc:
            raw.list_key_rotations(KeyId=key_id, Limit=bad)
        assert code_of(exc) == "ValidationException", bad


LARGE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
        + [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["kms:List*", "kms:Get*"],
                "Resource": "*",
                "Condition": {
                    "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/none-{i}-*"},
                    "Bool": {"aws:SecureTransport": "false"},
                },
            }
            for i in range(110)
        ],
    }
)


def inconsistency(entries: list[dict[str, Any]]) -> str | None:
    """What is wrong with one ALL_KEY_MATERIAL listing of an AWS_KMS key, if anything."""
    states = [e["KeyMaterialState"] for e in entries]
    if states.count("CURRENT") != 1 or states[-1] != "CURRENT":
        return f"states {states[-3:]}"
    if any(s not in ("CURRENT", "NON_CURRENT") for s in states):
        return f"states {states[-3:]}"
    if any("RotationDate" not in e for e in entries[1:]):
        return "a rotated material without RotationDate"
    return None


def test_list_key_rotations_is_consistent_while_rotating(own_server) -> None:
    """Readers polling ListKeyRotations while on-demand rotations complete must see each
    rotation either not yet done or done: exactly one CURRENT material, the newest, and
    never PENDING_ROTATION (only for imported material, per AWS). A regression test: the
    key and its materials must be read in one snapshot (before that was fixed, a bad
    listing showed up within about 3 s on both backends)."""
    kms = kms_of(own_server)
    seen: list[str] = []
    polled: list[int] = []
    stop = threading.Event()
    current: dict[str, str] = {}

    def poll() -> None:
        reader = kms_of(own_server)
        while not stop.is_set():
            key_id = current.get("key")
            if key_id is None:
                time.sleep(0.01)
                continue
            try:
                entries = reader.list_key_rotations(
                    KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL", Limit=1000
                )["Rotations"]
            except ClientError as exc:
                seen.append(f"error {exc}")
                continue
            polled.append(len(entries))
            problem = inconsistency(entries)
            if problem:
                seen.append(problem)

    readers = [threading.Thread(target=poll, daemon=True) for _ in range(6)]
    for reader in readers:
        reader.start()
    # Rotations on fresh keys until a bad listing, or for 4 s and until the readers have
    # watched enough of them (a loaded machine does fewer in 4 s); at most 60 s.
    deadline = time.monotonic() + 4
    cap = time.monotonic() + 60

    def watched_enough() -> bool:
        return done >= 10 and len(polled) >= 50

    done = 0
    try:
        while (
            not seen
            and time.monotonic() < cap
            and (time.monotonic() < deadline or not watched_enough())
        ):
            # a large key policy makes each request's authorization (between the two
            # reads) take longer, so a reader is more often caught between them
            current["key"] = kms.create_key(Policy=LARGE_POLICY)["KeyMetadata"]["KeyId"]
            for count in range(1, 26):
                kms.rotate_key_on_demand(KeyId=current["key"])
                wait_rotated(kms, current["key"], count)
                done += 1
                if seen or (time.monotonic() > deadline and watched_enough()):
                    break
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=10)
    assert seen == []
    assert watched_enough()  # the readers did watch rotations happen
    assert max(polled) >= 3


# -- automatic rotation as of later times -----------------------------------------------------


def test_automatic_rotation_happens_once_when_due(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    key_id, first_material = key["KeyId"], key["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"first")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    early, _ = at_days(89)
    assert rotated_for(run(own_server, early), key_id) == []
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    assert current_material(kms, key_id) == first_material

    due, due_ts = at_days(91)
    (entry,) = rotated_for(run(own_server, due), key_id)
    assert entry["RotationType"] == "AUTOMATIC"
    assert entry["KeyMaterialId"] != first_material
    (listed,) = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert listed["RotationType"] == "AUTOMATIC"
    assert listed["KeyMaterialId"] == entry["KeyMaterialId"]
    assert abs(listed["RotationDate"].timestamp() - due_ts) < 2
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    assert abs(status["NextRotationDate"].timestamp() - (due_ts + 90 * DAY)) < 2
    assert current_material(kms, key_id) == entry["KeyMaterialId"]

    assert rotated_for(run(own_server, due), key_id) == []  # exactly once
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    out = kms.decrypt(CiphertextBlob=blob)
    assert out["Plaintext"] == b"first" and out["KeyMaterialId"] == first_material
    fresh = kms.generate_data_key(KeyId=key_id, NumberOfBytes=16)
    assert fresh["KeyMaterialId"] == entry["KeyMaterialId"]

    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    moved = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"].timestamp()
    assert abs(moved - (due_ts + 180 * DAY)) < 2  # still counted from the last rotation

    (event,) = service_events(own_server, key["Arn"], "RotateKey")
    assert event["eventType"] == "AwsServiceEvent"
    assert event["eventSource"] == "kms.amazonaws.com"
    assert event["userIdentity"]["invokedBy"] == "AWS Internal"
    assert event["userIdentity"]["accountId"] == ACCOUNT
    assert event["resources"][0]["ARN"] == key["Arn"]
    assert event["serviceEventDetails"] == {
        "rotationType": "AUTOMATIC",
        "keyOrigin": "AWS_KMS",
        "previousKeyMaterialId": first_material,
        "currentKeyMaterialId": entry["KeyMaterialId"],
        "keyId": key_id,
    }


def test_disabled_key_past_due_rotates_once_enabled(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    key_id = key["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.disable_key(KeyId=key_id)
    due, due_ts = at_days(95)
    assert rotated_for(run(own_server, due), key_id) == []
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    assert current_material(kms, key_id) == key["CurrentKeyMaterialId"]
    kms.enable_key(KeyId=key_id)
    (entry,) = rotated_for(run(own_server, due), key_id)
    assert entry["RotationType"] == "AUTOMATIC"
    assert current_material(kms, key_id) == entry["KeyMaterialId"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert abs(status["NextRotationDate"].timestamp() - (due_ts + 90 * DAY)) < 2


def test_key_pending_deletion_is_not_rotated(own_server) -> None:
    kms = kms_of(own_server)
    key = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=30)
    report = run(own_server, at_days(91)[0])  # rotation due, and deletion due too
    assert rotated_for(report, key["KeyId"]) == []
    assert key["Arn"] in report["Deleted"]
    assert service_events(own_server, key["Arn"], "RotateKey") == []


def test_two_concurrent_runs_rotate_each_key_exactly_once(own_server) -> None:
    kms = kms_of(own_server)
    keys = {}
    for _ in range(30):
        meta = kms.create_key()["KeyMetadata"]
        kms.enable_key_rotation(KeyId=meta["KeyId"], RotationPeriodInDays=90)
        keys[meta["KeyId"]] = meta
    at, _ = at_days(100)
    reports: list[dict[str, Any]] = maintenance_reports_together(own_server, at)
    union = [entry for report in reports for entry in report["Rotated"]]
    rotated_keys = [entry["KeyId"] for entry in union]
    assert len(rotated_keys) == len(set(rotated_keys)), "a key was rotated twice"
    mine = {entry["KeyId"]: entry for entry in union if entry["KeyId"] in keys}
    assert set(mine) == set(keys)
    for key_id, meta in keys.items():
        assert mine[key_id]["RotationType"] == "AUTOMATIC"
        everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
        ids = [e["KeyMaterialId"] for e in everything["Rotations"]]
        assert ids == [meta["CurrentKeyMaterialId"], mine[key_id]["KeyMaterialId"]]
        assert len(service_events(own_server, meta["Arn"], "RotateKey")) == 1
