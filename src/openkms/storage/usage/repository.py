"""The usage rollup over a :class:`~openkms.storage.repository.Tx`: the watermark, new
audit records in the form the rollup reads them, adding counts, the keys' lives, and a
window's totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openkms.domain.billing import month_of_day
from openkms.storage.audit import statements as audit_statements
from openkms.storage.repository import Tx
from openkms.storage.sql import columns
from openkms.storage.usage import statements

_EVENT = columns(statements.usage_events_between)
_KEY = columns(statements.usage_keys_before)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One audit record as the rollup reads it (``detail``: the record's text, only for
    :data:`statements.DETAIL_EVENTS`)."""

    seq: int
    event_time: float
    account_id: str
    region: str
    event_source: str
    event_name: str
    error_code: str | None
    service_event: bool
    shared: bool
    detail: str | None
    key_arns: tuple[str, ...]


def watermark(tx: Tx) -> int:
    """The last audit seq counted (0: none)."""
    row = tx.fetch_one(statements.usage_rollup_get, {})
    return 0 if row is None else int(row[0])


def lock_watermark(tx: Tx, now: float) -> int:
    """:func:`watermark`, its row (made at 0 when missing) locked until the write
    transaction ends, so that two roll-ups never count the same records."""
    tx.execute(statements.usage_rollup_create, {"now": now})
    row = tx.fetch_one(statements.usage_rollup_lock, {})
    return 0 if row is None else int(row[0])


def set_watermark(tx: Tx, seq: int, now: float) -> None:
    tx.execute(statements.usage_rollup_set, {"v_seq": seq, "now": now})


def events(tx: Tx, after: int, upto: int) -> list[UsageEvent]:
    """The records with ``after < seq <= upto`` in seq order, with their key ARNs."""
    rows = tx.fetch_all(statements.usage_events_between, {"after": after, "upto": upto})
    keys: dict[int, list[str]] = {}
    for seq, name, kind in tx.fetch_all(
        audit_statements.audit_resources_between, {"after": after, "upto": upto}
    ):
        if kind == "AWS::KMS::Key":
            keys.setdefault(int(seq), []).append(name)
    e = _EVENT
    return [
        UsageEvent(
            seq=int(r[e["seq"]]),
            event_time=float(r[e["event_time"]]),
            account_id=r[e["account_id"]],
            region=r[e["region"]],
            event_source=r[e["event_source"]],
            event_name=r[e["event_name"]],
            error_code=r[e["error_code"]],
            service_event=bool(r[e["service"]]),
            shared=bool(r[e["shared"]]),
            detail=r[e["detail"]],
            key_arns=tuple(keys.get(int(r[e["seq"]]), ())),
        )
        for r in rows
    ]


def known_key(tx: Tx, arn: str) -> tuple[str, str] | None:
    """``(key_spec, key_manager)`` of a key the rollup has seen."""
    row = tx.fetch_one(statements.usage_key_get, {"arn": arn})
    return None if row is None else (str(row[0]), str(row[1]))


def stored_key(tx: Tx, key_id: str) -> tuple[str, str, float] | None:
    """``(key_spec, key_manager, created_at)`` of a key that exists now (stored id)."""
    row = tx.fetch_one(statements.usage_kms_key_get, {"key_id": key_id})
    return None if row is None else (str(row[0]), str(row[1]), float(row[2]))


def add_counts(tx: Tx, counts: Mapping[tuple[int, str, str, str, str], int]) -> None:
    """Add ``{(day, account, region, key ARN, class): requests}`` to the daily counts and
    to their months' (one batched statement each on SQLite)."""
    months: Counter[tuple[int, str, str, str, str]] = Counter()
    for (day, account, region, arn, billing_class), requests in counts.items():
        months[(month_of_day(day), account, region, arn, billing_class)] += requests
    for statement, period, added in (
        (statements.usage_daily_add, "day", counts),
        (statements.usage_monthly_add, "month", months),
    ):
        tx.execute_many(
            statement,
            [
                {
                    period: at,
                    "account_id": account,
                    "region": region,
                    "key_arn": arn,
                    "billing_class": billing_class,
                    "requests": requests,
                }
                for (at, account, region, arn, billing_class), requests in added.items()
            ],
        )


def insert_keys(tx: Tx, rows: Iterable[Mapping[str, Any]]) -> None:
    """Register keys (a key already registered keeps its row)."""
    for row in rows:
        tx.execute(statements.usage_key_insert, row)


def key_changed(tx: Tx, change: str, arn: str, at: float | None) -> None:
    """``change``: "scheduled" (``at`` None: a cancelled deletion), "deleted", "rotated"."""
    statement = {
        "scheduled": statements.usage_key_scheduled,
        "deleted": statements.usage_key_deleted,
        "rotated": statements.usage_key_rotated,
    }[change]
    tx.execute(statement, {"arn": arn, "at": at})


def _pattern(account: str | None) -> str:
    return "%" if account is None else account


def requests_per_key(
    tx: Tx, months: bool, first: int, last: int, account: str | None
) -> list[tuple[str, str, str, str, int]]:
    """``(account, region, key ARN, class, requests)`` summed over the days (or months,
    ``months``) ``first`` to ``last``."""
    statement = statements.usage_per_key_months if months else statements.usage_per_key_days
    rows = tx.fetch_all(statement, {"first": first, "last": last, "account": _pattern(account)})
    return [(a, r, k, c, int(n)) for a, r, k, c, n in rows]


def requests_per_account(
    tx: Tx, months: bool, first: int, last: int, account: str | None
) -> list[tuple[str, int, str, int]]:
    """``(account, day or month, class, requests)``."""
    statement = statements.usage_per_account_months if months else statements.usage_per_account_days
    rows = tx.fetch_all(statement, {"first": first, "last": last, "account": _pattern(account)})
    return [(a, int(d), c, int(n)) for a, d, c, n in rows]


def keys_created_before(tx: Tx, until: float, account: str | None) -> list[dict[str, Any]]:
    """Every registered key created before ``until`` (as column name -> value)."""
    rows: Sequence[tuple[Any, ...]] = tx.fetch_all(
        statements.usage_keys_before, {"until": until, "account": _pattern(account)}
    )
    return [{name: row[i] for name, i in _KEY.items()} for row in rows]
