"""What each server process counts for ``GET /metrics`` (openkms.server.metrics_export).

The request path pays a few dictionary and integer operations per request
(:meth:`Recorder.request`), on the event loop, which alone answers and so alone writes
these counters (no lock). Everything else is read when a snapshot is taken: the throttle's
refusals, the caches' hits and misses, maintenance runs, the audit trail's waiting
requests.

Several processes (``serve --workers N``) each write their snapshot, as JSON, to a file
of their own in the metrics directory (``<pid>.json``, replaced atomically) every
:data:`FLUSH_SECONDS`; the exporter (in the ``serve`` process) sums the files when
scraped. That is the multi-process design of prometheus-client's multiprocess mode (a
file per process, summed at scrape time) without its per-increment file writes, which
would cost the request path microseconds. Counters of a process that ended stay in the
sums (Prometheus counters never go down); its gauges are dropped. A scrape sees each
other worker's counts as of its last flush (at most one second old); a single process
flushes when scraped.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: Upper bounds (seconds) of the latency histograms' buckets (the last is +Inf).
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
FLUSH_SECONDS = 1.0
_TARGET_PREFIX = b"TrentService."
#: The operation label of requests that name no KMS operation (IAM, STS, CloudTrail).
OTHER = "other"

#: Extra snapshot parts, by name: each a function returning JSON-ready data.
Source = Callable[[], Any]


class Histogram:
    """Counts per bucket of :data:`LATENCY_BOUNDS` (+Inf last) and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.total += seconds

    def as_json(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "sum": self.total}


class Recorder:
    """The counters of one server process, and its snapshot file."""

    def __init__(self, operations: Iterable[str], directory: str) -> None:
        self._names = {_TARGET_PREFIX + name.encode(): name for name in operations}
        self._path = os.path.join(directory, f"{os.getpid()}.json")
        #: (operation, outcome, error type) -> requests answered.
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        #: Requests whose audit records are on their way to durable storage, and how long
        #: each waited for them.
        self.audit_waiting = 0
        self.audit_wait = Histogram()
        self.sources: dict[str, Source] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, target: bytes | None, status: int, body: bytes, seconds: float) -> None:
        """Count one answered request (on the event loop)."""
        operation = self._names.get(target, OTHER) if target is not None else OTHER
        slot = (operation, "success", "") if status < 300 else (operation, "error", _error(body))
        requests = self.requests
        requests[slot] = requests.get(slot, 0) + 1
        histogram = self.latency.get(operation)
        if histogram is None:
            histogram = self.latency[operation] = Histogram()
        histogram.observe(seconds)

    def audit_started(self) -> float:
        self.audit_waiting += 1
        return time.perf_counter()

    def audit_done(self, started: float) -> None:
        self.audit_waiting -= 1
        self.audit_wait.observe(time.perf_counter() - started)

    # -- snapshots -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far (copies: the loop keeps counting meanwhile)."""
        requests = dict(self.requests)
        latency = dict(self.latency)
        return {
            "pid": os.getpid(),
            "requests": [[*slot, n] for slot, n in requests.items()],
            "latency": {op: h.as_json() for op, h in latency.items()},
            "audit_waiting": self.audit_waiting,
            "audit_wait": self.audit_wait.as_json(),
            **{name: source() for name, source in self.sources.items()},
        }

    def flush(self) -> None:
        """Replace this process's snapshot file."""
        temporary = self._path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(self.snapshot(), out)
        os.replace(temporary, self._path)

    def start(self) -> None:
        """Flush every :data:`FLUSH_SECONDS` on a thread of its own, and once at stop."""

        def run() -> None:
            while not self._stop.wait(FLUSH_SECONDS):
                self.flush()

        self.flush()
        self._thread = threading.Thread(target=run, name="openkms-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()


def _error(body: bytes) -> str:
    """The ``__type`` of a JSON error answer (``{"__type":"X",...}``, as wire.codec writes
    it); IAM/STS XML errors are counted as ``error``."""
    if body.startswith(b'{"__type":"'):
        end = body.find(b'"', 11)
        if end > 11:
            return body[11:end].decode("ascii", "replace")
    return "error"


def cache_stats(lookups: int, misses: int) -> dict[str, int]:
    """A cache's hits and misses from what it counts (lookups, and the misses among them)."""
    return {"hits": max(lookups - misses, 0), "misses": misses}


def lru_stats(info: Any) -> dict[str, int]:
    """``functools.lru_cache``'s ``cache_info()`` as hits and misses."""
    return {"hits": int(info.hits), "misses": int(info.misses)}


def counts(found: Mapping[str, int]) -> dict[str, int]:
    return dict(found)
