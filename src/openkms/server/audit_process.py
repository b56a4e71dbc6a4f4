"""The audit writer in a process of its own, so that storing records never holds the GIL
of the process answering requests.

Why: in one process, the writer thread's work (building records, hashing the chain, one
SQLite call per row, the commit) competes with the event loop for the GIL, and each of
its database calls releases the GIL and then waits up to a switch interval to get it
back. Under load a group commit of 8 records took 3.5-4.5 ms that way, against about
0.5 ms alone, and the answers waiting for it held the whole server to ~1,600 Encrypts/s
(bench/profile_op.py --gil: the GIL idle a third of the time). Here the server process
only hands each request's records over a pipe; the writer process (``python -m
openkms.server.audit_process``, one per server process) does the rest with a GIL of its
own.

Protocol (both ways: a 4-byte big-endian length, then a pickle; the pipe is private to
the two processes):

* server → writer, first: the server's :class:`~openkms.server.bootstrap.Settings`. The
  writer opens the same database and root keyring (:func:`bootstrap.open_state`, nothing
  created) and answers ``"ready"`` or the one-line reason it cannot.
* server → writer, then: ``(batch id, [records of one request, ...])``. Members that carry
  secrets (plaintext, data keys, ...) are dropped from each call's request and response
  before they leave the server process (``Entry.__reduce__``: an entry never pickles
  with them); the writer's record builder drops them anyway.
* writer → server: ``(batch id, [None or the reason a request's records were refused,
  ...])``, once the batch is durable. The writer reads every batch waiting in the pipe
  and stores them in one transaction (group commit), falling back to one transaction
  per request when that fails, as the in-process writer does: a record the database
  refuses fails its own request only.

Failure: if the writer process dies, every request waiting on it fails (the server
answers KMSInternalException: no operation goes unaudited) and the next records start a
new writer. If the server process dies (even ``kill -9``), the writer sees its pipe
close, stores what it has read (records of requests never answered, which is harmless),
and exits. The writer signs the trail's digests (openkms.service.audit_sealer): a
``start`` digest before it answers ``"ready"`` (covering whatever a crash left
unsealed), then on schedule, and a ``stop`` digest when its pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import IO, Any

from openkms.service.audit_trail import Entry

log = logging.getLogger("openkms.audit")

_LENGTH = struct.Struct(">I")
#: Records of one request, and where its outcome goes.
_Waiter = tuple[Sequence[Entry], "asyncio.Future[None]"]


class AuditWriterUnavailable(RuntimeError):
    """The writer process is gone: records waiting on it were not (known to be) stored."""


def write_frame(out: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


class FrameReader:
    """Frames from a pipe's file descriptor, kept in a buffer of its own, so that
    :meth:`buffered` tells whether a whole frame is already here (``select`` on the
    descriptor cannot see what has been read in already)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def buffered(self) -> bool:
        buf = self._buffer
        if len(buf) < _LENGTH.size:
            return False
        size: int = _LENGTH.unpack_from(buf)[0]
        return len(buf) >= _LENGTH.size + size

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def take(self) -> Any:
        """The first whole frame's value (call only when :meth:`buffered`)."""
        (size,) = _LENGTH.unpack_from(self._buffer)
        end = _LENGTH.size + size
        data = bytes(self._buffer[_LENGTH.size : end])
        del self._buffer[:end]
        return pickle.loads(data)  # a private pipe between our own two processes

    def read(self) -> Any:
        """The next value, waiting for it; EOFError once the other side has closed."""
        while not self.buffered():
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        return self.take()


_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _transportable(item: _Waiter) -> _Waiter | None:
    """A request's records in a form that pickles: as they are, or else built here (the
    record bounds what the request shaped) and sent ready-made; None, with the request
    failed, when neither pickles (no answer without its record)."""
    entries, done = item
    try:
        pickle.dumps(entries, _PROTOCOL)
        return item
    except Exception:
        pass
    try:
        built = [
            Entry(
                dict(e.record),
                dataclasses.replace(e.call, request={}, response=None),
                e.recipient_account,
                e.shared_event_id,
            )
            for e in entries
        ]
        pickle.dumps(built, _PROTOCOL)
        return built, done
    except Exception as exc:
        log.error("audit records of a request could not be handed over: %r", exc)
        if not done.done():
            done.set_exception(AuditWriterUnavailable("audit records could not be handed over"))
        return None


class ProcessAuditWriter:
    """The server process's side: a client of the writer process that lives on the
    event loop, with no thread of its own (a thread would have to win the GIL back from
    the loop at every hand-over, up to a switch interval each time).

    :meth:`submit_async` (on the loop) queues a request's records; once per turn of the
    loop everything queued goes to the writer as one frame, and the writer's answers are
    read by a reader callback on the loop that completes the waiting futures directly."""

    def __init__(self, settings: object) -> None:
        self._settings = settings
        self._proc: subprocess.Popen[bytes] | None = None
        self._replies: FrameReader | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: list[_Waiter] = []
        self._unsent = bytearray()
        self._pending: dict[int, list[asyncio.Future[None]]] = {}
        self._next_batch = 0
        self._last_spawn = 0.0

    def start(self) -> None:
        """Start the writer process and wait until it has opened the database; its
        records are then handed over from the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._spawn()

    def _spawn(self) -> None:
        self._last_spawn = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "openkms.server.audit_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        replies = FrameReader(proc.stdout.fileno())
        try:
            write_frame(proc.stdin, self._settings)
            answer = replies.read()
        except (EOFError, OSError):
            answer = "the audit writer process ended during its start"
        if answer != "ready":
            proc.kill()
            proc.wait()
            raise AuditWriterUnavailable(str(answer))
        os.set_blocking(proc.stdin.fileno(), False)
        os.set_blocking(replies.fd, False)
        self._proc, self._replies = proc, replies
        assert self._loop is not None
        self._loop.add_reader(replies.fd, self._on_replies)

    def revive(self) -> str | None:
        """On the event loop (the readiness check): start the writer process again if it
        is down, as the next records would; None when it runs, else why it does not."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return None
        if proc is not None:
            self._writer_ended(proc)  # died before its pipe told the loop
        if time.monotonic() - self._last_spawn < 1.0:
            return "the audit writer process is down"
        try:
            self._spawn()
        except (AuditWriterUnavailable, OSError) as exc:
            return f"the audit writer process cannot start: {exc}"
        return None

    def submit_async(self, entries: Sequence[Entry]) -> asyncio.Future[None]:
        """Queue one request's records (on the event loop); the future completes once
        they are durable."""
        loop = self._loop
        assert loop is not None, "start() first"
        done: asyncio.Future[None] = loop.create_future()
        if not entries:
            done.set_result(None)
            return done
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append((entries, done))
        return done

    def submit(self, entries: Sequence[Entry]) -> Future[None]:
        """:meth:`submit_async` from any thread, with a thread-safe future."""
        assert self._loop is not None, "start() first"
        done: Future[None] = Future()

        def hand_over() -> None:
            def settle(waiter: asyncio.Future[None]) -> None:
                failure = waiter.exception()
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

            self.submit_async(entries).add_done_callback(settle)

        self._loop.call_soon_threadsafe(hand_over)
        return done

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        try:
            self._hand_over(batch)
        except Exception:
            # Never leave a request waiting for ever: it fails, closed.
            log.exception("audit records could not be handed to the writer process")
            self._fail([done for _, done in batch], "audit records could not be handed over")

    def _hand_over(self, batch: list[_Waiter]) -> None:
        if self._proc is None:
            if time.monotonic() - self._last_spawn < 1.0:
                self._fail([done for _, done in batch], "the audit writer process is down")
                return
            try:
                self._spawn()
            except (AuditWriterUnavailable, OSError) as exc:
                log.error("cannot restart the audit writer process: %s", exc)
                self._fail([done for _, done in batch], str(exc))
                return
        batch_id = self._next_batch
        self._next_batch += 1
        try:
            data = pickle.dumps((batch_id, [entries for entries, _ in batch]), _PROTOCOL)
        except Exception:  # e.g. RecursionError: a request nested too deep to pickle
            batch = [item for item in map(_transportable, batch) if item is not None]
            data = pickle.dumps((batch_id, [entries for entries, _ in batch]), _PROTOCOL)
        self._pending[batch_id] = [done for _, done in batch]
        self._unsent += _LENGTH.pack(len(data)) + data
        self._write()

    def _write(self) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        fd = proc.stdin.fileno()
        try:
            written = os.write(fd, self._unsent)
        except BlockingIOError:
            written = 0
        except OSError:
            self._writer_ended(proc)
            return
        del self._unsent[:written]
        assert self._loop is not None
        if self._unsent:
            self._loop.add_writer(fd, self._write)  # the pipe is full: go on when it drains
        else:
            self._loop.remove_writer(fd)

    def _on_replies(self) -> None:
        replies, proc = self._replies, self._proc
        if replies is None or proc is None:
            return
        try:
            data = os.read(replies.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._writer_ended(proc)
            return
        replies.feed(data)
        while replies.buffered():
            batch_id, outcomes = replies.take()
            for done, outcome in zip(self._pending.pop(batch_id, []), outcomes, strict=False):
                if done.done():
                    continue
                if outcome is None:
                    done.set_result(None)
                else:
                    done.set_exception(AuditWriterUnavailable(outcome))

    def _writer_ended(self, proc: subprocess.Popen[bytes]) -> None:
        """The writer is gone: what it had not confirmed is not known to be stored."""
        if self._proc is not proc:
            return
        assert self._loop is not None and self._replies is not None and proc.stdin is not None
        self._loop.remove_reader(self._replies.fd)
        self._loop.remove_writer(proc.stdin.fileno())
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.kill()
        proc.wait()
        _close_replies(proc)
        self._proc = self._replies = None
        self._unsent.clear()
        lost = [done for futures in self._pending.values() for done in futures]
        self._pending.clear()
        log.error("the audit writer process ended; failing %d waiting requests", len(lost))
        self._fail(lost, "the audit writer process ended")

    @staticmethod
    def _fail(futures: Sequence[asyncio.Future[None]], reason: str) -> None:
        for done in futures:
            if not done.done():
                done.set_exception(AuditWriterUnavailable(reason))

    async def aclose(self) -> None:
        """Hand over what is queued, wait for the writer to store it, seal and exit."""
        self._flush()
        while self._pending and self._proc is not None:
            await asyncio.sleep(0.01)
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._loop is not None and self._replies is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._replies.fd)
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close_replies(proc)


def _close_replies(proc: subprocess.Popen[bytes]) -> None:
    """Close the server's end of a finished writer's reply pipe (each restart would
    otherwise leave one open file behind)."""
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


# -- the writer process ----------------------------------------------------------------
def _serve(source: FrameReader, out: IO[bytes]) -> int:
    from openkms.server import bootstrap
    from openkms.service.audit_trail import AuditWriter

    settings = source.read()
    try:
        store, keyring = bootstrap.open_state(settings, create=False)
    except bootstrap.StartupError as exc:
        write_frame(out, str(exc))
        return 1
    store.hold_write_connection()  # this thread commits every group and digest
    writer = AuditWriter(
        store,
        bootstrap.append_audit_entries,
        sealer=bootstrap.audit_sealer(settings, store, keyring),
        inline=True,
    )
    try:
        writer.start()  # the start digest, before any record of this server
    except Exception as exc:
        log.exception("the audit writer could not sign its start digest")
        write_frame(out, f"cannot sign the audit trail's start digest: {_reason(exc)}")
        store.close()
        return 1
    write_frame(out, "ready")
    arrived: queue.Queue[_Batch | None] = queue.Queue()
    threading.Thread(
        target=_receive, args=(source, arrived), name="openkms-audit-receive", daemon=True
    ).start()
    try:
        while True:
            try:
                first = arrived.get(timeout=writer.seal_wait())
            except queue.Empty:
                writer.seal_if_due()
                continue
            batches: list[_Batch] = []
            ended = first is None
            if first is not None:
                batches.append(first)
            # Every batch already received joins this group commit.
            while not ended and len(batches) < 64:
                try:
                    more = arrived.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    ended = True
                else:
                    batches.append(more)
            _store(writer, batches, out)
            if ended:
                return 0
            writer.seal_if_due()
    finally:
        writer.close()
        store.close()


#: One frame from the server: a batch id and the records of each of its requests.
_Batch = tuple[int, list[Sequence[Entry]]]


def _receive(source: FrameReader, arrived: queue.Queue[_Batch | None]) -> None:
    """Read the server's frames and build their records (the CloudTrail record, its
    index columns, the canonical JSON), on a thread of its own: this work then overlaps
    the commit of the group before, whose fsync releases the GIL, instead of adding to
    the time a request waits. A record that cannot be built is left as it is: the
    commit builds it again and fails that request alone. None: the server has gone."""
    while True:
        try:
            batch: _Batch = source.read()
        except (EOFError, OSError):
            arrived.put(None)
            return
        except Exception:
            # A frame that does not load: stop, so that the server sees this writer end
            # and fails what waits on it, rather than wait for answers that never come.
            log.exception("unreadable frame from the server; the audit writer stops")
            arrived.put(None)
            return
        for entries in batch[1]:
            for entry in entries:
                with contextlib.suppress(Exception):
                    entry.checked()
        arrived.put(batch)


def _store(writer: Any, batches: list[_Batch], out: IO[bytes]) -> None:
    requests = [entries for _, group in batches for entries in group]
    if not requests:
        return
    outcomes = writer.commit_requests(requests)
    at = 0
    for batch_id, group in batches:
        mine = outcomes[at : at + len(group)]
        at += len(group)
        with contextlib.suppress(OSError):  # the server is gone: nobody is waiting
            write_frame(out, (batch_id, [None if o is None else _reason(o) for o in mine]))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def main() -> int:
    # Frames go to the server on the original stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    return _serve(FrameReader(sys.stdin.fileno()), out)


if __name__ == "__main__":
    raise SystemExit(main())
