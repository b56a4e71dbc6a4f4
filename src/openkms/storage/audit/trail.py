"""The audit trail over a :class:`~openkms.storage.repository.Tx`.

:func:`append_records` runs inside the caller's write transaction: it locks the chain
head (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions are ``BEGIN
IMMEDIATE`` already), numbers the records consecutively, links their hashes and moves
the head, so the records commit with whatever else the transaction changes, or not at
all, and appends from several server nodes form one chain. A value wider than its
column is refused here, on SQLite as on PostgreSQL (which would refuse it anyway, and
with it everything else in the transaction), with :class:`ColumnWidthError`.
:func:`check_record` does the checks (and the encoding) apart, so that the audit writer
does them before its transaction begins. The stored index columns are the ones
:func:`~openkms.domain.audit.index_columns` derives from the record (the columns a
caller claims are only checked against them). Digests are :mod:`.digests`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openkms.domain.audit import (
    GENESIS,
    IndexColumns,
    PendingRecord,
    StoredEvent,
    canonical_json,
    check_pending,
    link_hashes,
)
from openkms.storage.audit import statements
from openkms.storage.audit.tables import audit_events, audit_resources
from openkms.storage.repository import Tx

DEFAULT_PAGE = 1000


class ColumnWidthError(ValueError):
    """A record's index value is wider than its column."""


def _widths(columns: Any) -> dict[str, int]:
    return {c.name: c.type.length for c in columns if getattr(c.type, "length", None)}


_EVENT_WIDTHS = _widths(audit_events.c)
_RESOURCE_WIDTHS = _widths(audit_resources.c)
#: The bounded index columns (prev_hash and hash are made here).
_PENDING_WIDTHS = tuple(
    (name, width) for name, width in _EVENT_WIDTHS.items() if name in IndexColumns.__annotations__
)
_pending_values = operator.attrgetter(*(name for name, _ in _PENDING_WIDTHS))
_RESOURCE_NAME = _RESOURCE_WIDTHS["resource_name"]
_RESOURCE_TYPE = _RESOURCE_WIDTHS["resource_type"]


def _check_widths(pending: PendingRecord | IndexColumns) -> None:
    for (name, width), value in zip(_PENDING_WIDTHS, _pending_values(pending), strict=True):
        if isinstance(value, str) and len(value) > width:
            raise ColumnWidthError(f"audit column {name} holds at most {width} characters")
    for resource_name, resource_type in pending.resources:
        if len(resource_name) > _RESOURCE_NAME:
            raise ColumnWidthError(
                f"audit column resource_name holds at most {_RESOURCE_NAME} characters"
            )
        if len(resource_type) > _RESOURCE_TYPE:
            raise ColumnWidthError(
                f"audit column resource_type holds at most {_RESOURCE_TYPE} characters"
            )


def _require_write(tx: Tx) -> None:
    if not tx.write:
        raise RuntimeError("the audit trail is written only in a write transaction")


def lock_head(tx: Tx) -> tuple[int, str]:
    """Lock the chain head (creating it at GENESIS) and return ``(seq, hash)``."""
    _require_write(tx)
    row = tx.fetch_one(statements.audit_head_lock, {})
    if row is None:
        tx.execute(statements.audit_head_create, {"hash": GENESIS})
        row = tx.fetch_one(statements.audit_head_lock, {})
        if row is None:  # pragma: no cover - the row was just created
            raise RuntimeError("audit chain head missing")
    return int(row[0]), str(row[1])


def read_head(tx: Tx) -> tuple[int, str]:
    """The chain tip ``(seq, hash)`` without locking; ``(0, GENESIS)`` when empty."""
    row = tx.fetch_one(statements.audit_head_get, {})
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


@dataclass(frozen=True, slots=True)
class CheckedRecord:
    """A record :func:`check_record` accepted, with its canonical JSON (the bytes stored
    and hashed) and the index columns derived from it. Made only by
    :func:`check_record`: the writer checks and encodes its records before its
    transaction begins, so that none of that work holds the database's write lock."""

    pending: PendingRecord
    canonical: bytes
    columns: IndexColumns


def check_record(pending: PendingRecord) -> CheckedRecord:
    """Raise :class:`~openkms.domain.audit.RecordIndexError` if a column contradicts the
    record (or the record lacks what a column is derived from), :class:`ColumnWidthError`
    if a value is wider than its column."""
    columns = check_pending(pending)
    _check_widths(columns)
    return CheckedRecord(pending, canonical_json(pending.record), columns)


def append_records(tx: Tx, records: Sequence[PendingRecord], keyring: object = None) -> list[int]:
    """Append ``records`` to the chain in order and return their sequence numbers.

    Columns that contradict their record raise
    :class:`~openkms.domain.audit.RecordIndexError`, and values wider than their
    column :class:`ColumnWidthError`, before anything is written;
    ``keyring`` is accepted for symmetry with :func:`seal_digest` and unused."""
    del keyring
    return append_checked(tx, [check_record(pending) for pending in records])


def append_checked(tx: Tx, records: Sequence[CheckedRecord]) -> list[int]:
    """:func:`append_records` of records checked already."""
    if not records:
        return []
    seq, prev = lock_head(tx)
    first = seq + 1
    events: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    hashes = link_hashes(prev, first, [checked.canonical for checked in records])
    for checked, digest in zip(records, hashes, strict=True):
        pending, text = checked.columns, checked.canonical
        seq += 1
        # In the statement's column order (tables.EVENT_COLUMNS).
        events.append(
            {
                "seq": seq,
                "event_id": pending.event_id,
                "event_time": pending.event_time,
                "account_id": pending.account_id,
                "region": pending.region,
                "event_source": pending.event_source,
                "event_name": pending.event_name,
                "username": pending.username,
                "access_key_id": pending.access_key_id,
                "read_only": pending.read_only,
                "error_code": pending.error_code,
                "record": text.decode(),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        resources += (
            {"seq": seq, "resource_name": name, "resource_type": kind}
            for name, kind in pending.resources
        )
        prev = digest
    tx.execute_many(statements.audit_event_insert, events)
    tx.execute_many(statements.audit_resource_insert, resources)
    tx.execute(statements.audit_head_update, {"v_seq": seq, "v_hash": prev})
    return list(range(first, seq + 1))


def _event(r: Sequence[Any], resources: tuple[tuple[str, str], ...]) -> StoredEvent:
    # Column order: tables.EVENT_COLUMNS.
    return StoredEvent(
        seq=int(r[0]),
        event_id=r[1],
        event_time=float(r[2]),
        account_id=r[3],
        region=r[4],
        event_source=r[5],
        event_name=r[6],
        username=r[7],
        access_key_id=r[8],
        read_only=bool(r[9]),
        error_code=r[10],
        record=r[11],
        prev_hash=r[12],
        hash=r[13],
        resources=resources,
    )


def read_chain(tx: Tx, after_seq: int = 0, limit: int = DEFAULT_PAGE) -> list[StoredEvent]:
    """Up to ``limit`` stored records with ``seq > after_seq``, in seq order, with their
    indexed resources."""
    rows = tx.fetch_all(statements.audit_events_after, {"after": after_seq, "lim": limit})
    if not rows:
        return []
    found: dict[int, list[tuple[str, str]]] = {}
    for seq, name, kind in tx.fetch_all(
        statements.audit_resources_between, {"after": after_seq, "upto": int(rows[-1][0])}
    ):
        found.setdefault(int(seq), []).append((name, kind))
    return [_event(r, tuple(found.get(int(r[0]), ()))) for r in rows]


def seq_range(tx: Tx, since: float | None, until: float | None) -> tuple[int, int] | None:
    """The smallest seq range holding every record with ``since <= event_time <= until``
    (it may hold a few records outside the window: times come from many nodes)."""
    head, _ = read_head(tx)
    first, last = 1, head
    if since is not None:
        row = tx.fetch_one(statements.audit_first_seq_since, {"since": since})
        if row is None or row[0] is None:
            return None
        first = int(row[0])
    if until is not None:
        row = tx.fetch_one(statements.audit_last_seq_until, {"until": until})
        if row is None or row[0] is None:
            return None
        last = int(row[0])
    return (first, last) if 0 < first <= last else None
