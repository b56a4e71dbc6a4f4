"""The XKS proxy's Encrypt throughput next to the bare-ASGI floor (issue 17, part 1).

    .venv/bin/python bench/xks_proxy.py [--duration 5] [--connections 16] [--rounds 3]

Starts ``openkms xks-proxy`` on a throwaway SQLite data directory (one external key, the
credential from the environment variables, its default audit writer process) and the
shared floor app (``../shared/bench/floor_app.py``: uvicorn, reads the body, answers a
fixed 200), both on 127.0.0.1. One XKS Encrypt request (32 bytes of plaintext, as KMS
sends for a data key, with AAD, ``requestMetadata`` as KMS sends it) is SigV4-signed once
(service ``kms-xks-proxy``) and replayed by wrk (or, without wrk, kmsbench's asyncio
client) against each side, rounds interleaved; the proxy's answer is checked once first.
Prints req/s, p50 and p99 for both and the req/s ratio (median of per-round ratios).
Both processes are stopped at the end. Every Encrypt answered is also an audit record
made durable before the answer (group commit), as in production.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(
    0,
    os.environ.get(
        "OPENKMS_SHARED_BENCH", str(Path(__file__).resolve().parents[2] / "shared" / "bench")
    ),
)

import kmsbench  # the shared load tool (its Lua quoting, its asyncio client)
from servers import free_port
from xks import XKSClient, b64, metadata, start_proxy

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(kmsbench.__file__).parent

PREFIX = "bench"
BASE = "/bench/kms/xks/v1"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(token: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", token)
    assert found is not None, token
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(
    port: int, path: str, headers: dict[str, str], body: bytes, args: argparse.Namespace, tmp: str
) -> tuple[float, float, float, int]:
    lua = os.path.join(tmp, "xks.lua")
    quote = kmsbench._lua_str
    lines = [
        'wrk.method = "POST"',
        f"wrk.path = {quote(path)}",
        f"wrk.body = {quote(body.decode())}",
    ]
    lines += [f"wrk.headers[{quote(k)}] = {quote(v)}" for k, v in headers.items()]
    Path(lua).write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            lua,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    return rps, _ms(pct["50"]), _ms(pct["99"]), errors


def python_load(
    port: int, path: str, headers: dict[str, str], body: bytes, args: argparse.Namespace
) -> tuple[float, float, float, int]:
    import asyncio

    raw = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items() if k.lower() != "host")
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    latencies, counts, elapsed = asyncio.run(
        kmsbench._py_load("127.0.0.1", port, raw, args.duration, args.connections)
    )
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3  # noqa: E731
    return len(latencies) / elapsed, pick(0.5), pick(0.99), counts["err"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "data")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "openkms",
                "admin",
                "xks-key",
                "create",
                "bench",
                "--data-dir",
                data_dir,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        proxy = start_proxy(
            data_dir=data_dir,
            database=None,
            prefix=PREFIX,
            extra_env={"PYTHONPATH": env["PYTHONPATH"]},
        )
        floor_port = free_port()
        floor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "floor_app:app",
                "--app-dir",
                str(SHARED),
                "--port",
                str(floor_port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            kmsbench.wait_port(floor_port, floor)
            xks = XKSClient(proxy.port, BASE)
            body = {
                "requestMetadata": metadata("GenerateDataKey"),
                "plaintext": b64(os.urandom(32)),
                "additionalAuthenticatedData": b64(b"kms-hbk-id-and-context"),
                "encryptionAlgorithm": "AES_GCM",
            }
            checked = xks.call("keys/bench/encrypt", body)
            assert checked.status == 200 and "ciphertext" in checked.body, checked
            import json

            data = json.dumps(body).encode()
            path = f"{BASE}/keys/bench/encrypt"
            headers = xks.signed_headers(path, data)
            headers["Host"] = f"127.0.0.1:{proxy.port}"
            rows: dict[str, list[tuple[float, float, float, int]]] = {"xks-proxy": [], "floor": []}
            for round_ in range(args.rounds):
                order = [("xks-proxy", proxy.port), ("floor", floor_port)]
                for name, port in order if round_ % 2 == 0 else order[::-1]:
                    if name == "floor":
                        headers["Host"] = f"127.0.0.1:{floor_port}"
                    else:
                        headers["Host"] = f"127.0.0.1:{proxy.port}"
                    run = (
                        wrk(port, path, headers, data, args, tmp)
                        if client == "wrk"
                        else python_load(port, path, headers, data, args)
                    )
                    rows[name].append(run)
            ratios = [p[0] / f[0] for p, f in zip(rows["xks-proxy"], rows["floor"], strict=True)]
            print(
                f"XKS Encrypt, {args.connections} connections, "
                f"{args.rounds} x {args.duration} s, client {client}"
            )
            print(f"{'side':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
            for name, runs in rows.items():
                print(
                    f"{name:<10} {statistics.median(r[0] for r in runs):>9.0f} "
                    f"{statistics.median(r[1] for r in runs):>8.2f} "
                    f"{statistics.median(r[2] for r in runs):>8.2f} {sum(r[3] for r in runs):>7}"
                )
            ratio = statistics.median(ratios)
            print(f"req/s ratio (xks-proxy / floor, median of rounds): {ratio:.3f}")
        finally:
            floor.terminate()
            floor.wait(timeout=15)
            proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
