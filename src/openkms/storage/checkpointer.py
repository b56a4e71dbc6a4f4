"""SQLite's write-ahead log copied into the database file by a thread of its own, not by
the commit that happens to cross the checkpoint threshold.

With ``wal_autocheckpoint`` alone, the connection whose commit brings the log to
:data:`~openkms.storage.engine.WAL_CHECKPOINT_PAGES` pages runs the checkpoint inside
that commit: it copies every page the log holds into the database file and fsyncs it.
Under a steady Encrypt load that is the audit writer, every ~0.6 s, and the group commit
that runs it took 11-22 ms instead of 0.7 ms (writer-process timings, 5,000 Encrypts/s):
the 16 requests waiting on it, and those queued behind, made the p99.

Here the process that appends the audit trail runs :class:`WalCheckpointer`: every
:data:`INTERVAL` it runs a PASSIVE checkpoint on a connection of its own. A passive
checkpoint copies what it can without taking the write lock, so commits go on meanwhile,
and each one copies only the frames logged since the one before. SQLite can start the log
again from its beginning only when a write transaction begins with the whole log copied;
under a steady load commits keep arriving during the copy, so once the log holds more
than :data:`RESTART_FRAMES` frames the next checkpoint runs holding the write lock
(:mod:`openkms.storage.write_lock`): it copies the few frames since the one before, the
next commit restarts the log, and the log stays a few megabytes. The automatic
checkpoint stays on for every connection, the backstop if this thread stops.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

from openkms.storage.write_lock import WriteLock

log = logging.getLogger("openkms.storage")

#: Seconds between checkpoints.
INTERVAL = 0.1
#: Frames (pages) in the log above which the next checkpoint holds the write lock so that
#: the log can start again (4,000 frames of 4 KiB: 16 MB, under the automatic threshold).
RESTART_FRAMES = 4_000


class WalCheckpointer:
    """Checkpoints one SQLite file database from a daemon thread (see the module)."""

    def __init__(self, path: str, write_lock: WriteLock | None, interval: float = INTERVAL):
        self.path = path
        self.write_lock = write_lock
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None
        self._restart_next = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name="openkms-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None

    def checkpoint(self) -> tuple[int, int]:
        """One checkpoint: (frames in the log, frames copied), -1 each if the database
        was busy (another checkpoint running)."""
        assert self._connection is not None, "start() first"
        lock = self.write_lock if self._restart_next else None
        if lock is not None:
            try:
                lock.acquire()
            except TimeoutError:
                lock = None  # a writer holds on: try again without it next time
        try:
            row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            if lock is not None:
                lock.release()
        busy, logged, copied = (int(v) for v in row)
        self._restart_next = not busy and logged > RESTART_FRAMES and lock is None
        return logged, copied

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except sqlite3.Error as exc:
                # Harmless to skip: the automatic checkpoint still bounds the log.
                log.warning("WAL checkpoint failed: %s", exc)
