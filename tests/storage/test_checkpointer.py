"""The write-ahead log is checkpointed by a thread of the appending process
(openkms.storage.checkpointer), and kept short: once it holds more than RESTART_FRAMES
frames, a checkpoint under the write lock lets the next commit start it again."""

from __future__ import annotations

import sqlite3

from openkms.storage import checkpointer, statements
from openkms.storage.checkpointer import WalCheckpointer
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store
from openkms.storage.write_lock import WriteLock


def _store(tmp_path) -> tuple[Store, str]:
    path = str(tmp_path / "openkms.db")
    return Store(make_engine(sqlite_url(str(tmp_path))), write_lock=WriteLock(path, 0.2)), path


def _writes(store: Store, n: int) -> None:
    for _ in range(n):
        with store.transaction(write=True) as tx:
            tx.execute(statements.state_generation_bump, {})


def _frames(path: str) -> int:
    """Frames in the log now (a passive checkpoint reports them; copying is harmless)."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_long_log_is_started_again(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpointer, "RESTART_FRAMES", 20)
    store, path = _store(tmp_path)
    ckpt = WalCheckpointer(path, store.write_lock, interval=3600)  # driven by hand
    ckpt.start()
    try:
        _writes(store, 5)
        logged, copied = ckpt.checkpoint()
        assert 0 < logged <= 20 and copied == logged  # nothing else writing: all copied
        assert not ckpt._restart_next
        _writes(store, 40)
        logged, _ = ckpt.checkpoint()
        assert logged > 20 and ckpt._restart_next  # over the bound: the next one locks
        holder = WriteLock(path, 0)
        holder.acquire()  # a writer holds the lock longer than the lock timeout
        ckpt.checkpoint()  # so this one runs without it, and the next tries again
        assert ckpt._restart_next
        holder.close()
        ckpt.checkpoint()  # with the write lock: no commit can come between
        assert not ckpt._restart_next
        _writes(store, 1)  # the whole log was copied: this commit starts it again
        assert _frames(path) < 5
    finally:
        ckpt.stop()
        store.close()


def test_the_appending_process_checkpoints_from_a_thread(tmp_path):
    store, path = _store(tmp_path)
    store.keep_wal_small()
    store.keep_wal_small()  # once is enough: the second call starts nothing
    assert store._checkpointer is not None and store._checkpointer._thread is not None
    thread = store._checkpointer._thread
    _writes(store, 3)
    store.close()
    assert not thread.is_alive() and store._checkpointer is None


def test_only_sqlite_files_are_checkpointed():
    memory = Store(make_engine("sqlite://"))
    memory.keep_wal_small()
    assert memory._checkpointer is None
    memory.close()
