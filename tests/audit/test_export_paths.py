"""``openkms audit export`` over records an older OpenKMS stored with request-chosen
regions (300 characters, ``..``, separators): no crash, every file inside the export
(issue 10, defect 5)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from audit_support import BASE_TIME, record, start_trail

from openkms.audit.export import _ACCOUNT, _REGION, path_part
from openkms.domain.audit import PendingRecord
from openkms.server.bootstrap import Settings, open_state
from openkms.storage.audit import trail

WEIRD_REGIONS = ["x" * 300, "..", "../../../../tmp/evil", "us-east-1:444455556666", "a/b", ""]
WEIRD_ACCOUNT = "../../../.."


def old_record(i: int, region: str, account: str = "111122223333") -> PendingRecord:
    rec = record(i, account=account)
    rec["awsRegion"] = region
    return PendingRecord.from_record(rec, event_time=BASE_TIME + i)


@pytest.fixture()
def old_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A data directory whose trail holds records with weird regions, appended through
    the storage layer as a version without region validation or column checks did."""
    for name in ("OPENKMS_ROOT_KEY", "OPENKMS_ROOT_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    data = str(tmp_path / "data")
    store, keyring = open_state(Settings(data_dir=data, database=None, account_id="111122223333"))
    start_trail(store, keyring)
    monkeypatch.setattr(trail, "_check_widths", lambda pending: None)  # the old code
    try:
        with store.transaction(write=True) as tx:
            trail.append_records(tx, [old_record(1, "us-east-1")])
            trail.append_records(tx, [old_record(2 + i, r) for i, r in enumerate(WEIRD_REGIONS)])
            trail.append_records(tx, [old_record(20, "..", account=WEIRD_ACCOUNT)])
    finally:
        store.close()
    return data


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "openkms", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def test_export_over_weird_regions_stays_inside_the_export(
    old_database: str, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    done = run("export", "--out", str(out), "--data-dir", old_database, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exported 8 records" in done.stdout
    root = os.path.realpath(out)
    files = [Path(d) / f for d, _, names in os.walk(out) for f in names]
    assert all(os.path.realpath(f).startswith(root + os.sep) for f in files)
    assert not (tmp_path / "tmp").exists()
    regions_dirs = {p.name for p in (out / "AWSLogs" / "111122223333" / "CloudTrail").iterdir()}
    assert "us-east-1" in regions_dirs and len(regions_dirs) == 1 + len(WEIRD_REGIONS)
    assert all(len(name) <= 32 for name in regions_dirs)
    # The records themselves are exported unchanged.
    exported = []
    for f in files:
        if f.name.endswith(".json.gz"):
            with gzip.open(f) as fh:
                exported += [r["awsRegion"] for r in json.load(fh)["Records"]]
    assert sorted(exported) == sorted(["us-east-1", *WEIRD_REGIONS, ".."])
    verified = run("verify", str(out), tmp_path=tmp_path)
    assert verified.returncode == 0, verified.stderr


def test_path_parts() -> None:
    assert path_part("eu-west-1", _REGION) == "eu-west-1"
    assert path_part("111122223333", _ACCOUNT) == "111122223333"
    for bad in WEIRD_REGIONS + ["-a", "a-", "A"]:
        part = path_part(bad, _REGION)
        assert part.startswith("invalid-") and len(part) == 24
    assert path_part("..", _REGION) != path_part("a/b", _REGION)
    assert path_part(WEIRD_ACCOUNT, _ACCOUNT).startswith("invalid-")
