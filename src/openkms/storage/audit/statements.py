"""The statements of the audit trail (:mod:`openkms.storage.audit`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.audit.tables import (
    audit_chain_head,
    audit_digests,
    audit_events,
    audit_resources,
    audit_signing_keys,
)
from openkms.storage.identity.tables import users as iam_users
from openkms.storage.keys.tables import keys as kms_keys
from openkms.storage.sql import Statement

_head = audit_chain_head.c
_ev = audit_events.c
_res = audit_resources.c
_dg = audit_digests.c
_sk = audit_signing_keys.c


def _insert_all(table: Table) -> ClauseElement:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c})


def _head_create() -> ClauseElement:
    # Imported here, when the statement is first compiled: the PostgreSQL dialect costs
    # in-memory and SQLite starts 25 ms otherwise.
    from sqlalchemy.dialects.postgresql import insert as upsert

    # ON CONFLICT DO NOTHING compiles for SQLite (>= 3.24) and PostgreSQL alike: two
    # nodes racing to create the head on the very first append both succeed.
    return (
        upsert(audit_chain_head)
        .values(id=1, seq=0, hash=bindparam("hash"))
        .on_conflict_do_nothing(index_elements=["id"])
    )


#: LookupEvents filters: attribute key -> the condition on its bind parameter ``value``.
LOOKUP_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "EventId": lambda: _ev.event_id == bindparam("value"),
    "EventName": lambda: _ev.event_name == bindparam("value"),
    "ReadOnly": lambda: _ev.read_only == bindparam("value"),
    "Username": lambda: _ev.username == bindparam("value"),
    "EventSource": lambda: _ev.event_source == bindparam("value"),
    "AccessKeyId": lambda: _ev.access_key_id == bindparam("value"),
    "ResourceName": lambda: _ev.seq.in_(
        select(_res.seq).where(_res.resource_name == bindparam("value"))
    ),
    "ResourceType": lambda: _ev.seq.in_(
        select(_res.seq).where(_res.resource_type == bindparam("value"))
    ),
}


def _lookup(key: str | None) -> ClauseElement:
    """One account's records in ``start <= event_time <= end`` strictly after the cursor
    ``(before_time, before_seq)`` in newest-first order, optionally filtered by ``key``."""
    cond = and_(
        _ev.account_id == bindparam("account_id"),
        _ev.event_time >= bindparam("start"),
        _ev.event_time <= bindparam("end"),
        or_(
            _ev.event_time < bindparam("before_time"),
            and_(_ev.event_time == bindparam("before_time"), _ev.seq < bindparam("before_seq")),
        ),
    )
    if key is not None:
        cond = and_(cond, LOOKUP_FILTERS[key]())
    return (
        select(audit_events)
        .where(cond)
        .order_by(_ev.event_time.desc(), _ev.seq.desc())
        .limit(bindparam("lim"))
    )


audit_head_create = Statement("audit_head_create", _head_create)
audit_head_lock = Statement(
    "audit_head_lock", lambda: select(_head.seq, _head.hash).where(_head.id == 1).with_for_update()
)
audit_head_get = Statement(
    "audit_head_get", lambda: select(_head.seq, _head.hash).where(_head.id == 1)
)
audit_head_update = Statement(
    "audit_head_update",
    lambda: (
        update(audit_chain_head)
        .where(_head.id == 1)
        .values(seq=bindparam("v_seq"), hash=bindparam("v_hash"))
    ),
)
audit_event_insert = Statement("audit_event_insert", lambda: _insert_all(audit_events))
audit_resource_insert = Statement("audit_resource_insert", lambda: _insert_all(audit_resources))
audit_events_after = Statement(
    "audit_events_after",
    lambda: (
        select(audit_events)
        .where(_ev.seq > bindparam("after"))
        .order_by(_ev.seq)
        .limit(bindparam("lim"))
    ),
)
audit_resources_between = Statement(
    "audit_resources_between",
    lambda: (
        select(_res.seq, _res.resource_name, _res.resource_type)
        .where(and_(_res.seq > bindparam("after"), _res.seq <= bindparam("upto")))
        .order_by(_res.seq, _res.resource_name)
    ),
)
audit_first_seq_since = Statement(
    "audit_first_seq_since",
    lambda: select(func.min(_ev.seq)).where(_ev.event_time >= bindparam("since")),
)
audit_last_seq_until = Statement(
    "audit_last_seq_until",
    lambda: select(func.max(_ev.seq)).where(_ev.event_time <= bindparam("until")),
)
audit_digest_insert = Statement("audit_digest_insert", lambda: _insert_all(audit_digests))
audit_digest_last = Statement(
    "audit_digest_last", lambda: select(audit_digests).order_by(_dg.number.desc()).limit(1)
)
audit_digests_after = Statement(
    "audit_digests_after",
    lambda: (
        select(audit_digests)
        .where(_dg.number > bindparam("after"))
        .order_by(_dg.number)
        .limit(bindparam("lim"))
    ),
)
audit_signing_key_insert = Statement(
    "audit_signing_key_insert", lambda: _insert_all(audit_signing_keys)
)
audit_signing_key_get = Statement(
    "audit_signing_key_get",
    lambda: select(_sk.public_key).where(_sk.fingerprint == bindparam("fingerprint")),
)
audit_signing_keys_all = Statement(
    "audit_signing_keys_all", lambda: select(_sk.fingerprint, _sk.public_key)
)
#: Whether state exists whose creation was audited (a key, an IAM user): the trail
#: cannot be empty then.
audit_evidence_key = Statement("audit_evidence_key", lambda: select(kms_keys.c.key_id).limit(1))
audit_evidence_user = Statement(
    "audit_evidence_user", lambda: select(iam_users.c.user_name).limit(1)
)
audit_resources_of = Statement(
    "audit_resources_of",
    lambda: (
        select(_res.resource_name, _res.resource_type)
        .where(_res.seq == bindparam("seq"))
        .order_by(_res.resource_name)
    ),
)
audit_lookup = Statement("audit_lookup", lambda: _lookup(None))
#: ``audit_lookup`` filtered by one LookupEvents attribute key.
audit_lookup_by: dict[str, Statement] = {
    key: Statement(f"audit_lookup_{key}", partial(_lookup, key)) for key in LOOKUP_FILTERS
}
