"""The statements of the usage rollup (:mod:`openkms.storage.usage`)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.sql.expression import ClauseElement

from openkms.storage.audit.tables import audit_events
from openkms.storage.keys.tables import keys as kms_keys
from openkms.storage.sql import Statement
from openkms.storage.usage.tables import usage_daily, usage_keys, usage_monthly, usage_rollup

_ev = audit_events.c
_key = usage_keys.c
_roll = usage_rollup.c

#: Records whose text the rollup reads (their parameters decide a class or a key's life).
DETAIL_EVENTS = (
    "CreateKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "UpdatePrimaryRegion",
)


def _events_between() -> ClauseElement:
    # The flags are computed by the database: the stored text is canonical JSON (compact,
    # keys sorted), so these substrings are exact; only a few records' text is fetched.
    return (
        select(
            _ev.seq,
            _ev.event_time,
            _ev.account_id,
            _ev.region,
            _ev.event_source,
            _ev.event_name,
            _ev.error_code,
            case((_ev.record.like('%"eventType":"AwsServiceEvent"%'), 1), else_=0).label("service"),
            case((_ev.record.like('%"sharedEventID":%'), 1), else_=0).label("shared"),
            case(
                (_ev.event_name.in_([literal(name) for name in DETAIL_EVENTS]), _ev.record),
                else_=None,
            ).label("detail"),
        )
        .where(and_(_ev.seq > bindparam("after"), _ev.seq <= bindparam("upto")))
        .order_by(_ev.seq)
    )


def _add(table: Table, period: str) -> ClauseElement:
    statement = upsert(table).values({c.name: bindparam(c.name) for c in table.c})
    return statement.on_conflict_do_update(
        index_elements=[period, "account_id", "region", "key_arn", "billing_class"],
        set_={"requests": table.c.requests + statement.excluded.requests},
    )


def _window(table: Table, period: str) -> ColumnElement[bool]:
    column = table.c[period]
    return and_(
        column >= bindparam("first"),
        column <= bindparam("last"),
        table.c.account_id.like(bindparam("account")),
    )


def _per_key(table: Table, period: str) -> ClauseElement:
    c = table.c
    return (
        select(c.account_id, c.region, c.key_arn, c.billing_class, func.sum(c.requests))
        .where(_window(table, period))
        .group_by(c.account_id, c.region, c.key_arn, c.billing_class)
    )


def _per_account(table: Table, period: str) -> ClauseElement:
    c = table.c
    return (
        select(c.account_id, c[period], c.billing_class, func.sum(c.requests))
        .where(_window(table, period))
        .group_by(c.account_id, c[period], c.billing_class)
    )


def _key_insert() -> ClauseElement:
    return (
        upsert(usage_keys)
        .values({c.name: bindparam(c.name) for c in usage_keys.c})
        .on_conflict_do_nothing(index_elements=["key_arn"])
    )


def _key_update(**values: object) -> ClauseElement:
    return update(usage_keys).where(_key.key_arn == bindparam("arn")).values(**values)


usage_rollup_get = Statement("usage_rollup_get", lambda: select(_roll.seq).where(_roll.id == 1))
usage_rollup_lock = Statement(
    "usage_rollup_lock", lambda: select(_roll.seq).where(_roll.id == 1).with_for_update()
)
usage_rollup_create = Statement(
    "usage_rollup_create",
    lambda: (
        upsert(usage_rollup)
        .values(id=1, seq=0, updated_at=bindparam("now"))
        .on_conflict_do_nothing(index_elements=["id"])
    ),
)
usage_rollup_set = Statement(
    "usage_rollup_set",
    lambda: (
        update(usage_rollup)
        .where(_roll.id == 1)
        .values(seq=bindparam("v_seq"), updated_at=bindparam("now"))
    ),
)
usage_events_between = Statement("usage_events_between", _events_between)
usage_daily_add = Statement("usage_daily_add", lambda: _add(usage_daily, "day"))
usage_monthly_add = Statement("usage_monthly_add", lambda: _add(usage_monthly, "month"))
usage_key_get = Statement(
    "usage_key_get",
    lambda: select(_key.key_spec, _key.key_manager).where(_key.key_arn == bindparam("arn")),
)
usage_key_insert = Statement("usage_key_insert", _key_insert)
usage_key_scheduled = Statement(
    "usage_key_scheduled", lambda: _key_update(scheduled_at=bindparam("at"))
)
usage_key_deleted = Statement("usage_key_deleted", lambda: _key_update(deleted_at=bindparam("at")))
usage_key_rotated = Statement(
    "usage_key_rotated",
    lambda: _key_update(
        rotations=_key.rotations + 1,
        # SET reads the row as it was: the first rotation fills rotation1_at, the second
        # rotation2_at; later ones only count.
        rotation1_at=func.coalesce(_key.rotation1_at, bindparam("at")),
        rotation2_at=case(
            (_key.rotation1_at.is_(None), None),
            else_=func.coalesce(_key.rotation2_at, bindparam("at")),
        ),
    ),
)
usage_kms_key_get = Statement(
    "usage_kms_key_get",
    lambda: select(kms_keys.c.key_spec, kms_keys.c.key_manager, kms_keys.c.created_at).where(
        kms_keys.c.key_id == bindparam("key_id")
    ),
)
#: Sums over a range of days (``usage_daily``) or of months (``usage_monthly``).
usage_per_key_days = Statement("usage_per_key_days", lambda: _per_key(usage_daily, "day"))
usage_per_key_months = Statement("usage_per_key_months", lambda: _per_key(usage_monthly, "month"))
usage_per_account_days = Statement(
    "usage_per_account_days", lambda: _per_account(usage_daily, "day")
)
usage_per_account_months = Statement(
    "usage_per_account_months", lambda: _per_account(usage_monthly, "month")
)
usage_keys_before = Statement(
    "usage_keys_before",
    lambda: (
        select(usage_keys)
        .where(
            and_(_key.created_at < bindparam("until"), _key.account_id.like(bindparam("account")))
        )
        .order_by(_key.account_id, _key.key_arn)
    ),
)
