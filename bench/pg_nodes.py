#!/usr/bin/env python3
"""Two OpenKMS nodes on one PostgreSQL next to one node: issue 12's PostgreSQL row.

    .venv/bin/python bench/pg_nodes.py [--op Encrypt] [--rounds 3] [--duration 5]

Makes a throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` as the tests do, 127.0.0.1,
``fsync=on``), starts two ``openkms serve`` nodes on one database (same root key, data
directories of their own, root credentials test/test), creates a key through node A and
then measures, in interleaved rounds:

* ``one``: wrk (the shared ``kmsbench.py``) with ``--connections`` against node A alone;
* ``two``: the same load against each node at once (two wrk processes), summed.

It prints each cell and the median of the per-round ratios two/one (the row's target is
>= 1.6). ``--profile`` then loads node A alone once more while py-spy samples its server
process (the thread holding the GIL) and its audit writer process (waiting included), and
prints where each spends its time (bench/profile_op.py's report; py-spy must be
installed). Everything listens on 127.0.0.1 only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from servers import PostgresCluster, ServerProcess, free_port  # noqa: E402

sys.path.insert(0, str(HERE))
from profile_op import report  # noqa: E402

DEFAULT_SHARED = HERE.parents[1] / "shared" / "bench"


def _load_kmsbench(shared: Path) -> Any:
    sys.path.insert(0, str(shared))
    import kmsbench

    return kmsbench


def _node(database: str, root_key: str) -> ServerProcess:
    return ServerProcess.start(
        data_dir=tempfile.mkdtemp(prefix="openkms-node-"),
        database=database,
        access_key="test",
        secret_key="test",
        extra_env={"OPENKMS_ROOT_KEY": root_key},
    )


def _measure(kb: Any, targets: list[Any], op: str, duration: float, connections: int) -> list[Any]:
    """One wrk per target, all at once; their results in the same order."""
    results: list[Any] = [None] * len(targets)

    def run(i: int) -> None:
        results[i] = kb.bench(targets[i], op, duration, connections)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _profile(kb: Any, target: Any, node: ServerProcess, args: argparse.Namespace) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    writer = subprocess.run(
        ["pgrep", "-P", str(node.proc.pid), "-f", "openkms.server.audit_process"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    out = tempfile.mkdtemp(prefix="openkms-pgspy-")
    spies = []
    for name, pid, flag in (("server", node.proc.pid, "--gil"), ("writer", writer[0], "--idle")):
        raw = os.path.join(out, f"{name}.txt")
        cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(int(args.duration))]
        cmd += ["--rate", "250", "--format", "raw", "--output", raw, flag]
        spies.append(
            (name, raw, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        )
    cell = kb.bench(target, args.op, args.duration + 1, args.connections)
    print(f"profiled: one node {cell.rps:,.0f} req/s p99 {cell.p99_ms:.2f} ms")
    for name, raw, proc in spies:
        proc.wait()
        print(f"== {name} process")
        print(report(Path(raw).read_text(), args.top))
    shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", default="Encrypt")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16, help="per node")
    ap.add_argument("--shared-bench", default=str(DEFAULT_SHARED))
    ap.add_argument("--profile", action="store_true", help="py-spy node A's two processes")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    kb = _load_kmsbench(Path(args.shared_bench))
    root_key = base64.b64encode(os.urandom(32)).decode()
    cluster = PostgresCluster.create(free_port())
    nodes: list[ServerProcess] = []
    try:
        database = cluster.create_database("openkms_bench")
        nodes = [_node(database, root_key), _node(database, root_key)]
        first = kb.setup_target(nodes[0].endpoint, "yes")
        targets = [first, dataclasses.replace(first, endpoint=nodes[1].endpoint)]
        for t in targets:  # warm both nodes (read cache, material cache)
            kb.bench(t, args.op, 1, args.connections)
        one: list[float] = []
        two: list[float] = []
        for r in range(args.rounds):
            for side in ("one", "two") if r % 2 == 0 else ("two", "one"):
                time.sleep(0.5)
                cells = _measure(
                    kb,
                    targets[:1] if side == "one" else targets,
                    args.op,
                    args.duration,
                    args.connections,
                )
                total = sum(c.rps for c in cells)
                (one if side == "one" else two).append(total)
                detail = "  ".join(
                    f"{c.rps:,.0f} req/s p99 {c.p99_ms:.2f} ms errors {c.errors}" for c in cells
                )
                print(f"round {r} {side}: {total:9,.0f} req/s  ({detail})", flush=True)
        ratios = [b / a for a, b in zip(one, two, strict=True)]
        print(
            f"{args.op}: one node {statistics.median(one):,.0f} req/s, two nodes "
            f"{statistics.median(two):,.0f} req/s; two/one {statistics.median(ratios):.2f}"
            " (median of per-round ratios)"
        )
        if args.profile:
            _profile(kb, targets[0], nodes[0], args)
    finally:
        for node in nodes:
            node.stop()
            if node.data_dir:
                shutil.rmtree(node.data_dir, ignore_errors=True)
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
