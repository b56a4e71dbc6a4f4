"""``openkms audit verify|seal|export`` run as a user runs them, and an export checked
offline (no database, no root key)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))

from audit_support import BASE_TIME, pending, start_trail

from openkms.server.bootstrap import Settings, open_state
from openkms.storage.audit import trail


def audit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
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


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "XDG_"))}
    clean["HOME"] = str(tmp_path / "home")
    clean["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return clean


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("OPENKMS_ROOT_KEY", "OPENKMS_ROOT_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    data = str(tmp_path / "data")
    store, keyring = open_state(Settings(data_dir=data, database=None, account_id="111122223333"))
    start_trail(store, keyring)
    try:
        for start in (1, 5):
            with store.transaction(write=True) as tx:
                # Two accounts and hours apart, so the export writes several log files.
                trail.append_records(
                    tx, [pending(i, when=BASE_TIME + 1800 * i) for i in range(start, start + 4)]
                )
                trail.append_records(tx, [pending(100 + start, account="444455556666")])
    finally:
        store.close()
    return data


def test_verify_database_intact_then_tampered(data_dir: str, env: dict[str, str]) -> None:
    done = audit("verify", "--data-dir", data_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert "intact: 10 records" in done.stdout and "10 records, " in done.stdout
    assert "seconds unsealed (from seq 1)" in done.stdout
    sealed = audit("seal", "--data-dir", data_dir, env=env)
    assert sealed.returncode == 0 and "sealed records 1..10" in sealed.stdout
    assert "sealed to seq 10" in audit("verify", "--data-dir", data_dir, env=env).stdout
    with sqlite3.connect(os.path.join(data_dir, "openkms.db")) as db:
        db.execute(
            "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Sign') WHERE seq = 7"
        )
        eid = db.execute("SELECT event_id FROM audit_events WHERE seq = 7").fetchone()[0]
    done = audit("verify", "--data-dir", data_dir, env=env)
    assert done.returncode == 1
    assert f"record seq 7 (event {eid})" in done.stderr


def test_verify_without_a_database_fails_cleanly(tmp_path: Path, env: dict[str, str]) -> None:
    done = audit("verify", "--data-dir", str(tmp_path / "nothing"), env=env)
    assert done.returncode == 3 and "no OpenKMS database" in done.stderr
    assert not (tmp_path / "nothing").exists()


def _log_files(out: Path) -> list[Path]:
    return sorted(out.glob("AWSLogs/*/CloudTrail/us-east-1/*/*/*/*.json.gz"))


def test_export_verified_offline_and_tampering_detected(
    data_dir: str, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    done = audit("export", "--out", str(out), "--seal", "--data-dir", data_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert "exported 10 records" in done.stdout
    files = _log_files(out)
    assert {f.parts[-7] for f in files} == {"111122223333", "444455556666"}
    assert len(files) >= 4
    first = json.loads(gzip.decompress(files[0].read_bytes()))
    assert first["Records"][0]["eventSource"] == "kms.amazonaws.com"
    digest = json.loads(next((out / "OpenKMS-Digest").glob("*.json")).read_text())
    assert digest["signature"] and digest["publicKey"] and digest["logFiles"]

    # Offline: move the export away from everything else.
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)
    shutil.rmtree(data_dir)
    done = audit("verify", str(moved), env=env)
    assert done.returncode == 0, done.stderr
    assert "export intact: 10 records (seq 1..10)" in done.stdout
    assert digest["publicKeyFingerprint"] in done.stdout

    # Change one record of one log file.
    victim = _log_files(moved)[1]
    body = json.loads(gzip.decompress(victim.read_bytes()))
    body["Records"][0]["eventName"] = "Decrypt"
    victim.write_bytes(gzip.compress(json.dumps(body).encode()))
    done = audit("verify", str(moved), env=env)
    assert done.returncode == 1
    assert f"(event {body['Records'][0]['eventID']})" in done.stderr


def test_export_with_a_forged_digest_signature_fails(
    data_dir: str, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert (
        audit("export", "--out", str(out), "--seal", "--data-dir", data_dir, env=env).returncode
        == 0
    )
    path = next((out / "OpenKMS-Digest").glob("*.json"))
    doc = json.loads(path.read_text())
    first = doc["signature"][:2]
    doc["signature"] = ("ff" if first == "00" else "00") + doc["signature"][2:]  # always a change
    path.write_text(json.dumps(doc))
    done = audit("verify", str(out), env=env)
    assert done.returncode == 1 and "signature does not verify" in done.stderr


def test_export_time_window(data_dir: str, env: dict[str, str], tmp_path: Path) -> None:
    audit("seal", "--data-dir", data_dir, env=env)
    store, _ = open_state(Settings(data_dir=data_dir, database=None, account_id="111122223333"))
    try:
        with store.transaction(write=True) as tx:
            trail.append_records(tx, [pending(50, when=time.time())])
    finally:
        store.close()
    out = tmp_path / "window"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    done = audit("export", "--out", str(out), "--since", since, "--data-dir", data_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert "exported 1 records (seq 11..11)" in done.stdout
    done = audit("verify", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "1 records not yet sealed" in done.stdout
    bad = audit("export", "--out", str(out), "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr


def _digest_docs(out: Path) -> list[Path]:
    return sorted((out / "OpenKMS-Digest").glob("*.json"))


def _edit_digest(out: Path, change: object) -> None:
    path = _digest_docs(out)[0]
    doc = json.loads(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))


def _no_digests(out: Path) -> None:
    shutil.rmtree(out / "OpenKMS-Digest")


def _garbled_digest(out: Path) -> None:
    _digest_docs(out)[0].write_text("{not json")


def _foreign_digest(out: Path) -> None:
    _edit_digest(out, lambda doc: doc.update(digestFormat="something else"))


def _key_not_base64(out: Path) -> None:
    _edit_digest(out, lambda doc: doc.update(publicKeys={"ab": "not base64!"}))


def _log_outside(out: Path) -> None:
    _edit_digest(out, lambda doc: doc["logFiles"][0].update(path="AWSLogs/../../etc/passwd"))


def _log_missing(out: Path) -> None:
    _log_files(out)[0].unlink()


def _log_not_json(out: Path) -> None:
    _log_files(out)[0].write_bytes(gzip.compress(b"not json"))


def _log_short(out: Path) -> None:
    victim = _log_files(out)[0]
    body = json.loads(gzip.decompress(victim.read_bytes()))
    body["Records"] = body["Records"][:-1] or [{"eventID": "x"}, {"eventID": "y"}]
    victim.write_bytes(gzip.compress(json.dumps(body).encode()))


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (_no_digests, "holds no OpenKMS-Digest directory"),
        (_garbled_digest, "is unreadable"),
        (_foreign_digest, "is not an OpenKMS export digest"),
        (_key_not_base64, "is not base64"),
        (_log_outside, "is outside the export"),
        (_log_missing, "is missing or unreadable"),
        (_log_not_json, "is not JSON"),
        (_log_short, "does not hold the records its digest lists"),
    ],
)
def test_a_damaged_export_is_refused_with_its_reason(
    data_dir: str, env: dict[str, str], tmp_path: Path, damage: object, found: str
) -> None:
    out = tmp_path / "export"
    done = audit("export", "--out", str(out), "--seal", "--data-dir", data_dir, env=env)
    assert done.returncode == 0, done.stderr
    damage(out)  # type: ignore[operator]
    done = audit("verify", str(out), env=env)
    assert done.returncode == 1, done.stdout
    assert found in done.stderr


@pytest.mark.parametrize(
    ("content", "flags", "found"),
    [
        (None, ["--trusted-fingerprints", "{missing}"], "cannot read"),
        ("# nothing but a comment\n", ["--trusted-fingerprints", "{file}"], "names no fingerprint"),
        ("zz\n", ["--trusted-fingerprints", "{file}"], "not a SHA-256 fingerprint"),
        (None, ["--expect-fingerprint", "12:34"], "not a SHA-256 fingerprint"),
    ],
)
def test_verify_refuses_fingerprints_it_cannot_use(
    data_dir: str,
    env: dict[str, str],
    tmp_path: Path,
    content: str | None,
    flags: list[str],
    found: str,
) -> None:
    listed = tmp_path / "trusted.txt"
    if content is not None:
        listed.write_text(content)
    names = {"{file}": str(listed), "{missing}": str(tmp_path / "absent.txt")}
    done = audit("verify", "--data-dir", data_dir, *[names.get(f, f) for f in flags], env=env)
    assert done.returncode == 2, done.stderr
    assert found in done.stderr


def test_verify_as_of_a_time_without_a_zone_reads_it_as_utc(
    data_dir: str, env: dict[str, str]
) -> None:
    with_zone = audit("verify", "--data-dir", data_dir, "--as-of", "2030-01-01T00:00:00Z", env=env)
    without = audit("verify", "--data-dir", data_dir, "--as-of", "2030-01-01T00:00:00", env=env)
    assert (with_zone.returncode, with_zone.stderr) == (without.returncode, without.stderr)
