"""Start and stop real processes for tests: the OpenKMS server and a PostgreSQL cluster."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: str | None
    database: str | None
    env: dict[str, str]
    args: list[str]
    log_path: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        data_dir: str | None,
        database: str | None = None,
        account: str = "111122223333",
        access_key: str | None = None,
        secret_key: str | None = None,
        dev: bool = False,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> ServerProcess:
        port = port or free_port()
        args = [
            sys.executable,
            "-m",
            "openkms",
            "serve",
            "--port",
            str(port),
            "--account-id",
            account,
        ]
        if data_dir:
            args += ["--data-dir", data_dir]
        if database:
            args += ["--database", database]
        if dev:
            args.append("--dev")
        args += extra_args or []
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
        if access_key and secret_key:
            env["OPENKMS_ROOT_ACCESS_KEY_ID"] = access_key
            env["OPENKMS_ROOT_SECRET_ACCESS_KEY"] = secret_key
        # Request quotas (on by default without --dev) would throttle tests that create
        # keys faster than AWS's 5 CreateKey a second; the quota tests turn them on.
        env["OPENKMS_QUOTAS"] = "off"
        env.update(extra_env or {})
        log_dir = data_dir or os.environ.get("TMPDIR", "/tmp")
        log_path = os.path.join(log_dir, f"server-{port}.log")
        server = cls(_spawn(args, env, log_path), port, data_dir, database, env, args, log_path)
        server.wait_ready()
        return server

    def wait_ready(self) -> None:
        try:
            wait_http(self.endpoint + "/_openkms/health", self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{self.log()}") from None

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.proc = _spawn(self.args, self.env, self.log_path)
        self.wait_ready()


def _spawn(args: list[str], env: dict[str, str], log_path: str) -> subprocess.Popen[bytes]:
    # The child gets its own copy of the descriptor; ours is closed once it is started.
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} (install Debian's postgresql package)")
    return candidates[-1]


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the 'postgres' user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresCluster:
    directory: str
    port: int

    @classmethod
    def create(cls, port: int) -> PostgresCluster:
        """A new cluster in its own temporary directory (owned by 'postgres' when we are root,
        since pytest's own temporary directories are private to root)."""
        initdb = _pg_bin("initdb")
        base = tempfile.mkdtemp(prefix="openkms-pg-")
        data = os.path.join(base, "data")
        sock = os.path.join(base, "sock")
        os.makedirs(sock)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            shutil.chown(sock, "postgres")
        _run(
            [
                *_as_postgres_user(),
                initdb,
                "-D",
                data,
                "-U",
                "openkms",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        cluster = cls(base, port)
        cluster.resume()
        return cluster

    def resume(self) -> None:
        """Start the cluster's server (again, after :meth:`halt`)."""
        sock = os.path.join(self.directory, "sock")
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={sock} "
            "-c fsync=on -c max_connections=200"
        )
        _run(
            [
                *_as_postgres_user(),
                _pg_bin("pg_ctl"),
                "-D",
                os.path.join(self.directory, "data"),
                "-o",
                opts,
                "-l",
                os.path.join(self.directory, "pg.log"),
                "-w",
                "start",
            ]
        )

    def halt(self) -> None:
        """An outage: stop the server at once (its data stays for :meth:`resume`)."""
        data = os.path.join(self.directory, "data")
        _run([*_as_postgres_user(), _pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"])

    def url(self, database: str) -> str:
        return f"postgresql://openkms@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [
                *_as_postgres_user(),
                _pg_bin("pg_ctl"),
                "-D",
                os.path.join(self.directory, "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")


def maintenance_run(
    server: ServerProcess, at: str | None = None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``openkms maintenance run`` on a server's state (its data dir and database), as of
    ``at`` (ISO 8601, e.g. ``2027-01-01T00:00:00Z``) or now. The report is JSON on stdout."""
    args = [sys.executable, "-m", "openkms", "maintenance", "run"]
    if server.data_dir:
        args += ["--data-dir", server.data_dir]
    if server.database:
        args += ["--database", server.database]
    if at is not None:
        args += ["--at", at]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    for name in ("OPENKMS_ROOT_KEY", "OPENKMS_ROOT_PASSPHRASE"):  # the server's root of trust
        if name in server.env:
            env[name] = server.env[name]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"maintenance run failed ({done.returncode}): {done.stderr}")
    return done


def maintenance_report(server: ServerProcess, at: str | None = None) -> dict[str, object]:
    """The JSON report of one ``maintenance_run`` (which must succeed)."""
    import json

    return dict(json.loads(maintenance_run(server, at).stdout))


def maintenance_reports_together(
    server: ServerProcess, at: str, runs: int = 2
) -> list[dict[str, object]]:
    """``runs`` maintenance runs started at the same moment (as several nodes would), all
    as of ``at``; their reports, once every one has finished."""
    import threading

    reports: list[dict[str, object]] = []
    failures: list[BaseException] = []
    gate = threading.Barrier(runs)

    def worker() -> None:
        try:
            gate.wait()
            reports.append(maintenance_report(server, at))
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(reports) == runs
    return reports
