"""AWS JSON 1.1 bodies: request decoding, response and error encoding.

Blob members leave the service layer as ``bytes`` and are written as standard
base64. Timestamps are epoch seconds, written as AWS's (Java) service writes them:
millisecond precision in Java's ``Double.toString`` form (``1.700000000123E9``); the
KMS and CloudTrail models have no other floating-point member, so every ``float`` a
handler returns is a timestamp. An error whose text AWS leaves out (an
InvalidCiphertextException, a signature or MAC that does not verify) is
``{"__type": ...}`` with no ``message`` member at all.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from openkms.errors import AWSError, SerializationException

CONTENT_TYPE = b"application/x-amz-json-1.1"


def decode_request(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException(
            "Start of structure or map found where not expected."
        ) from None
    if not isinstance(value, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    return value


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def epoch_seconds(value: float) -> bytes:
    """``value`` rounded to the millisecond, written as Java's ``Double.toString`` writes
    it (shortest digits; scientific notation outside 10^-3..10^7): ``1.700000000123E9``,
    ``1.7E9``."""
    value = round(value, 3)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value).encode()
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite: epoch seconds
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}".encode()


def _with_timestamps(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """``value`` with every float replaced by its :func:`epoch_seconds` text (a copy only
    where something changes: most answers carry no timestamp)."""
    out: dict[str, Any] | None = None
    for name, item in value.items():
        kind = type(item)
        if kind is float:
            new: Any = orjson.Fragment(epoch_seconds(item))
        elif kind is dict:
            new = _with_timestamps(item)
        elif kind is list:
            new = [_with_timestamps(v) if type(v) is dict else v for v in item]
            if all(a is b for a, b in zip(new, item, strict=True)):
                continue
        else:
            continue
        if new is not item:
            if out is None:
                out = dict(value)
            out[name] = new
    return value if out is None else out


def encode_response(result: Mapping[str, object]) -> bytes:
    return orjson.dumps(_with_timestamps(result), default=_default)


def encode_error(error: AWSError) -> bytes:
    if not error.message:
        return orjson.dumps({"__type": error.type_name})
    return orjson.dumps({"__type": error.type_name, "message": error.message})
