"""A real server with its root of trust in a PKCS#11 HSM (SoftHSM2 tokens made for each
test), on SQLite and PostgreSQL: serving and restarting, ``openkms admin rewrap`` both ways
(with restarts, an interrupted rewrap finished by running it again, a wrong root refused),
one-line start-up errors, many threads unwrapping through one token, and an HSM taken away
while the server runs (KMSInternalException and a log line) and put back (it recovers
without a restart)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from servers import PostgresCluster, ServerProcess
from softhsm import SoftHSM

from conftest import ACCESS_KEY, ACCOUNT, SECRET_KEY, make_client

TOKEN = "openkms"
ROOT_KEY = base64.b64encode(bytes(range(32))).decode()


def new_data_dir(tmp_path: Path) -> str:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return str(path)


@pytest.fixture()
def hsm(tmp_path: Path) -> SoftHSM:
    made = SoftHSM.create(str(tmp_path / "softhsm"))
    made.init_token(TOKEN)
    return made


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(data directory, database URL or None) on the parametrised backend."""
    data_dir = new_data_dir(tmp_path)
    database = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        database = cluster.create_database(f"hsm_{uuid.uuid4().hex[:12]}")
    yield data_dir, database


def start(
    state: tuple[str, str | None], hsm: SoftHSM | None, *extra: str, **env: str
) -> ServerProcess:
    data_dir, database = state
    return ServerProcess.start(
        data_dir=data_dir,
        database=database,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=[*(hsm.args(TOKEN) if hsm else []), *extra],
        extra_env={**(hsm.env() if hsm else {}), **env},
    )


def openkms(
    *args: str, state: tuple[str, str | None], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    data_dir, database = state
    where = ["--data-dir", data_dir] + (["--database", database] if database else [])
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    done = subprocess.run(
        [sys.executable, "-m", "openkms", *args, *where],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("openkms: error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_the_pkcs11_root_serves_and_survives_a_restart(state, hsm) -> None:
    server = start(state, hsm)
    try:
        kms = make_client(server.endpoint)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"sealed by the HSM")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed by the HSM"
        server.restart()  # the material cache is empty: the HSM unwraps it again
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed by the HSM"
        data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        assert (
            kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
            == (data_key["Plaintext"])
        )
    finally:
        server.stop()
    # What the database holds is sealed by the HSM: a software root is refused.
    done = openkms("serve", "--port", "1", state=state, env={})
    assert done.returncode == 4
    assert "sealed by a PKCS#11 HSM" in one_error_line(done)


def _import_material(kms: Any, material: bytes) -> tuple[str, str]:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public: Any = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    done = kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(material, oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    return key_id, done["KeyMaterialId"]


def test_rewrap_to_pkcs11_and_back_with_restarts(state, hsm) -> None:
    software = {"OPENKMS_ROOT_KEY": ROOT_KEY}
    server = start(state, None, **software)
    try:
        kms = make_client(server.endpoint)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
        imported, material_id = _import_material(kms, os.urandom(32))
        imported_blob = kms.encrypt(KeyId=imported, Plaintext=b"imported")["CiphertextBlob"]
        iam = make_client(server.endpoint, service="iam")
        iam.create_user(UserName="alice")
        user_key = iam.create_access_key(UserName="alice")["AccessKey"]
        # A pending import keeps its sealed wrapping key in the database too.
        pending = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        kms.get_parameters_for_import(
            KeyId=pending, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    finally:
        server.stop()  # seals an audit digest: the audit signing key is stored, sealed

    both = {**software, **hsm.env()}
    moved = openkms(
        "admin", "rewrap", "--to", "pkcs11", *hsm.args(TOKEN)[2:], state=state, env=both
    )
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    # Rows: 2 access keys (root, alice), 2 key materials, 1 import token; and the audit
    # signing key (the root check and the fingerprint key are counted apart).
    assert report["RootOfTrust"] == "pkcs11" and report["Resealed"] == 6

    server = start(state, hsm)
    try:
        kms = make_client(server.endpoint)
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
        assert kms.decrypt(CiphertextBlob=imported_blob)["Plaintext"] == b"imported"
        described = kms.describe_key(KeyId=imported)["KeyMetadata"]
        assert described["CurrentKeyMaterialId"] == material_id  # fingerprints unchanged
        alice = make_client(
            server.endpoint,
            access_key=user_key["AccessKeyId"],
            secret_key=user_key["SecretAccessKey"],
        )
        with pytest.raises(ClientError) as denied:  # authenticated, then not authorized
            alice.describe_key(KeyId=key_id)
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"under the HSM")["CiphertextBlob"]
    finally:
        server.stop()
    sealed = openkms(
        "audit",
        "seal",
        state=state,
        env={
            **hsm.env(),
            "OPENKMS_ROOT_OF_TRUST": "pkcs11",
            "OPENKMS_PKCS11_MODULE": hsm.module,
            "OPENKMS_PKCS11_TOKEN": TOKEN,
            "OPENKMS_PKCS11_KEY": "openkms-root",
        },
    )
    assert sealed.returncode == 0, sealed.stderr  # the audit signing key opens under the HSM

    back = openkms(
        "admin", "rewrap", "--to", "software", *hsm.args(TOKEN)[2:], state=state, env=both
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["Resealed"] >= 6
    again = openkms(
        "admin", "rewrap", "--to", "software", *hsm.args(TOKEN)[2:], state=state, env=both
    )
    assert again.returncode == 0 and json.loads(again.stdout)["Resealed"] == 0

    server = start(state, None, **software)
    try:
        kms = make_client(server.endpoint)
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"under the HSM"
        assert kms.decrypt(CiphertextBlob=imported_blob)["Plaintext"] == b"imported"
        described = kms.describe_key(KeyId=imported)["KeyMetadata"]
        assert described["CurrentKeyMaterialId"] == material_id
    finally:
        server.stop()


def test_start_errors_are_one_line(tmp_path, hsm) -> None:
    state = (new_data_dir(tmp_path), None)
    cases = [
        (hsm.args(TOKEN), {**hsm.env(pin="0000")}, 4, "PIN in OPENKMS_PKCS11_PIN is wrong"),
        (hsm.args(TOKEN), {"SOFTHSM2_CONF": hsm.conf}, 4, "set OPENKMS_PKCS11_PIN"),
        (
            [
                "--root-of-trust",
                "pkcs11",
                "--pkcs11-module",
                "/nonexistent/libpkcs11.so",
                "--pkcs11-token",
                TOKEN,
                "--pkcs11-key",
                "k",
            ],
            hsm.env(),
            6,
            "cannot load the PKCS#11 module /nonexistent/libpkcs11.so",
        ),
        (hsm.args("no-such-token"), hsm.env(), 6, "no PKCS#11 token labelled 'no-such-token'"),
        (["--root-of-trust", "pkcs11"], hsm.env(), 6, "needs --pkcs11-module"),
    ]
    for args, env, status, message in cases:
        done = openkms("serve", "--port", "1", *args, state=state, env=env)
        assert done.returncode == status, (args, done.stderr)
        assert message in one_error_line(done)


def test_an_interrupted_rewrap_blocks_starts_and_finishes_when_run_again(tmp_path, hsm) -> None:
    from openkms.crypto.hsm import HSMRoot, HSMSealer
    from openkms.crypto.keyring import (
        KeyringUnavailableError,
        SoftwareKeyring,
        derived_fingerprint_key,
    )
    from openkms.server import bootstrap, rewrap

    state = (new_data_dir(tmp_path), None)
    software = {"OPENKMS_ROOT_KEY": ROOT_KEY}
    server = start(state, None, **software)
    try:
        kms = make_client(server.endpoint)
        keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
        blobs = {k: kms.encrypt(KeyId=k, Plaintext=k.encode())["CiphertextBlob"] for k in keys}
    finally:
        server.stop()

    class FailingAfter:
        """The HSM, failing from its fourth seal on (as a token pulled out midway)."""

        def __init__(self, sealer: HSMSealer) -> None:
            self.sealer, self.seals = sealer, 0

        def wrap(self, secret: bytes, context: bytes) -> bytes:
            self.seals += 1
            if self.seals > 3:
                raise KeyringUnavailableError("the HSM is unavailable: pulled out")
            return self.sealer.wrap(secret, context)

        def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
            return self.sealer.unwrap(wrapped, context)

    root = base64.b64decode(ROOT_KEY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", hsm.conf)
        import pkcs11

        from openkms.crypto.hsm import LIBRARY_LOCK

        with LIBRARY_LOCK:
            pkcs11.lib(hsm.module).reinitialize()  # read this test's configuration
        sealer = HSMSealer(HSMRoot(hsm.module, TOKEN, "openkms-root"), "1234", create=True)
        store = bootstrap.open_store(bootstrap.Settings(state[0], None, ACCOUNT), create=False)
        try:
            with pytest.raises(KeyringUnavailableError):
                rewrap.rewrap(
                    store,
                    {"software": SoftwareKeyring(root), "pkcs11": FailingAfter(sealer)},
                    "pkcs11",
                    derived_fingerprint_key=derived_fingerprint_key(root),
                    batch=1,
                )
        finally:
            store.close()
            sealer.close()

    starts: list[list[str]] = [hsm.args(TOKEN), []]
    for args in starts:
        done = openkms("serve", "--port", "1", *args, state=state, env={**software, **hsm.env()})
        assert done.returncode == 6
        assert "openkms admin rewrap --to pkcs11 has not finished" in one_error_line(done)

    both = {**software, **hsm.env()}
    wrong = openkms(
        "admin",
        "rewrap",
        "--to",
        "pkcs11",
        "--pkcs11-module",
        hsm.module,
        "--pkcs11-token",
        TOKEN,
        "--pkcs11-key",
        "another-key",
        state=state,
        env=both,
    )
    assert wrong.returncode == 4
    assert "does not open this database" in one_error_line(wrong)

    done = openkms("admin", "rewrap", "--to", "pkcs11", *hsm.args(TOKEN)[2:], state=state, env=both)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["AlreadySealed"] >= 1 and report["Resealed"] >= 1

    server = start(state, hsm)
    try:
        kms = make_client(server.endpoint)
        for key_id, blob in blobs.items():
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == key_id.encode()
    finally:
        server.stop()


def test_many_threads_unwrapping_through_one_token(tmp_path, hsm) -> None:
    """Every key's material is unwrapped by the HSM on its first use after a restart,
    from many request threads at once (the module is called under one lock)."""
    state = (new_data_dir(tmp_path), None)
    server = start(state, hsm, "--request-threads", "8")
    try:
        kms = make_client(server.endpoint)
        keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(24)]
        blobs = {k: kms.encrypt(KeyId=k, Plaintext=k.encode())["CiphertextBlob"] for k in keys}
        server.restart()
        errors: list[BaseException] = []

        def work(n: int) -> None:
            client = make_client(server.endpoint)
            try:
                for key_id in keys[n % 24 :] + keys[: n % 24]:
                    blob = client.encrypt(KeyId=key_id, Plaintext=b"x" * (n + 1))["CiphertextBlob"]
                    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x" * (n + 1)
                    assert client.decrypt(CiphertextBlob=blobs[key_id])["Plaintext"] == (
                        key_id.encode()
                    )
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert server.proc.poll() is None
    finally:
        server.stop()


def test_the_hsm_going_away_fails_requests_and_coming_back_recovers(tmp_path, hsm) -> None:
    state = (new_data_dir(tmp_path), None)
    server = start(state, hsm)
    try:
        kms = make_client(server.endpoint)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
        server.restart()  # nothing cached: the next Decrypt needs the HSM
        token_dir = hsm.token_dir(TOKEN)
        aside = str(tmp_path / "token-removed")
        shutil.move(token_dir, aside)
        try:
            for call in (
                lambda: kms.decrypt(CiphertextBlob=blob),
                lambda: kms.create_key(),
            ):
                with pytest.raises(ClientError) as failed:
                    call()
                assert failed.value.response["Error"]["Code"] == "KMSInternalException"
            assert f"HSM token '{TOKEN}'" in server.log()
            assert "unavailable" in server.log()
        finally:
            shutil.move(aside, token_dir)
        # Back, without a restart.
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        kms.create_key()
    finally:
        server.stop()


def test_a_start_with_another_hsm_key_is_refused_by_the_check_value(tmp_path, hsm) -> None:
    first = (new_data_dir(tmp_path), None)
    other_dir = tmp_path / "other"
    other_dir.mkdir(mode=0o700)
    for state, key in ((first, "openkms-root"), ((str(other_dir), None), "other-root")):
        server = start(state, None, *hsm.args(TOKEN, key), **hsm.env())
        server.stop()
    # Both keys exist in the token now; the first database opens only under its own.
    wrong = openkms(
        "serve", "--port", "1", *hsm.args(TOKEN, "other-root"), state=first, env=hsm.env()
    )
    assert wrong.returncode == 4
    assert "the PKCS#11 key 'other-root' on token 'openkms' does not open this database" in (
        one_error_line(wrong)
    )
    missing = openkms(
        "serve", "--port", "1", *hsm.args(TOKEN, "never-made"), state=first, env=hsm.env()
    )
    assert missing.returncode == 3
    assert "no key labelled 'never-made'" in one_error_line(missing)


def test_rewrap_usage_and_missing_state_are_one_line(tmp_path, hsm) -> None:
    state = (str(tmp_path / "absent"), None)
    args = ["admin", "rewrap", "--to", "pkcs11", *hsm.args(TOKEN)[2:]]
    usage = openkms(*args, "--batch", "0", state=state, env=hsm.env())
    assert usage.returncode == 2 and "--batch must be at least 1" in one_error_line(usage)
    missing = openkms(*args, state=state, env=hsm.env())
    assert missing.returncode == 3 and "no OpenKMS database" in one_error_line(missing)
    assert not os.path.exists(state[0])  # nothing created
