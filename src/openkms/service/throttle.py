"""Request quotas: a token bucket per (account, Region, quota), as AWS KMS throttles.

Which quota a request counts against and AWS's default rates are
:mod:`openkms.domain.quotas`; an operator's overrides (``openkms admin quota set``) are
read from the database at start and every :data:`REFRESH_SECONDS` after. A request over
its quota is refused with ``ThrottlingException`` (HTTP 400, AWS's message) before its
handler runs; the refusal is recorded in the audit trail like any other failed call and
counted in :attr:`Throttle.throttled` (the metrics' ``openkms_throttled_requests_total``).

Each bucket holds at most one second of its rate (at least one request), so a burst of
up to the per-second quota passes and the sustained rate is the quota, as AWS's "in each
one-second interval" describes.

Several processes (``serve --workers N``, several nodes with ``--quota-nodes``) each
enforce their share of every rate (``share`` = 1 / (workers × nodes)), with no
coordination on the request path: the whole service never admits more than the quota
(plus one second's burst per process), and admits less when the callers' connections
land unevenly on the processes (a caller whose keep-alive connection stays on one of N
workers gets 1/N of the quota). That is the approximation: cheap (a dictionary lookup and
a few float operations per request, under a lock no other process shares) and safe
against overload, at the cost of throttling early under skewed load.

On the event loop a request may be started, then handed to a thread (``Offload``): the
tokens it took on the loop are given back (:meth:`Throttle.inline`), so it counts once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from openkms.domain import quotas
from openkms.domain.keys import Key
from openkms.errors import ThrottlingException
from openkms.service.context import RequestContext
from openkms.storage.quotas import repository as quota_records
from openkms.storage.repository import Offload, StorageError, Store

log = logging.getLogger("openkms.quotas")

#: Seconds between reads of the overrides table (a change made with ``openkms admin quota
#: set`` applies within this bound on every process).
REFRESH_SECONDS = 2.0
#: At most one warning per account, Region and quota in this many seconds (a throttled
#: caller retries: a line per refusal would flood the log).
WARN_SECONDS = 60.0


class Bucket:
    """Tokens refilled at ``rate`` per second up to ``capacity``; one per request."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True

    def give_back(self) -> None:
        self.tokens = min(self.tokens + 1.0, self.capacity)


class Throttle:
    """The request quotas of one server process (``enabled=False``: nothing is limited)."""

    def __init__(self, store: Store | None, *, enabled: bool, share: float = 1.0) -> None:
        self.enabled = enabled and store is not None
        self._store = store
        self._share = share
        self._buckets: dict[tuple[str, str, str], Bucket | None] = {}
        self._overrides: Mapping[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        #: Refused requests by quota name (read by the metrics).
        self.throttled: dict[str, int] = {}
        self._warned: dict[tuple[str, str, str], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request path ------------------------------------------------------------
    def charge_request(
        self, ctx: RequestContext, operation: str, params: Mapping[str, Any]
    ) -> None:
        """Count a request against the quota its operation (or parameters) names."""
        if self.enabled:
            quota = quotas.request_quota(operation, params)
            if quota is not None:
                self._charge(ctx.account, ctx.region, quota)

    def charge_keys(self, ctx: RequestContext, operation: str, keys: Sequence[Key | None]) -> None:
        """Count a cryptographic operation against its key's type's shared quota (the
        first key's: ReEncrypt's source key)."""
        if self.enabled and operation in quotas.CRYPTO_OPERATIONS and keys:
            key = keys[0]
            if key is not None:
                self._charge(ctx.account, ctx.region, quotas.key_quota(key.spec))

    def _charge(self, account: str, region: str, quota: str) -> None:
        slot = (account, region, quota)
        with self._lock:
            bucket = self._buckets.get(slot, _UNSEEN)
            if bucket is _UNSEEN:
                bucket = self._buckets[slot] = self._new_bucket(account, region, quota)
            if bucket is None:
                return
            now = time.monotonic()
            if not bucket.take(now):
                self.throttled[quota] = self.throttled.get(quota, 0) + 1
                self._warn(slot, now)
                raise ThrottlingException(quotas.THROTTLED_MESSAGE)
        inline = self._inline
        if inline is not None and self._store is not None and self._store.memory_only:
            inline.append(bucket)

    def _warn(self, slot: tuple[str, str, str], now: float) -> None:
        last = self._warned.get(slot)
        if last is None or now - last >= WARN_SECONDS:
            self._warned[slot] = now
            account, region, quota = slot
            log.warning(
                "throttling account %s in %s: over its %s quota (%g requests per second)",
                account,
                region,
                quota,
                self.rate_of(account, region, quota) or 0.0,
            )

    _inline: list[Bucket] | None = None

    @contextmanager
    def inline(self) -> Iterator[None]:
        """Around an attempt on the event loop: what it took is given back if it is
        handed to a thread (:class:`Offload`), which counts the request again."""
        charges: list[Bucket] = []
        self._inline = charges
        try:
            yield
        except Offload:
            with self._lock:
                for bucket in charges:
                    bucket.give_back()
            raise
        finally:
            self._inline = None

    def _new_bucket(self, account: str, region: str, quota: str) -> Bucket | None:
        rate = self.rate_of(account, region, quota)
        return None if rate is None else Bucket(rate * self._share, time.monotonic())

    def rate_of(self, account: str, region: str, quota: str) -> float | None:
        """The effective rate of a quota for an account (its override, the ``*`` override,
        or AWS's default), for the whole service; None: not limited."""
        found = self._overrides.get((account, quota))
        if found is None:
            found = self._overrides.get((quota_records.EVERY_ACCOUNT, quota))
        return found if found is not None else quotas.default_rate(quota, region)

    # -- overrides -------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the overrides; when they changed, start every bucket afresh."""
        if self._store is None:
            return
        with self._store.transaction() as tx:
            found = quota_records.overrides(tx)
        if found != self._overrides:
            with self._lock:
                self._overrides = found
                self._buckets = {}

    def start(self) -> None:
        """Read the overrides now and then every :data:`REFRESH_SECONDS` on a thread."""
        if not self.enabled or self._thread is not None:
            return
        self.refresh()

        def run() -> None:
            while not self._stop.wait(REFRESH_SECONDS):
                try:
                    self.refresh()
                except StorageError:
                    log.warning("could not read the quota overrides; keeping the last ones")

        self._thread = threading.Thread(target=run, name="openkms-quotas", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


_UNSEEN: Any = object()
