"""``Store.hold_write_connection`` (the audit writer process): one connection for every
write transaction of the thread, rolled back when the work fails, replaced when the
database failed on it."""

from __future__ import annotations

import pytest

from openkms.storage import statements as shared_statements
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import DuplicateError, StorageError, Store


def _meta(store: Store, name: str) -> None:
    with store.transaction(write=True) as tx:
        tx.execute(shared_statements.meta_insert, {"name": name, "value": b"v"})


def _names(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT name FROM openkms_meta")}


def test_one_connection_is_kept_and_replaced_after_a_failure(tmp_path) -> None:
    store = Store(make_engine(sqlite_url(str(tmp_path))))
    try:
        store.hold_write_connection()
        _meta(store, "a")
        held = store._local.writer
        _meta(store, "b")
        assert store._local.writer is held
        with pytest.raises(RuntimeError), store.transaction(write=True) as tx:
            tx.execute(shared_statements.meta_insert, {"name": "c", "value": b"v"})
            raise RuntimeError("the work failed")
        assert store._local.writer is held  # rolled back, still good
        with pytest.raises(StorageError), store.transaction(write=True) as tx:
            tx.execute(shared_statements.meta_insert, {"name": "a", "value": b"v"})
        assert store._local.writer is None  # the database refused: a new one next
        with pytest.raises(DuplicateError), store.transaction(write=True) as tx:
            tx.insert_unique(shared_statements.meta_insert, {"name": "b", "value": b"v"}, "b")
        _meta(store, "d")
        assert store._local.writer is not None and store._local.writer is not held
        assert {"a", "b", "d"} <= _names(store) and "c" not in _names(store)
    finally:
        store.close()
    assert store._held == []
