"""``GET /metrics``: the Prometheus text format on a port of its own
(``serve --metrics-port``, on loopback unless ``--metrics-host`` says otherwise).

Served by prometheus-client's HTTP server on a thread of the ``serve`` process, which
sums the snapshot files its server processes write (openkms.server.metrics) when scraped:

================================================  =========  ===============================
metric                                            type       labels
================================================  =========  ===============================
openkms_requests_total                            counter    operation, outcome, error_type
openkms_request_duration_seconds                  histogram  operation
openkms_throttled_requests_total                  counter    quota
openkms_audit_queue_depth                         gauge      (requests waiting for their
                                                             audit records to be durable)
openkms_audit_commit_duration_seconds             histogram  (how long each waited)
openkms_cache_requests_total                      counter    cache (material, read,
                                                             policy), result (hit, miss)
openkms_maintenance_runs_total                    counter    outcome (succeeded, failed)
openkms_keys                                      gauge      state (read from the database,
                                                             at most every 10 s)
openkms_metrics_processes                         gauge      (server processes reporting)
================================================  =========  ===============================
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from openkms.server.metrics import LATENCY_BOUNDS

log = logging.getLogger("openkms.metrics")

#: Seconds a count of keys by state is reused (it is a GROUP BY over every key).
KEYS_TTL = 10.0


class SnapshotCollector:
    """Sums the processes' snapshot files into Prometheus metric families."""

    def __init__(self, directory: str, keys_by_state: Callable[[], dict[str, int]] | None):
        self._directory = directory
        self._keys_by_state = keys_by_state
        self._keys: tuple[float, dict[str, int]] | None = None
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        return []  # names not declared up front: the registry checks no clashes

    def collect(self) -> Iterator[Metric]:
        snapshots = list(self._snapshots())
        live = [s for s in snapshots if _alive(s.get("pid"))]
        requests = CounterMetricFamily(
            "openkms_requests",
            "KMS API requests answered, by operation, outcome and AWS error type.",
            labels=["operation", "outcome", "error_type"],
        )
        for labels, n in _summed((tuple(r[:3]), int(r[3])) for s in snapshots for r in _rows(s)):
            requests.add_metric(list(labels), n)
        yield requests
        yield from _histograms(
            "openkms_request_duration_seconds",
            "Time from reading a request to its answer, by operation.",
            "operation",
            [s.get("latency", {}) for s in snapshots],
        )
        throttled = CounterMetricFamily(
            "openkms_throttled_requests",
            "Requests refused with ThrottlingException, by quota.",
            labels=["quota"],
        )
        totals: dict[str, int] = {}
        for s in snapshots:
            for quota, n in s.get("throttled", {}).items():
                totals[quota] = totals.get(quota, 0) + int(n)
        for quota, n in sorted(totals.items()):
            throttled.add_metric([quota], n)
        yield throttled
        yield GaugeMetricFamily(
            "openkms_audit_queue_depth",
            "Requests waiting for their audit records to be durable.",
            value=sum(int(s.get("audit_waiting", 0)) for s in live),
        )
        yield from _histograms(
            "openkms_audit_commit_duration_seconds",
            "How long each request waited for its audit records to be durable.",
            None,
            [{"": s["audit_wait"]} for s in snapshots if "audit_wait" in s],
        )
        yield _caches(snapshots)
        runs = CounterMetricFamily(
            "openkms_maintenance_runs",
            "In-server maintenance runs, by outcome.",
            labels=["outcome"],
        )
        for outcome in ("succeeded", "failed"):
            done = sum(int(s.get("maintenance", {}).get(outcome, 0)) for s in snapshots)
            runs.add_metric([outcome], done)
        yield runs
        keys = self._key_states()
        if keys is not None:
            gauge = GaugeMetricFamily("openkms_keys", "KMS keys by key state.", labels=["state"])
            for state, n in sorted(keys.items()):
                gauge.add_metric([state], n)
            yield gauge
        yield GaugeMetricFamily(
            "openkms_metrics_processes", "Server processes reporting metrics.", value=len(live)
        )

    def _snapshots(self) -> Iterator[dict[str, Any]]:
        for path in glob.glob(os.path.join(self._directory, "*.json")):
            try:
                with open(path, encoding="utf-8") as source:
                    yield json.load(source)
            except (OSError, ValueError):
                continue  # replaced meanwhile: the next scrape reads it

    def _key_states(self) -> dict[str, int] | None:
        if self._keys_by_state is None:
            return None
        with self._lock:
            now = time.monotonic()
            if self._keys is None or now - self._keys[0] > KEYS_TTL:
                try:
                    self._keys = (now, self._keys_by_state())
                except Exception:  # a database down must not fail the whole scrape
                    log.warning("could not count the keys by state", exc_info=True)
                    return None if self._keys is None else self._keys[1]
            return self._keys[1]


def _rows(snapshot: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = snapshot.get("requests", [])
    return rows


def _summed(
    counted: Iterator[tuple[tuple[str, ...], int]],
) -> list[tuple[tuple[str, ...], int]]:
    totals: dict[tuple[str, ...], int] = {}
    for slot, n in counted:
        totals[slot] = totals.get(slot, 0) + n
    return sorted(totals.items())


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _histograms(
    name: str, documentation: str, label: str | None, parts: list[dict[str, Any]]
) -> Iterator[Metric]:
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else None)
    merged: dict[str, tuple[list[int], float]] = {}
    for part in parts:
        for key, histogram in part.items():
            counts, total = merged.get(key, ([0] * (len(LATENCY_BOUNDS) + 1), 0.0))
            counts = [a + int(b) for a, b in zip(counts, histogram["counts"], strict=True)]
            merged[key] = (counts, total + float(histogram["sum"]))
    for key, (counts, total) in sorted(merged.items()):
        buckets = []
        running = 0
        for bound, n in zip((*map(str, LATENCY_BOUNDS), "+Inf"), counts, strict=True):
            running += n
            buckets.append((bound, running))
        family.add_metric([key] if label else [], buckets, total)
    yield family


def _caches(snapshots: list[dict[str, Any]]) -> Metric:
    family = CounterMetricFamily(
        "openkms_cache_requests",
        "Cache lookups, by cache and result (hit, miss).",
        labels=["cache", "result"],
    )
    totals: dict[tuple[str, str], int] = {}
    for s in snapshots:
        for cache, stats in s.get("caches", {}).items():
            for result, field in (("hit", "hits"), ("miss", "misses")):
                slot = (cache, result)
                totals[slot] = totals.get(slot, 0) + int(stats.get(field, 0))
    for (cache, result), n in sorted(totals.items()):
        family.add_metric([cache, result], n)
    return family


class Exporter:
    """The metrics HTTP server (a daemon thread) and its collector."""

    def __init__(
        self,
        host: str,
        port: int,
        directory: str,
        keys_by_state: Callable[[], dict[str, int]] | None,
    ) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(directory, keys_by_state))
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
