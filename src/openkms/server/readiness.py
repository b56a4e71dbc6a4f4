"""``GET /_openkms/ready``: whether this server process can do its work right now.

``/_openkms/health`` is liveness: it answers 200 from the event loop while the process
runs, touching nothing, so that a probe never restarts a server for a fault a restart
does not fix. Readiness is for load balancers and Kubernetes readiness probes: 200 only
when the three things every call needs can be written now, else 503; the body names
each part, ``"ok"`` or the one-line reason it is not:

* ``database``: a row is written and committed (``openkms_meta``), and on SQLite the
  data directory's file system has :data:`MIN_FREE_BYTES` free (a write that fits in
  pages SQLite already holds can succeed on a full disk; the next one will not);
* ``rootOfTrust``: the keyring unwraps the database's root key check value;
* ``auditTrail``: the audit chain head can be locked within the lock timeout (a node
  frozen while it holds it blocks every audited call), and the audit writer process
  runs (restarted here if it is down: no call may reach it while the node is not ready).

The answer is computed only when asked, at most once per :data:`CACHE_SECONDS` per
process (concurrent probes share one computation), off the event loop; nothing is
added to the request path.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable

from openkms.crypto.keyring import UnwrapError
from openkms.server.audit_process import ProcessAuditWriter
from openkms.server.bootstrap import DATABASE_FILE, Runtime, check_root_of_trust, probe_writes
from openkms.storage.audit import trail as audit_store
from openkms.storage.repository import StorageError

READY_PATH = "/_openkms/ready"
#: How long one answer is reused.
CACHE_SECONDS = 1.0
#: Free space the SQLite data directory needs (twice the WAL SQLite grows before it
#: checkpoints, ~4 MiB).
MIN_FREE_BYTES = 8 * 1024 * 1024
OK = "ok"


class Readiness:
    """Computes and caches this process's readiness (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        run_blocking: Callable[[Callable[[], dict[str, str]]], Awaitable[dict[str, str]]],
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._runtime = runtime
        self._run_blocking = run_blocking
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._answer: tuple[int, bytes] | None = None
        self._at = 0.0

    async def answer(self) -> tuple[int, bytes]:
        """``(status, body)``: 200 when every part is ready, else 503."""
        async with self._lock:
            if self._answer is not None and self._clock() - self._at < self._cache_seconds:
                return self._answer
            parts = await self._run_blocking(self.storage_parts)
            writer = self._writer_problem()
            if writer is not None and parts["auditTrail"] == OK:
                parts["auditTrail"] = writer
            ready = all(value == OK for value in parts.values())
            body = {"status": "ready" if ready else "not ready", **parts}
            self._answer = (200 if ready else 503, json.dumps(body).encode())
            self._at = self._clock()
            return self._answer

    def storage_parts(self) -> dict[str, str]:
        """The database, root of trust and audit trail checks (blocking: on a thread)."""
        store = self._runtime.store
        database = _failure(lambda: probe_writes(store)) or self._disk_space()
        root = _failure(
            lambda: check_root_of_trust(store, self._runtime.service.keyring),
            "the root key does not open this database",
        )

        def lock_chain() -> None:
            with store.transaction(write=True, changes_state=False) as tx:
                audit_store.lock_head(tx)

        audit = _failure(lock_chain)
        return {"database": database or OK, "rootOfTrust": root or OK, "auditTrail": audit or OK}

    def _disk_space(self) -> str | None:
        settings = self._runtime.settings
        if settings.database or not settings.data_dir:
            return None  # PostgreSQL's disk is the server's: its write fails when full
        stat = os.statvfs(os.path.join(settings.data_dir, DATABASE_FILE))
        free = stat.f_bavail * stat.f_frsize
        if free < MIN_FREE_BYTES:
            return f"{free} bytes free on the data directory's file system"
        return None

    def _writer_problem(self) -> str | None:
        """On the event loop: whether the audit writer process runs (starting it again if
        it is down), or why not."""
        writer = self._runtime.audit
        if isinstance(writer, ProcessAuditWriter):
            return writer.revive()
        return None


def _failure(check: Callable[[], None], unwrap_reason: str = "") -> str | None:
    """None when ``check`` passes, else its one-line reason."""
    try:
        check()
    except StorageError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except UnwrapError:
        return unwrap_reason or "the keyring cannot unwrap"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
