"""Request quotas and metrics of one server process, attached to its application.

Kept out of openkms.server.app so that the request path there only calls what it needs:
``KMSService.throttle`` (openkms.service.throttle, used by the dispatcher) and
``OpenKMSApp.metrics`` (openkms.server.metrics.Recorder, None without
``serve --metrics-port``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openkms.authz.document import policy_cache_info
from openkms.server.metrics import Recorder, cache_stats, lru_stats
from openkms.service.kms.ops import REGISTRY
from openkms.service.throttle import Throttle

if TYPE_CHECKING:
    from openkms.server.app import OpenKMSApp


class Instruments:
    def __init__(self, app: OpenKMSApp, *, in_memory: bool) -> None:
        runtime = app.runtime
        settings = runtime.settings
        self.throttle = Throttle(runtime.store, enabled=settings.quotas, share=settings.quota_share)
        runtime.service.throttle = self.throttle
        #: In-memory state: nobody else can write overrides, and its one connection
        #: belongs to the request thread: the defaults hold, no refresh thread.
        self._refresh = not in_memory
        self.recorder: Recorder | None = None
        if settings.metrics_dir is not None:
            self.recorder = Recorder(REGISTRY, settings.metrics_dir)
            self.recorder.sources.update(
                throttled=lambda: dict(self.throttle.throttled),
                caches=lambda: _caches(app),
                maintenance=lambda: dict(app.maintenance.runs) if app.maintenance else {},
            )

    def start(self) -> None:
        if self._refresh:
            self.throttle.start()
        if self.recorder is not None:
            self.recorder.start()

    def stop(self) -> None:
        self.throttle.stop()
        if self.recorder is not None:
            self.recorder.stop()


def _caches(app: OpenKMSApp) -> dict[str, Any]:
    materials = app.runtime.service.materials
    read = app.runtime.store.cache
    return {
        "material": cache_stats(materials.lookups, materials.misses),
        "read": cache_stats(read.lookups, read.misses),
        "policy": lru_stats(policy_cache_info()),
    }
