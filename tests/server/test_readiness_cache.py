"""The readiness answer is computed only when asked, at most once per second, and
concurrent probes share one computation (nothing is added to the request path)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from openkms.server.readiness import CACHE_SECONDS, OK, Readiness


def test_checks_run_once_per_second_and_are_shared() -> None:
    runs: list[int] = []
    now = [100.0]

    async def run_blocking(check: Callable[[], dict[str, str]]) -> dict[str, str]:
        runs.append(1)
        await asyncio.sleep(0)  # probes arriving meanwhile wait for this one
        broken = len(runs) > 1
        return {"database": "disk full" if broken else OK, "rootOfTrust": OK, "auditTrail": OK}

    runtime: Any = SimpleNamespace(audit=None)
    readiness = Readiness(runtime, run_blocking, clock=lambda: now[0])

    async def probe(times: int) -> list[tuple[int, bytes]]:
        return list(await asyncio.gather(*(readiness.answer() for _ in range(times))))

    first = asyncio.run(probe(5))
    assert len(runs) == 1 and {status for status, _ in first} == {200}
    assert json.loads(first[0][1])["status"] == "ready"
    now[0] += CACHE_SECONDS / 2
    assert asyncio.run(probe(1))[0][0] == 200 and len(runs) == 1  # cached
    now[0] += CACHE_SECONDS
    status, body = asyncio.run(probe(1))[0]
    assert len(runs) == 2 and status == 503
    assert json.loads(body) == {
        "status": "not ready",
        "database": "disk full",
        "rootOfTrust": OK,
        "auditTrail": OK,
    }
