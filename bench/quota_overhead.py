#!/usr/bin/env python3
"""What request quotas and metrics add to an Encrypt, in process, on the event loop's path.

Builds a server application (SQLite in a temporary data directory, root credentials) and
answers the same SigV4-signed Encrypt (signed once with botocore, replayed) with
:meth:`OpenKMSApp.answer_inline` (verify the signature, parse, validate, resolve,
authorize, encrypt, build the audit record: the work the event loop does per request),
in interleaved rounds with quotas and metrics off, then on (the token bucket of the
symmetric quota, and the metrics recorder's per-request calls as ``__call__`` makes them).
Storing the audit records and uvicorn's HTTP parsing are the same work either way and
are left out, so the share printed is larger than under wrk. Prints CPU µs per request
with them off, the overhead as the median (and quartiles) of the differences within pairs
of rounds run back to back (the machine is shared: paired rounds see the same load), and
the cost of the added calls measured alone. Usage::

    PYTHONPATH=src .venv/bin/python bench/quota_overhead.py [--requests 3000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import tempfile
import time
from typing import Any

from openkms.domain.keys import KeySpec
from openkms.server.app import OpenKMSApp
from openkms.server.bootstrap import Settings, build
from openkms.server.metrics import Recorder
from openkms.service.kms.ops import REGISTRY
from openkms.service.throttle import Throttle

ACCOUNT = "111122223333"


ACCESS_KEY = "AKIAOPENKMSBENCHQUOTA"
SECRET_KEY = "openkms-bench-secret-key-0123456789abcdef"


def _scope(target: str, body: bytes) -> dict[str, object]:
    """A request as uvicorn hands it over, signed with SigV4 by botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8700/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{target}",
        },
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kms", "us-east-1").add_auth(request)
    headers = [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()]
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8700"), *headers],
        "client": ("127.0.0.1", 50000),
    }


def in_process_app(data_dir: str, **settings: Any) -> OpenKMSApp:
    """A server application in this process: SQLite in ``data_dir``, the bench's root
    credentials, the audit writer on a thread, no maintenance loop (``settings`` add to
    or replace these)."""
    os.environ["OPENKMS_ROOT_ACCESS_KEY_ID"] = ACCESS_KEY
    os.environ["OPENKMS_ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
    options: dict[str, Any] = {
        "data_dir": data_dir,
        "database": None,
        "account_id": ACCOUNT,
        "audit_writer": "thread",
        "maintenance_interval": 0,
    }
    return OpenKMSApp(build(Settings(**(options | settings))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryDirectory() as metrics:
        app = in_process_app(data_dir, quotas=True, metrics_dir=metrics)
        created = app.handle(_scope("CreateKey", b"{}"), b"{}", "bench-create")
        key_id = json.loads(created[1])["KeyMetadata"]["KeyId"]
        body = json.dumps(
            {"KeyId": key_id, "Plaintext": base64.b64encode(b"x" * 64).decode()}
        ).encode()
        scope = _scope("Encrypt", body)
        target = b"TrentService.Encrypt"
        throttle = app.instruments.throttle
        recorder = Recorder(REGISTRY, metrics)
        # Far above what one process answers: the bucket is charged, never empty.
        throttle._overrides = {(ACCOUNT, "crypto-symmetric"): 1e9}
        throttle._buckets = {}

        def run(on: bool) -> float:
            """CPU µs per request of this thread (other processes' load falls outside)."""
            throttle.enabled = on
            metrics_on = recorder if on else None
            started = time.thread_time()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                answer = app.answer_inline(scope, body, "bench-request")
                if answer is None:  # a read the cache did not hold: on a thread, as served
                    answer = app.handle(scope, body, "bench-request")
                assert answer[0] == 200, answer
                if metrics_on is not None:
                    metrics_on.audit_waiting += 1  # as __call__ does around the audit wait
                    metrics_on.audit_waiting -= 1
                    now = time.perf_counter()
                    metrics_on.request(target, answer[0], answer[1], now - t0, now - t0)
            if metrics_on is not None:
                metrics_on.absorb()  # the flush thread's counting, in this process too
            return (time.thread_time() - started) / args.requests * 1e6

        for _ in range(3):  # fill the caches (material, read cache, compiled policy)
            app.handle(scope, body, "bench-warm")
        run(False)
        off: list[float] = []
        on: list[float] = []
        for i in range(args.rounds):  # pairs, in alternating order
            for side in (False, True) if i % 2 == 0 else (True, False):
                (on if side else off).append(run(side))
        base = statistics.median(off)
        diffs = sorted(b - a for a, b in zip(off, on, strict=True))
        middle = statistics.median(diffs)
        low, high = diffs[len(diffs) // 4], diffs[(3 * len(diffs)) // 4]
        print(f"Encrypt on the loop, quotas and metrics off: {base:.2f} µs/request (median)")
        print(
            f"overhead, median of {len(diffs)} paired rounds: {middle:+.2f} µs "
            f"({100 * middle / base:+.1f} %), quartiles {low:+.2f} .. {high:+.2f} µs"
        )
        print(f"the added calls alone: {_added_alone(throttle, recorder, target):.2f} µs")
        app.runtime.store.close()


def _added_alone(throttle: Throttle, recorder: Recorder, target: bytes) -> float:
    """CPU µs of what quotas and metrics add to one Encrypt, measured by themselves: the
    throttle's charge (the key's shared quota) and the recorder's per-request work."""
    # Stand-ins with the fields read: a key's spec, the context's account and Region.
    key: Any = type("K", (), {"spec": KeySpec.SYMMETRIC_DEFAULT})()
    ctx: Any = type("C", (), {"account": ACCOUNT, "region": "us-east-1"})()
    params: dict[str, object] = {}
    keys = [key]
    n = 200_000
    started = time.thread_time()
    for _ in range(n):
        throttle.charge(ctx, "Encrypt", params, keys)
        recorder.audit_waiting += 1
        recorder.audit_waiting -= 1
        recorder.request(target, 200, b"{}", 0.0001, 0.0001)
    recorder.absorb()
    return (time.thread_time() - started) / n * 1e6


if __name__ == "__main__":
    main()
