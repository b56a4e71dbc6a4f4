"""Audit records render any request value without raising (issue 10, defect 6).

A record that cannot be built or stored would fail its request with no trace, and (in a
group commit) other callers' requests with it: rendering must be total over whatever a
request can carry, and its result always encodable as canonical JSON.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from openkms.audit.records import MAX_DEPTH, TOO_DEEP, AuditedCall, cloudtrail_record
from openkms.domain.audit import canonical_json
from openkms.domain.principals import Principal


def _record(request: Any, response: Any = None) -> dict[str, Any]:
    call = AuditedCall(
        request_id="r",
        event_id="e",
        event_time=1_700_000_000.0,
        event_source="kms.amazonaws.com",
        event_name="ListKeys",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="t",
        principal=Principal.root("111122223333", "AK"),
        request=request,
        response=response,
    )
    record = cloudtrail_record(call, "111122223333", None)
    canonical_json(record)  # storable
    return record


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"d": [value]}
    return value


@pytest.mark.parametrize(
    "value",
    [
        1e12,
        1e300,
        -1e308,
        math.inf,
        -math.inf,
        math.nan,
        2**64 + 1,
        -(2**70),
        253402300800.5,
        1.5e9,
        _nested(1000),
        [[[[b"bytes"]]]],
        {1: "int key", None: "none key", (1, 2): "t"},
        {"x": memoryview(b"m")},
        object(),
        {1, 2},
        ("a", b"b"),
    ],
)
def test_any_value_renders(value: Any) -> None:
    record = _record({"Member": value}, {"Member": value})
    assert "member" in record["requestParameters"]


def test_timestamps_in_range_are_rendered_as_times_others_as_numbers() -> None:
    record = _record({"A": 1.7e9, "B": 1e12, "C": 1e300, "D": math.inf})
    params = record["requestParameters"]
    assert params["a"] == "2023-11-14T22:13:20Z"
    assert params["b"] == 1e12 and params["c"] == 1e300 and params["d"] == "inf"


def test_deep_values_are_cut_at_max_depth() -> None:
    params = _record({"Deep": _nested(1000)})["requestParameters"]
    text = str(params)
    assert TOO_DEEP in text
    depth, value = 0, params
    while isinstance(value, dict | list) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        depth += 1
    assert depth <= MAX_DEPTH


def test_secrets_and_bytes_are_still_dropped() -> None:
    params = _record({"Plaintext": "aGk=", "GrantTokens": [5], "K": b"raw", "L": [b"x", 1]})[
        "requestParameters"
    ]
    assert params == {"l": [1]}
