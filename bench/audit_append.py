#!/usr/bin/env python3
"""What one audit record costs in CPU, on the request thread and on the writer thread.

Every audited call pays twice: the request thread captures the call
(:meth:`openkms.service.audit_trail.RequestTrail.entries`) and hands it to the writer,
whose thread appends batches to the chain (:func:`openkms.server.bootstrap.append_audit_entries`
in one write transaction, as :class:`~openkms.service.audit_trail.AuditWriter` does).
Both share the GIL with the request path, so both are measured here, in process, on a
SQLite file in a temporary directory or the PostgreSQL database given (records of an
Encrypt by a root caller on a key of its own account, with an encryption context).
Prints µs per record (the writer's also as CPU time of its thread, which leaves out the
wait for fdatasync); ``--profile`` adds a cProfile of the writer side (top functions by
self time). Usage::

    .venv/bin/python bench/audit_append.py [--records 4000] [--repeat 3] [--profile]
                                           [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable

from openkms.domain.keys import Key, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from openkms.domain.principals import Principal
from openkms.server.bootstrap import append_audit_entries
from openkms.service.audit_trail import Entry, RequestTrail
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
KEY = Key(
    key_id="1234abcd-12ab-34cd-56ef-1234567890ab",
    account=ACCOUNT,
    region="us-east-1",
    spec=KeySpec.SYMMETRIC_DEFAULT,
    usage=KeyUsage.ENCRYPT_DECRYPT,
    origin=Origin.AWS_KMS,
    manager=KeyManager.CUSTOMER,
    state=KeyState.ENABLED,
    description="bench",
    policy="{}",
    created_at=1.0,
    current_version=1,
)
PRINCIPAL = Principal.root(ACCOUNT, "AKIAOPENKMSBENCH0001")


def one_call(i: int) -> list[Entry]:
    """An Encrypt's records, as the server captures them after answering it."""
    trail = RequestTrail(
        request_id=f"{i:08d}-0000-4000-8000-000000000000",
        event_source="kms.amazonaws.com",
        event_name="Encrypt",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux",
        now=time.time(),
    )
    trail.principal = PRINCIPAL
    trail.request = {"KeyId": "alias/bench", "EncryptionContext": {"purpose": "bench"}}
    trail.keys = [KEY]
    return trail.entries({"KeyId": KEY.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})


def capture(n: int) -> tuple[float, list[Entry]]:
    start = time.perf_counter()
    entries = [e for i in range(n) for e in one_call(i)]
    return (time.perf_counter() - start) / n * 1e6, entries


def append_all(
    store: Store, records: int, batch: int, profile: cProfile.Profile | None = None
) -> tuple[float, float]:
    """Wall and CPU (this thread's) µs per record appended; the difference is mostly
    fdatasync. Each batch is captured just before it is appended (untimed), so that only
    a batch's records are alive at a time, as in the server (a heap holding every record
    would make the garbage collector's passes, and this measurement, much longer)."""
    wall = cpu = 0.0
    for _ in range(records // batch):
        entries = capture(batch)[1]
        if profile is not None:
            profile.enable()
        start, started = time.perf_counter(), time.thread_time()
        with store.transaction(write=True) as tx:
            append_audit_entries(tx, entries)
        wall += time.perf_counter() - start
        cpu += time.thread_time() - started
        if profile is not None:
            profile.disable()
    done = records // batch * batch
    return wall / done * 1e6, cpu / done * 1e6


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def best_append(store: Store, records: int, batch: int, repeat: int) -> tuple[float, float]:
    runs = [append_all(store, records, batch) for _ in range(repeat)]
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the writer (batch 64)")
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(make_engine(args.database or sqlite_url(tmp)))
        try:
            capture(200)  # warm up imports and caches
            per_call = best(args.repeat, lambda: capture(args.records)[0])
            print(f"request thread, entries(): {per_call:6.2f} µs per record")
            for batch in (16, 64):
                wall, cpu = best_append(store, args.records, batch, args.repeat)
                print(
                    f"writer thread, append at batch {batch:3d}: {wall:6.2f} µs per record "
                    f"(CPU {cpu:6.2f} µs)"
                )
            if args.profile:
                profile = cProfile.Profile()
                append_all(store, args.records, 64, profile)
                pstats.Stats(profile).sort_stats("tottime").print_stats(12)
        finally:
            store.close()


if __name__ == "__main__":
    main()
