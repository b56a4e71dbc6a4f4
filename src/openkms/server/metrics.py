"""What each server process counts for ``GET /metrics`` (openkms.server.metrics_export).

The request path pays one append to a deque per request (:meth:`Recorder.request`, on
the event loop); the flush thread counts what was appended, in bulk, once a second
(:meth:`Recorder.absorb`): the latency histogram by operation (whose count is the
operation's request count) and failures by error type. Measured in situ, counting on the
event loop cost several times more than in bulk (each request's counters were out of the
CPU caches again by the next request). Everything else is read when a snapshot is
taken: the throttle's refusals, the caches' hits and misses, maintenance runs.

Several processes (``serve --workers N``) each write their snapshot, as JSON, to a file
of their own in the metrics directory (``<pid>.json``, replaced atomically) every
:data:`FLUSH_SECONDS`; the exporter (in the ``serve`` process) sums the files when
scraped. That is the multi-process design of prometheus-client's multiprocess mode (a
file per process, summed at scrape time) without its per-increment file writes, which
would cost the request path microseconds. Counters of a process that died stay in the
sums (Prometheus counters never go down), its gauges are dropped; a process stopping
with the server removes its file. A scrape sees each process's counts as of its last
flush, at most one second old.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger("openkms.metrics")

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

    __slots__ = ("counts", "operation", "total")

    def __init__(self, operation: str = "") -> None:
        self.operation = operation
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
        #: Answers noted by the event loop, not yet counted (see absorb).
        self._answered: collections.deque[
            tuple[bytes | None, float, float | None, bytes | None]
        ] = collections.deque()
        #: Latency of every request by its X-Amz-Target (the request count of each
        #: operation is its histogram's count).
        self._latency: dict[bytes | None, Histogram] = {}
        #: (operation, error type) -> requests answered with that error.
        self.errors: dict[tuple[str, str], int] = {}
        #: Requests whose audit records are on their way to durable storage (moved by the
        #: request path around its wait), and how long each waited.
        self.audit_waiting = 0
        self.audit_wait = Histogram()
        self.sources: dict[str, Source] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def request(
        self,
        target: bytes | None,
        status: int,
        body: bytes,
        seconds: float,
        audit_seconds: float | None,
    ) -> None:
        """Note one answered request (on the event loop): how long it took, how long of
        that it waited for its audit records (None: none were stored after it), and the
        answer of a failure (for its error type). Counted by :meth:`absorb`, in bulk."""
        self._answered.append((target, seconds, audit_seconds, body if status >= 300 else None))

    def absorb(self) -> None:
        """Count the requests noted since the last call (on the flush thread: the event
        loop only appends to a deque, whose appends and pops are atomic)."""
        answered = self._answered
        latency = self._latency
        bounds = LATENCY_BOUNDS
        audit = self.audit_wait
        while answered:
            target, seconds, audit_seconds, failure = answered.popleft()
            histogram = latency.get(target)
            if histogram is None:
                name = self._names.get(target, OTHER) if target is not None else OTHER
                histogram = latency[target] = Histogram(name)
            histogram.counts[bisect.bisect_left(bounds, seconds)] += 1
            histogram.total += seconds
            if audit_seconds is not None:
                audit.observe(audit_seconds)
            if failure is not None:
                slot = (histogram.operation, _error(failure))
                self.errors[slot] = self.errors.get(slot, 0) + 1

    # -- snapshots -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far (on the flush thread, the only one counting)."""
        self.absorb()
        latency: dict[str, Histogram] = {}
        for histogram in list(self._latency.values()):
            merged = latency.setdefault(histogram.operation, Histogram(histogram.operation))
            merged.counts = [a + b for a, b in zip(merged.counts, histogram.counts, strict=True)]
            merged.total += histogram.total
        errors = dict(self.errors)
        requests = [[op, "error", error, n] for (op, error), n in errors.items()]
        for op, histogram in latency.items():
            failed = sum(n for (name, _), n in errors.items() if name == op)
            requests.append([op, "success", "", sum(histogram.counts) - failed])
        return {
            "pid": os.getpid(),
            "requests": requests,
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
        """Flush every :data:`FLUSH_SECONDS` on a thread of its own."""

        def run() -> None:
            while not self._stop.wait(FLUSH_SECONDS):
                try:
                    self.flush()
                except OSError as exc:  # counted all the same (absorb ran): next time
                    log.warning("could not write the metrics snapshot %s: %s", self._path, exc)

        self.flush()
        self._thread = threading.Thread(target=run, name="openkms-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """At the server's shutdown: the file goes (nobody scrapes a stopped server), and
        the directory with the last one (a single process, which uvicorn ends by
        re-raising SIGTERM: ``serve`` itself has no chance to remove it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError):
            os.unlink(self._path)
            os.rmdir(os.path.dirname(self._path))  # fails while other workers' files remain


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
