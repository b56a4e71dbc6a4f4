"""SQLite writers take a cross-process write lock before BEGIN IMMEDIATE
(openkms.storage.write_lock): one writer at a time, across threads and processes, and a
writer that waits longer than the lock timeout fails as a locked database does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from openkms.storage import statements
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import DatabaseUnavailable, Store
from openkms.storage.write_lock import SUFFIX, WriteLock, for_database

_HOLD = """
import sys
from openkms.storage.write_lock import WriteLock
lock = WriteLock(sys.argv[1], 0)
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_only_sqlite_files_have_a_lock(tmp_path):
    url = sqlite_url(str(tmp_path))
    lock = for_database(url, 5)
    assert lock is not None and lock.path == os.path.join(tmp_path, "openkms.db") + SUFFIX
    assert for_database("sqlite://", 5) is None
    assert for_database("sqlite:///:memory:", 5) is None
    assert for_database("postgresql://u@127.0.0.1/db", 5) is None


def test_one_holder_at_a_time_between_threads(tmp_path):
    lock = WriteLock(str(tmp_path / "db"), 0.2)
    lock.acquire()
    failures: list[BaseException] = []

    def other() -> None:
        try:
            lock.acquire()
        except TimeoutError as exc:
            failures.append(exc)

    waiter = threading.Thread(target=other)
    waiter.start()
    waiter.join()
    assert len(failures) == 1 and "locked" in str(failures[0])
    lock.release()

    def take_and_give_back() -> None:
        lock.acquire()
        lock.release()

    waiter = threading.Thread(target=take_and_give_back)
    waiter.start()
    waiter.join()
    lock.close()


def test_another_process_holding_the_lock_keeps_writers_out(tmp_path):
    path = str(tmp_path / "openkms.db")
    store = Store(make_engine(sqlite_url(str(tmp_path))), write_lock=WriteLock(path, 0.3))
    before = store.read_generation()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseUnavailable, match="locked"):
            with store.transaction(write=True) as tx:
                tx.execute(statements.state_generation_bump, {})
        assert store.read_generation() == before  # nothing half-written
    finally:
        holder.communicate("\n", timeout=10)  # the holder ends, and its lock with it
    with store.transaction(write=True) as tx:  # released with the process
        tx.execute(statements.state_generation_bump, {})
    assert store.read_generation() > before
    store.close()
