"""Request quotas: a token bucket per (account, Region, quota), as AWS KMS throttles.

Which quota a request counts against and AWS's default rates are
:mod:`openkms.domain.quotas`; an operator's overrides (``openkms admin quota set``) are
read from the database at start and every :data:`REFRESH_SECONDS` after. A request over
its quota is refused with ``ThrottlingException`` (HTTP 400, AWS's message) before its
handler runs; the refusal is recorded in the audit trail like any other failed call and
counted in :attr:`Throttle.throttled` (the metrics' ``openkms_throttled_requests_total``).

Each bucket holds at most one second of its rate (at least one request), so a burst of
up to the per-second quota passes and the sustained rate is the quota, as AWS's "in each
one-second interval" describes (a fast bucket lends its tokens out a hundredth of a
second's worth at a time: :class:`Bucket`).

Several processes (``serve --workers N``, several nodes with ``--quota-nodes``) each
enforce their share of every rate (``share`` = 1 / (workers × nodes)), with no
coordination on the request path: the whole service never admits more than the quota
(plus one second's burst per process), and admits less when the callers' connections
land unevenly on the processes (a caller whose keep-alive connection stays on one of N
workers gets 1/N of the quota). That is the approximation: cheap (a dictionary lookup and
an integer step per request, no lock; the clock is read once per lease of a fast bucket)
and safe against overload, at the cost of throttling early under skewed load. Within a
process, two request threads may both take a bucket's last token (no lock): at most one
request too many per thread.

A request counts once it is authorized, before its handler's work (before the key pair
of a CreateKey is generated), so a refused caller spends no token. A request started on
the event loop and handed to a thread after that point (only when its key version's
material was not yet in this process's cache: a key's first use) counts twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from openkms.domain import quotas
from openkms.domain.keys import Key, KeySpec
from openkms.errors import ThrottlingException
from openkms.service.context import RequestContext
from openkms.storage.quotas import repository as quota_records
from openkms.storage.repository import StorageError, Store

log = logging.getLogger("openkms.quotas")

#: Seconds between reads of the overrides table (a change made with ``openkms admin quota
#: set`` applies within this bound on every process).
REFRESH_SECONDS = 2.0
#: Tokens a fast bucket hands out at a time (see Bucket): the counter stays a small int.
MAX_LEASE = 200
#: At most one warning per account, Region and quota in this many seconds (a throttled
#: caller retries: a line per refusal would flood the log).
WARN_SECONDS = 60.0


class Bucket:
    """Tokens refilled at ``rate`` per second up to ``capacity`` (one second's worth, at
    least one); one per request.

    A fast bucket hands tokens out in leases of ``lease`` (a hundredth of a second's
    worth, at most :data:`MAX_LEASE`): a request that finds tokens left in the current
    lease only counts itself off (an integer step); the clock is read and the bucket
    refilled once per lease. A lease is taken only whole-or-part from what the bucket
    holds, so the sustained rate stays the quota; a burst may pass at most one lease early.
    """

    __slots__ = ("capacity", "lease", "leased", "rate", "stamp", "tokens", "used")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = now
        self.lease = max(1, min(MAX_LEASE, int(rate / 100)))
        #: Tokens of the current lease, and how many of them requests have used.
        self.leased = 0
        self.used = 0

    def take(self, now: float) -> bool:
        """Take one token (``now``: the monotonic clock), or refuse."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        granted = min(self.lease, int(tokens))
        if granted < 1:
            self.tokens = tokens
            return False
        self.tokens = tokens - granted
        self.leased, self.used = granted, 1
        return True


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
    def charge(
        self,
        ctx: RequestContext,
        operation: str,
        params: Mapping[str, Any],
        keys: Sequence[Key | None],
    ) -> None:
        """Count an authorized request against its quota: its operation's own (or its
        data key pair spec's), else, for a cryptographic operation, its key type's shared
        one (the first key's: ReEncrypt's source key). Raises ThrottlingException."""
        if not self.enabled:
            return
        quota = _FIXED.get(operation, _UNSEEN)
        if quota is _UNSEEN:  # GenerateDataKeyPair*, the cross-Region ones, the unlimited
            quota = quotas.request_quota(operation, params)
            for region, also in quotas.also_counts(operation, params):
                self._charge(ctx.account, region, also)
        elif quota is None and keys:  # a cryptographic operation
            key = keys[0]
            if key is not None:
                quota = _BY_SPEC[key.spec]
        if quota is not None:
            self._charge(ctx.account, ctx.region, quota)

    def _charge(self, account: str, region: str, quota: str) -> None:
        slot = (account, region, quota)
        bucket = self._buckets.get(slot, _UNSEEN)
        if bucket is _UNSEEN:
            with self._lock:  # one bucket per slot, whichever thread makes it
                bucket = self._buckets.setdefault(slot, self._new_bucket(account, region, quota))
        if bucket is None:
            return
        # Not locked: two threads taking the last token at once both pass (at most one
        # request per request thread too many); a lock would cost every request.
        if bucket.used < bucket.leased:  # a token of the current lease
            bucket.used += 1
            return
        now = time.monotonic()
        if not bucket.take(now):
            self.throttled[quota] = self.throttled.get(quota, 0) + 1
            self._warn(slot, now)
            raise ThrottlingException(quotas.THROTTLED_MESSAGE)

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
        """End the refresh thread (before the store closes under it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


_UNSEEN: Any = object()
_CROSS_REGION = ("ReplicateKey", "UpdatePrimaryRegion")  # quotas.also_counts
#: The quota of every operation that names its own; None for the cryptographic operations
#: (their key's type decides). Absent: GenerateDataKeyPair* and operations without one.
_FIXED: dict[str, str | None] = {
    **dict.fromkeys(quotas.CRYPTO_OPERATIONS),
    **{name: name for name in quotas.DEFAULTS if name not in _CROSS_REGION},
    "GenerateRandom": quotas.SYMMETRIC,
}
_BY_SPEC = {spec: quotas.key_quota(spec) for spec in KeySpec}
