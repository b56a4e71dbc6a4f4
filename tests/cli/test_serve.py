"""``openkms serve`` as a user runs it: flags, start-up errors, root key and credentials,
``--dev`` mode.

Every server is a real subprocess (``python -m openkms serve``) with a timeout. Problems a
user can fix must end with a short message on stderr, a non-zero exit and no traceback.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from servers import free_port, wait_http

from conftest import ACCESS_KEY, SECRET_KEY, make_client
from openkms.cli.exit_codes import Exit

_GENERATED = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)")
_ROOT_KEY_ERROR = "openkms: error: the root key does not open this database"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENKMS_", "AWS_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")  # platformdirs' default data dir lands here
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def serve_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "openkms", "serve", *args]


def run_failing(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command that must exit on its own (a server that starts would time out)."""
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def assert_one_line_error(
    done: subprocess.CompletedProcess[str], *needles: str, status: Exit | None = None
) -> str:
    """One ``openkms: error:`` line naming ``needles``, with the exit status of its kind
    (openkms.cli.exit_codes) when ``status`` is given."""
    assert done.returncode not in (0, 2) and done.returncode > 0, (done.returncode, done.stderr)
    if status is not None:
        assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("openkms: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM; the exit status of a graceful shutdown (uvicorn re-raises the signal
        after shutting down, so death by SIGTERM counts as clean too)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return 0 if self.proc.returncode == -signal.SIGTERM else self.proc.returncode


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str, env: dict[str, str]) -> Served:
        port = free_port()
        n = len(started)
        out, err = tmp_path / f"serve-{n}.out", tmp_path / f"serve-{n}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(
                serve_args("--port", str(port), *args),
                env=env,
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
            )
        served = Served(proc, port, out, err)
        started.append(served)
        try:
            wait_http(served.endpoint + "/_openkms/health", proc, timeout=30)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{served.stdout()}\n{served.stderr()}") from None
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def post(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- bad command lines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "argument --port: invalid port 'abc'"),
        (["--port", "70000"], "argument --port"),
        (["--account-id", "12"], "argument --account-id"),
        (["--account-id", "11112222333a"], "argument --account-id"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--request-threads", "0"], "argument --request-threads: thread count must be 1-256"),
    ],
)
def test_bad_flag_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_failing(serve_args("--data-dir", str(tmp_path / "d"), *args), clean_env(tmp_path))
    assert done.returncode == Exit.USAGE, done.stderr
    lines = done.stderr.strip().splitlines()
    # One error line, maybe after argparse's usage lines (which may wrap).
    assert 1 <= len(lines) <= 4, done.stderr
    assert len(lines) == 1 or lines[0].startswith("usage: openkms"), done.stderr
    assert re.match(r"openkms( serve)?: error: ", lines[-1]) and message in lines[-1], lines[-1]
    assert done.stdout == ""
    assert not (tmp_path / "d").exists()  # nothing was created before the flags were checked


# --- transport ----------------------------------------------------------------------------
# Only loopback addresses may be bound in tests: the refusal happens before anything is
# created or bound, which "nothing was created" checks.


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "kms.example.com"])
def test_plain_http_on_a_non_loopback_address_is_refused(tmp_path: Path, host: str) -> None:
    done = run_failing(
        serve_args("--host", host, "--port", str(free_port()), "--data-dir", str(tmp_path / "d")),
        clean_env(tmp_path),
    )
    assert_one_line_error(
        done,
        "refusing to serve plain HTTP",
        host,
        "--tls-cert",
        "--insecure-http",
        status=Exit.CONFIG,
    )
    assert done.stdout == ""
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--host", "127.0.0.1"], True),
        (["--host", "127.0.0.2"], True),
        (["--host", "::1"], True),
        (["--host", "localhost"], True),
        (["--host", "0.0.0.0", "--insecure-http"], True),
        (["--host", "0.0.0.0"], False),
        (["--host", "10.0.0.1"], False),
    ],
)
def test_which_addresses_may_serve_plain_http(args: list[str], allowed: bool) -> None:
    from openkms.cli.main import _transport, build_parser

    decided = _transport(build_parser().parse_args(["serve", *args]))
    assert (decided == {}) is allowed, decided


def test_tls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    done = run_failing(
        serve_args(
            "--port", str(free_port()), "--tls-cert", str(cert), "--data-dir", str(tmp_path / "d")
        ),
        clean_env(tmp_path),
    )
    assert_one_line_error(done, "give both --tls-cert and --tls-key", status=Exit.CONFIG)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("what", ["missing", "garbage"])
def test_unusable_tls_files_are_one_line_errors(tmp_path: Path, what: str) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if what == "garbage":
        cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        key.write_text("not a key")
    done = run_failing(
        serve_args(
            "--port",
            str(free_port()),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--data-dir",
            str(tmp_path / "d"),
        ),
        clean_env(tmp_path),
    )
    assert_one_line_error(done, "cannot use the TLS certificate", str(cert), status=Exit.CONFIG)
    assert not (tmp_path / "d").exists()


# --- unusable storage ---------------------------------------------------------------------


def test_data_dir_under_a_regular_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(afile / "data")),
        clean_env(tmp_path),
    )
    assert_one_line_error(done, "data directory", str(afile / "data"), status=Exit.MISSING_STATE)
    assert done.stdout == ""


def test_data_dir_is_a_regular_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(afile)), clean_env(tmp_path)
    )
    assert_one_line_error(done, str(afile), status=Exit.MISSING_STATE)
    assert afile.read_text() == "not a directory"


def test_corrupt_database_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)  # a shared directory would add a warning line
    (data / "openkms.db").write_bytes(os.urandom(8192))
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(data)), clean_env(tmp_path)
    )
    assert_one_line_error(done, "database", status=Exit.DATABASE)


def test_unreachable_database(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://openkms:pw-{uuid.uuid4().hex}@127.0.0.1:{port}/x"
    done = run_failing(
        serve_args(
            "--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--database", url
        ),
        clean_env(tmp_path),
    )
    line = assert_one_line_error(done, "database", status=Exit.DATABASE)
    assert "pw-" not in done.stderr + done.stdout, line  # the password is never echoed
    assert "AWS_SECRET_ACCESS_KEY" not in done.stdout


def test_unsupported_database_scheme(tmp_path: Path) -> None:
    done = run_failing(
        serve_args(
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "d"),
            "--database",
            "mysql://u@127.0.0.1/x",
        ),
        clean_env(tmp_path),
    )
    assert_one_line_error(done, "mysql", status=Exit.DATABASE)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = run_failing(
            serve_args("--port", str(port), "--data-dir", str(tmp_path / "d")), clean_env(tmp_path)
        )
    line = assert_one_line_error(done, "127.0.0.1", str(port), status=Exit.CONFIG)
    assert "address already in use" in line.lower(), line
    # "listening" only once the port is bound: never before a refusal.
    assert "listening" not in done.stdout, done.stdout


# --- root key -------------------------------------------------------------------------------


def test_wrong_root_key_is_refused(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    env = clean_env(
        tmp_path, OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY, OPENKMS_ROOT_SECRET_ACCESS_KEY=SECRET_KEY
    )
    first = serve("--data-dir", str(data), env=env)
    kms = make_client(first.endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"sealed")["CiphertextBlob"]
    assert first.stop() == 0
    root_key = (data / "root.key").read_bytes()

    other = base64.b64encode(os.urandom(32)).decode()
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(data)),
        {**env, "OPENKMS_ROOT_KEY": other},
    )
    line = assert_one_line_error(done, "root key", status=Exit.ROOT_KEY)
    assert other not in line and root_key.strip().decode() not in line

    # A root.key file replaced by another valid key is refused the same way.
    (data / "root.key").write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    done = run_failing(serve_args("--port", str(free_port()), "--data-dir", str(data)), env)
    assert_one_line_error(done, "root key", status=Exit.ROOT_KEY)

    # A root.key file that is gone, while the database holds keys sealed under it.
    (data / "root.key").unlink()
    done = run_failing(serve_args("--port", str(free_port()), "--data-dir", str(data)), env)
    assert_one_line_error(done, "root key", status=Exit.MISSING_STATE)
    assert not (data / "root.key").exists()  # no new key was generated over the old data

    # With the right key back, everything opens again.
    (data / "root.key").write_bytes(root_key)
    again = serve("--data-dir", str(data), env=env)
    assert make_client(again.endpoint).decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed"


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_root_key_env(tmp_path: Path, value: str) -> None:
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(tmp_path / "d")),
        clean_env(tmp_path, OPENKMS_ROOT_KEY=value),
    )
    assert_one_line_error(done, "OPENKMS_ROOT_KEY", status=Exit.ROOT_KEY)


def test_root_key_from_env(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    key = base64.b64encode(os.urandom(32)).decode()
    env = clean_env(
        tmp_path,
        OPENKMS_ROOT_KEY=key,
        OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
        OPENKMS_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    first = serve("--data-dir", str(data), env=env)
    blob = make_client(first.endpoint).encrypt(
        KeyId=make_client(first.endpoint).create_key()["KeyMetadata"]["KeyId"], Plaintext=b"k"
    )["CiphertextBlob"]
    assert first.stop() == 0
    assert not (data / "root.key").exists()  # the environment's key is never written out
    again = serve("--data-dir", str(data), env=env)
    assert make_client(again.endpoint).decrypt(CiphertextBlob=blob)["Plaintext"] == b"k"


def test_root_passphrase(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    env = clean_env(
        tmp_path,
        OPENKMS_ROOT_PASSPHRASE="correct horse battery staple",
        OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
        OPENKMS_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    first = serve("--data-dir", str(data), env=env)
    kms = make_client(first.endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"by passphrase")["CiphertextBlob"]
    assert first.stop() == 0
    assert not (data / "root.key").exists()

    again = serve("--data-dir", str(data), env=env)
    assert make_client(again.endpoint).decrypt(CiphertextBlob=blob)["Plaintext"] == (
        b"by passphrase"
    )
    assert again.stop() == 0

    wrong = {**env, "OPENKMS_ROOT_PASSPHRASE": "correct horse battery stapler"}
    done = run_failing(serve_args("--port", str(free_port()), "--data-dir", str(data)), wrong)
    line = assert_one_line_error(done, "root key", status=Exit.ROOT_KEY)
    assert "stapl" not in line  # the passphrase is never echoed


# --- generated root credentials ------------------------------------------------------------


def test_generated_credentials_printed_once(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    env = clean_env(tmp_path)
    first = serve("--data-dir", str(data), env=env)
    found = _GENERATED.findall(first.stdout())
    assert len(found) == 1, first.stdout()
    akid, secret = found[0]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", akid), akid
    assert len(secret) == 40
    assert first.stdout().count(secret) == 1 and secret not in first.stderr()

    kms = make_client(first.endpoint, access_key=akid, secret_key=secret)
    key_id = kms.create_key(Description="made with generated credentials")["KeyMetadata"]["KeyId"]
    wrong = make_client(first.endpoint, access_key=akid, secret_key=secret[::-1])
    with pytest.raises(ClientError) as exc:
        wrong.list_keys()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert first.stop() == 0

    second = serve("--data-dir", str(data), env=env)
    out = second.stdout() + second.stderr()
    assert akid in out  # the access key id is reported again...
    assert secret not in out and "AWS_SECRET_ACCESS_KEY" not in out  # ...the secret is not
    kms = make_client(second.endpoint, access_key=akid, secret_key=secret)
    assert key_id in {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert second.stop() == 0
    # The default data directory was never touched: --data-dir was honoured.
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_half_set_root_credentials(tmp_path: Path) -> None:
    done = run_failing(
        serve_args("--port", str(free_port()), "--data-dir", str(tmp_path / "d")),
        clean_env(tmp_path, OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY),
    )
    assert_one_line_error(done, "OPENKMS_ROOT_SECRET_ACCESS_KEY", status=Exit.CONFIG)


# --- --dev ----------------------------------------------------------------------------------


def test_dev_mode(tmp_path: Path, serve) -> None:
    dev = serve("--dev", env=clean_env(tmp_path))
    assert "WARNING" in dev.stderr() and "--dev" in dev.stderr(), dev.stderr()
    assert "AWS_SECRET_ACCESS_KEY" not in dev.stdout()
    a = make_client(dev.endpoint, access_key="AKIAANYTHING", secret_key="whatever")
    b = make_client(dev.endpoint, access_key="x", secret_key="y")
    key_id = a.create_key()["KeyMetadata"]["KeyId"]
    a.create_alias(AliasName="alias/dev", TargetKeyId=key_id)
    blob = b.encrypt(KeyId="alias/dev", Plaintext=b"dev")["CiphertextBlob"]
    assert a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"dev"
    assert key_id in {k["KeyId"] for k in b.list_keys()["Keys"]}

    status, body = post(dev.endpoint + "/_openkms/reset")
    assert status == 200, body
    assert a.list_keys()["Keys"] == []
    assert "alias/dev" not in {x["AliasName"] for x in a.list_aliases()["Aliases"]}
    with pytest.raises(ClientError) as exc:
        a.decrypt(CiphertextBlob=blob)
    assert exc.value.response["Error"]["Code"] in (
        "NotFoundException",
        "InvalidCiphertextException",
    )
    # Still usable after a reset.
    again = a.create_key()["KeyMetadata"]["KeyId"]
    assert [k["KeyId"] for k in a.list_keys()["Keys"]] == [again]
    assert dev.stop() == 0
    # Memory only: no data directory was created anywhere.
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_reset_is_not_served_without_dev(server, kms) -> None:
    key_id = kms.create_key(Description="survives reset attempt")["KeyMetadata"]["KeyId"]
    status, body = post(server.endpoint + "/_openkms/reset")
    assert status == 404, body
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_health(server) -> None:
    with urllib.request.urlopen(server.endpoint + "/_openkms/health", timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok"}


def test_dev_mode_with_data_dir_persists(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    env = clean_env(tmp_path)
    first = serve("--dev", "--data-dir", str(data), env=env)
    kms = make_client(first.endpoint, access_key="dev", secret_key="dev")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    assert first.stop() == 0
    assert (data / "root.key").is_file()

    second = serve("--dev", "--data-dir", str(data), env=env)
    kms = make_client(second.endpoint, access_key="other", secret_key="other")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    assert post(second.endpoint + "/_openkms/reset")[0] == 200
    assert kms.list_keys()["Keys"] == []
    assert second.stop() == 0

    third = serve("--dev", "--data-dir", str(data), env=env)  # the reset was persisted
    assert make_client(third.endpoint, access_key="a", secret_key="b").list_keys()["Keys"] == []


def test_root_secret_rotated_through_env(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    env = clean_env(
        tmp_path, OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY, OPENKMS_ROOT_SECRET_ACCESS_KEY=SECRET_KEY
    )
    first = serve("--data-dir", str(data), env=env)
    key_id = make_client(first.endpoint).create_key()["KeyMetadata"]["KeyId"]
    assert first.stop() == 0
    assert SECRET_KEY not in first.stdout() + first.stderr()

    new_secret = "rotated-" + uuid.uuid4().hex
    second = serve(
        "--data-dir", str(data), env={**env, "OPENKMS_ROOT_SECRET_ACCESS_KEY": new_secret}
    )
    new = make_client(second.endpoint, secret_key=new_secret)
    assert key_id in {k["KeyId"] for k in new.list_keys()["Keys"]}
    with pytest.raises(ClientError) as exc:
        make_client(second.endpoint).list_keys()  # the old secret no longer signs
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"


def _stop_with(served: Served, sig: int) -> int:
    served.proc.send_signal(sig)
    return served.proc.wait(timeout=15)


def test_sigint_shuts_down_cleanly(tmp_path: Path, serve) -> None:
    data = tmp_path / "data"
    served = serve("--data-dir", str(data), env=clean_env(tmp_path))
    assert _stop_with(served, signal.SIGINT) == 0
    assert "Traceback" not in served.stderr() and "KeyboardInterrupt" not in served.stderr()
    # The store was closed: SQLite checkpointed and removed its write-ahead log.
    assert not (data / "openkms.db-wal").exists()


def test_sigterm_shuts_down_cleanly(tmp_path: Path, serve) -> None:
    """uvicorn shuts down gracefully and then re-raises SIGTERM, so the process ends by the
    signal (as supervisors expect); the store must still have been closed."""
    data = tmp_path / "data"
    served = serve("--data-dir", str(data), env=clean_env(tmp_path))
    rc = _stop_with(served, signal.SIGTERM)
    assert "Traceback" not in served.stderr()
    assert not (data / "openkms.db-wal").exists(), "store.close() did not run"
    assert rc in (0, -signal.SIGTERM)


def test_root_access_key_replaced_through_env(tmp_path: Path, serve) -> None:
    """Root credentials from the environment replace the account's earlier root keys."""
    data = tmp_path / "data"
    first = serve("--data-dir", str(data), env=clean_env(tmp_path))
    key_line = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", first.stdout())
    secret_line = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", first.stdout())
    assert key_line and secret_line, first.stdout()
    generated, generated_secret = key_line.group(1), secret_line.group(1)
    assert first.stop() == 0
    env = clean_env(
        tmp_path, OPENKMS_ROOT_ACCESS_KEY_ID=ACCESS_KEY, OPENKMS_ROOT_SECRET_ACCESS_KEY=SECRET_KEY
    )
    second = serve("--data-dir", str(data), env=env)
    assert generated in second.stdout()  # reported as revoked
    make_client(second.endpoint).list_keys()
    with pytest.raises(ClientError) as exc:
        make_client(second.endpoint, access_key=generated, secret_key=generated_secret).list_keys()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
