#!/usr/bin/env python3
"""Where one server process spends its time under load: py-spy over ``openkms serve``.

Starts a server (SQLite in a temporary data directory, durable audit trail, root
credentials test/test), loads it with the shared kmsbench.py (wrk) for ``--duration``
seconds while ``py-spy record`` samples every thread of the process, then prints the
functions with the most samples, by self time and by inclusive time, as shares of all
samples (idle threads waiting on a queue or a lock are left out: ``--idle`` keeps them).

    .venv/bin/pip install py-spy   # a profiling tool, not a dependency of the project
    .venv/bin/python bench/profile_op.py --op Encrypt --duration 10

py-spy needs ptrace rights over the server (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_trees import DEFAULT_SHARED, _start


def _frames(stack: str) -> list[str]:
    """Function names of one collapsed stack (py-spy raw: ``f (file:line);g (...)``)."""
    names = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        where = where.rstrip(")")
        path, _, _ = where.rpartition(":")
        names.append(f"{name} ({Path(path).name})" if path else name)
    return names


def report(raw: str, top: int) -> str:
    total = 0
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        total += n
        self_time[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    out = [f"{total} samples"]
    for title, counter in (("self", self_time), ("inclusive", inclusive)):
        out.append(f"-- top {top} by {title} time")
        for name, n in counter.most_common(top):
            out.append(f"{100 * n / total:6.1f}%  {name}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", default="Encrypt")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--serve-flag", action="append", default=[], help="extra serve flag")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--idle", action="store_true", help="count idle (waiting) threads too")
    ap.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    ap.add_argument("--shared-bench", default=str(DEFAULT_SHARED))
    ap.add_argument("--save", help="keep the raw collapsed stacks in this file")
    args = ap.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    proc, port = _start(sys.executable, args.src, args.serve_flag)
    workdir = tempfile.mkdtemp(prefix="openkms-profile-")
    raw_path = args.save or os.path.join(workdir, "stacks.txt")
    try:
        load = subprocess.Popen(
            [
                sys.executable,
                os.path.join(args.shared_bench, "kmsbench.py"),
                "--endpoint",
                f"http://127.0.0.1:{port}",
                "--op",
                args.op,
                "--duration",
                str(args.duration + 3),
                "--connections",
                str(args.connections),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        spy = [py_spy, "record", "--pid", str(proc.pid), "--duration", str(int(args.duration))]
        spy += ["--rate", "250", "--format", "raw", "--output", raw_path, "--threads"]
        if args.idle:
            spy.append("--idle")
        if args.gil:
            spy.append("--gil")
        subprocess.run(spy, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(load.communicate()[0].strip())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(report(Path(raw_path).read_text(), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
