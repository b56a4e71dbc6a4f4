"""The digest that the number of records makes due is signed inside the group commit
that appends them (no transaction or fsync of its own), and a failure to sign it there
loses no record."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from audit_support import start_trail
from test_record_bounds import entries

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.server.bootstrap import append_audit_entries
from openkms.service import audit_sealer
from openkms.service.audit_sealer import Sealer
from openkms.service.audit_trail import AuditWriter, Entry
from openkms.storage.audit import digests as digest_store
from openkms.storage.audit import trail
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import StorageError, Store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    if request.param == "sqlite":
        url = sqlite_url(str(tmp_path))
    else:
        url = request.getfixturevalue("postgres").create_database(f"seal_{uuid.uuid4().hex[:10]}")
    s = Store(make_engine(url))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture()
def writer(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditWriter]:
    monkeypatch.setattr(audit_sealer, "SEAL_RECORDS", 6)
    keyring = SoftwareKeyring(new_root_key())
    start_trail(store, keyring)
    w = AuditWriter(store, append_audit_entries, sealer=Sealer(store, keyring), inline=True)
    yield w


def commit(writer: AuditWriter, requests: Sequence[Sequence[Entry]]) -> list[Future[None]]:
    batch: list[tuple[Sequence[Entry], Future[None]]] = [(e, Future()) for e in requests]
    writer._commit(batch)
    return [done for _, done in batch]


def state(store: Store) -> tuple[int, list[tuple[str, int, int]]]:
    with store.transaction() as tx:
        head, _ = trail.read_head(tx)
        found = [(d.kind, d.seq_from, d.seq_to) for d in digest_store.read_digests(tx)]
    return head, found


def test_the_count_due_digest_is_signed_in_the_commit_that_makes_it_due(
    store: Store, writer: AuditWriter
) -> None:
    commit(writer, [entries("Encrypt") for _ in range(4)])
    head, found = state(store)
    assert (head, found) == (4, [("start", 1, 0)])  # 4 of 6: not due yet
    commit(writer, [entries("Decrypt") for _ in range(3)])
    head, found = state(store)
    assert (head, found) == (7, [("start", 1, 0), ("seal", 1, 7)])  # in the same commit
    writer.seal_if_due()  # the count starts again: nothing more is due
    assert state(store)[1] == [("start", 1, 0), ("seal", 1, 7)]


def test_a_digest_that_fails_in_the_commit_loses_no_record(
    store: Store, writer: AuditWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Sealer, tx: Any) -> Any:
        # A statement that fails inside the commit (on PostgreSQL the whole transaction is
        # then refused at commit), as a damaged signing key row would.
        tx.cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(Sealer, "_signer_for", broken)
    commit(writer, [entries("Encrypt") for _ in range(3)])
    outcomes = commit(writer, [entries("Encrypt") for _ in range(3)])  # a batch of several
    assert all(f.exception() is None for f in outcomes)
    outcomes = commit(writer, [entries("Encrypt")])  # and one alone
    assert outcomes[0].exception() is None
    head, found = state(store)
    assert (head, found) == (7, [("start", 1, 0)])
    monkeypatch.undo()
    monkeypatch.setattr(audit_sealer, "SEAL_RECORDS", 6)
    writer._sealer._next_check = 0.0  # type: ignore[union-attr]
    writer.seal_if_due()  # the broken schedule is taken up again by a start digest
    assert state(store)[1] == [("start", 1, 0), ("start", 1, 7)]


def test_a_commit_that_postgresql_turned_into_a_rollback_is_an_error(
    store: Store, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL answers COMMIT with ROLLBACK (no error) when a statement of the
    transaction failed and the error was caught: the store says so instead of letting
    the caller believe its writes were stored. (SQLite keeps the transaction.)"""
    on_postgres = "postgres" in request.node.callspec.id
    try:
        with store.transaction(write=True, changes_state=False) as tx:  # as audit appends
            with contextlib.suppress(Exception):
                tx.cursor.execute("SELECT * FROM no_such_table")
    except StorageError as exc:
        assert on_postgres and "rolled the transaction back" in str(exc)
    else:
        assert not on_postgres
