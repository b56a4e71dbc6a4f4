"""Time from starting a server process to its first successful KMS request.

For ``openkms serve --dev`` (in-memory state) and, when given, moto's ``moto_server``
side by side, interleaved run by run so that machine noise hits both alike. Each run
starts the process, then sends ``TrentService.ListKeys`` every 5 ms until one is
answered 200 with a ``Keys`` member; the figure is the wall time from just before
``Popen`` to that answer (the interpreter's own start included: that is what a test
suite waits for). Both listen on 127.0.0.1 only and are stopped after each run.

moto is not a dependency of OpenKMS: install it in a throwaway virtual environment
and name its ``moto_server``::

    python3 -m venv /tmp/moto-venv && /tmp/moto-venv/bin/pip install 'moto[server]'
    .venv/bin/python bench/start_time.py --runs 5 --moto /tmp/moto-venv/bin/moto_server
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

_LIST_KEYS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "TrentService.ListKeys",
    # Unsigned is fine for --dev; moto wants a credential scope to pick the service.
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answered(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("POST", "/", body=b"{}", headers=_LIST_KEYS)
        response = conn.getresponse()
        body = response.read()
    except OSError:
        return False
    finally:
        conn.close()
    return response.status == 200 and "Keys" in json.loads(body or b"{}")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_first_request(
    command: list[str], port: int, timeout: float = 60.0
) -> tuple[float, float]:
    """Seconds from starting ``command`` to the first successful ListKeys on ``port``, and
    the CPU seconds the process used until then (less sensitive to a busy machine)."""
    # Bytecode cached, as after ``pip install`` (which compiles it): a warm-up run writes it.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OPENKMS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}")
            if _answered(port):
                return time.perf_counter() - started, _cpu_seconds(proc.pid)
            time.sleep(0.005)
        raise TimeoutError(f"{command} did not answer within {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def openkms_command(port: int) -> list[str]:
    return [sys.executable, "-m", "openkms", "serve", "--dev", "--port", str(port)]


def moto_command(moto_server: str, port: int) -> list[str]:
    return [moto_server, "-H", "127.0.0.1", "-p", str(port)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--moto", metavar="MOTO_SERVER", help="path of moto_server to compare")
    args = parser.parse_args()
    servers = {"openkms --dev": lambda port: openkms_command(port)}
    if args.moto:
        servers["moto_server"] = lambda port: moto_command(args.moto, port)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    for command in servers.values():  # warm-up, not recorded: bytecode, disk cache
        port = free_port()
        time_to_first_request(command(port), port)
    for run in range(args.runs):
        names = list(servers) if run % 2 == 0 else list(reversed(servers))
        for name in names:
            port = free_port()
            figures[name].append(time_to_first_request(servers[name](port), port))
    for name, runs in figures.items():
        walls = [wall for wall, _ in runs]
        cpus = [cpu for _, cpu in runs]
        shown = ", ".join(f"{t:.3f}" for t in walls)
        print(
            f"{name:14s} wall: median {statistics.median(walls):.3f} s, "
            f"min {min(walls):.3f} s, max {max(walls):.3f} s ({shown}); "
            f"CPU until answered: median {statistics.median(cpus):.2f} s"
        )


if __name__ == "__main__":
    main()
