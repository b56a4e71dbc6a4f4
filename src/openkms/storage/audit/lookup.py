"""CloudTrail LookupEvents over the audit trail (one account's records, newest first).

Order is ``(event_time DESC, seq DESC)``; a page continues strictly after the cursor
``(event_time, seq)`` of the previous page's last record, so pages never overlap or
skip even when records share a timestamp. The statements are in
:mod:`openkms.storage.audit.statements` (``audit_lookup`` and ``audit_lookup_<Key>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.domain.audit import StoredEvent
from openkms.storage.audit import statements
from openkms.storage.audit.statements import LOOKUP_FILTERS
from openkms.storage.audit.trail import _event
from openkms.storage.repository import Tx

#: the attribute keys LookupEvents filters on (botocore's ``LookupAttributeKey``).
LOOKUP_KEYS = frozenset(LOOKUP_FILTERS)
#: bounds standing in for "no start", "no end" and "no cursor" (seconds since 1970).
EARLIEST = -1.0e18
LATEST = 1.0e18
_NO_SEQ = 2**62


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last record's ``event_time`` and ``seq``."""

    event_time: float
    seq: int


def lookup_events(
    tx: Tx,
    account_id: str,
    *,
    key: str | None = None,
    value: str | bool | None = None,
    start: float | None = None,
    end: float | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> tuple[list[StoredEvent], Cursor | None]:
    """Up to ``limit`` of ``account_id``'s records with ``start <= event_time <= end``
    whose ``key`` attribute equals ``value`` (``ReadOnly`` takes a bool), newest first,
    after ``after``; and the cursor of the next page (None: this is the last one)."""
    if key is not None and key not in LOOKUP_KEYS:
        raise ValueError(f"unknown lookup attribute {key!r}")
    if limit < 1:
        raise ValueError("limit must be positive")
    params: dict[str, object] = {
        "account_id": account_id,
        "start": EARLIEST if start is None else float(start),
        "end": LATEST if end is None else float(end),
        "before_time": LATEST if after is None else after.event_time,
        "before_seq": _NO_SEQ if after is None else after.seq,
        "lim": limit + 1,
    }
    if key is not None:
        params["value"] = value
    rows = tx.fetch_all(
        statements.audit_lookup if key is None else statements.audit_lookup_by[key], params
    )
    more = len(rows) > limit
    events = []
    for row in rows[:limit]:
        resources = tuple(
            (str(name), str(kind))
            for name, kind in tx.fetch_all(statements.audit_resources_of, {"seq": int(row[0])})
        )
        events.append(_event(row, resources))
    cursor = Cursor(events[-1].event_time, events[-1].seq) if more else None
    return events, cursor
