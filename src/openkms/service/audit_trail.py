"""Every call leaves a CloudTrail record, committed before its response is sent.

* State changes (write operations): the record is appended in the same transaction as
  the change, so a change without its record cannot exist.
* Everything else (reads, cryptographic operations, failed calls): the record is handed
  to :class:`AuditWriter`, whose one thread appends whatever has queued up in a single
  transaction (group commit: a burst of Encrypt calls costs few fsyncs) and only then
  releases the waiting responses. If the batch fails, each request's records are
  retried in a transaction of their own: a record the database refuses fails only its
  own request, with KMSInternalException (there is no unaudited operation), and never
  the requests that happened to share its batch.

The request thread only captures a call (an :class:`AuditedCall`: references to its
request and response, an id from :mod:`openkms.audit.event_ids`); building the record
(bounds, redaction, userIdentity) is the writer thread's work, done before its write
transaction begins, since everything on the request thread delays a response.

A call on a key of another account is recorded for both accounts (same
``sharedEventID``), as CloudTrail does; a denied one only for the caller's.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import queue
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from openkms.audit.event_ids import new_event_id
from openkms.audit.records import SECRET_MEMBERS, AuditedCall, indexed_record
from openkms.domain.audit import PendingRecord
from openkms.domain.keys import Key
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, AWSError
from openkms.service.audit_sealer import Sealer
from openkms.storage.audit.trail import CheckedRecord, check_record
from openkms.storage.repository import DatabaseUnavailable, Store, Tx

log = logging.getLogger("openkms.audit")

#: Appends records (CloudTrail dicts with their recipient account) inside a transaction.
Appender = Callable[[Tx, Sequence["Entry"]], None]


class Entry:
    """One record to store: the call, the account it is recorded for, and the
    ``sharedEventID`` of a call recorded for two accounts.

    The CloudTrail record (bounded and redacted) and the columns it is indexed by are
    built on first use, :meth:`pending`, then checked and encoded, :meth:`checked`: by
    the audit writer's thread, not on the request path, before its write transaction,
    and once (a batch retried request by request reuses them). The request thread
    hands the call's request and response over with it and does not change them after.
    ``record`` may be given ready-made instead; it is then indexed by its own fields.
    """

    __slots__ = ("_checked", "_given", "_pending", "call", "recipient_account", "shared_event_id")

    def __init__(
        self,
        record: Mapping[str, Any] | None,
        call: AuditedCall,
        recipient_account: str,
        shared_event_id: str | None = None,
    ) -> None:
        self._given = record
        self._pending: PendingRecord | None = None
        self._checked: CheckedRecord | None = None
        self.call = call
        self.recipient_account = recipient_account
        self.shared_event_id = shared_event_id

    @property
    def record(self) -> Mapping[str, Any]:
        """The CloudTrail record as stored."""
        return self.pending().record

    def pending(self) -> PendingRecord:
        """The record with its index columns, ready to append."""
        found = self._pending
        if found is None:
            if self._given is None:
                found = indexed_record(self.call, self.recipient_account, self.shared_event_id)
            else:
                found = PendingRecord.from_record(self._given, event_time=self.call.event_time)
            self._pending = found
        return found

    def checked(self) -> CheckedRecord:
        """The record checked against its columns and encoded, ready to append."""
        found = self._checked
        if found is None:
            found = self._checked = check_record(self.pending())
        return found

    def __reduce__(self) -> tuple[Callable[..., Entry], tuple[object, ...]]:
        """How an entry leaves the process (to the audit writer process): as a flat tuple,
        and without the members of its request and response that carry secrets
        (plaintext, data keys, ...), whichever way it is pickled. The record builder
        drops them anyway; they never need to cross."""
        call = self.call
        return (
            _entry_from,
            (
                self._given,
                _call_fields(call),
                _without_secrets(call.request),
                _without_secrets(call.response),
                self.recipient_account,
                self.shared_event_id,
            ),
        )


#: AuditedCall's fields but its request and response, in its constructor's order.
_CALL_FIELDS = tuple(
    f.name for f in dataclasses.fields(AuditedCall) if f.name not in ("request", "response")
)
_call_fields = operator.attrgetter(*_CALL_FIELDS)


def _without_secrets(members: Any) -> Any:
    if not isinstance(members, dict) or SECRET_MEMBERS.isdisjoint(members):
        return members
    return {k: v for k, v in members.items() if k not in SECRET_MEMBERS}


def _entry_from(
    given: Mapping[str, Any] | None,
    fields: tuple[Any, ...],
    request: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    recipient_account: str,
    shared_event_id: str | None,
) -> Entry:
    """An :class:`Entry` from its pickled form (:meth:`Entry.__reduce__`)."""
    values = dict(zip(_CALL_FIELDS, fields, strict=True))
    call = AuditedCall(request=request, response=response, **values)
    return Entry(given, call, recipient_account, shared_event_id)


@dataclass(slots=True)
class RequestTrail:
    """What one request's records need; the dispatcher fills in the keys it acted on."""

    request_id: str
    event_source: str
    event_name: str
    region: str
    source_ip: str
    user_agent: str
    now: float
    principal: Principal | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)
    appended: bool = False
    #: Outcome, for APIs that do not return it to the caller of ``entries`` (IAM, STS).
    response: Mapping[str, Any] | None = None
    error: AWSError | None = None
    additional: dict[str, Any] = field(default_factory=dict)

    def entries(
        self, response: Mapping[str, Any] | None, error: AWSError | None = None
    ) -> list[Entry]:
        principal = self.principal
        if principal is None:
            return []
        keys = self.keys
        call = AuditedCall(
            request_id=self.request_id,
            event_id=new_event_id(),
            event_time=self.now,
            event_source=self.event_source,
            event_name=self.event_name,
            region=self.region,
            source_ip=self.source_ip,
            user_agent=self.user_agent,
            principal=principal,
            request=self.request,
            response=response,
            error_code=None if error is None else error.type_name,
            error_message=None if error is None else error.message,
            resources=tuple([(key.account, key.arn) for key in keys]),
            additional=self.additional or None,
        )
        caller = principal.account
        owners = {key.account for key in keys if key.account != caller}
        if not owners or isinstance(error, AccessDeniedException):
            # Denied cross-account calls are logged only for the caller.
            return [Entry(None, call, caller)]
        shared = new_event_id()
        entries = [Entry(None, call, caller, shared)]
        for owner in sorted(owners):
            other = dataclasses.replace(call, event_id=new_event_id())
            entries.append(Entry(None, other, owner, shared))
        return entries

    def append_in(self, tx: Tx, appender: Appender, response: Mapping[str, Any]) -> None:
        """Append this call's records inside the transaction that makes its change."""
        appender(tx, self.entries(response))
        self.appended = True


class AuditSink(Protocol):
    """Where a server process hands its records: :class:`AuditWriter` (a thread of the
    process) or :class:`openkms.server.audit_process.ProcessAuditWriter` (a process)."""

    def start(self) -> None: ...

    def submit(self, entries: Sequence[Entry]) -> Future[None]: ...

    def close(self) -> None: ...


class _Settled(Protocol):
    """Where :meth:`AuditWriter._commit` puts a request's outcome: a Future, or an
    :class:`_Outcome` when nobody waits on another thread."""

    def set_result(self, result: None) -> None: ...

    def set_exception(self, exception: BaseException | None) -> None: ...


class _Outcome:
    """A request's outcome read back by :meth:`AuditWriter.commit_requests` on its own
    thread: no lock and no condition, which a Future costs to make and to settle."""

    __slots__ = ("failure",)

    def __init__(self) -> None:
        self.failure: BaseException | None = None

    def set_result(self, result: None) -> None:
        pass

    def set_exception(self, exception: BaseException | None) -> None:
        self.failure = exception


class AuditWriter:
    """Group commit of audit records on one background thread."""

    def __init__(
        self,
        store: Store,
        appender: Appender,
        *,
        sealer: Sealer | None = None,
        inline: bool = False,
        max_batch: int = 1024,
    ) -> None:
        """``inline``: commit in the caller's thread (an in-memory database has one
        connection, which two threads must not share). ``sealer`` signs the digests, on
        this writer's thread: at :meth:`start`, on its schedule and at :meth:`close`."""
        self._store = store
        self._appender = appender
        self._sealer = sealer
        self._inline = inline
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Sequence[Entry], Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, entries: Sequence[Entry]) -> Future[None]:
        """Queue records; the future completes when they are durably stored."""
        done: Future[None] = Future()
        if not entries:
            done.set_result(None)
            return done
        if self._inline:
            self._commit([(entries, done)])
            return done
        self._start()
        self._queue.put((entries, done))
        return done

    def start(self) -> None:
        """Sign the start digest, then start the writer thread (rather than with the
        first records); a start digest that cannot be signed is raised."""
        self._store.keep_wal_small()  # the trail's appends are most of the log's pages
        if self._sealer is not None:
            self._sealer.start()
        if not self._inline:
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # The writer thread shares the GIL with the event loop; a short switch
                    # interval keeps it from holding up request handling (convoy effect).
                    sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
                    self._thread = threading.Thread(
                        target=self._run, name="openkms-audit-writer", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=max(0.05, self.seal_wait()))
            except queue.Empty:
                self._seal_if_due()
                continue
            if item is None:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)
            self._seal_if_due()

    def commit_requests(self, requests: Sequence[Sequence[Entry]]) -> list[BaseException | None]:
        """Store several requests' records now, as one group commit (falling back to one
        transaction per request); what refused each request's records, or None."""
        outcomes = [_Outcome() for _ in requests]
        self._commit(list(zip(requests, outcomes, strict=True)))
        return [o.failure for o in outcomes]

    def seal_wait(self) -> float:
        """Seconds until a digest may be due (how long an idle writer may sleep)."""
        return 3600.0 if self._sealer is None else self._sealer.wait()

    def seal_if_due(self) -> None:
        self._seal_if_due()

    def _seal_if_due(self) -> None:
        if self._sealer is not None:
            self._sealer.seal_if_due()

    def _commit(self, batch: Sequence[tuple[Sequence[Entry], _Settled]]) -> None:
        """Store a batch in one transaction; if that fails, store each request's records
        in a transaction of its own, so that a record the database refuses fails only
        the request it belongs to (fail closed), never the others of its batch."""
        try:
            self._append([entry for entries, _ in batch for entry in entries])
        except DatabaseUnavailable as exc:
            # Not a record the database refuses (a lock timeout, the server gone): one
            # transaction per request would wait as long again for each of them.
            log.error("an audit batch of %d requests failed: %s", len(batch), exc)
            for _, done in batch:
                done.set_exception(exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                log.exception("audit records could not be stored; failing the request")
                batch[0][1].set_exception(exc)
                return
            log.warning(
                "an audit batch of %d requests failed (%s); storing each request on its own",
                len(batch),
                type(exc).__name__,
            )
            for item in batch:
                self._commit([item])
            return
        if self._sealer is not None:
            self._sealer.note(sum(len(entries) for entries, _ in batch))
        for _, done in batch:
            done.set_result(None)

    def _append(self, entries: list[Entry]) -> None:
        try:
            self._append_once(entries)
        except Exception:
            if self._sealer is None or not self._sealer.failed_in_commit():
                raise
            self._append_once(entries)  # once more, without the digest that failed in it

    def _append_once(self, entries: list[Entry]) -> None:
        for entry in entries:
            entry.checked()  # built before the write transaction takes the database's lock
        # Records change no state that is cached: the read cache stays valid.
        with self._store.transaction(write=True, changes_state=False) as tx:
            self._appender(tx, entries)
            if self._sealer is not None:
                self._sealer.seal_in(tx, len(entries))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._sealer is not None:
            self._sealer.stop()
