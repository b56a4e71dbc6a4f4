"""External keys under an HSM root of trust: the XKS proxy's keys and stored credentials
are sealed values like any other, so ``openkms admin rewrap --to pkcs11`` moves them into
the HSM's keeping; the proxy then starts with ``--root-of-trust pkcs11``, opens what was
sealed before, and seals new keys in the token (SoftHSM2, SQLite; PostgreSQL storage is
covered by test_xks_proxy)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from softhsm import SoftHSM
from xks import XKSClient, b64, openkms, start_proxy

TOKEN = "openkms"
ROOT_KEY = base64.b64encode(bytes(range(32))).decode()


def run(*args: str, data_dir: str, env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(
        [sys.executable, "-m", "openkms", *args, "--data-dir", data_dir],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_xks_keys_move_into_the_hsm_and_are_made_there(tmp_path: Path) -> None:
    try:
        hsm = SoftHSM.create(str(tmp_path / "softhsm"))
    except FileNotFoundError as exc:
        pytest.skip(f"SoftHSM2 not available: {exc}")
    hsm.init_token(TOKEN)
    data_dir = str(tmp_path / "data")
    software = {"OPENKMS_ROOT_KEY": ROOT_KEY}
    assert (
        openkms("admin", "xks-key", "create", "foo", "--data-dir", data_dir, env=software)[0] == 0
    )
    status, out, _ = openkms(
        "admin", "xks-credential", "create", "--data-dir", data_dir, env=software
    )
    assert status == 0
    made = json.loads(out)
    credential = made["XksProxyAuthenticationCredential"]

    proxy = start_proxy(data_dir=data_dir, database=None, prefix="", extra_env=software)
    try:
        client = XKSClient(proxy.port, "/kms/xks/v1")
        sealed = client.encrypt("foo", b"sealed by software", b"aad")
        assert sealed.status == 200
    finally:
        proxy.stop()

    both = {**software, **hsm.env()}
    moved = json.loads(
        run("admin", "rewrap", "--to", "pkcs11", *hsm.args(TOKEN)[2:], data_dir=data_dir, env=both)
    )
    assert moved["RootOfTrust"] == "pkcs11"
    hsm_env = {
        **hsm.env(),
        "OPENKMS_ROOT_OF_TRUST": "pkcs11",
        "OPENKMS_PKCS11_MODULE": hsm.module,
        "OPENKMS_PKCS11_TOKEN": TOKEN,
        "OPENKMS_PKCS11_KEY": "openkms-root",
    }
    run("admin", "xks-key", "create", "bar", data_dir=data_dir, env=hsm_env)
    proxy = start_proxy(data_dir=data_dir, database=None, prefix="", extra_env=hsm_env)
    try:
        stored = XKSClient(
            proxy.port, "/kms/xks/v1", credential["AccessKeyId"], credential["RawSecretAccessKey"]
        )
        assert stored.decrypt("foo", sealed.body, b"aad").body == {
            "plaintext": b64(b"sealed by software")
        }
        fresh = stored.encrypt("bar", b"sealed by the HSM")
        assert stored.decrypt("bar", fresh.body).body == {"plaintext": b64(b"sealed by the HSM")}
        health = stored.call(
            "health", {"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}
        )
        assert health.body["ekmFleetDetails"][0]["id"] == "openkms-pkcs11"
        assert health.body["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE"
    finally:
        proxy.stop()
