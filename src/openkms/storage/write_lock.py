"""One SQLite writer at a time across processes, without SQLite's sleeping busy handler.

SQLite lets one connection write at a time. A connection that finds the database locked
retries from its busy handler, which sleeps 1, 2, 5, 10, 15, ... ms between tries. Two
processes appending audit groups of about a millisecond each (``serve --workers 2``: each
worker has its own audit writer process) collide on almost every commit, and each
collision costs at least the first sleep: two workers answered 0.64x the Encrypts of one
(``bench/compare_trees.py w1=src "w2=src --workers 2"``).

So every write transaction on a SQLite file first takes an exclusive ``flock`` on a file
beside the database (``openkms.db-writelock``), which it holds until COMMIT or ROLLBACK.
A waiter tries again after 50 µs, doubling up to 250 µs, so it starts within a quarter
of a millisecond of the holder's end; with the lock held, SQLite's own lock is free when
``BEGIN IMMEDIATE`` asks for it. Measured (``bench/compare_trees.py``, 3 rounds, one run):
two workers 0.74x one worker with the lock (0.69-1.04x by round), 0.65x without, and their
p99 8.5-8.7 ms with it, 9-337 ms without. The wait
is bounded by the same lock timeout as SQLite's busy timeout (``--db-lock-timeout``; 0:
no bound); a writer that times out fails as a locked database does. Writers that do not
take this lock (another program, an older OpenKMS) are still kept out by SQLite's own
lock, only with the slower wait.

Each thread has its own open file description (``flock`` excludes between those, also
within one process), opened at its first write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time

from sqlalchemy.engine import make_url

#: First and longest pause between tries for a held lock, in seconds.
FIRST_PAUSE = 50e-6
LONGEST_PAUSE = 250e-6
SUFFIX = "-writelock"


class WriteLock:
    """The exclusive write lock of one SQLite database file (see the module docstring)."""

    def __init__(self, database_path: str, timeout: float) -> None:
        self.database_path = database_path
        self.path = database_path + SUFFIX
        #: Seconds to wait for the lock; 0 or less: wait as long as it takes.
        self.timeout = timeout
        self._local = threading.local()
        self._opened: list[int] = []
        self._opened_lock = threading.Lock()

    def acquire(self) -> None:
        """Take the lock for this thread; :class:`TimeoutError` after ``timeout``."""
        fd = self._fd()
        if fd is None:
            return  # no lock file: SQLite's own lock alone keeps writers apart
        if self.timeout <= 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        if _try(fd):
            return
        deadline = time.monotonic() + self.timeout
        pause = FIRST_PAUSE
        while True:
            time.sleep(pause)
            if _try(fd):
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"database is locked: another writer held it for over {self.timeout:g} s"
                )
            pause = min(2 * pause, LONGEST_PAUSE)

    def release(self) -> None:
        fd = self._fd()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close every thread's lock file (a lock still held is released with it)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for fd in opened:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._local = threading.local()

    def _fd(self) -> int | None:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:  # e.g. a read-only directory: no faster wait, still correct
                return None
            self._local.fd = fd
            with self._opened_lock:
                self._opened.append(fd)
        return fd


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def for_database(url: str, timeout: float) -> WriteLock | None:
    """The write lock of a SQLite file database URL; None for any other database (an
    in-memory one has one connection; PostgreSQL wakes lock waiters itself)."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return WriteLock(path, timeout)
