#!/usr/bin/env python3
"""Measure OpenKMS against the bare-ASGI floor, side by side, in one run.

Starts `python -m openkms serve` (signatures checked, root credentials test/test)
and the shared floor app (uvicorn, 1 worker) on 127.0.0.1, verifies one real
request per op, then replays pre-signed requests with wrk (via the shared
kmsbench.py) in interleaved rounds and prints req/s, p50, p99 and OpenKMS/floor
ratios. Results go to bench/results/ as JSON and Markdown. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"
DEFAULT_OPS = "Encrypt,Decrypt,GenerateDataKey,Sign,RSADecrypt"
SIDES = ("openkms", "floor")
RSA_OP = "RSADecrypt"  # Decrypt of an RSAES_OAEP_SHA_256 ciphertext under an RSA_2048 key


def extend_kmsbench(kb: ModuleType) -> None:
    """Teach kmsbench one more op, RSADecrypt: a ``TrentService.Decrypt`` request for an
    RSA-OAEP ciphertext made locally from the key's public key."""
    body_of, sign_of = kb.request_body, kb.sign

    def request_body(op: str, t: Any) -> bytes:
        if op != RSA_OP:
            return bytes(body_of(op, t))
        import base64

        return json.dumps(
            {
                "KeyId": getattr(t, "rsa_key", "00000000-0000-4000-8000-000000000003"),
                "CiphertextBlob": base64.b64encode(
                    getattr(t, "rsa_ciphertext", bytes(256))
                ).decode(),
                "EncryptionAlgorithm": "RSAES_OAEP_SHA_256",
            }
        ).encode()

    def sign(endpoint: str, op: str, body: bytes) -> Any:
        return sign_of(endpoint, "Decrypt" if op == RSA_OP else op, body)

    kb.request_body, kb.sign = request_body, sign
    kb.EXPECT[RSA_OP] = "Plaintext"
    kb.OPS = [*kb.OPS, RSA_OP]


def add_rsa_key(kb: ModuleType, target: Any) -> None:
    """Create an RSA_2048 decryption key and one locally made ciphertext for RSADecrypt."""
    import boto3
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    kms = boto3.client(
        "kms",
        endpoint_url=target.endpoint,
        region_name=kb.REGION,
        aws_access_key_id=kb.AKID,
        aws_secret_access_key=kb.SECRET,
    )
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    target.rsa_key = key
    target.rsa_ciphertext = public.encrypt(os.urandom(32), oaep)  # type: ignore[union-attr]


def load_kmsbench(shared: Path) -> ModuleType:
    if not (shared / "kmsbench.py").is_file() or not (shared / "floor_app.py").is_file():
        sys.exit(f"run.py: {shared} lacks kmsbench.py / floor_app.py (use --shared-bench DIR)")
    sys.path.insert(0, str(shared))
    return importlib.import_module("kmsbench")


def log_tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:]) or "(empty log)"


class Server:
    """One child server in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.name, self.log = name, log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        print(f"[bench] started {name} pid {self.proc.pid}: {' '.join(argv)}", file=sys.stderr)

    def wait_ready(self, url: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n" + log_tail(self.log)
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:  # any HTTP answer means "listening"
                if "/_openkms/" not in url:
                    return
                print(f"[bench] {self.name}: health answered {e.code}", file=sys.stderr)
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n" + log_tail(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own child's group only
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        print(f"[bench] stopped {self.name} pid {self.proc.pid}", file=sys.stderr)


def verify(kb: ModuleType, target: Any, ops: list[str], log: Path) -> None:
    """One real signed request per op: HTTP 200 and the expected reply field."""
    for op in ops:
        body = kb.request_body(op, target)
        try:
            kb.check_once(target.endpoint, kb.sign(target.endpoint, op, body), body, op, True)
        except Exception as e:
            raise RuntimeError(
                f"correctness check failed for {op}: {e}\n--- OpenKMS log tail ---\n{log_tail(log)}"
            ) from e
        print(f"[bench] verified {op}: HTTP 200 with {kb.EXPECT[op]}", file=sys.stderr)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def summarise(runs: list[dict[str, Any]], ops: list[str]) -> dict[str, dict[str, float]]:
    idx = {(r["round"], r["op"], r["side"]): r for r in runs}
    rounds = sorted({r["round"] for r in runs})
    out: dict[str, dict[str, float]] = {}
    for op in ops:
        s: dict[str, float] = {}
        for side in SIDES:
            cells = [idx[(k, op, side)] for k in rounds if (k, op, side) in idx]
            for m in ("rps", "p50_ms", "p99_ms", "server_cpu_pct"):
                s[f"{side}_{m}"] = med([c[m] for c in cells])
            s[f"{side}_errors"] = sum(c["errors"] for c in cells)
        pairs = [
            (idx[(k, op, "openkms")], idx[(k, op, "floor")])
            for k in rounds
            if (k, op, "openkms") in idx and (k, op, "floor") in idx
        ]
        for m in ("rps", "p50_ms", "p99_ms"):
            s[f"ratio_{m}"] = med([o[m] / f[m] for o, f in pairs if f[m] > 0])
        out[op] = s
    return out


def render(res: dict[str, Any]) -> str:
    p, summ = res["params"], res["summary"]
    lines = [
        f"OpenKMS vs bare-ASGI floor, {res['env']['date_utc']}, {res['env']['cores']} cores "
        f"({res['env']['cpu']}); client {res['client']}, {p['connections']} connections, "
        f"{p['rounds']} interleaved rounds x {p['duration']:g} s per op and server; "
        "medians over rounds. Ratios = OpenKMS / floor, per round, then the median "
        "(req/s ratio < 1 = slower; latency ratio > 1 = slower).",
        "",
        "| op | OpenKMS req/s | p50 ms | p99 ms | floor req/s | p50 ms | p99 ms "
        "| req/s ratio | p50 ratio | p99 ratio | errors (O/F) | server CPU % (O/F) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op, s in summ.items():
        lines.append(
            f"| {op} | {s['openkms_rps']:,.0f} | {s['openkms_p50_ms']:.2f} | "
            f"{s['openkms_p99_ms']:.2f} | {s['floor_rps']:,.0f} | {s['floor_p50_ms']:.2f} | "
            f"{s['floor_p99_ms']:.2f} | {s['ratio_rps']:.3f} | {s['ratio_p50_ms']:.2f} | "
            f"{s['ratio_p99_ms']:.2f} | {s['openkms_errors']:.0f}/{s['floor_errors']:.0f} | "
            f"{s['openkms_server_cpu_pct']:.0f}/{s['floor_server_cpu_pct']:.0f} |"
        )
    lines += ["", "Per round (req/s):", ""]
    for r in res["runs"]:
        lines.append(
            f"- round {r['round'] + 1} {r['op']:<16} {r['side']:<8} {r['rps']:>9,.0f} "
            f"p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} errors {r['errors']} "
            f"other-CPU {r['other_cpu_pct']:.0f}% attempts {r['attempts']}"
        )
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in res["env"].items())]
    return "\n".join(lines) + "\n"


def git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "n/a"
    except OSError:
        return "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--ops",
        default=DEFAULT_OPS,
        help=f"comma list (default {DEFAULT_OPS}); "
        "Sign is ECDSA_SHA_256 with an ECC_NIST_P256 key, RSADecrypt an "
        "RSAES_OAEP_SHA_256 Decrypt with an RSA_2048 key",
    )
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (A B, B A, ...)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per op and server")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="OpenKMS server processes (serve --workers); the floor keeps 1",
    )
    ap.add_argument(
        "--quotas",
        choices=("on", "off"),
        default="off",
        help="serve --quotas: off (default) measures the server, not AWS's request quotas "
        "(ECC Sign is 1,000/s there, symmetric 5,500/s+, and a bucket that refuses is fast)",
    )
    ap.add_argument(
        "--max-other",
        type=float,
        default=25,
        help="noise gate: CPU %% of one "
        "core other processes may use during a cell before it is redone",
    )
    ap.add_argument("--retries", type=int, default=2, help="redo a noisy cell up to N times")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=15,
        help="wait up to N s for the machine to go quiet before each cell",
    )
    ap.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto = wrk if installed, else kmsbench's asyncio client",
    )
    ap.add_argument(
        "--shared-bench",
        type=Path,
        default=DEFAULT_SHARED,
        help=f"dir holding kmsbench.py and floor_app.py (default {DEFAULT_SHARED})",
    )
    ap.add_argument(
        "--python",
        default=str(REPO / ".venv" / "bin" / "python")
        if (REPO / ".venv" / "bin" / "python").exists()
        else sys.executable,
        help="interpreter that runs openkms and uvicorn",
    )
    ap.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument(
        "--max-total",
        type=float,
        default=0,
        help="hard limit on the whole run in s (0 = 2x the estimate + 120)",
    )
    args = ap.parse_args()
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    kb = load_kmsbench(args.shared_bench.resolve())
    extend_kmsbench(kb)
    bad = [o for o in ops if o not in kb.OPS]
    if bad:
        ap.error(f"unknown op(s) {bad}; choose from {kb.OPS}")
    client = args.client
    if client != "python" and not shutil.which("wrk"):
        msg = "wrk not found (install: apt-get update && apt-get install -y wrk)"
        if client == "wrk":
            sys.exit(f"run.py: {msg}")
        print(f"[bench] {msg}; using kmsbench's asyncio client (lower ceiling)", file=sys.stderr)
        client = "python"
    elif client == "auto":
        client = "wrk"

    estimate = len(ops) * 2 * (args.rounds * (args.duration + 1.5) + args.warmup + 1) + 30
    worst = len(ops) * 2 * args.rounds * (args.retries + 1) * (args.duration + args.quiet_wait + 2)
    limit = args.max_total or worst + estimate + 120
    print(f"[bench] ~{estimate:.0f} s expected, hard limit {limit:.0f} s", file=sys.stderr)

    def on_alarm(*_: object) -> None:
        raise TimeoutError(f"run exceeded --max-total {limit:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.alarm(int(limit))

    rev = git_rev()  # the code the server starts with (others may commit meanwhile)
    tmp = Path(tempfile.mkdtemp(prefix="openkms-bench-"))
    servers: dict[str, Server] = {}
    ok = False
    try:
        ports = {s: kb.free_port() for s in SIDES}
        env = dict(
            os.environ, OPENKMS_ROOT_ACCESS_KEY_ID=kb.AKID, OPENKMS_ROOT_SECRET_ACCESS_KEY=kb.SECRET
        )
        servers["openkms"] = Server(
            "openkms",
            [
                args.python,
                "-m",
                "openkms",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["openkms"]),
                "--data-dir",
                str(tmp / "data"),
                "--workers",
                str(args.workers),
                "--quotas",
                args.quotas,
            ],
            REPO,
            env,
            tmp / "openkms.log",
        )
        servers["floor"] = Server(
            "floor",
            [
                args.python,
                "-m",
                "uvicorn",
                "floor_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["floor"]),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            args.shared_bench.resolve(),
            dict(os.environ),
            tmp / "floor.log",
        )
        eps = {s: f"http://127.0.0.1:{ports[s]}" for s in SIDES}
        servers["openkms"].wait_ready(eps["openkms"] + "/_openkms/health", 60)
        servers["floor"].wait_ready(eps["floor"] + "/", 60)

        targets = {
            "openkms": kb.setup_target(eps["openkms"], "yes"),
            "floor": kb.setup_target(eps["floor"], "no"),
        }
        if RSA_OP in ops:
            add_rsa_key(kb, targets["openkms"])
        verify(kb, targets["openkms"], ops, servers["openkms"].log)

        for op in ops:
            for side in SIDES:
                if args.warmup > 0:
                    kb.bench(
                        targets[side],
                        op,
                        args.warmup,
                        args.connections,
                        args.threads,
                        client,
                        str(tmp),
                    )
        runs: list[dict[str, Any]] = []
        for rnd in range(args.rounds):
            for op in ops:
                order = SIDES if rnd % 2 == 0 else SIDES[::-1]
                for side in order:
                    for attempt in range(args.retries + 1):  # redo a cell others made noisy
                        kb.wait_quiet(args.max_other, args.quiet_wait)
                        with kb.CpuMeter([servers[side].proc.pid]) as cm:
                            r = kb.bench(
                                targets[side],
                                op,
                                args.duration,
                                args.connections,
                                args.threads,
                                client,
                                str(tmp),
                            )
                        if cm.other_pct <= args.max_other or attempt == args.retries:
                            break
                        print(
                            f"[bench] {op} {side}: other processes used "
                            f"{cm.other_pct:.0f}% of a core; redoing",
                            file=sys.stderr,
                        )
                    runs.append(
                        {
                            "round": rnd,
                            "op": op,
                            "side": side,
                            **asdict(r),
                            "server_cpu_pct": round(cm.server_pct, 1),
                            "other_cpu_pct": round(cm.other_pct, 1),
                            "attempts": attempt + 1,
                        }
                    )
                    print(
                        f"[bench] round {rnd + 1}/{args.rounds} {op:<16} {side:<8} "
                        f"{r.rps:9,.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms"
                        f"  errors {r.errors}  server CPU {cm.server_pct:.0f}%"
                        f"  other CPU {cm.other_pct:.0f}%  attempts {attempt + 1}",
                        file=sys.stderr,
                    )
                    if r.errors:
                        print(
                            f"[bench] WARNING: {r.errors} non-2xx/socket errors on {side} "
                            f"{op}; log tail:\n{log_tail(servers[side].log, 10)}",
                            file=sys.stderr,
                        )
                    time.sleep(0.3)
        ok = True
    except (RuntimeError, TimeoutError) as e:
        print(f"[bench] ABORT: {e}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        for s in servers.values():
            s.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"[bench] server logs kept in {tmp}", file=sys.stderr)

    env_info = kb.environment()
    env_info.update({"openkms_git": rev, "client": client})
    params = {
        k: getattr(args, k)
        for k in (
            "duration",
            "connections",
            "rounds",
            "threads",
            "workers",
            "warmup",
            "max_other",
            "retries",
            "quiet_wait",
        )
    }
    res = {
        "env": env_info,
        "params": params,
        "client": client,
        "ops": ops,
        "summary": summarise(runs, ops),
        "runs": runs,
    }
    md = render(res)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out_dir / f"bench-{stamp}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out_dir / f"bench-{stamp}.md").write_text(md)
    print(md)
    print(f"[bench] wrote {args.out_dir}/bench-{stamp}.{{json,md}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
