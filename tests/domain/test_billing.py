"""AWS KMS billing rules as :mod:`openkms.domain.billing` applies them: classes, key-months
across months, rotations (the first two billed), deletion, and price files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openkms.domain.billing import (
    LIST_PRICES,
    BillingClass,
    KeyLife,
    PriceFileError,
    classify,
    key_charge,
    key_months,
    prices_from,
)


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("operation", "key_spec", "pair_spec", "expected"),
    [
        ("Encrypt", "SYMMETRIC_DEFAULT", None, BillingClass.SYMMETRIC),
        ("Decrypt", "RSA_2048", None, BillingClass.ASYMMETRIC_RSA_2048),
        ("Sign", "RSA_4096", None, BillingClass.ASYMMETRIC),
        ("Sign", "ECC_NIST_P256", None, BillingClass.ASYMMETRIC),
        ("GetPublicKey", "ML_DSA_65", None, BillingClass.ASYMMETRIC),
        ("GenerateMac", "HMAC_256", None, BillingClass.HMAC),
        ("GenerateDataKeyPair", "SYMMETRIC_DEFAULT", "RSA_3072", BillingClass.DATA_KEY_PAIR_RSA),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            "SYMMETRIC_DEFAULT",
            "ECC_NIST_P384",
            BillingClass.DATA_KEY_PAIR_ECC,
        ),
        # Management requests are standard requests, whatever the key.
        ("DescribeKey", "RSA_2048", None, BillingClass.SYMMETRIC),
        ("ListKeys", None, None, BillingClass.SYMMETRIC),
    ],
)
def test_classes(
    operation: str, key_spec: str | None, pair_spec: str | None, expected: BillingClass
) -> None:
    assert classify(operation, key_spec, pair_spec) is expected


def test_key_months_are_prorated_per_calendar_month() -> None:
    assert key_months(_t("2026-12-01"), _t("2027-01-01")) == pytest.approx(1.0)
    # Half of December (31 days) and all of a 28-day February count by their own lengths.
    assert key_months(_t("2026-12-16T12:00"), _t("2027-01-01")) == pytest.approx(0.5)
    assert key_months(_t("2027-02-01"), _t("2027-03-01")) == pytest.approx(1.0)
    assert key_months(_t("2027-01-01"), _t("2026-12-01")) == 0


def test_rotations_deletion_and_managed_keys() -> None:
    december = (_t("2026-12-01"), _t("2027-01-01"))
    rotated = KeyLife(
        created_at=_t("2026-01-01"),
        scheduled_at=None,
        deleted_at=None,
        rotated_at=(_t("2026-06-01"), _t("2026-12-16T12:00")),
        aws_managed=False,
    )
    charge = key_charge(rotated, *december, now=_t("2027-06-01"), prices=LIST_PRICES)
    assert charge.key_months == pytest.approx(1.0)
    assert charge.rotation_months == pytest.approx(1.5)  # first whole, second from the 16th
    assert charge.price(LIST_PRICES) == pytest.approx(2.5)
    assert charge.key_days == pytest.approx(31)

    scheduled = KeyLife(_t("2026-11-01"), _t("2026-12-11"), _t("2026-12-18"), (), False)
    charge = key_charge(scheduled, *december, now=_t("2027-06-01"), prices=LIST_PRICES)
    assert charge.key_days == pytest.approx(10)  # not billed while pending deletion

    live = KeyLife(_t("2026-12-31"), None, None, (), False)
    assert key_charge(live, *december, now=_t("2026-12-31T12:00"), prices=LIST_PRICES).key_days == (
        pytest.approx(0.5)
    )
    managed = KeyLife(_t("2026-01-01"), None, None, (), True)
    assert key_charge(managed, *december, now=_t("2027-01-01"), prices=LIST_PRICES).key_days == 0


def test_price_files() -> None:
    prices = prices_from(
        '{"effective": "2030-01-01", "per_10k": {"hmac": 0.05}, "free_requests": 0}'
    )
    assert prices.effective == "2030-01-01" and prices.free_requests == 0
    assert prices.per_10k[BillingClass.HMAC] == 0.05
    assert prices.per_10k[BillingClass.SYMMETRIC] == LIST_PRICES.per_10k[BillingClass.SYMMETRIC]
    assert prices.request_price(BillingClass.HMAC, 20_000) == pytest.approx(0.10)
    for text, message in (
        ("[]", "one JSON object"),
        ("{", "not JSON"),
        ('{"tax": 1}', "unknown price 'tax'"),
        ('{"key_month": -1}', "key_month must be a number >= 0"),
        ('{"free_requests": 1.5}', "whole number"),
        ('{"per_10k": {"symmetric": "cheap"}}', "per_10k.symmetric must be a number"),
    ):
        with pytest.raises(PriceFileError, match=message):
            prices_from(text)
