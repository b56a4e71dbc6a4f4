#!/usr/bin/env python3
"""Encrypt req/s of several OpenKMS source trees (or flag sets), side by side, in one run.

For a change on the request path: extract the code before it (``git archive BASE src |
tar -x -C /tmp/base``) and compare it with the working tree under the same load, in
interleaved rounds (A B, B A, ...), so that the noise of a shared machine falls on both:

    .venv/bin/python bench/compare_trees.py --rounds 6 \\
        before=/tmp/base/src after=src "after-2-threads=src --request-threads 2"

Each side is ``NAME=SRC [extra serve flags]``, or ``floor``: the shared bare-ASGI floor app
(``floor_app.py``, uvicorn, one worker, no setup), so that ratios to the floor of the old and
the new code come from one run, or ``ceiling[=SRC]``: ``bench/ceiling_app.py``, the floor
plus only the work every request must do (SigV4 with OpenKMS's verifier from SRC, JSON,
AES-GCM; no authorization, no audit trail). A tree side runs ``python -m openkms serve`` with
``PYTHONPATH=SRC`` on 127.0.0.1 (SQLite in a temporary data directory, root credentials
test/test) and is measured with the shared kmsbench.py (wrk when installed). Prints each
cell, then the median and mean req/s per side and each side's median relative to the
first. Issue 10 used it for the request thread pool (see the issue's note).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(python: str, src: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env.update(
        PYTHONPATH=os.path.abspath(src),
        OPENKMS_ROOT_ACCESS_KEY_ID="test",
        OPENKMS_ROOT_SECRET_ACCESS_KEY="test",
    )
    args = [
        python,
        "-m",
        "openkms",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        tempfile.mkdtemp(prefix="openkms-compare-"),
        *extra,
    ]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_openkms/health", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server {args} did not start")


def _start_anchor(
    python: str, shared: str, name: str, src: str
) -> tuple[subprocess.Popen[bytes], int]:
    """The shared floor app, or bench/ceiling_app.py (OpenKMS's SigV4 from ``src``)."""
    port = _free_port()
    env = dict(os.environ)
    app_dir = shared
    if name == "ceiling":
        app_dir = str(Path(__file__).resolve().parent)
        env["PYTHONPATH"] = os.path.abspath(src or "src")
        env["OPENKMS_SHARED_BENCH"] = os.path.abspath(shared)
    args = [
        python,
        "-m",
        "uvicorn",
        f"{name}_app:app",
        "--app-dir",
        app_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        args, cwd=shared, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the {name} app did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sides", nargs="+", help="NAME=SRC [serve flags]")
    ap.add_argument("--op", default="Encrypt")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--client", default="auto", choices=["auto", "wrk", "python"])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--shared-bench", default=str(DEFAULT_SHARED))
    args = ap.parse_args()
    sides: dict[str, tuple[str, list[str]]] = {}
    for spec in args.sides:
        name, _, rest = spec.partition("=")
        src, *extra = shlex.split(rest) if rest else ("",)
        sides[name] = (src, extra)
    servers = {
        name: _start_anchor(args.python, args.shared_bench, name, src)
        if name in ("floor", "ceiling")
        else _start(args.python, src, extra)
        for name, (src, extra) in sides.items()
    }
    rps: dict[str, list[float]] = {name: [] for name in sides}
    try:
        order = list(sides)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                time.sleep(0.5)
                done = subprocess.run(
                    [
                        args.python,
                        os.path.join(args.shared_bench, "kmsbench.py"),
                        "--endpoint",
                        f"http://127.0.0.1:{servers[name][1]}",
                        "--op",
                        args.op,
                        "--duration",
                        str(args.duration),
                        "--connections",
                        str(args.connections),
                        "--client",
                        args.client,
                        "--json",
                        *(["--setup", "no"] if name == "floor" else []),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                cell = json.loads(done.stdout)[args.op]
                rps[name].append(cell["rps"])
                print(
                    f"round {r} {name:>12}: {cell['rps']:8.1f} req/s  p50 {cell['p50_ms']} ms"
                    f"  p99 {cell['p99_ms']} ms  errors {cell['errors']}",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=15)
    first = statistics.median(rps[order[0]])
    for name, values in rps.items():
        median = statistics.median(values)
        print(
            f"{name:>12}: median {median:8.1f}  mean {statistics.mean(values):8.1f} req/s"
            f"  ({median / first:.2f} x {order[0]})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
