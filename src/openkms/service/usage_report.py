"""``openkms usage report``'s numbers: per key and per account, requests by billing class,
key-months and what they would cost at AWS's list prices, read from the usage rollup
(:mod:`openkms.service.usage_rollup`; bring it up to date first).

A window is whole UTC days (``--month`` or ``--since``/``--until``). The free tier (20,000
requests a month per account, symmetric and HMAC requests only) is taken off each
calendar month the window touches, counting only the window's requests of that month.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from openkms.domain import billing
from openkms.domain.billing import BillingClass, KeyLife, PriceTable
from openkms.storage.repository import Store
from openkms.storage.usage import repository as usage_records

_CLASSES = frozenset(c.value for c in BillingClass)


@dataclass(frozen=True)
class Window:
    """UTC days ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def month(cls, year: int, month: int) -> Window:
        days = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, days))

    @property
    def since(self) -> float:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC).timestamp()

    @property
    def until(self) -> float:
        """The end, excluded (midnight after ``last``)."""
        last = self.last
        return datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp() + billing.DAY

    @property
    def days(self) -> tuple[int, int]:
        return billing.day_of(self.since), billing.day_of(self.until) - 1

    def parts(self) -> list[tuple[bool, int, int]]:
        """The window as ranges the rollup keeps: ``(True, first month, last month)`` for
        the whole calendar months in it, ``(False, first day, last day)`` for the days of
        a month it covers in part (at most two of those)."""
        first, last = self.days
        parts: list[tuple[bool, int, int]] = []
        day = first
        while day <= last:
            month = billing.month_of_day(day)
            year, number = divmod(month, 12)
            start = billing.day_of(datetime(year, number + 1, 1, tzinfo=UTC).timestamp())
            end = start + calendar.monthrange(year, number + 1)[1] - 1
            if day == start and end <= last:
                if parts and parts[-1][0] and parts[-1][2] == month - 1:
                    parts[-1] = (True, parts[-1][1], month)
                else:
                    parts.append((True, month, month))
            else:
                parts.append((False, day, min(end, last)))
            day = end + 1
        return parts


@dataclass
class Usage:
    """One key's (or an account's) line."""

    account: str
    region: str = ""
    key_arn: str = ""
    key_spec: str = ""
    requests: Counter[str] = field(default_factory=Counter)
    key_months: float = 0.0
    rotation_months: float = 0.0
    key_days: float = 0.0
    request_usd: float = 0.0
    key_usd: float = 0.0
    free_tier_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.request_usd + self.key_usd - self.free_tier_usd


@dataclass(frozen=True)
class UsageReport:
    window: Window
    prices: PriceTable
    keys: list[Usage]
    accounts: list[Usage]


def usage_report(
    store: Store, window: Window, prices: PriceTable, *, account: str | None, now: float
) -> UsageReport:
    per_key: list[tuple[str, str, str, str, int]] = []
    per_month: list[tuple[str, int, str, int]] = []
    with store.transaction(snapshot=True) as tx:
        for months, first, last in window.parts():
            per_key += usage_records.requests_per_key(tx, months, first, last, account)
            per_month += [
                (a, at if months else billing.month_of_day(at), c, n)
                for a, at, c, n in usage_records.requests_per_account(
                    tx, months, first, last, account
                )
            ]
        lives = usage_records.keys_created_before(tx, window.until, account)
    keys: dict[tuple[str, str], Usage] = {}
    for row in lives:
        life = KeyLife(
            created_at=row["created_at"],
            scheduled_at=row["scheduled_at"],
            deleted_at=row["deleted_at"],
            rotated_at=tuple(
                t for t in (row["rotation1_at"], row["rotation2_at"]) if t is not None
            ),
            aws_managed=row["key_manager"] == "AWS",
        )
        charge = billing.key_charge(life, window.since, window.until, now, prices)
        if charge.key_days <= 0:
            continue
        keys[(row["account_id"], row["key_arn"])] = Usage(
            account=row["account_id"],
            region=row["region"],
            key_arn=row["key_arn"],
            key_spec=row["key_spec"],
            key_months=charge.key_months,
            rotation_months=charge.rotation_months,
            key_days=charge.key_days,
            key_usd=charge.price(prices),
        )
    for account_id, region, arn, billing_class, requests in per_key:
        line = keys.get((account_id, arn))
        if line is None:
            line = keys[(account_id, arn)] = Usage(account=account_id, region=region, key_arn=arn)
        line.requests[billing_class] += requests
        if billing_class in _CLASSES:  # else counted by a newer OpenKMS: shown, not priced
            line.request_usd += prices.request_price(BillingClass(billing_class), requests)
    accounts: dict[str, Usage] = {}
    for line in keys.values():
        total = accounts.setdefault(line.account, Usage(account=line.account))
        total.requests.update(line.requests)
        total.key_months += line.key_months
        total.rotation_months += line.rotation_months
        total.key_days += line.key_days
        total.request_usd += line.request_usd
        total.key_usd += line.key_usd
    for account_id, credit in _free_tier(per_month, prices).items():
        accounts[account_id].free_tier_usd = credit
    ordered = sorted(keys.values(), key=lambda u: (u.account, u.key_arn))
    return UsageReport(window, prices, ordered, [accounts[a] for a in sorted(accounts)])


def _free_tier(per_month: list[tuple[str, int, str, int]], prices: PriceTable) -> dict[str, float]:
    """Each account's free-tier credit: per calendar month, the first free requests of
    the classes it covers (symmetric first, then HMAC)."""
    eligible: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for account_id, month, billing_class, requests in per_month:
        eligible[(account_id, month)][billing_class] += requests
    credit: dict[str, float] = defaultdict(float)
    for (account_id, _), counts in eligible.items():
        remaining = prices.free_requests
        for billing_class in (BillingClass.SYMMETRIC, BillingClass.HMAC):
            used = min(remaining, counts[billing_class.value])
            credit[account_id] += prices.request_price(billing_class, used)
            remaining -= used
    return credit
