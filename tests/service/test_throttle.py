"""Token buckets and the throttle's choice of bucket (openkms.service.throttle), without a
server: a stand-in store, overrides set directly, time passed to the bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from openkms.domain.keys import KeySpec
from openkms.errors import ThrottlingException
from openkms.service.throttle import Bucket, Throttle

ACCOUNT = "111122223333"


@dataclass
class _Context:
    account: str = ACCOUNT
    region: str = "us-east-1"


@dataclass
class _Key:
    spec: KeySpec


def test_a_bucket_holds_one_second_and_refills() -> None:
    bucket = Bucket(5.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(100.1) is False  # half a token
    assert bucket.take(100.2) is True
    assert [bucket.take(200.0) for _ in range(6)] == [True] * 5 + [False]  # capped at 5


def test_a_slow_bucket_still_lets_one_request_through() -> None:
    bucket = Bucket(0.25, now=0.0)  # GetParametersForImport: one request in four seconds
    assert bucket.take(0.0) is True
    assert bucket.take(3.9) is False
    assert bucket.take(4.1) is True


def _throttle(share: float = 1.0, **overrides: float) -> Throttle:
    throttle = Throttle(object(), enabled=True, share=share)  # type: ignore[arg-type]
    throttle._overrides = {(ACCOUNT, quota): rate for quota, rate in overrides.items()}
    return throttle


def _burst(throttle: Throttle, n: int, operation: str, keys: Any = ()) -> int:
    refused = 0
    for _ in range(n):
        try:
            throttle.charge(_Context(), operation, {}, keys)  # type: ignore[arg-type]
        except ThrottlingException as exc:
            assert exc.message == (
                "You have exceeded the rate at which you may call KMS. Reduce the frequency "
                "of your calls."
            )
            assert exc.status == 400
            refused += 1
    return refused


def test_control_plane_quota_and_count_of_refusals() -> None:
    throttle = _throttle()
    assert _burst(throttle, 20, "CreateKey") >= 14  # 5 per second: about 5 pass
    assert throttle.throttled["CreateKey"] >= 14


def test_key_types_have_separate_shared_quotas() -> None:
    throttle = _throttle(**{"crypto-symmetric": 2.0, "crypto-hmac": 3.0})
    symmetric, hmac = [_Key(KeySpec.SYMMETRIC_DEFAULT)], [_Key(KeySpec.HMAC_256)]
    assert _burst(throttle, 10, "Encrypt", symmetric) >= 7
    assert _burst(throttle, 10, "GenerateRandom") == 10  # shares the symmetric quota
    assert _burst(throttle, 10, "GenerateMac", hmac) >= 6
    assert _burst(throttle, 3, "Sign", [_Key(KeySpec.RSA_2048)]) == 0  # 1,000 a second


def test_each_process_enforces_its_share() -> None:
    throttle = _throttle(share=0.5, CreateKey=8.0)
    assert _burst(throttle, 10, "CreateKey") >= 5  # 4 a second here, with two workers


def test_the_every_account_override_and_unlimited_operations() -> None:
    throttle = _throttle()
    throttle._overrides = {("*", "ListKeys"): 1.0}
    assert throttle.rate_of(ACCOUNT, "us-east-1", "ListKeys") == 1.0
    assert throttle.rate_of(ACCOUNT, "us-east-1", "ListAliases") == 500.0
    assert _burst(throttle, 3, "ListKeys") >= 1
    assert _burst(throttle, 50, "RotateKeyOnDemand") == 0


def test_disabled_limits_nothing() -> None:
    throttle = Throttle(None, enabled=True)  # no store: quotas cannot be on
    assert throttle.enabled is False
    assert _burst(throttle, 50, "CreateKey") == 0


@pytest.mark.parametrize(
    "operation", ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"]
)
def test_data_key_pairs_share_a_quota_per_spec(operation: str) -> None:
    throttle = _throttle()
    params = {"KeyPairSpec": "RSA_4096"}
    refused = 0
    for _ in range(3):
        try:
            throttle.charge(_Context(), operation, params, ())  # type: ignore[arg-type]
        except ThrottlingException:
            refused += 1
    assert refused == 2  # one in ten seconds


def test_cross_region_operations_count_in_both_regions() -> None:
    throttle = _throttle()
    params = {"ReplicaRegion": "eu-west-1"}
    throttle.charge(_Context(), "ReplicateKey", params, ())  # type: ignore[arg-type]
    throttle.charge(_Context(), "ReplicateKey", params, ())  # type: ignore[arg-type]
    # Two CreateKey requests in the replica's Region each: 4 of its 5 tokens are gone.
    in_replica_region = _Context(region="eu-west-1")
    throttle.charge(in_replica_region, "CreateKey", {}, ())  # type: ignore[arg-type]
    with pytest.raises(ThrottlingException):
        throttle.charge(in_replica_region, "CreateKey", {}, ())  # type: ignore[arg-type]
    throttle.charge(_Context(), "CreateKey", {}, ())  # type: ignore[arg-type]  # own Region
