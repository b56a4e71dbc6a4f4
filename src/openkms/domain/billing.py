"""What the same workload would cost on AWS KMS: billing classes, list prices, key-months.

AWS bills KMS in two parts (https://aws.amazon.com/kms/pricing/, checked 2026-12-05):

* **Key storage**: each customer managed key costs $1/month, prorated hourly, the same for
  symmetric, asymmetric, HMAC, multi-Region (each primary and each replica), imported and
  custom key store keys. AWS managed keys cost nothing to keep. A key scheduled for
  deletion is not charged; a cancelled deletion is charged as though it was never
  scheduled. Rotation: the first and the second rotation of a key's material each add
  $1/month; later rotations add nothing (the price change of May 2024; the developer
  guide's "Rotating AWS KMS keys", section *Rotation and pricing*).
* **Requests**, per 10,000, by class: $0.03 (symmetric keys and every request that is
  not classed otherwise, HMAC, RSA 2048 keys), $0.15 (other asymmetric keys), $0.10
  (GenerateDataKeyPair of an ECC pair), $12.00 (GenerateDataKeyPair of an RSA pair).
  The free tier is 20,000 requests a month per account across Regions; it excludes
  GenerateDataKeyPair(WithoutPlaintext) and requests that use asymmetric keys. Cross-
  account use is charged to the caller's account.

The table is :data:`LIST_PRICES`, dated; an operator whose prices differ (another
Region, a later price change) gives a JSON file (:func:`prices_from`) that overrides
any part of it. Pure: no I/O except reading that file's text, done by the caller.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class BillingClass(StrEnum):
    """AWS's request price classes (the report's columns)."""

    SYMMETRIC = "symmetric"
    HMAC = "hmac"
    ASYMMETRIC_RSA_2048 = "asymmetric-rsa-2048"
    ASYMMETRIC = "asymmetric"
    DATA_KEY_PAIR_ECC = "data-key-pair-ecc"
    DATA_KEY_PAIR_RSA = "data-key-pair-rsa"


#: Classes the monthly free requests may pay for (AWS excludes the rest).
FREE_TIER_CLASSES = frozenset({BillingClass.SYMMETRIC, BillingClass.HMAC})

#: Operations whose price depends on the key they use (the pricing page's "requests that
#: reference asymmetric KMS keys": Sign, Verify, Encrypt, Decrypt, GetPublicKey...).
KEY_PRICED_OPERATIONS = frozenset(
    {
        "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "Sign", "Verify", "GenerateMac", "VerifyMac", "GetPublicKey", "DeriveSharedSecret",
    }
)  # fmt: skip
DATA_KEY_PAIR_OPERATIONS = frozenset({"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"})


def classify(event_name: str, key_spec: str | None, key_pair_spec: str | None) -> BillingClass:
    """The price class of one successful request (``key_spec``: the spec of the key it
    names, None when it names none; ``key_pair_spec``: GenerateDataKeyPair's KeyPairSpec)."""
    if event_name in DATA_KEY_PAIR_OPERATIONS:
        if key_pair_spec is not None and key_pair_spec.startswith("RSA"):
            return BillingClass.DATA_KEY_PAIR_RSA
        return BillingClass.DATA_KEY_PAIR_ECC
    if event_name not in KEY_PRICED_OPERATIONS or key_spec is None:
        return BillingClass.SYMMETRIC
    if key_spec.startswith("HMAC"):
        return BillingClass.HMAC
    if key_spec == "RSA_2048":
        return BillingClass.ASYMMETRIC_RSA_2048
    if key_spec == "SYMMETRIC_DEFAULT":
        return BillingClass.SYMMETRIC
    return BillingClass.ASYMMETRIC


@dataclass(frozen=True)
class PriceTable:
    """List prices in USD. ``effective``: the date they were read from AWS's page."""

    effective: str
    source: str
    key_month: float
    #: Added per month by each of a key's first ``billed_rotations`` rotations.
    rotation_month: float
    billed_rotations: int
    free_requests: int
    per_10k: Mapping[BillingClass, float] = field(default_factory=dict)

    def request_price(self, billing_class: BillingClass, requests: int) -> float:
        return self.per_10k[billing_class] * requests / 10_000


LIST_PRICES = PriceTable(
    effective="2026-12-05",
    source="https://aws.amazon.com/kms/pricing/ (us-east-1)",
    key_month=1.00,
    rotation_month=1.00,
    billed_rotations=2,
    free_requests=20_000,
    per_10k={
        BillingClass.SYMMETRIC: 0.03,
        BillingClass.HMAC: 0.03,
        BillingClass.ASYMMETRIC_RSA_2048: 0.03,
        BillingClass.ASYMMETRIC: 0.15,
        BillingClass.DATA_KEY_PAIR_ECC: 0.10,
        BillingClass.DATA_KEY_PAIR_RSA: 12.00,
    },
)


class PriceFileError(ValueError):
    """A price file that cannot be used; the message says why in one line."""


def prices_from(text: str, base: PriceTable = LIST_PRICES) -> PriceTable:
    """``base`` with what the JSON object ``text`` overrides: ``effective``, ``source``,
    ``key_month``, ``rotation_month``, ``billed_rotations``, ``free_requests``, and
    ``per_10k`` (some or all classes by name)."""
    try:
        given = json.loads(text)
    except ValueError as exc:
        raise PriceFileError(f"not JSON: {exc}") from None
    if not isinstance(given, dict):
        raise PriceFileError("the price file must hold one JSON object")
    known = {"effective", "source", "key_month", "rotation_month", "billed_rotations"}
    known |= {"free_requests", "per_10k"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise PriceFileError(f"unknown price {unknown[0]!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {}
    for name in ("effective", "source"):
        if name in given:
            changes[name] = str(given[name])
    for name in ("key_month", "rotation_month"):
        if name in given:
            changes[name] = _amount(name, given[name])
    for name in ("billed_rotations", "free_requests"):
        if name in given:
            value = given[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PriceFileError(f"{name} must be a whole number >= 0")
            changes[name] = value
    if "per_10k" in given:
        classes = given["per_10k"]
        if not isinstance(classes, dict):
            raise PriceFileError("per_10k must be an object of class: price")
        per_10k = dict(base.per_10k)
        for name, value in classes.items():
            try:
                per_10k[BillingClass(name)] = _amount(f"per_10k.{name}", value)
            except ValueError as exc:
                if isinstance(exc, PriceFileError):
                    raise
                names = ", ".join(c.value for c in BillingClass)
                raise PriceFileError(f"unknown class {name!r} (known: {names})") from None
        changes["per_10k"] = per_10k
    return replace(base, **changes)


def _amount(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise PriceFileError(f"{name} must be a number >= 0")
    return float(value)


DAY = 86_400


def day_of(timestamp: float) -> int:
    """The UTC day number (days since 1970-01-01) of a POSIX time."""
    return int(timestamp // DAY)


def month_of_day(day: int) -> int:
    """The month number (``year * 12 + month - 1``) of a UTC day number."""
    moment = datetime.fromtimestamp(day * DAY, UTC)
    return moment.year * 12 + moment.month - 1


def months_between(start: float, end: float) -> Iterator[tuple[str, float, float]]:
    """Each calendar month (UTC) overlapping ``[start, end)``: ``(YYYY-MM, overlap
    seconds, seconds in the month)``."""
    if end <= start:
        return
    moment = datetime.fromtimestamp(start, UTC)
    year, month = moment.year, moment.month
    while True:
        first = datetime(year, month, 1, tzinfo=UTC).timestamp()
        length = calendar.monthrange(year, month)[1] * DAY
        if first >= end:
            return
        overlap = min(end, first + length) - max(start, first)
        if overlap > 0:
            yield f"{year:04d}-{month:02d}", overlap, float(length)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def key_months(start: float, end: float) -> float:
    """Months a key billed over ``[start, end)`` counts for, prorated by the time it
    existed in each calendar month (AWS prorates hourly; this is exact to the second)."""
    return sum(overlap / length for _, overlap, length in months_between(start, end))


@dataclass(frozen=True)
class KeyLife:
    """When a key was billable, from the audit trail (times are POSIX seconds)."""

    created_at: float
    #: Billing ends when a deletion is scheduled (a cancelled one clears it) or the key
    #: is deleted; None while neither happened.
    scheduled_at: float | None
    deleted_at: float | None
    #: The first and second rotations (AWS bills no later one).
    rotated_at: tuple[float, ...]
    aws_managed: bool

    def billing_end(self, now: float) -> float:
        ends = [t for t in (self.scheduled_at, self.deleted_at) if t is not None]
        return min(ends) if ends else now


@dataclass(frozen=True)
class KeyCharge:
    key_months: float
    rotation_months: float
    key_days: float

    def price(self, prices: PriceTable) -> float:
        return self.key_months * prices.key_month + self.rotation_months * prices.rotation_month


def key_charge(
    life: KeyLife, since: float, until: float, now: float, prices: PriceTable
) -> KeyCharge:
    """What keeping the key cost over ``[since, until)``: key-months, months added by its
    billed rotations, and the days it was billable."""
    if life.aws_managed:
        return KeyCharge(0.0, 0.0, 0.0)
    end = min(until, life.billing_end(now))
    start = max(since, life.created_at)
    base = key_months(start, end)
    rotations = sum(
        key_months(max(since, rotated), end)
        for rotated in life.rotated_at[: prices.billed_rotations]
    )
    return KeyCharge(base, rotations, max(0.0, end - start) / DAY)
