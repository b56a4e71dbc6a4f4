"""Runs :class:`~openkms.service.maintenance.Maintenance` inside a server process: once at
startup (work that fell due while the server was down), then every ``interval`` seconds,
and soon after a request asks for it (a RotateKeyOnDemand), each run followed by the usage
rollup (openkms.service.usage_rollup). In-memory state is new at
every start, so nothing can be due then: there the first run waits for the interval
instead of holding up the first request on the one thread. Each run happens in a worker
thread so that requests keep being answered (in-memory dev state has one connection: there
it runs in the executor given, the one thread that answers requests and so the
connection's only user).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from openkms.service.kms.materials import MaterialCache
from openkms.service.maintenance import Maintenance, MaintenanceReport
from openkms.service.usage_rollup import LOOP_LIMIT, roll_up
from openkms.storage.repository import StorageError

log = logging.getLogger("openkms.maintenance")


class MaintenanceLoop:
    def __init__(
        self,
        maintenance: Maintenance,
        interval: float,
        materials: MaterialCache,
        *,
        executor: Executor | None = None,
        run_at_start: bool = True,
    ) -> None:
        self._maintenance = maintenance
        self._interval = interval
        self._materials = materials
        self._executor = executor
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._run_at_start = run_at_start
        #: Runs finished and failed (the metrics' ``openkms_maintenance_runs_total``).
        self.runs = {"succeeded": 0, "failed": 0}

    def start(self) -> None:
        self._event = asyncio.Event()
        if self._run_at_start:
            self._event.set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Ask for a run soon (called on the event loop's thread)."""
        if self._event is not None:
            self._event.set()

    async def stop(self) -> None:
        """Let a run in progress finish, then end the loop."""
        self._stopping = True
        if self._event is not None:
            self._event.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        assert self._event is not None
        while True:
            try:
                await asyncio.wait_for(self._event.wait(), self._interval)
            except TimeoutError:
                pass
            if self._stopping:
                return
            self._event.clear()
            try:
                if self._executor is not None:
                    loop = asyncio.get_running_loop()
                    report = await loop.run_in_executor(self._executor, self._run_once)
                else:
                    report = await asyncio.to_thread(self._run_once)
            except Exception:
                self.runs["failed"] += 1
                log.exception("maintenance run failed; it will be tried again")
                continue
            self.runs["succeeded"] += 1
            self._after(report)

    def _run_once(self) -> MaintenanceReport:
        """Due lifecycle work, then the usage rollup's new audit records (issue 18: kept
        off the audit writer's commit path; a failed rollup is tried again next run)."""
        report = self._maintenance.run()
        try:
            roll_up(self._maintenance.store, limit=LOOP_LIMIT)
        except StorageError:
            log.exception("usage rollup failed; it will be tried again")
        return report

    def _after(self, report: MaintenanceReport) -> None:
        self._materials.forget(*report.touched_keys)
        if report:
            log.info("maintenance: %s", report.as_dict())
