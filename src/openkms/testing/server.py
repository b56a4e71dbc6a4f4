"""A real ``openkms serve --dev`` process on a free loopback port, for tests.

Started with the Python running the tests (``sys.executable -m openkms``), so it is the
OpenKMS installed next to them. Its output goes to ``openkms.log`` in the directory given,
which also holds its SQLite database when ``storage="sqlite"``; by default the state is in
memory, which starts fastest and leaves nothing behind. A port another process takes
between choosing it and binding it (the server exits with status 6, "cannot listen") is
retried with another port; any other failure to start raises
:class:`OpenKMSStartError` with the end of the server's output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What ``--dev`` mode accepts from anyone: no signature is checked, and an access key the
#: server does not know is the default account's root user.
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
_PORT_ATTEMPTS = 5
_EXIT_CONFIG = 6


class OpenKMSStartError(RuntimeError):
    """The server did not start; the message ends with its output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OpenKMSServer:
    """One running server. ``reset()`` wipes its keys (and re-applies its seed file)."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    account_id: str = ACCOUNT_ID
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = field(default=SECRET_ACCESS_KEY, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls,
        directory: str | os.PathLike[str],
        *,
        seed: str | os.PathLike[str] | None = None,
        storage: str = "memory",
        extra_args: Sequence[str] = (),
        timeout: float = 60.0,
    ) -> OpenKMSServer:
        """Start a server whose files live in ``directory``; return once it answers."""
        if storage not in ("memory", "sqlite"):
            raise ValueError(f"storage must be 'memory' or 'sqlite', not {storage!r}")
        directory = Path(directory)
        log_path = directory / "openkms.log"
        args = ["--dev", "--host", "127.0.0.1", "--account-id", ACCOUNT_ID]
        if storage == "sqlite":
            args += ["--data-dir", str(directory / "data")]
        if seed is not None:
            args += ["--seed", os.path.abspath(seed)]
        for _ in range(_PORT_ATTEMPTS):
            port = free_port()
            command = [sys.executable, "-m", "openkms", "serve", *args, "--port", str(port)]
            command += list(extra_args)
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            server = cls(process, port, log_path)
            if server._wait_ready(timeout):
                return server
            if process.returncode != _EXIT_CONFIG or "cannot listen" not in server.log_tail():
                break
        raise OpenKMSStartError(
            f"openkms serve did not start (exit status {process.returncode}); "
            f"its output ({log_path}):\n{server.log_tail()}"
        )

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.endpoint + "/_openkms/health", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.02)
        self.stop()
        return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def reset(self) -> None:
        """Wipe every key, alias, grant and tag (``POST /_openkms/reset``); a seed file
        given at start is applied again."""
        request = urllib.request.Request(self.endpoint + "/_openkms/reset", method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            if json.loads(answer.read()) != {"reset": True}:
                raise RuntimeError(f"reset of the OpenKMS server at {self.endpoint} failed")

    def client(self, service: str = "kms", **kwargs: Any) -> Any:
        """A boto3 client of ``service`` (kms, iam, sts) for this server."""
        try:
            import boto3
        except ImportError:
            raise ImportError("an OpenKMS client needs boto3: pip install boto3") from None
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            **kwargs,
        }
        return boto3.client(service, **options)

    def environment(self) -> dict[str, str]:
        """What an AWS SDK needs in the environment to reach this server on its own."""
        return {
            "AWS_ENDPOINT_URL_KMS": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; waits for the process to end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
