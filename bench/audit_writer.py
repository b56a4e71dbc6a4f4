#!/usr/bin/env python3
"""What the audit writer process spends per record and per group commit.

``openkms serve`` answers an Encrypt only once its record is durable: the server hands
each request's records over a pipe to its writer process (``python -m
openkms.server.audit_process``), which group-commits them (one transaction and one
fdatasync per group). Under load the answers wait in a closed loop on that commit, so
its latency and the writer's CPU bound the server's throughput.

This drives a real writer process the way a server does, without the server: frames of
``--group`` requests (one Encrypt record each, pickled beforehand as the server pickles
them) are written to its pipe one at a time, each waiting for its answer (a closed loop
of one group in flight). Per run it prints the median wall time of one group commit
(pipe to answer, fdatasync included), the writer process's user and system CPU per
record (from ``/proc/<pid>/stat``) and the SQLite WAL frames written per group (the
growth of the ``-wal`` file). ``--in-process`` runs the writer's work on a thread of
this process instead (unpickle, check, commit, answer: CPU time per record without the
fdatasync wait, finer than ``/proc``'s clock ticks), ``--profile`` under cProfile.
SQLite in a temporary directory; a PostgreSQL URL with ``--database`` (no WAL figure
then). Usage::

    .venv/bin/python bench/audit_writer.py [--groups 300] [--group 12] [--repeat 5]
                                           [--in-process] [--profile] [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from audit_append import one_call

from openkms.server import bootstrap
from openkms.server.audit_process import FrameReader, write_frame
from openkms.server.settings import Settings

ACCOUNT = "111122223333"
_TICKS = os.sysconf("SC_CLK_TCK")


def frames(groups: int, group: int, start: int) -> list[bytes]:
    """The frames a server would send: ``(batch id, [records of one request, ...])``."""
    out = []
    for g in range(groups):
        requests = [one_call(start + g * group + r) for r in range(group)]
        buffer = io.BytesIO()
        write_frame(buffer, (g, requests))
        out.append(buffer.getvalue())
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def wal_frames(data_dir: str | None) -> int:
    """Frames in the SQLite WAL file so far (its size, since it was last truncated)."""
    if data_dir is None:
        return 0
    path = os.path.join(data_dir, bootstrap.DATABASE_FILE)
    try:
        size = os.path.getsize(path + "-wal")
    except FileNotFoundError:
        return 0
    with sqlite3.connect(path) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return max(0, size - 32) // (page + 24)


def truncate_wal(data_dir: str | None) -> None:
    if data_dir is not None:
        conn = sqlite3.connect(os.path.join(data_dir, bootstrap.DATABASE_FILE))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


@contextmanager
def writer_process(settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], FrameReader]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "openkms.server.audit_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    replies = FrameReader(proc.stdout.fileno())
    try:
        write_frame(proc.stdin, settings)
        answer = replies.read()
        if answer != "ready":
            raise SystemExit(f"the writer did not start: {answer}")
        yield proc, replies
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()


def run_process(settings: Settings, groups: int, group: int, repeat: int) -> None:
    with writer_process(settings) as (proc, replies):
        assert proc.stdin is not None
        for _ in range(20):  # warm up: imports, statement compilation
            proc.stdin.write(frames(1, group, 0)[0])
            proc.stdin.flush()
            replies.read()
        for run in range(repeat):
            sent = frames(groups, group, (run + 1) * groups * group)
            truncate_wal(settings.data_dir)
            wal_before = wal_frames(settings.data_dir)
            user, system = cpu_seconds(proc.pid)
            walls = []
            for frame in sent:
                start = time.perf_counter()
                proc.stdin.write(frame)
                proc.stdin.flush()
                _, outcomes = replies.read()
                walls.append(time.perf_counter() - start)
                assert outcomes == [None] * group, outcomes
            user2, system2 = cpu_seconds(proc.pid)
            records = groups * group
            pages = (wal_frames(settings.data_dir) - wal_before) / groups
            median = statistics.median(walls) * 1e3
            p90 = statistics.quantiles(walls, n=10)[-1] * 1e3
            print(
                f"run {run + 1}: group commit of {group}: median {median:5.2f} ms (p90"
                f" {p90:5.2f} ms); writer CPU"
                f" per record: user {(user2 - user) / records * 1e6:5.1f} µs, system"
                f" {(system2 - system) / records * 1e6:5.1f} µs; WAL frames per group {pages:5.1f}"
            )


def run_in_process(settings: Settings, groups: int, group: int, repeat: int, profile: bool) -> None:
    """The writer process's work (unpickle, check, commit, answer) on one thread of this
    one: its CPU time per record (this thread's, which leaves out the wait for
    fdatasync) and the wall time of a group commit; under cProfile with ``profile``."""
    from openkms.server.audit_process import _store
    from openkms.service.audit_trail import AuditWriter

    store, keyring = bootstrap.open_state(settings, create=False)
    if hasattr(store, "hold_write_connection"):  # as the writer process does (not older trees)
        store.hold_write_connection()
    writer = AuditWriter(
        store,
        bootstrap.append_audit_entries,
        sealer=bootstrap.audit_sealer(settings, store, keyring),
        inline=True,
    )
    writer.start()
    answers = io.BytesIO()

    def serve(frame: bytes) -> None:
        reader = FrameReader(-1)
        reader.feed(frame)
        batch = reader.take()
        for entries in batch[1]:
            for entry in entries:
                entry.checked()  # as the writer's receive thread does
        _store(writer, [batch], answers)

    try:
        for warm in frames(20, group, 0):
            serve(warm)
        for run in range(1 if profile else repeat):
            sent = frames(groups, group, (run + 1) * groups * group)
            profiler = cProfile.Profile() if profile else None
            walls = []
            started = time.thread_time()
            for frame in sent:
                if profiler is not None:
                    profiler.enable()
                start = time.perf_counter()
                serve(frame)
                walls.append(time.perf_counter() - start)
                if profiler is not None:
                    profiler.disable()
            cpu = (time.thread_time() - started) / (groups * group)
            print(
                f"in process, run {run + 1}: CPU {cpu * 1e6:5.1f} µs per record; group commit"
                f" of {group}: median {statistics.median(walls) * 1e3:5.2f} ms"
                + (" (profiled)" if profile else "")
            )
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        writer.close()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=300, help="group commits per run")
    parser.add_argument("--group", type=int, default=12, help="requests per group commit")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="the writer's work, here")
    parser.add_argument("--profile", action="store_true", help="cProfile, in this process")
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("OPENKMS_ROOT_ACCESS_KEY_ID", "AKIAOPENKMSBENCH0001")
    os.environ.setdefault("OPENKMS_ROOT_SECRET_ACCESS_KEY", "bench-secret")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=None if args.database else tmp, database=args.database, account_id=ACCOUNT
        )
        bootstrap.build(settings).store.close()  # the root key, signing key, schema
        if args.profile or args.in_process:
            run_in_process(settings, args.groups, args.group, args.repeat, args.profile)
        else:
            run_process(settings, args.groups, args.group, args.repeat)


if __name__ == "__main__":
    main()
